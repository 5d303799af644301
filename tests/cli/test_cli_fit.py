"""``unsr fit``: a short DualSR fit from the command line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli
from engine.store import Store


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = torch.get_num_threads()
    monkeypatch.setenv("UNSR_THREADS", "1")  # what `unsr fit` sets its threads to
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _save(path: Path, size: int, rng: np.random.Generator) -> Path:
    pixels = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_fit_writes_output_and_run_folder(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "photo.png", 112, rng)
    torch.set_num_threads(2)  # `unsr fit` takes its threads from UNSR_THREADS
    code = cli.main(["fit", str(src), "--iters", "3", "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = tmp_path / "out" / "photo_dualsr_x2.png"
    with Image.open(out) as written:
        assert written.size == (224, 224)
    assert "gan" in captured.err and "cyc>" in captured.err
    assert torch.get_num_threads() == 1
    folder = Path(captured.out.split("run folder ")[1].rstrip(")\n"))
    assert json.loads((folder / "status.json").read_text())["status"] == "done"
    assert (folder / "kernel.npy").exists() and (folder / "losses.csv").exists()


def test_fit_refuses_tiny_images_and_bad_scales(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    src = _save(tmp_path / "tiny.png", 30, rng)
    err = io.StringIO()
    parser = cli.build_parser()
    args = parser.parse_args(["fit", str(src), "--iters", "2"])
    assert args.func(args, io.StringIO(), err) == 1
    assert "tiny.png" in err.getvalue() and "at least" in err.getvalue()
    assert not list(tmp_path.glob("tiny_dualsr*"))
    assert cli.main(["fit", str(src), "--scale", "3"]) == 2


def test_one_fit_applied_to_a_shoot_with_reuse(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "photo.png", 112, rng)
    assert cli.main(["fit", str(src), "--iters", "3", "-o", str(tmp_path)]) == 0
    hint = capsys.readouterr().err.splitlines()[-1]
    assert "--reuse" in hint
    run_id = hint.split("--reuse ")[1]
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name in ("a.png", "b.png"):
        _save(shoot / name, 64, rng)
    out = tmp_path / "out"
    args = ["upscale", str(shoot), "-m", "dualsr", "--reuse", run_id, "-o", str(out)]
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for name in ("a", "b"):
        with Image.open(out / f"{name}_dualsr_x2.png") as written:
            assert written.size == (128, 128)
    for run in Store().runs()[:2]:  # the two reusing runs, newest first
        assert run.params["reuse"] and run.status == "done"
        assert (run.folder / "reused.json").is_file()
        assert not (run.folder / "losses.csv").exists()  # nothing was fitted


def test_reuse_refuses_other_methods_and_unknown_runs(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "photo.png", 64, rng)
    assert cli.main(["upscale", str(src), "-m", "bicubic", "--reuse", "1"]) == 2
    assert "use it with -m dualsr" in capsys.readouterr().err
    assert cli.main(["upscale", str(src), "-m", "dualsr", "--reuse", "77"]) == 2
    assert "no run 77" in capsys.readouterr().err
    assert not list(tmp_path.glob("photo_*"))
