"""Start a method's SR net from a bicubic-pairs baseline.

Each unpaired method trains the same kind of SR net the baseline trains on
bicubic pairs (U in Maeda, G_SR after E in domain adaptation, the SR net of
CycleSR and CSR-GAN). On a CPU budget most of a run goes into teaching that net
to upscale at all, which the baseline has already learnt; starting from the
baseline's weights leaves the budget to what the method adds. The option names
a checkpoint and its weights are loaded as tensors only (``weights_only``).
The SR nets must be the same network: same body, widths, depths, split and
skip, and the same scale; anything else is refused with what differs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from engine.events import Message
from engine.nets.sr import SRNetSpec
from engine.train import checkpoint
from engine.train.config import from_plain
from engine.train.recipes.recipe import Session


def _is_baseline(state: dict[str, Any]) -> bool:
    """Whether a checkpoint holds an SR net trained on bicubic pairs only."""
    recipe = state.get("recipe")
    config = state.get("config") or {}
    return recipe == "bicubic" or (
        recipe == "csrgan" and bool(config.get("bicubic_only"))
    )


def _describe(spec: SRNetSpec) -> str:
    return ", ".join(
        f"{f.name} {getattr(spec, f.name)}" for f in dataclasses.fields(spec)
    )


def _differences(a: SRNetSpec, b: SRNetSpec) -> str:
    return ", ".join(
        f"{f.name} {getattr(a, f.name)} here, {getattr(b, f.name)} there"
        for f in dataclasses.fields(a)
        if getattr(a, f.name) != getattr(b, f.name)
    )


def baseline_sr(path: Path, spec: SRNetSpec, scale: int) -> tuple[dict[str, Any], str]:
    """The baseline's SR weights in ``path`` and its clean-LR operator.

    The weights are checked against ``spec`` and ``scale``.

    Raises
    ------
    CheckpointError
        Naming the file and the reason: not a checkpoint, not a bicubic-pairs
        baseline, another scale, or another SR network.
    """
    state = checkpoint.load(path)
    if not _is_baseline(state):
        raise checkpoint.CheckpointError(
            f"{path}: made by the {state.get('recipe')!r} method, not by a "
            "bicubic-pairs baseline (`unsr train bicubic`)"
        )
    if int(state["scale"]) != scale:
        raise checkpoint.CheckpointError(
            f"{path}: an x{state['scale']} SR net, and this run trains x{scale}"
        )
    theirs = from_plain(SRNetSpec, dict(state["config"]["sr"]))
    if theirs != spec:
        raise checkpoint.CheckpointError(
            f"{path}: its SR net is not this method's ({_differences(spec, theirs)}); "
            f"train the baseline with the same SR net ({_describe(spec)})"
        )
    weights: dict[str, Any] = state["inference"]["SR"]
    return weights, str(state["config"].get("clean_op", "gauss_bicubic"))


def warm_start(session: Session, path: Path) -> list[Message]:
    """Load the baseline in ``path`` into ``session``'s SR net; return the log.

    A baseline that learnt from another clean-LR operator than this method's
    gets a warning: Maeda's y_down (Gaussian, then bicubic) is blurrier than
    the antialiased bicubic of ``unsr train bicubic``, so the warm SR net first
    relearns how much to sharpen, and sharpens the camera's noise more (in a
    short Maeda trial, the flat areas of its results were 58 % noisier than
    bicubic's, against 18 % for the baseline trained on for as long).
    """
    net = session.nets[session.sr_net]
    inner = getattr(net, "module", net)  # unwrap DistributedDataParallel
    assert isinstance(inner, nn.Module)
    weights, baseline_op = baseline_sr(path, session.config.sr, session.scale)
    try:
        inner.load_state_dict(weights)
    except RuntimeError as err:  # same spec, other tensors: a foreign file
        raise checkpoint.CheckpointError(
            f"{path}: its SR weights do not fit this run's SR net ({err})"
        ) from err
    out = [
        Message(f"{session.sr_net} starts from the bicubic-pairs baseline {path.name}")
    ]
    own_op = session.config.clean_op
    if baseline_op != own_op:
        out.append(
            Message(
                f"{path.name} learnt from {baseline_op!r} LR and this method makes "
                f"{own_op!r} LR: the SR net will relearn how much to sharpen "
                f"(train the baseline with clean_op {own_op!r} to match)",
                "warning",
            )
        )
    return out


__all__ = ["baseline_sr", "warm_start"]
