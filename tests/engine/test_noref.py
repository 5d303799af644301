"""The end-of-training comparison with bicubic, without ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine.events import Message
from engine.jobs import run
from engine.train import checkpoint
from engine.train.data import UnpairedData
from engine.train.noref import compare_with_bicubic
from engine.train.trainer import RunSpec, train
from tests.engine.unpaired_helpers import PATCH, photo, tiny, tiny_data


def _scene() -> tuple[torch.Tensor, torch.Tensor]:
    """A clean HR picture (flat areas, a gradient and sharp edges) and its noisy LR."""
    hr = torch.full((3, 128, 128), 0.3)
    hr[:, :, 64:] = 0.7  # one vertical edge
    hr[:, 40:90, 20:50] = 0.9  # a bright box
    hr[0] += torch.linspace(0, 0.1, 128)  # a gentle colour ramp
    g = torch.Generator().manual_seed(0)
    lr = F.avg_pool2d(hr[None], 2)[0]
    noisy = (lr + 0.03 * torch.randn(lr.shape, generator=g)).clamp(0, 1)
    return hr.clamp(0, 1), noisy


def _bicubic(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)


def test_the_ground_truth_looks_better_than_bicubic() -> None:
    hr, lr = _scene()
    check = compare_with_bicubic(lambda x: hr[None], lr, 2, "scene.png", True)
    assert check.outcome == "better"
    assert check.model_flat_noise < 0.5 * check.bicubic_flat_noise
    assert check.model_edge_sharpness > check.bicubic_edge_sharpness
    assert check.colour_shift < 2
    assert check.verdict.startswith("Against bicubic upscaling on scene.png (held")
    assert "less noisy" in check.verdict and "sharper" in check.verdict


def test_bicubic_itself_is_no_clear_difference() -> None:
    _, lr = _scene()
    check = compare_with_bicubic(_bicubic, lr, 2, "scene.png", False)
    assert check.outcome == "no clear difference"
    assert check.colour_shift == pytest.approx(0.0, abs=1e-4)
    assert "one of the training photos" in check.verdict


def test_added_noise_and_a_tint_look_worse() -> None:
    _, lr = _scene()
    g = torch.Generator().manual_seed(1)
    noisy = compare_with_bicubic(
        lambda x: _bicubic(x) + 0.03 * torch.randn(1, 3, 128, 128, generator=g),
        lr,
        2,
        "scene.png",
        True,
    )
    assert noisy.outcome == "worse" and "noisier" in noisy.verdict
    tint = torch.tensor([0.04, 0.0, -0.02]).view(1, 3, 1, 1)
    tinted = compare_with_bicubic(lambda x: _bicubic(x) + tint, lr, 2, "s.png", True)
    assert tinted.outcome == "worse" and tinted.colour_shift > 4
    assert "colours shifted" in tinted.verdict


def test_sharper_but_noisier_is_mixed() -> None:
    # What an SR net trained on clean pairs does to a noisy photo.
    _, lr = _scene()

    def sharpened(x: torch.Tensor) -> torch.Tensor:
        soft = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return _bicubic(x) + 1.5 * (_bicubic(x) - _bicubic(soft))

    check = compare_with_bicubic(sharpened, lr, 2, "scene.png", True)
    assert check.outcome == "mixed"
    assert check.noise_change > 0.1 and check.sharpness_change > 0.05


def test_a_model_of_the_wrong_size_is_refused() -> None:
    _, lr = _scene()
    with pytest.raises(ValueError, match="not"):
        compare_with_bicubic(lambda x: x, lr, 2, "scene.png", True)


def test_training_ends_with_the_check_on_a_held_back_photo(tmp_path: Path) -> None:
    data = tiny_data()
    extra = photo(19, 24, 28, 119)
    data = UnpairedData(data.hr, [*data.real_lr, extra], 2, PATCH, "bicubic")
    out = tmp_path / "m.unsr.pt"
    events: list[object] = []
    spec = RunSpec("bicubic", iterations=2, overrides=tiny("bicubic"), holdout=True)
    result = run(train(spec, data, out), events.append)
    texts = [e.text for e in events if isinstance(e, Message)]
    assert any("3 real-LR photos, photo19.png held back" in t for t in texts)
    checks = [e for e in events if isinstance(e, Message) and e.data]
    assert len(checks) == 1 and checks[0].text.startswith("Against bicubic")
    assert result.check is not None and result.check.held_back
    info = checkpoint.load(out)["info"]
    assert info["check_photo"] == "photo19.png" and info["check_held_back"] == "yes"
    assert info["check_verdict"] == result.check.verdict
    assert float(info["check_flat_noise"]) == pytest.approx(
        result.check.model_flat_noise, abs=1e-3
    )


def test_without_holdout_the_check_says_the_photo_was_trained_on(
    tmp_path: Path,
) -> None:
    spec = RunSpec("bicubic", iterations=1, overrides=tiny("bicubic"))
    result = run(train(spec, tiny_data(), tmp_path / "m.unsr.pt"))
    assert result.check is not None and not result.check.held_back
    assert "one of the training photos" in result.check.verdict


def test_a_cancelled_run_makes_no_check(tmp_path: Path) -> None:
    out = tmp_path / "m.unsr.pt"
    job = train(
        RunSpec("bicubic", iterations=50, overrides=tiny("bicubic")), tiny_data(), out
    )
    for event in job:
        if isinstance(event, Message) and event.text.startswith("phase"):
            next(job)
            break
    job.close()
    assert "check_verdict" not in checkpoint.load(out)["info"]
