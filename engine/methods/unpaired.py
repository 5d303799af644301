"""Trained unpaired checkpoints (``*.unsr.pt``) as methods of the registry.

Every checkpoint written by ``unsr train`` (in the user models folder) or
shipped as a demo (``resources/models``) becomes one method, applied through
its own inference path (U(G_XY(x)) for Maeda, G_SR(E(x)) for domain
adaptation, SR(x) for CycleSR and CSR-GAN), tiled for large images.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine import paths
from engine.events import FloatArray, Message
from engine.jobs import Job
from engine.methods.base import Method, RunContext, Upscaler, UpscalerFn
from engine.tiling import TilingNeeds, receptive_radius, support_radius

SUFFIX = ".unsr.pt"


@dataclass(frozen=True)
class TrainedParams:
    """How a trained network is applied.

    Attributes
    ----------
    overlap : int or None
        Overlap between tiles in input pixels. None: twice the inference
        path's receptive radius, measured once per checkpoint
        (:func:`engine.tiling.receptive_radius`), since the outer half of an
        overlap is discarded. Tiles are at least twice the overlap, so every
        output pixel comes from a tile that sees all it depends on.
    bytes_per_out_pixel : float
        Peak bytes per output pixel of the inference path, for the tile size
        the memory budget allows: a translator and an SR net of 64 channels
        hold about eight float32 maps at the input size and two at the output.
    """

    overlap: int | None = None
    bytes_per_out_pixel: float = 64 * 4 * 4


def _files() -> list[Path]:
    found: list[Path] = []
    for folder in (paths.bundled_models_dir(), paths.models_dir()):
        if folder.is_dir():
            found.extend(sorted(folder.glob(f"*{SUFFIX}")))
    return found


@lru_cache(maxsize=64)
def _header(path: Path, mtime_ns: int, size: int) -> dict[str, Any] | None:
    """The checkpoint's recipe, scale and info; None when it cannot be used.

    Read through the models index, so listing methods does not unpickle every
    checkpoint (and import torch) on every command.
    """
    from engine.models import checkpoints
    from engine.models.errors import ModelError

    try:
        return checkpoints.header(path)
    except ModelError:
        return None


@lru_cache(maxsize=4)
def _loaded(path: Path, mtime_ns: int) -> tuple[Mapping[str, Any], Callable[..., Any]]:
    from engine.train.trainer import load_inference

    nets, infer, _ = load_inference(path)
    return nets, infer


@lru_cache(maxsize=16)
def _reach(path: Path, mtime_ns: int, device: str) -> int:
    """The receptive radius of a checkpoint's inference path, on ``device``.

    Probed on the device the nets run on (a fraction of a second for the cpu
    profiles' nets; the probe is as large as the convolutions reach, at most
    129 px).
    """
    nets, infer = _loaded(path, mtime_ns)
    limit = min(64, support_radius(nets.values()))
    return receptive_radius(
        lambda t: infer(nets, t), nets.values(), limit=limit, device=device
    )


def _upscaler_for(path: Path) -> UpscalerFn:
    def build(
        rgb: FloatArray,
        scale: int,
        params: TrainedParams,
        ctx: RunContext,
        fitted: object,
    ) -> Job[Upscaler]:
        import torch

        from engine import device as devices

        yield Message(f"loading {path.name}")
        mtime = path.stat().st_mtime_ns
        nets, infer = _loaded(path, mtime)
        dev = devices.pick(str(ctx.device))
        for net in nets.values():
            net.to(dev)
        overlap = params.overlap
        if overlap is None:
            overlap = 2 * _reach(path, mtime, str(dev))

        def fn(t: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = infer(nets, t).clamp(0, 1)
            return out

        needs = TilingNeeds(
            overlap=overlap,
            min_tile=2 * overlap,
            bytes_per_out_pixel=params.bytes_per_out_pixel,
        )
        return Upscaler(fn, scale, needs, dev)

    return build


def _sidecar(path: Path) -> dict[str, Any]:
    """The JSON written beside a checkpoint (``name.json``), or {}.

    The demo checkpoints carry their benchmark verdict there, so a user who
    picks one learns whether it beat the bicubic-pairs baseline.
    """
    side = path.with_name(path.name[: -len(SUFFIX)] + ".json")
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recipe_facts(path: Path, head: dict[str, Any]) -> tuple[str, str] | None:
    """The recipe's label and inference path, from the index when known there.

    The recipes import the training stack (and torch); their two strings are
    kept with the checkpoint's header so listing methods needs neither.
    """
    label, how = head.get("label"), head.get("inference")
    if isinstance(label, str) and isinstance(how, str):
        return label, how
    from engine.models import checkpoints
    from engine.train.recipes import RECIPES

    recipe = RECIPES.get(str(head.get("recipe")))
    if recipe is None:
        return None
    checkpoints.annotate(
        path, {"label": recipe.label, "inference": recipe.inference_path}
    )
    return recipe.label, recipe.inference_path


def method_for(path: Path) -> Method | None:
    """The method a checkpoint file provides, or None if it is not usable."""
    st = path.stat()
    head = _header(path, st.st_mtime_ns, st.st_size)
    facts = None if head is None else _recipe_facts(path, head)
    if head is None or facts is None:
        return None
    label, inference_path = facts
    info = {str(k): str(v) for k, v in dict(head.get("info") or {}).items()}
    name = path.name[: -len(SUFFIX)]
    trained_on = info.get("trained_on", "unknown data")
    description = f"{label} network trained by unsr, applied as {inference_path}."
    extra: dict[str, str] = {}
    verdict = _sidecar(path).get("verdict")
    if isinstance(verdict, str) and verdict:
        description += f" Benchmark: {verdict.rstrip('.')}."
        extra["benchmark"] = verdict
    return Method(
        id=f"trained-{name}",
        label=f"{name} ({label})",
        description=description,
        scales=(int(head["scale"]),),
        native_scale=int(head["scale"]),
        profiles={"default": TrainedParams()},
        upscaler=_upscaler_for(path),
        kind="trained",
        info={
            "method": label,
            "inference": inference_path,
            "trained on": trained_on,
            "command": info.get("command", "unknown"),
            "steps": info.get("steps", "?"),
            "file": str(path),
            **extra,
        },
    )


def trained_methods() -> tuple[Method, ...]:
    """Every readable ``*.unsr.pt`` in the bundled and user models folders."""
    methods: list[Method] = []
    seen: set[str] = set()
    for path in _files():
        method = method_for(path)
        if method is None or method.id in seen:
            continue
        seen.add(method.id)
        methods.append(method)
    return tuple(methods)


__all__ = ["SUFFIX", "TrainedParams", "method_for", "trained_methods"]
