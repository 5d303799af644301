"""DualSR on a GPU: the fit and the tiled pass on CUDA (skipped without one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import jobs, pipeline
from engine.methods import RunContext
from engine.methods.dualsr import DUALSR, reuse, sampler
from tests.engine.dualsr_helpers import tiny

TINY = tiny(6)

cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device; none is present here"
)


def test_a_plan_on_the_cpu_stays_a_view_of_the_photo(
    rng: np.random.Generator,
) -> None:
    img = rng.random((64, 80, 3)).astype(np.float32)
    plan = sampler.plan(img, 24, 4, seed=0)
    assert plan.on(torch.device("cpu")) is plan
    assert plan.image.data_ptr() == torch.from_numpy(img).data_ptr()
    x, y = plan.batch(1, 2)
    r, c = plan.lr_corners[2]
    np.testing.assert_array_equal(
        x[0].permute(1, 2, 0).numpy(), img[r : r + 24, c : c + 24]
    )
    assert y.shape == (2, 3, 48, 48)


@cuda
def test_fit_and_tiled_pass_run_on_cuda(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    photo = rng.random((56, 64, 3)).astype(np.float32)
    ctx = RunContext(device="cuda", run_dir=tmp_path / "fit")
    result = jobs.run(pipeline.upscale(photo, DUALSR, 2, TINY, ctx))
    (fitted,) = result.fitted.passes
    assert fitted.device.type == "cuda"
    assert next(fitted.upsampler.parameters()).is_cuda
    assert result.rgb.shape == (112, 128, 3) and np.isfinite(result.rgb).all()
    plan = sampler.plan(photo, 24, 2, seed=0).on(torch.device("cuda"))
    x, y = plan.batch(0, 2)
    assert x.is_cuda and y.is_cuda
    # The saved fit is plain CPU tensors: it applies on the CPU as well.
    params = reuse.params_reusing(tmp_path / "fit", 2, TINY)
    on_cpu = jobs.run(pipeline.upscale(photo, DUALSR, 2, params, RunContext("cpu")))
    np.testing.assert_allclose(on_cpu.rgb, result.rgb, atol=2e-3)
