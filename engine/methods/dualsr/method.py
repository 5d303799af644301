"""The registry entry: DualSR as a method users launch per image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine import device as devices
from engine.events import FloatArray, Message, Preview
from engine.jobs import Job
from engine.methods.base import Method, MethodError, RunContext, Upscaler
from engine.methods.dualsr.params import PROFILES, DualSRParams
from engine.tiling import upscale_declared

if TYPE_CHECKING:
    import torch

    from engine.methods.dualsr import reuse
    from engine.methods.dualsr.fit import FitResult

# The fit (and torch with it) is imported when a fit runs: the registry lists
# DUALSR without it (``unsr methods``, the app's method panel).

SCALES = (2, 4)


@dataclass(frozen=True, eq=False)
class DualSRFit:
    """The x2 fits of one image, in order (two for x4)."""

    passes: tuple[FitResult, ...]

    @property
    def kernel(self) -> FloatArray:
        """The kernel learned on the photo itself (the first pass)."""
        return self.passes[0].kernel


def _check(scale: int) -> int:
    if scale not in SCALES:
        raise MethodError(
            f"DualSR upscales x2 (as in the paper) or x4 (two x2 fits); not x{scale}"
        )
    return scale // 2


def fit(
    rgb: FloatArray, scale: int, params: DualSRParams, ctx: RunContext
) -> Job[DualSRFit | None]:
    """Fit on ``rgb``: one x2 fit, or for x4 a second one on the first's output.

    x4 is an extension of the paper (which only does x2): the second fit learns
    from the first one's x2 result, made by the same tiled pass as the output.
    With ``params.reuse`` set the fit is skipped (None): :func:`upscaler`
    applies the saved one.
    """
    from engine.methods.dualsr.fit import fit_x2

    passes = _check(scale)
    if params.reuse is not None:
        yield Message(f"applying the saved fit in {params.reuse}: no fitting")
        return None
    img = np.ascontiguousarray(rgb, dtype=np.float32)
    done: list[FitResult] = []
    for i in range(passes):
        if done and ctx.finishing():
            break  # stop and keep: an x4 run keeps the passes it has
        stage = "fitting" if passes == 1 else f"fitting x2 pass {i + 1}/{passes}"
        run_dir = ctx.run_dir
        if run_dir is not None and passes > 1:
            run_dir = run_dir / f"pass{i + 1}"
        if passes > 1:
            yield Message(f"x4 as two x2 fits: pass {i + 1} of {passes}")
        fitting = fit_x2(img, params, ctx, run_dir, stage)
        result = yield from _placed_in_input(fitting, 2**i)
        done.append(result)
        if i + 1 < passes and not ctx.finishing():
            one = _upscaler_of((result,), params, result.device)
            img = yield from upscale_declared(
                one.fn,
                img,
                2,
                one.needs,
                device=one.device,
                tile=ctx.tile,
                memory_mb=ctx.memory_mb,
            )
    if ctx.run_dir is not None and passes > 1:
        # The top-level folder gets the status of the whole run.
        from engine.methods.dualsr import artefacts

        artefacts.write_status(ctx.run_dir, "done", passes=len(done))
    return DualSRFit(tuple(done))


def _placed_in_input(job: Job[FitResult], factor: int) -> Job[FitResult]:
    """Pass a fit's events on, with its previews' boxes in the photo's pixels.

    The second fit of an x4 run learns from an image ``factor`` times the
    photo's size; its boxes are divided back so viewers place them right.
    """
    try:
        while True:
            event = next(job)
            if isinstance(event, Preview) and event.box is not None and factor != 1:
                x, y, w, h = (v / factor for v in event.box)
                event = Preview(event.step, event.image, event.label, (x, y, w, h))
            yield event
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        job.close()


def _upscaler_of(
    passes: tuple[FitResult, ...] | tuple[reuse.LoadedPass, ...],
    params: DualSRParams,
    dev: torch.device,
) -> Upscaler:
    import torch

    from engine.methods.dualsr.fit import needs

    fmt = torch.channels_last if params.channels_last else torch.contiguous_format
    nets = [p.upsampler.to(dev).to(memory_format=fmt) for p in passes]

    def fn(x: torch.Tensor) -> torch.Tensor:
        for net in nets:
            x = net(x.contiguous(memory_format=fmt)).float()
        return x

    return Upscaler(fn, 2 ** len(nets), needs(params, len(nets)), dev)


def _reused(
    scale: int, params: DualSRParams, ctx: RunContext
) -> tuple[reuse.LoadedPass, ...]:
    """Load the fit ``params.reuse`` names and note it in the run folder."""
    from engine.methods.dualsr import reuse

    assert params.reuse is not None
    saved = reuse.find(params.reuse)
    passes = _check(scale)
    if passes > len(saved.weights):
        raise MethodError(
            f"{saved.name} is an x{saved.scale} fit; it cannot upscale x{scale}"
        )
    loaded = reuse.load(saved, passes)
    if ctx.run_dir is not None:
        reuse.record(ctx.run_dir, saved, loaded[0].kernel)
    return loaded


def upscaler(
    rgb: FloatArray,
    scale: int,
    params: DualSRParams,
    ctx: RunContext,
    fitted: DualSRFit | None,
) -> Job[Upscaler]:
    """The fitted upsampler(s) as one network for the pipeline's tiled pass.

    Without a fit of this photo, the saved one ``params.reuse`` names is loaded.
    """
    _check(scale)
    yield from ()
    if fitted is not None:
        return _upscaler_of(fitted.passes, params, fitted.passes[0].device)
    if params.reuse is None:
        raise MethodError("DualSR upscales only after fitting on the image")
    loaded = _reused(scale, params, ctx)
    sized = params.with_(up_width=loaded[0].width)  # the tiling budget of the saved net
    return _upscaler_of(loaded, sized, devices.pick(str(ctx.device)))


DUALSR = Method(
    id="dualsr",
    label="DualSR (zero-shot)",
    description=(
        "Learns this photo's own blur and an upsampler for it from the photo alone;"
        " minutes per image."
    ),
    scales=SCALES,
    profiles=PROFILES,
    upscaler=upscaler,
    fit=fit,
    info={
        "paper": "Emad, Peemen, Corporaal: DualSR, WACV 2021",
        "x4": "two x2 fits in a row (an extension; the paper does x2 only)",
    },
)

__all__ = ["DUALSR", "SCALES", "DualSRFit", "fit", "upscaler"]
