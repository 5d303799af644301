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

if TYPE_CHECKING:
    import torch

    from engine.methods.dualsr import reuse
    from engine.methods.dualsr.fit import FitResult

# The fit (and torch with it) is imported when a fit runs: the registry lists
# DUALSR without it (``unsr methods``, the app's method panel).

SCALES = (2, 4)


@dataclass(frozen=True, eq=False)
class DualSRFit:
    """The x2 fit(s) of one image and what they learnt from.

    Attributes
    ----------
    passes : tuple of FitResult
        The x2 fits, applied in order (one; two in x4 runs saved by earlier
        versions, which :mod:`reuse` still loads).
    bicubic : int
        The bicubic factor applied before the fits: 2 for x4 (the fit learns
        from the photo's bicubic x2), else 1.
    """

    passes: tuple[FitResult, ...]
    bicubic: int = 1

    @property
    def kernel(self) -> FloatArray:
        """The kernel the (first) fit learnt, on the image it learnt from."""
        return self.passes[0].kernel


def _check(scale: int) -> int:
    """The bicubic factor before the one x2 fit: 1 for x2, 2 for x4."""
    if scale not in SCALES:
        raise MethodError(
            f"DualSR upscales x2 (as in the paper) or x4 (bicubic x2, then an x2"
            f" fit); not x{scale}"
        )
    return scale // 2


def bicubic_first(rgb: FloatArray) -> FloatArray:
    """The photo's MATLAB bicubic x2, clamped: what an x4 fit learns from."""
    from engine.methods.dualsr import sampler

    h, w = rgb.shape[:2]
    out = sampler.imresize(rgb, 2 * h, 2 * w)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def fit(
    rgb: FloatArray, scale: int, params: DualSRParams, ctx: RunContext
) -> Job[DualSRFit | None]:
    """Fit DualSR's x2 upsampler on ``rgb``, or for x4 on its bicubic x2.

    x4 is an extension of the paper (which only does x2). Two x2 fits in a row
    lost up to 7.6 dB to bicubic on a smooth photo: the first fit's small
    loss, which its guard cannot see, was amplified by the second, whose
    guard is blind on an upscaled image. One fit on bicubic x2 gained over
    bicubic x4 on every photo and seed measured (docs/benchmarks.md, "x4").
    With ``params.reuse`` set the fit is skipped (None): :func:`upscaler`
    applies the saved one.
    """
    from engine.methods.dualsr.fit import fit_x2

    bicubic = _check(scale)
    if params.reuse is not None:
        yield Message(f"applying the saved fit in {params.reuse}: no fitting")
        return None
    img = np.ascontiguousarray(rgb, dtype=np.float32)
    if bicubic > 1:
        yield Message("x4: bicubic x2 first, then one x2 fit learns from that")
        img = bicubic_first(img)
        if ctx.run_dir is not None:
            from engine.methods.dualsr import artefacts

            artefacts.write_input(ctx.run_dir, bicubic)
    result = yield from _placed_in_input(fit_x2(img, params, ctx, ctx.run_dir), bicubic)
    return DualSRFit((result,), bicubic)


def _placed_in_input(job: Job[FitResult], factor: int) -> Job[FitResult]:
    """Pass a fit's events on, with its previews' boxes in the photo's pixels.

    An x4 fit learns from an image ``factor`` times the photo's size; its
    boxes are divided back so viewers place them right.
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
    bicubic: int = 1,
) -> Upscaler:
    import torch

    from engine.methods.dualsr.fit import needs
    from engine.methods.dualsr.guard import bicubic_x2

    fmt = torch.channels_last if params.channels_last else torch.contiguous_format
    nets = [p.upsampler.to(dev).to(memory_format=fmt) for p in passes]

    def fn(x: torch.Tensor) -> torch.Tensor:
        if bicubic > 1:  # the fit learnt from the photo's bicubic x2, clamped
            x = bicubic_x2(x).clamp_(0.0, 1.0)
        for net in nets:
            x = net(x.contiguous(memory_format=fmt)).float()
        return x

    # The net's view at the bicubic's resolution is half as wide in the
    # photo's pixels, so one pass's overlap covers the bicubic's 2 px too.
    return Upscaler(fn, bicubic * 2 ** len(nets), needs(params, len(nets)), dev)


def _reused(
    scale: int, params: DualSRParams, ctx: RunContext
) -> tuple[tuple[reuse.LoadedPass, ...], int]:
    """Load the fit ``params.reuse`` names and note it in the run folder."""
    from engine.methods.dualsr import reuse

    assert params.reuse is not None
    saved = reuse.find(params.reuse)
    loaded = reuse.load(saved, saved.nets_for(scale))
    if ctx.run_dir is not None:
        reuse.record(ctx.run_dir, saved, loaded[0].kernel)
    return loaded, saved.bicubic


def upscaler(
    rgb: FloatArray,
    scale: int,
    params: DualSRParams,
    ctx: RunContext,
    fitted: DualSRFit | None,
) -> Job[Upscaler]:
    """The fitted upsampler (after its bicubic, for x4) for the tiled pass.

    Without a fit of this photo, the saved one ``params.reuse`` names is loaded.
    """
    _check(scale)
    yield from ()
    if fitted is not None:
        dev = fitted.passes[0].device
        return _upscaler_of(fitted.passes, params, dev, fitted.bicubic)
    if params.reuse is None:
        raise MethodError("DualSR upscales only after fitting on the image")
    loaded, bicubic = _reused(scale, params, ctx)
    sized = params.with_(up_width=loaded[0].width)  # the tiling budget of the saved net
    return _upscaler_of(loaded, sized, devices.pick(str(ctx.device)), bicubic)


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
        "x4": "bicubic x2, then one x2 fit on it (an extension; the paper: x2)",
    },
)

__all__ = ["DUALSR", "SCALES", "DualSRFit", "bicubic_first", "fit", "upscaler"]
