"""Every SR model file of the models library as a method.

A model upscales by its own factor. Asked for another one, it still runs at its
own scale and the result is resized to the requested size with Lanczos
(downscaling a x4 result to x2 is what chaiNNer and Upscayl users do to get a
sharp x2). ``resize_to_requested=False`` refuses other scales instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine import models
from engine.events import FloatArray, Message
from engine.jobs import Job
from engine.methods.base import Method, MethodError, RunContext, RunFn
from engine.models import inference
from engine.models.library import Entry, info_facts

#: Scales offered besides a model's own one (by resizing its output).
RESIZE_SCALES = (2, 3, 4, 8)


@dataclass(frozen=True)
class PretrainedParams:
    """Settings of a pretrained model run.

    Attributes
    ----------
    precision : str
        "auto": bf16 where a check on a crop of the image keeps the output
        within 1/255 of fp32; "fp32"; or "bf16" (forced).
    resize_to_requested : bool
        When the requested scale differs from the model's, run the model and
        resize its output (Lanczos) to the requested size; False refuses.
    tile_overlap : int
        Overlap between tiles in input pixels; wider hides seams of models
        with a large receptive field.
    """

    precision: inference.Precision = "auto"
    resize_to_requested: bool = True
    tile_overlap: int = 16


PROFILES = {
    "default": PretrainedParams(),
    "fp32": PretrainedParams(precision="fp32"),
    "native": PretrainedParams(resize_to_requested=False),
}


def resize_to(rgb: FloatArray, height: int, width: int) -> FloatArray:
    """Resize float32 (H, W, 3) to an exact size with Lanczos, plane by plane."""
    planes = []
    for c in range(rgb.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(rgb[..., c], dtype=np.float32))
        resized = plane.resize((width, height), Image.Resampling.LANCZOS)
        planes.append(np.asarray(resized))
    out: FloatArray = np.clip(np.stack(planes, axis=2), 0.0, 1.0).astype(np.float32)
    return out


def _runner(path: Path, label: str) -> RunFn:
    def run(
        rgb: FloatArray, scale: int, params: PretrainedParams, ctx: RunContext
    ) -> Job[FloatArray]:
        loaded = models.load(path)
        native = loaded.info.scale
        if scale != native and not params.resize_to_requested:
            raise MethodError(
                f"{label} is a x{native} model; ask for x{native}, or let unsr "
                f"resize its output to x{scale}"
            )
        out = yield from inference.upscale(
            loaded,
            rgb,
            device=str(ctx.device),
            tile=ctx.tile,
            memory_mb=ctx.memory_mb,
            precision=params.precision,
            overlap=params.tile_overlap,
        )
        if scale != native:
            yield Message(
                f"{label} is a x{native} model: its output was resized to x{scale}"
            )
            out = resize_to(out, rgb.shape[0] * scale, rgb.shape[1] * scale)
        return out

    return run


def method_for(entry: Entry) -> Method:
    """The method of a usable library entry."""
    info = entry.info
    if info is None or not entry.usable:
        raise MethodError(f"{entry.path.name} is not usable: {entry.status}")
    tags = f", {' '.join(info.tags)}" if info.tags else ""
    return Method(
        id=entry.id,
        label=f"{entry.name} (x{info.scale})",
        description=(
            f"{info.architecture}{tags} x{info.scale} model from the "
            f"{entry.source} models folder; other scales resize its output."
        ),
        scales=tuple(sorted({info.scale, *RESIZE_SCALES})),
        profiles=PROFILES,
        needs_fit=False,
        run=_runner(entry.path, entry.name),
        kind="pretrained",
        info={"file": str(entry.path), "source": entry.source, **info_facts(info)},
    )


def provide() -> tuple[Method, ...]:
    """Methods for every SR model in the library that unsr can run.

    Never raises: an unreadable models folder must not take the built-in
    methods down with it (``unsr models list`` says what is wrong).
    """
    try:
        entries = models.entries()
    except Exception:
        return ()
    return tuple(method_for(e) for e in entries if e.usable)


__all__ = ["PROFILES", "RESIZE_SCALES", "PretrainedParams", "method_for", "provide"]
