"""The viewer scores the engine's float data: 16-bit scores as in `unsr eval`."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from engine import jobs, metrics
from engine.cli import main as unsr
from engine.io import images
from engine.io.images import ImageData
from unsr_app import job_factories
from unsr_app.qimage import qimage_to_array


def _png16(path: Path, rgb: np.ndarray) -> Path:
    images.write(
        ImageData(rgb=rgb.astype(np.float32), bit_depth=16), path, bit_depth=16
    )
    return path


def test_a_16_bit_image_scores_in_the_app_as_in_unsr_eval(tmp_path: Path) -> None:
    # Differences far below one 8-bit step: only 16-bit data can see them.
    y, x = np.mgrid[0:48, 0:64] / 64.0
    hr = np.stack([x, y, (x + y) / 2], axis=-1) * 0.8 + 0.1
    noise = np.random.default_rng(0).normal(0, 0.4 / 255, hr.shape)
    hr_path = _png16(tmp_path / "hr.png", hr)
    sr_path = _png16(tmp_path / "sr.png", np.clip(hr + noise, 0, 1))
    assert images.read(sr_path).bit_depth == 16

    view = jobs.run(job_factories.view_job(None, sr_path, hr_path))
    assert view.after_rgb is not None and view.reference_rgb is not None
    app = jobs.run(job_factories.metrics_job(view.after_rgb, view.reference_rgb))

    out = io.StringIO()
    with redirect_stdout(out):
        code = unsr(["eval", str(sr_path), str(hr_path)])
    assert code == 0, out.getvalue()
    printed = re.search(r"PSNR \(Y\): ([\d.]+) dB", out.getvalue())
    assert printed is not None, out.getvalue()
    assert f"{app['PSNR']:.2f}" == printed.group(1)
    exact = metrics.psnr(images.read(sr_path).rgb, images.read(hr_path).rgb)
    assert app["PSNR"] == exact
    # The 8-bit display copies, which the viewer used to score, disagree.
    eight_bit = metrics.psnr(
        qimage_to_array(view.after), qimage_to_array(view.reference)
    )
    assert abs(eight_bit - exact) > 0.5
