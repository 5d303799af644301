"""Importing ncnn models (.param + .bin, the format Upscayl ships) as PyTorch.

The graph is recognised as one of the architectures of
:mod:`engine.models.ncnn_match` (RRDB/ESRGAN, Real-ESRGAN's compact net and its
x2/x3 variants, SPAN, Real-CUGAN), its weights are written as a safetensors
file spandrel reads, and the rebuilt network must reproduce the ncnn graph's
own output on a random input (run by :func:`engine.models.ncnn_ops.forward`,
with the padding and residual the model's program adds) or the import is
refused.

Refused, with the reason: other architectures, pixel-unshuffle RRDB variants
(Real-ESRGAN x2plus), x3 RRDB, int8-quantised weights, binary .param files,
layer types the interpreter does not run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from engine import paths
from engine.models import library, ncnn_backend, wrap
from engine.models.errors import ModelError
from engine.models.ncnn_format import Graph, NcnnError, load
from engine.models.ncnn_match import MATCHERS, Converted, run_program
from engine.models.ncnn_ops import KNOWN, forward

#: Largest accepted difference between the ncnn graph and the rebuilt network,
#: relative to the output's magnitude (float32 rounding, nothing more).
TOLERANCE = 1e-4


@dataclass(frozen=True)
class ImportResult:
    """The outcome for one .param/.bin pair of a folder."""

    param: Path
    entry: library.Entry | None
    error: str | None = None


def _verify(graph: Graph, converted: Converted) -> None:
    """Refuse unless the rebuilt network computes what the ncnn graph does."""
    from spandrel import ModelLoader

    try:
        descriptor = ModelLoader(device="cpu").load_from_state_dict(
            dict(converted.state)
        )
        descriptor = wrap.wrap_descriptor(descriptor, converted.wrap)
    except Exception as exc:
        raise NcnnError(
            f"spandrel cannot build the converted weights ({exc})"
        ) from None
    in_c = descriptor.input_channels
    gen = torch.Generator().manual_seed(0)
    n = converted.check_size
    x = torch.rand(1, in_c, n, n + 3, generator=gen)
    with torch.inference_mode():
        want = run_program(converted, lambda t: forward(graph, t), x)
        got = descriptor.model.eval()(x)
    if want.shape != got.shape:
        raise NcnnError(
            f"the rebuilt network gives {tuple(got.shape)}, the ncnn graph "
            f"{tuple(want.shape)}"
        )
    err = float((want - got).abs().max())
    limit = TOLERANCE * max(1.0, float(want.abs().max()))
    if not err <= limit:
        raise NcnnError(
            "the rebuilt network does not reproduce the ncnn graph "
            f"(differs by {err:.3g}); the graph is not a plain "
            f"{converted.architecture}"
        )


def convert(param: Path, bin_path: Path | None = None) -> Converted:
    """Convert one ncnn model to spandrel-readable PyTorch weights.

    Raises
    ------
    ModelError
        The files are unreadable, or not a supported architecture, or the
        conversion does not reproduce the ncnn graph.
    """
    param = Path(param)
    bin_path = Path(bin_path) if bin_path else param.with_suffix(".bin")
    if not bin_path.is_file():
        raise ModelError(param, f"its weights file {bin_path.name} is missing")
    try:
        graph = load(param, bin_path, KNOWN)
        for match in MATCHERS:
            converted = match(graph)
            if converted is not None:
                _verify(graph, converted)
                return converted
    except NcnnError as exc:
        raise ModelError(param, str(exc)) from None
    except OSError as exc:
        raise ModelError(param, f"cannot read ({exc.strerror or exc})") from None
    kinds = sorted({layer.type for layer in graph.layers})
    raise ModelError(
        param,
        "not an architecture unsr converts (ESRGAN/RRDB with nearest 2x "
        "upsampling, the compact SRVGG net, SPAN or Real-CUGAN); its layers "
        "are " + ", ".join(kinds),
    )


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _already_imported(folder: Path, param: Path, digest: str, pair: str) -> Path | None:
    from safetensors import safe_open

    for path in folder.glob("*.safetensors"):
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
        except Exception:  # an unreadable file is not ours
            continue
        if ncnn_backend.FILES_KEY in meta:
            if meta[ncnn_backend.FILES_KEY] == pair:
                return path
        elif meta.get("ncnn_param") == param.name and meta.get("ncnn_sha256") == digest:
            return path  # imported before the pair was recorded
    return None


def import_model(
    param: Path, bin_path: Path | None = None, converted: Converted | None = None
) -> library.Entry:
    """Convert one ncnn model into the user models folder; return its entry.

    Importing the same files twice returns the first import (without
    converting again). ``converted`` is the result of :func:`convert` when
    the caller has it already.
    """
    from safetensors.torch import save_file

    param = Path(param)
    bin_path = Path(bin_path) if bin_path else param.with_suffix(".bin")
    if not bin_path.is_file():
        raise ModelError(param, f"its weights file {bin_path.name} is missing")
    folder = paths.models_dir()
    digest = _digest(bin_path)
    # Both files name a model: animevideov3 x2, x3 and x4 share one .bin.
    pair = hashlib.sha256(param.read_bytes() + digest.encode()).hexdigest()
    target = _already_imported(folder, param, digest, pair)
    if target is None:
        converted = converted or convert(param, bin_path)
        target = library.free_name(folder, param.stem + ".safetensors")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
        os.close(fd)
        try:
            meta = {
                "ncnn_param": param.name,
                "ncnn_sha256": digest,
                "architecture": converted.architecture,
            }
            if converted.wrap:
                meta[wrap.META_KEY] = json.dumps(converted.wrap)
            meta[ncnn_backend.META_KEY] = json.dumps(
                {
                    "scale": converted.scale,
                    "reflect_pad": converted.reflect_pad,
                    "pad_multiple": converted.pad_multiple,
                    "nearest_residual": converted.nearest_residual,
                }
            )
            # Kept for the ncnn runtime, which runs some nets faster than torch.
            meta[ncnn_backend.FILES_KEY] = pair
            ncnn_backend.store(param, bin_path, pair)
            state = {k: v.contiguous() for k, v in converted.state.items()}
            save_file(state, tmp, metadata=meta)
            library.normal_permissions(Path(tmp))
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
    for entry in library.entries():
        if entry.path.resolve() == target.resolve():
            return entry
    raise ModelError(target, "converted, but spandrel cannot read the result")


def import_folder(folder: Path) -> list[ImportResult]:
    """Import every .param/.bin pair of ``folder``; failures are reported."""
    results = []
    params = sorted(Path(folder).glob("*.param"), key=lambda p: p.name.lower())
    for param in params:
        try:
            entry = import_model(param)
        except ModelError as exc:
            results.append(ImportResult(param, None, exc.reason))
        else:
            results.append(ImportResult(param, entry))
    return results


__all__ = [
    "TOLERANCE",
    "Converted",
    "ImportResult",
    "convert",
    "import_folder",
    "import_model",
]
