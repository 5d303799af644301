"""The method protocol: what every entry of the registry provides."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.events import FloatArray
from engine.jobs import Job
from engine.tiling import TilingNeeds

if TYPE_CHECKING:
    import torch

DeviceName = Literal["auto", "cpu", "cuda", "mps"]


class MethodError(ValueError):
    """A method was asked for something it cannot do (unknown id, bad scale)."""


@dataclass(frozen=True)
class RunContext:
    """Where and how a method runs; the same for every method.

    Attributes
    ----------
    device : str
        "auto" (CUDA, then MPS, then CPU) or an explicit device name.
    tile : int or None
        Tile edge in input pixels for the final pass; None picks it from
        ``memory_mb``.
    memory_mb : int
        Memory budget for tiled inference, in MiB. 768 keeps a 12 MP photo
        at x2 under 2 GB peak with a 64-channel net (docs/benchmarks.md).
    run_dir : Path or None
        A folder the method may write artefacts to (kernel, weights, logs).
    seed : int
        Seed for anything random.
    finish_early : threading.Event or None
        Stop and keep: set from another thread, it asks a method that fits to
        end its fit at the next step and upscale with what it has learnt so
        far. Closing the job still cancels it outright.
    """

    device: DeviceName | str = "auto"
    tile: int | None = None
    memory_mb: int = 768
    run_dir: Path | None = None
    seed: int = 0
    finish_early: threading.Event | None = None

    def finishing(self) -> bool:
        """True once :attr:`finish_early` has been set."""
        return self.finish_early is not None and self.finish_early.is_set()


@dataclass(frozen=True, eq=False)
class Upscaler:
    """A ready network for the pipeline's one tiled pass.

    Attributes
    ----------
    fn : callable
        (1, C, h, w) in [0, 1] on ``device`` -> (1, C, s*h, s*w).
    scale : int
        The factor ``fn`` applies (a model's native scale; the pipeline
        resizes to the requested scale when it differs).
    needs : TilingNeeds
        What ``fn`` asks of the tiled pass.
    device : torch.device or str
        Where tiles are fed to ``fn``; the image itself stays on the CPU.
    stage : str
        The Progress stage name of the pass ("interpolating", ...).
    """

    fn: Callable[[torch.Tensor], torch.Tensor]
    scale: int
    needs: TilingNeeds = field(default_factory=TilingNeeds)
    device: torch.device | str = "cpu"
    stage: str = "upscaling tiles"


#: A method's fit step: (rgb float32 (H, W, 3), scale, params, context) -> a job
#: returning what the method learned from the image (opaque to the pipeline).
FitFn = Callable[[FloatArray, int, Any, RunContext], Job[Any]]
#: A method's network: (rgb, scale, params, context, fitted or None) -> a job
#: returning the :class:`Upscaler` (loading a model file may take a while).
UpscalerFn = Callable[[FloatArray, int, Any, RunContext, Any], Job[Upscaler]]


@dataclass(frozen=True)
class Method:
    """One entry of the registry.

    Attributes
    ----------
    id : str
        Stable identifier used by the CLI, the store and saved settings.
    label : str
        Short human name.
    description : str
        One line saying what it does and when to pick it.
    scales : tuple of int
        Supported integer scales.
    profiles : Mapping[str, Any]
        Named instances of the method's frozen params dataclass; the first is
        the default.
    upscaler : UpscalerFn
        Builds the network the pipeline tiles over the image.
    fit : FitFn or None
        The per-image learning step, for zero-shot methods.
    kind : str
        "builtin", "pretrained" or "trained", for grouping in lists.
    info : Mapping[str, str]
        Extra facts to show (architecture, source file, training data).
    native_scale : int or None
        The factor a network computes (an x4 model: 4); other scales resize
        its output. None for methods that do every scale natively.
    """

    id: str
    label: str
    description: str
    scales: tuple[int, ...]
    profiles: Mapping[str, Any]
    upscaler: UpscalerFn
    fit: FitFn | None = None
    kind: Literal["builtin", "pretrained", "trained"] = "builtin"
    info: Mapping[str, str] = field(default_factory=dict)
    native_scale: int | None = None

    @property
    def default_scale(self) -> int:
        """The scale used when none is asked for: the native one, else x2."""
        if self.native_scale in self.scales:
            return int(self.native_scale)
        return 2 if 2 in self.scales else self.scales[0]

    @property
    def needs_fit(self) -> bool:
        """True when the method learns from each image before upscaling it."""
        return self.fit is not None

    @property
    def default_profile(self) -> str:
        """Name of the default profile."""
        return next(iter(self.profiles))

    def params_for(self, profile: str | None) -> Any:
        """Return the params of ``profile`` (the default when None)."""
        name = profile or self.default_profile
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(self.profiles)
            raise MethodError(
                f"{self.label} has no profile {name!r} (it has: {known})"
            ) from None

    def check_scale(self, scale: int) -> None:
        """Raise MethodError when ``scale`` is not supported."""
        if scale not in self.scales:
            known = ", ".join(f"x{s}" for s in self.scales)
            raise MethodError(f"{self.label} cannot upscale x{scale} (it does {known})")
