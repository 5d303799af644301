"""The registry entry: DualSR as a method users launch per image."""

from __future__ import annotations

import numpy as np

from engine.events import FloatArray, Message
from engine.jobs import Job
from engine.methods.base import Method, MethodError, RunContext
from engine.methods.dualsr.fit import fit_x2
from engine.methods.dualsr.params import PROFILES, DualSRParams

SCALES = (2, 4)


def run(
    rgb: FloatArray, scale: int, params: DualSRParams, ctx: RunContext
) -> Job[FloatArray]:
    """Fit on ``rgb`` and upscale it by ``scale`` (2, or 4 as two x2 fits).

    x4 is an extension of the paper (which only does x2): a second fit learns
    from the first one's output and doubles it again. A grey image, (H, W) or
    (H, W, 1), is replicated to three channels and the result is grey again.
    """
    if scale not in SCALES:
        raise MethodError(
            f"DualSR upscales x2 (as in the paper) or x4 (two x2 fits); not x{scale}"
        )
    grey = rgb.ndim == 2 or rgb.shape[2] == 1
    img = (
        np.repeat(rgb.reshape(rgb.shape[0], rgb.shape[1], 1), 3, axis=2)
        if grey
        else rgb
    )
    img = np.ascontiguousarray(img, dtype=np.float32)
    passes = scale // 2
    for i in range(passes):
        stage = "fitting" if passes == 1 else f"fitting x2 pass {i + 1}/{passes}"
        run_dir = ctx.run_dir
        if run_dir is not None and passes > 1:
            run_dir = run_dir / f"pass{i + 1}"
        if passes > 1:
            yield Message(f"x4 as two x2 fits: pass {i + 1} of {passes}")
        result = yield from fit_x2(img, params, ctx, run_dir, stage)
        img = result.rgb
    if ctx.run_dir is not None and passes > 1:
        # The top-level folder gets the status of the whole run.
        from engine.methods.dualsr import artefacts

        artefacts.write_status(ctx.run_dir, "done", passes=passes)
    out: FloatArray = img.mean(axis=2, keepdims=True).repeat(3, axis=2) if grey else img
    return out


DUALSR = Method(
    id="dualsr",
    label="DualSR (zero-shot)",
    description=(
        "Learns this photo's own blur and an upsampler for it from the photo alone;"
        " minutes per image."
    ),
    scales=SCALES,
    profiles=PROFILES,
    needs_fit=True,
    run=run,
    info={
        "paper": "Emad, Peemen, Corporaal: DualSR, WACV 2021",
        "x4": "two x2 fits in a row (an extension; the paper does x2 only)",
    },
)

__all__ = ["DUALSR", "SCALES", "run"]
