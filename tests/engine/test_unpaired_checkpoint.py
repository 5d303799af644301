"""Checkpoints round-trip, are written atomically, and resume identically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.events import Losses
from engine.jobs import run
from engine.train import checkpoint
from engine.train.recipes.cyclesr import phase_b_snapshot
from engine.train.trainer import RunSpec, load_inference, train
from tests.engine.unpaired_helpers import tiny, tiny_data


def _spec(name: str, iterations: int = 6) -> RunSpec:
    return RunSpec(
        name,
        iterations=iterations,
        overrides=tiny(name),
        preview_every_s=0,
        info={"trained_on": "tiny random photos", "command": "pytest"},
    )


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "m.unsr.pt"
    result = run(train(_spec("maeda", 2), tiny_data(), out))
    assert result.path == out and out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["m.unsr.pt"]  # no temp left
    # Ordinary permissions (the umask decides), not mkstemp's owner-only 0600.
    assert out.stat().st_mode & 0o777 == 0o666 & ~checkpoint._umask()
    nets, infer, header = load_inference(out)
    assert set(nets) == {"G_XY", "U"}
    assert header["recipe"] == "maeda" and header["scale"] == 2
    assert header["info"]["trained_on"] == "tiny random photos"
    assert header["info"]["steps"] == "2"
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert infer(nets, x).shape == (1, 3, 24, 24)
    stripped = checkpoint.strip(out, tmp_path / "s.unsr.pt")
    assert "train" not in checkpoint.load(stripped)
    assert stripped.stat().st_size < out.stat().st_size
    nets2, _, _ = load_inference(stripped)
    with torch.no_grad():
        assert torch.equal(infer(nets, x), infer(nets2, x))


def test_bad_checkpoint_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.unsr.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(checkpoint.CheckpointError, match=r"bad\.unsr\.pt"):
        checkpoint.load(bad)
    torch.save({"a": torch.zeros(1)}, bad)
    with pytest.raises(checkpoint.CheckpointError, match="not an unsr"):
        checkpoint.load(bad)


@pytest.mark.parametrize("name", ["cyclesr", "csrgan"])
def test_stopped_run_resumes_identically(tmp_path: Path, name: str) -> None:
    full = tmp_path / "full.unsr.pt"
    run(train(_spec(name), tiny_data(), full))

    part = tmp_path / "part.unsr.pt"
    job = train(_spec(name), tiny_data(), part)
    for event in job:
        if isinstance(event, Losses) and event.step == 3:
            break
    job.close()  # the user presses Stop: the checkpoint is saved on the way out
    assert checkpoint.load(part)["train"]["step"] == 3
    steps: list[int] = []
    result = run(
        train(_spec(name), tiny_data(), part, resume=part),
        lambda e: steps.append(e.step) if isinstance(e, Losses) else None,
    )
    assert steps == [4, 5, 6] and result.completed
    a, b = (
        checkpoint.load(full)["train"]["nets"],
        checkpoint.load(part)["train"]["nets"],
    )
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs"
    if name == "cyclesr":
        # The phase-B snapshot survives the resume (not retaken mid-joint).
        ea, eb = (checkpoint.load(p)["train"]["extra"] for p in (full, part))
        snap = phase_b_snapshot(ea)
        assert set(snap) == set(a["SR"])
        for key, value in snap.items():
            assert torch.equal(value, phase_b_snapshot(eb)[key])
        assert any(not torch.equal(snap[k], a["SR"][k]) for k in snap)


def test_resume_refuses_another_recipe(tmp_path: Path) -> None:
    out = tmp_path / "m.unsr.pt"
    run(train(_spec("bicubic", 1), tiny_data(), out))
    with pytest.raises(checkpoint.CheckpointError, match="resumable maeda"):
        run(train(_spec("maeda"), tiny_data(), resume=out))
