"""The one orchestrator: a resolved method -> fit -> one tiled pass -> alpha -> clamp.

Every upscale in unsr, from the CLI, the app or a benchmark, runs through
:func:`upscale`. Methods declare what their network needs
(:class:`engine.tiling.TilingNeeds`) and never tile by themselves; this module
does the tiling once, resizes a model's native scale to the requested one,
upscales the alpha plane on its own and clamps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.events import FloatArray, Message
from engine.io.images import ImageData
from engine.jobs import Job
from engine.methods import resample
from engine.methods.base import Method, RunContext, Upscaler
from engine.tiling import upscale_declared


@dataclass(frozen=True, eq=False)
class UpscaleResult:
    """What :func:`upscale` returns.

    Attributes
    ----------
    rgb : ndarray
        float32 (sH, sW, 3) in [0, 1].
    alpha : ndarray or None
        float32 (sH, sW) in [0, 1], when the input had one.
    method : str
        The method id.
    scale : int
        The scale factor applied.
    params : object
        The frozen params dataclass the method ran with.
    seconds : float
        Wall time of the whole job.
    fitted : object
        What the method's fit step learned (None for methods without one).
    """

    rgb: FloatArray
    alpha: FloatArray | None
    method: str
    scale: int
    params: Any
    seconds: float
    fitted: Any = None


def infer(
    upscaler: Upscaler, rgb: FloatArray, scale: int, ctx: RunContext
) -> Job[FloatArray]:
    """The one tiled pass, then a resize when the network's scale is not ``scale``.

    Returns
    -------
    ndarray
        float32 (scale*H, scale*W, 3) in [0, 1].
    """
    out = yield from upscale_declared(
        upscaler.fn,
        rgb,
        upscaler.scale,
        upscaler.needs,
        device=upscaler.device,
        tile=ctx.tile,
        memory_mb=ctx.memory_mb,
        stage=upscaler.stage,
    )
    if upscaler.scale != scale:
        yield Message(
            f"the network is x{upscaler.scale}: its output was resized to x{scale}"
        )
        h, w = rgb.shape[:2]
        out = resample.resize_to(out, h * scale, w * scale, "lanczos")
    return out


def _clipped(out: FloatArray) -> FloatArray:
    """``out`` as float32 in [0, 1], clipped in place when it can be.

    ``out`` is the pass's own new array; a clipped copy of a 12 MP photo's x4
    (2.3 GB) would double the run's largest allocation.
    """
    if out.dtype == np.float32 and out.flags.writeable:
        return np.clip(out, 0.0, 1.0, out=out)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _as_rgb(rgb: FloatArray) -> tuple[FloatArray, bool]:
    """float32 (H, W, 3), and whether the input was a single grey plane."""
    grey = rgb.ndim == 2 or rgb.shape[2] == 1
    if grey:
        rgb = np.repeat(rgb.reshape(rgb.shape[0], rgb.shape[1], 1), 3, axis=2)
    return np.ascontiguousarray(rgb, np.float32), grey


def upscale(
    image: ImageData | FloatArray,
    method: Method,
    scale: int,
    params: Any = None,
    ctx: RunContext | None = None,
) -> Job[UpscaleResult]:
    """Upscale one image with a resolved method.

    Parameters
    ----------
    image
        An :class:`ImageData` (its alpha is upscaled too) or float32 pixels
        (H, W, 3), (H, W, 1) or (H, W) in [0, 1].
    method
        The method, resolved once by the caller (:func:`engine.methods.get`).
    scale
        Integer scale factor; the method must support it.
    params
        The method's frozen params; its default profile when None.
    ctx
        Device, tile, memory budget, run folder, seed; defaults when None.

    Returns
    -------
    UpscaleResult
        Via ``StopIteration.value``.
    """
    start = time.perf_counter()
    method.check_scale(scale)
    chosen = params if params is not None else method.params_for(None)
    ctx = ctx if ctx is not None else RunContext()
    pixels = image.rgb if isinstance(image, ImageData) else image
    alpha = image.alpha if isinstance(image, ImageData) else None
    rgb, grey = _as_rgb(pixels)
    yield Message(f"{method.label} x{scale} on a {rgb.shape[1]}x{rgb.shape[0]} image")
    fitted = None
    if method.fit is not None:
        fitted = yield from method.fit(rgb, scale, chosen, ctx)
    upscaler = yield from method.upscaler(rgb, scale, chosen, ctx, fitted)
    out = yield from infer(upscaler, rgb, scale, ctx)
    if grey:
        out = np.repeat(out.mean(axis=2, keepdims=True), 3, axis=2)
    out_alpha = None
    if alpha is not None:
        # Alpha is a mask, not a photo: a learned method would invent texture in it.
        out_alpha = resample.resize(alpha[..., None], scale, "lanczos")[..., 0]
    return UpscaleResult(
        rgb=_clipped(out),
        alpha=out_alpha,
        method=method.id,
        scale=scale,
        params=chosen,
        seconds=time.perf_counter() - start,
        fitted=fitted,
    )


__all__ = ["UpscaleResult", "infer", "upscale"]
