"""One fit for a whole shoot: apply a saved DualSR fit to other photos.

A fit leaves its upsampler and downsampler in the run folder (``weights.pt``;
an x4 fit also ``input.json``: it learnt from the photo's bicubic x2; x4 runs of
earlier versions, two x2 fits, keep ``pass1/`` and ``pass2/``). Photos from the
same camera share its blur, so the upsampler fitted on one of them serves the
others at the cost of a tiled pass. A reusing run names the folder in
:attr:`DualSRParams.reuse`: the method then skips its fit step and builds its
upscaler from the saved weights.

The app's "apply from the history" calls :func:`params_reusing` with the run
id and hands the params to :func:`engine.batch.process_file`, as the CLI's
``unsr upscale -m dualsr --reuse RUN`` does.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.events import FloatArray
from engine.methods.base import MethodError
from engine.methods.dualsr import artefacts, guard
from engine.methods.dualsr.params import FAST, DualSRParams
from engine.nets.dualsr import GDn, GUp
from engine.store import Store

#: What torch.load raises on a file that is not a (whole) weights file.
_UNREADABLE = (
    OSError,
    RuntimeError,
    ValueError,
    EOFError,
    KeyError,
    TypeError,
    pickle.UnpicklingError,
)

#: What a reusing run writes in its own folder: where its fit came from.
REUSED_JSON = "reused.json"


@dataclass(frozen=True)
class SavedFit:
    """A run folder holding a usable fit.

    Attributes
    ----------
    folder : Path
        The run folder.
    weights : tuple of Path
        ``weights.pt`` of each x2 pass, in order (one; two in x4 runs saved
        by versions that fitted x4 as two x2 fits).
    run_id : int or None
        The run's id when it was found through the history.
    bicubic : int
        The bicubic factor the fit learnt after: 2 for an x4 fit, else 1.
    """

    folder: Path
    weights: tuple[Path, ...]
    run_id: int | None = None
    bicubic: int = 1

    @property
    def scale(self) -> int:
        """The scale the fit was made for (2 or 4)."""
        return int(self.bicubic * 2 ** len(self.weights))

    @property
    def name(self) -> str:
        """How messages name it: the run id, else the folder."""
        return f"run {self.run_id}" if self.run_id is not None else str(self.folder)

    def nets_for(self, scale: int) -> int:
        """How many saved x2 passes upscale x``scale``.

        An x2 fit serves x2; an x4 fit (one fit on bicubic x2) serves x4 only.
        x4 fits of two passes serve x4, and x2 with their first pass.

        Raises
        ------
        MethodError
            The fit cannot upscale x``scale``.
        """
        nets = scale // (2 * self.bicubic)
        if nets < 1 or nets > len(self.weights) or nets * 2 * self.bicubic != scale:
            hint = (
                "it learnt from its photo's bicubic x2, so it serves x4 only"
                if self.bicubic > 1
                else f"fit one photo at x{scale}, then reuse that run"
            )
            raise MethodError(
                f"{self.name} is an x{self.scale} fit; it cannot upscale x{scale}"
                f" ({hint})"
            )
        return nets


def _passes(folder: Path) -> tuple[Path, ...]:
    """The saved passes of ``folder``; an x4 run cut short keeps its first."""
    if (folder / artefacts.WEIGHTS).is_file():
        return (folder / artefacts.WEIGHTS,)
    found: list[Path] = []
    for i in (1, 2):
        path = folder / f"pass{i}" / artefacts.WEIGHTS
        if not path.is_file():
            break
        found.append(path)
    return tuple(found)


def find(ref: str | int | os.PathLike[str], store: Store | None = None) -> SavedFit:
    """Resolve a run id (digits) or a run folder to its saved fit.

    Raises
    ------
    MethodError
        No such run or folder, not a DualSR run, or no saved weights in it.
    """
    text = str(ref)
    run_id: int | None = None
    if text.isdigit():
        run_id = int(text)
        history = store if store is not None else Store()
        try:
            record = history.get(run_id)
        except KeyError:
            raise MethodError(f"there is no run {run_id} in the history") from None
        if record.method != "dualsr":
            raise MethodError(
                f"run {run_id} used {record.method}, not DualSR: it has no fit to reuse"
            )
        folder = record.folder
        why = f"its status is {record.status}"
    else:
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise MethodError(f"{folder} is not a run folder (no such folder)")
        why = "was the fit finished?"
    weights = _passes(folder)
    if not weights:
        name = f"run {run_id}" if run_id is not None else str(folder)
        raise MethodError(f"{name} holds no saved DualSR fit ({why})")
    try:
        bicubic = artefacts.read_input(folder)
    except ValueError as exc:
        raise MethodError(f"cannot read the saved fit: {exc}") from None
    return SavedFit(folder.resolve(), weights, run_id, bicubic)


def params_reusing(
    ref: str | int | os.PathLike[str],
    scale: int,
    params: DualSRParams | None = None,
    store: Store | None = None,
) -> DualSRParams:
    """Params that apply the fit saved by run ``ref`` instead of fitting.

    Parameters
    ----------
    ref
        A run id of the history, or a run folder.
    scale
        The scale of the new run: an x2 fit serves x2, an x4 fit x4.
    params
        The profile to start from (the fast one when None); only its layout
        settings matter, the networks' sizes come from the saved weights.
    store
        The history to look run ids up in (the default one when None).

    Raises
    ------
    MethodError
        The run cannot be reused, or not at this scale.
    """
    saved = find(ref, store)
    saved.nets_for(scale)
    base = params if params is not None else FAST
    return base.with_(reuse=str(saved.folder))


def _read(path: Path) -> dict[str, Any]:
    """The saved networks of one pass (and the guard's blend weight)."""
    try:
        states = torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as exc:
        raise MethodError(f"cannot read the saved fit {path}: {exc}") from exc
    if not isinstance(states, dict) or not {"g_up", "g_dn"} <= states.keys():
        raise MethodError(f"cannot read the saved fit {path}: no G_UP and G_DN")
    return states


def upsampler_from(state: dict[str, torch.Tensor]) -> GUp:
    """G_UP rebuilt from its state dict (width, depth and body read off the shapes)."""
    convs = sorted(
        (int(name.split(".")[1]), t)
        for name, t in state.items()
        if name.startswith("body.") and name.endswith(".weight")
    )
    if not convs:
        raise MethodError("the saved upsampler has no conv weights")
    at_lr = int(convs[-1][1].shape[0]) == 12  # four phases of RGB
    net = GUp(width=int(convs[0][1].shape[0]), depth=len(convs), at_lr=at_lr)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise MethodError(f"the saved upsampler does not fit G_UP: {exc}") from exc
    return net.eval().requires_grad_(False)


def kernel_from(state: dict[str, torch.Tensor]) -> FloatArray:
    """The 13x13 kernel composed from a saved G_DN."""
    net = GDn(width=int(state["weights.0"].shape[0]))
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise MethodError(f"the saved downsampler does not fit G_DN: {exc}") from exc
    with torch.no_grad():
        kernel: FloatArray = net.composed_kernel().float().numpy()
    return kernel


@dataclass(frozen=True, eq=False)
class LoadedPass:
    """One saved x2 pass, ready to run.

    Attributes
    ----------
    upsampler : nn.Module
        The saved G_UP (blended toward bicubic as its fit's guard did), in eval
        mode, on the CPU.
    kernel : ndarray
        The kernel composed from the saved G_DN, (13, 13).
    width : int
        G_UP's hidden channels (the tiled pass's memory depends on it).
    """

    upsampler: nn.Module
    kernel: FloatArray
    width: int


def load(saved: SavedFit, passes: int) -> tuple[LoadedPass, ...]:
    """The first ``passes`` saved x2 passes, on the CPU, in eval mode."""
    out = []
    for path in saved.weights[:passes]:
        states = _read(path)
        up: nn.Module = upsampler_from(states["g_up"])
        # Fits saved before the guard have no weight: the fit alone.
        blend = float(states.get("guard", {}).get("blend", 1.0))
        if blend < 1.0:
            up = guard.Blended(up, blend)
        width = int(states["g_up"]["body.0.weight"].shape[0])
        out.append(LoadedPass(up, kernel_from(states["g_dn"]), width))
    return tuple(out)


def record(run_dir: Path, saved: SavedFit, kernel: FloatArray) -> None:
    """Note in a reusing run's folder which fit it applied, with its kernel."""
    run_dir.mkdir(parents=True, exist_ok=True)
    artefacts.write_kernel(run_dir, np.asarray(kernel, np.float32))
    artefacts.write_json(
        run_dir / REUSED_JSON,
        {
            "folder": str(saved.folder),
            "run_id": saved.run_id,
            "scale": saved.scale,
            "bicubic": saved.bicubic,
        },
    )
    # The settings the reused fit trained with (two-pass x4 runs keep them per pass).
    params = saved.weights[0].parent / artefacts.PARAMS_JSON
    if params.is_file():
        fitted = json.loads(params.read_text(encoding="utf-8"))
        artefacts.write_json(run_dir / f"fit_{artefacts.PARAMS_JSON}", fitted)


__all__ = [
    "REUSED_JSON",
    "LoadedPass",
    "SavedFit",
    "find",
    "kernel_from",
    "load",
    "params_reusing",
    "record",
    "upsampler_from",
]
