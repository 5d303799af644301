"""The estimated-degradation recipe: pools fill, runs resume, models upscale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import paths, pipeline
from engine.events import Losses, Preview
from engine.jobs import run
from engine.methods import RunContext, get
from engine.train import checkpoint
from engine.train.data import UnpairedData, load_unpaired
from engine.train.recipes import RECIPES
from engine.train.trainer import RunSpec, load_inference, resolve_config, train
from tests.engine.unpaired_helpers import PATCH, tiny, tiny_data
from tests.engine.unpaired_helpers import photo as field_photo


def _spec(iterations: int = 8, variant: str = "estimated", **extra: object) -> RunSpec:
    return RunSpec(
        "estimated",
        iterations=iterations,
        overrides=tiny(variant, **extra),
        preview_every_s=0,
        info={"trained_on": "tiny fields", "command": "pytest"},
    )


def test_previews_show_kernels_noise_and_a_synthesised_lr_beside_a_real_one() -> None:
    events: list[object] = []
    run(train(_spec(), tiny_data()), events.append)
    labels = {e.label.split(" (")[0] for e in events if isinstance(e, Preview)}
    assert {"estimated kernels", "synthesised LR | real LR", "SR of real LR"} <= labels
    pair = next(
        e for e in events if isinstance(e, Preview) and e.label.startswith("synth")
    )
    # Two LR patches side by side, enlarged twice, with a 2-px gap.
    assert pair.image.shape == (32, 2 * 32 + 2, 3)


def test_spectrum_kernels_fill_the_pool_and_keep_refreshing_it() -> None:
    config = resolve_config(_spec())
    data = tiny_data()
    g = torch.Generator().manual_seed(0)
    session = RECIPES["estimated"].session(config, 2, data, torch.device("cpu"), g)
    sched = session.schedule()
    assert [p.name for p in sched.phases] == ["sr"]  # nothing to wait for
    session.train_step(data.sample(2, g), sched.at(0.0), 0.0)
    kernels = session.kernels  # type: ignore[attr-defined]
    first = kernels.kernels.clone()
    assert len(first) == 2  # the camera's kernel, and one from a subset
    for _ in range(4):  # refreshed every other step
        session.train_step(data.sample(2, g), sched.at(0.5), 0.5)
    assert not torch.equal(first, kernels.kernels)
    for k in kernels.kernels:
        assert abs(float(k.sum()) - 1) < 1e-5


def test_kernelgan_fits_fill_the_pool_and_keep_refreshing_it() -> None:
    spec = _spec(variant="estimated-kernelgan")
    config = resolve_config(spec)
    data = tiny_data()
    g = torch.Generator().manual_seed(0)
    session = RECIPES["estimated"].session(config, 2, data, torch.device("cpu"), g)
    sched = session.schedule()
    assert [p.name for p in sched.phases] == ["kernels", "sr"]
    kernels = session.kernels  # type: ignore[attr-defined]
    fits: list[int] = []
    after_two = None
    for step in range(14):
        frac = step / 14
        session.train_step(data.sample(2, g), sched.at(frac), frac)
        fits.append(session.fit.fits)  # type: ignore[attr-defined,union-attr]
        if fits[-1] == 2 and after_two is None:
            after_two = kernels.kernels.clone()
    # Fits of three iterations: two in the kernel phase (three steps of two
    # iterations), then one iteration every other SR step, so the pool (of
    # two) is renewed while the SR net trains.
    assert fits[2] == 2 and fits[-1] == 4
    assert after_two is not None and len(kernels.kernels) == 2
    assert not torch.equal(after_two, kernels.kernels)
    for k in kernels.kernels:
        assert abs(float(k.sum()) - 1) < 1e-4
    assert len(session.noise.patches) > 0  # type: ignore[attr-defined]


def test_nothing_to_fit_skips_the_kernel_phase() -> None:
    # Real photos smaller than a fit's smallest crops (2 x 14 px): the kernel
    # stays bicubic, and the SR net trains from the first step.
    small = tiny_data()
    data = UnpairedData(
        small.hr,
        [field_photo(20 + i, 24, 28, i) for i in range(2)],
        2,
        PATCH,
        "bicubic",
    )
    config = resolve_config(_spec(variant="estimated-kernelgan"))
    session = RECIPES["estimated"].session(
        config, 2, data, torch.device("cpu"), torch.Generator()
    )
    assert [p.name for p in session.schedule().phases] == ["sr"]


@pytest.mark.parametrize("variant", ["estimated", "estimated-kernelgan"])
def test_a_stopped_run_resumes_identically(tmp_path: Path, variant: str) -> None:
    full = tmp_path / "full.unsr.pt"
    run(train(_spec(variant=variant), tiny_data(), full))
    part = tmp_path / "part.unsr.pt"
    job = train(_spec(variant=variant), tiny_data(), part)
    for event in job:
        # Mid-fit: fits take three iterations and run every other SR step.
        if isinstance(event, Losses) and event.step == 5:
            break
    job.close()
    steps: list[int] = []
    run(
        train(_spec(variant=variant), tiny_data(), part, resume=part),
        lambda e: steps.append(e.step) if isinstance(e, Losses) else None,
    )
    assert steps == [6, 7, 8]
    a, b = (checkpoint.load(p)["train"] for p in (full, part))
    for net in a["nets"]:
        for key in a["nets"][net]:
            assert torch.equal(a["nets"][net][key], b["nets"][net][key]), net + key
    for key in a["extra"]:
        assert torch.equal(a["extra"][key], b["extra"][key]), key


def test_a_checkpoint_becomes_a_method_that_upscales(
    photo: np.ndarray,
) -> None:
    out = paths.models_dir() / "mine.unsr.pt"
    run(train(_spec(3), tiny_data(), out))
    method = get("trained-mine")
    assert method.kind == "trained" and method.info["inference"] == "SR(x)"
    assert method.info["method"] == "Estimated degradation (Ji et al.)"
    result = run(pipeline.upscale(photo, method, 2, ctx=RunContext(device="cpu")))
    nets, infer, _ = load_inference(out)
    with torch.no_grad():
        x = torch.from_numpy(photo.transpose(2, 0, 1).copy())[None]
        whole = infer(nets, x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(result.rgb - whole).mean() < 2e-3


def test_the_cameras_jpeg_tables_are_read_from_its_files(tmp_path: Path) -> None:
    real, hr = tmp_path / "real", tmp_path / "hr"
    real.mkdir()
    hr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        small = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
        img = Image.fromarray(small).resize((48, 48), Image.Resampling.BICUBIC)
        img.save(real / f"r{i}.jpg", quality=55)
        Image.fromarray(small[::-1]).resize((96, 96)).save(hr / f"h{i}.png")
    data, _ = load_unpaired(real, hr, 2, 16, "bicubic")
    config = resolve_config(_spec())
    g = torch.Generator().manual_seed(0)
    session = RECIPES["estimated"].session(config, 2, data, torch.device("cpu"), g)
    session.train_step(data.sample(2, g), session.schedule().at(0.5), 0.5)
    settings = session.settings  # type: ignore[attr-defined]
    assert [s.quality for s in settings] == [55]
    # The log says what was measured: the JPEG, and how many patches were flat.
    assert any("IJG quality about 55" in n for n in session.notes)
    assert any(
        n.startswith("camera noise:") and "flat patches of" in n for n in session.notes
    )
    off = resolve_config(_spec(jpeg=False))
    quiet = RECIPES["estimated"].session(off, 2, data, torch.device("cpu"), g)
    quiet.train_step(data.sample(2, g), quiet.schedule().at(0.5), 0.5)
    assert quiet.settings == ()  # type: ignore[attr-defined]
    assert any("JPEG is off" in n for n in quiet.notes)


def test_kernelgan_steps_touch_only_the_net_they_train() -> None:
    config = resolve_config(_spec(variant="estimated-kernelgan"))
    data = tiny_data()
    g = torch.Generator().manual_seed(0)
    session = RECIPES["estimated"].session(config, 2, data, torch.device("cpu"), g)
    seen: dict[str, list[set[str]]] = {}
    original = session.step_optim

    def hooked(opt: str) -> None:
        seen.setdefault(opt, []).append(
            {
                n
                for n, net in session.nets.items()
                if any(
                    p.grad is not None and p.grad.abs().sum() > 0
                    for p in net.parameters()
                )
            }
        )
        original(opt)

    session.step_optim = hooked  # type: ignore[method-assign]
    sched = session.schedule()
    for step in range(6):
        session.train_step(data.sample(2, g), sched.at(step / 6), step / 6)
    assert set(seen) == {"K_G", "K_D", "SR"}
    for opt, reached in seen.items():
        assert all(r == {opt} for r in reached), (opt, reached)
