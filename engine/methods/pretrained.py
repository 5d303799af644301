"""Every SR model file of the models library as a method.

A model upscales by its own factor. Asked for another one, it still runs at its
own scale and the pipeline resizes the result to the requested size with Lanczos
(downscaling a x4 result to x2 is what chaiNNer and Upscayl users do to get a
sharp x2). ``resize_to_requested=False`` refuses other scales instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine import device as devices
from engine import models
from engine.events import FloatArray, Message
from engine.jobs import Job
from engine.methods.base import Method, MethodError, RunContext, Upscaler, UpscalerFn
from engine.models.info import Precision
from engine.models.library import Entry, info_facts
from engine.models.loading import LoadedModel

if TYPE_CHECKING:
    import torch

# engine.models.inference (and torch) is imported when a model runs: listing
# the library's models as methods reads the models index only.

Backend = Literal["auto", "torch", "ncnn"]
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
    backend : str
        "auto": on the CPU, the ncnn runtime for a model imported from ncnn
        files whose architecture it runs faster (the compact net, SPAN) when
        the ``ncnn`` package is installed, else torch; "torch" or "ncnn"
        (the latter only for models that have their ncnn files).
    resize_to_requested : bool
        When the requested scale differs from the model's, run the model and
        resize its output (Lanczos) to the requested size; False refuses.
    tile_overlap : int
        Overlap between tiles in input pixels; wider hides seams of models
        with a large receptive field.
    """

    precision: Precision = "auto"
    backend: Backend = "auto"
    resize_to_requested: bool = True
    tile_overlap: int = 16


PROFILES = {
    "default": PretrainedParams(),
    "fp32": PretrainedParams(precision="fp32"),
    "torch": PretrainedParams(backend="torch"),
    "native": PretrainedParams(resize_to_requested=False),
}


def adapter(
    loaded: LoadedModel,
    rgb: FloatArray,
    params: PretrainedParams,
    ctx: RunContext,
) -> Job[Upscaler]:
    """A loaded spandrel network as an :class:`Upscaler`.

    The network pads each tile to its size rules; its tiling advice becomes
    the declared needs ("internal" sees the whole image, "discouraged" gets a
    budget twice as large and twice the overlap); bf16 runs only where the
    check on a crop of ``rgb`` keeps it within 1/255 of fp32.
    """
    from engine.models import inference

    info = loaded.info
    dev = devices.pick(str(ctx.device))
    needs = inference.needs(info, params.tile_overlap)
    where = "whole image" if needs.whole_image else "tiles"
    threads = devices.ensure_threads()
    on = f"cpu ({threads} thread{'s' if threads > 1 else ''})"
    on = on if dev.type == "cpu" else dev.type
    runtime = _ncnn_runtime(loaded, dev, params)
    if runtime is not None:
        yield Message(
            f"{info.architecture} x{info.scale} on {on}, ncnn runtime, {where}",
            data={"bf16": False, "device": dev.type, "backend": "ncnn"},
        )
        return Upscaler(runtime(threads), info.scale, needs)
    if loaded.descriptor.device != dev:
        loaded.descriptor.to(dev)
    bf16 = inference.use_bf16(loaded, rgb, dev, params.precision)
    yield Message(
        f"{info.architecture} x{info.scale} on {on}"
        f", {'bf16' if bf16 else 'fp32'}, {where}",
        data={"bf16": bf16, "device": dev.type, "backend": "torch"},
    )
    return Upscaler(inference.forward_fn(loaded, dev, bf16), info.scale, needs)


def _ncnn_runtime(
    loaded: LoadedModel, dev: torch.device, params: PretrainedParams
) -> Callable[[int], Callable[[torch.Tensor], torch.Tensor]] | None:
    """The ncnn runtime's upscale for this model, when it is the one to use."""
    from engine.models import ncnn_backend

    if params.backend == "torch":
        return None
    program = ncnn_backend.program_of(loaded.info.path)
    usable = program is not None and ncnn_backend.available()
    if params.backend == "ncnn" and not usable:
        raise MethodError(
            f"{loaded.info.path.name} cannot run on the ncnn runtime: "
            + (
                "it was not imported from ncnn files"
                if program is None
                else "the ncnn package is not installed (pip install ncnn)"
            )
        )
    wanted = params.backend == "ncnn" or (
        loaded.info.arch_id in ncnn_backend.FASTER_ON_NCNN
        and params.precision != "bf16"
    )
    if not usable or dev.type != "cpu" or not wanted or program is None:
        return None
    found = program
    return lambda threads: ncnn_backend.upscale_fn(found, threads)


def _upscaler(path: Path, label: str) -> UpscalerFn:
    def build(
        rgb: FloatArray,
        scale: int,
        params: PretrainedParams,
        ctx: RunContext,
        fitted: object,
    ) -> Job[Upscaler]:
        loaded = models.load(path)
        native = loaded.info.scale
        if scale != native and not params.resize_to_requested:
            raise MethodError(
                f"{label} is a x{native} model; ask for x{native}, or let unsr "
                f"resize its output to x{scale}"
            )
        return (yield from adapter(loaded, rgb, params, ctx))

    return build


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
        upscaler=_upscaler(entry.path, entry.name),
        kind="pretrained",
        info={"file": str(entry.path), "source": entry.source, **info_facts(info)},
        native_scale=info.scale,
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
    return tuple(method_for(e) for e in entries if e.kind == "spandrel" and e.usable)


__all__ = [
    "PROFILES",
    "RESIZE_SCALES",
    "PretrainedParams",
    "adapter",
    "method_for",
    "provide",
]
