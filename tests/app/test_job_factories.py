"""The job factories: output names, the real job on a tiny file, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import jobs
from engine.io.images import ImageError
from unsr_app import job_factories
from unsr_app.requests import RunRequest


def _png(path: Path, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    channels = len(mode)
    Image.fromarray((rng.random((6, 8, channels)) * 255).astype(np.uint8), mode).save(
        path
    )
    return path


def test_output_goes_beside_the_input_with_method_and_scale(tmp_path: Path) -> None:
    src = _png(tmp_path / "photo.png")
    out = job_factories.output_path(src, RunRequest("dualsr", 2, fmt="png"), None)
    assert out == tmp_path / "photo_dualsr_x2.png"
    out.write_bytes(b"taken")
    again = job_factories.output_path(src, RunRequest("dualsr", 2), None)
    assert again == tmp_path / "photo_dualsr_x2-2.png"  # the planner's "-2" style


def test_output_mirrors_a_dropped_folder(tmp_path: Path) -> None:
    src = _png(tmp_path / "shoot" / "day2" / "a.jpg")
    request = RunRequest("bicubic", 3, output_dir=tmp_path / "out", fmt="jpeg")
    out = job_factories.output_path(src, request, tmp_path / "shoot")
    assert out == tmp_path / "out" / "day2" / "a_bicubic_x3.jpg"


def test_real_job_writes_the_result_and_keeps_alpha(tmp_path: Path) -> None:
    src = _png(tmp_path / "logo.png", "RGBA")
    before = src.read_bytes()
    job = job_factories.process_file_job(src, RunRequest("bicubic", 2), None)
    outcome = jobs.run(job)
    with Image.open(outcome.output) as img:
        assert img.size == (16, 12) and img.mode == "RGBA"
    assert src.read_bytes() == before
    assert not list(tmp_path.glob(".unsr-*")), "no temp file is left behind"


@pytest.mark.parametrize("content", [b"", b"hello, I am text"])
def test_bad_file_raises_naming_it(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(ImageError, match=r"broken\.png"):
        jobs.run(job_factories.process_file_job(bad, RunRequest("bicubic", 2), None))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png"]


def test_metrics_job_scores_identical_images_perfectly() -> None:
    rng = np.random.default_rng(3)
    img = rng.random((16, 16, 3)).astype(np.float32)
    scores = jobs.run(job_factories.metrics_job(img, img))
    assert scores["SSIM"] == pytest.approx(1.0)
    assert scores["PSNR"] > 60 or np.isinf(scores["PSNR"])  # type: ignore[operator]
