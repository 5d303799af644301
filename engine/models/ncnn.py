"""Importing ncnn models (.param + .bin, the format Upscayl ships) as PyTorch.

Two architectures convert: ESRGAN/RRDB nets (Real-ESRGAN x4plus, Remacri,
UltraSharp, UltraMix and most community x2/x4/x8 models) and Real-ESRGAN's
compact SRVGG net (realesr-animevideov3). The graph's convolutions are matched
in file order to the architecture's layers by their shapes, the weights are
written as a safetensors file spandrel reads, and the rebuilt network must
reproduce the ncnn graph's own output on a random input (run by
:func:`engine.models.ncnn_format.forward`) or the import is refused.

Refused, with the reason: other architectures, pixel-unshuffle RRDB variants
(Real-ESRGAN x2plus), x3 RRDB, int8-quantised weights, binary .param files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from engine import paths
from engine.models import library
from engine.models.errors import ModelError
from engine.models.ncnn_format import Graph, Layer, NcnnError, forward, load

#: Largest accepted difference between the ncnn graph and the rebuilt network,
#: relative to the output's magnitude (float32 rounding, nothing more).
TOLERANCE = 1e-4

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Converted:
    """A converted model: spandrel-style weights and what they are."""

    state: State
    architecture: str
    scale: int


@dataclass(frozen=True)
class ImportResult:
    """The outcome for one .param/.bin pair of a folder."""

    param: Path
    entry: library.Entry | None
    error: str | None = None


def _conv_shape(layer: Layer) -> tuple[int, int, int, int]:
    w = layer.weights["weight"]
    return (int(w.shape[0]), int(w.shape[1]), int(w.shape[2]), int(w.shape[3]))


def _plain_3x3(layer: Layer) -> bool:
    _, _, kh, kw = _conv_shape(layer)
    stride = (layer.geti(3, 1), layer.geti(13, layer.geti(3, 1)))
    return (kh, kw) == (3, 3) and stride == (1, 1) and "bias" in layer.weights


def _put(state: State, key: str, layer: Layer) -> None:
    state[f"{key}.weight"] = layer.weights["weight"].clone()
    if "bias" in layer.weights:
        state[f"{key}.bias"] = layer.weights["bias"].clone()


def _as_compact(graph: Graph) -> Converted | None:
    """SRVGGNetCompact: conv, PReLU, (conv, PReLU) x n, conv, PixelShuffle."""
    convs = graph.of_type("Convolution")
    prelus = graph.of_type("PReLU")
    shuffles = graph.of_type("PixelShuffle")
    if len(shuffles) != 1 or len(convs) < 3 or len(prelus) != len(convs) - 1:
        return None
    if not all(_plain_3x3(c) and c.geti(9, 0) == 0 for c in convs):
        return None
    out0, in_c, _, _ = _conv_shape(convs[0])
    feats = out0
    scale = shuffles[0].geti(0, 1)
    for c in convs[1:-1]:
        if _conv_shape(c)[:2] != (feats, feats):
            return None
    last_out, last_in, _, _ = _conv_shape(convs[-1])
    if last_in != feats or last_out != in_c * scale * scale:
        return None
    if any(p.weights["weight"].numel() != feats for p in prelus):
        return None
    state: State = {}
    for i, conv in enumerate(convs):
        _put(state, f"body.{2 * i}", conv)
    for i, prelu in enumerate(prelus):
        state[f"body.{2 * i + 1}.weight"] = prelu.weights["weight"].clone()
    return Converted(state, "RealESRGAN Compact (SRVGG)", scale)


def _as_rrdb(graph: Graph) -> Converted | None:
    """ESRGAN RRDBNet: conv, nb x 3 RDBs of 5 convs, conv, u upconvs, 2 convs."""
    convs = graph.of_type("Convolution")
    ups = graph.of_type("Interp")
    if graph.of_type("PixelShuffle", "PReLU") or not all(_plain_3x3(c) for c in convs):
        return None
    u = len(ups)
    if u < 1 or (len(convs) - 4 - u) % 15 or len(convs) < 19 + u:
        return None
    nb = (len(convs) - 4 - u) // 15
    nf, in_c, _, _ = _conv_shape(convs[0])
    gc = _conv_shape(convs[1])[0]
    expected = [(nf, in_c)]
    for _ in range(nb * 3):
        expected += [(gc, nf + k * gc) for k in range(4)] + [(nf, nf + 4 * gc)]
    expected += [(nf, nf)] * (1 + u + 1)
    expected.append((_conv_shape(convs[-1])[0], nf))
    if [_conv_shape(c)[:2] for c in convs] != expected:
        return None
    if any(up.geti(0, 0) != 1 or up.getf(1, 1.0) != 2.0 for up in ups):
        return None
    state: State = {}
    _put(state, "model.0", convs[0])
    at = 1
    for b in range(nb):
        for r in range(1, 4):
            for k in range(1, 6):
                _put(state, f"model.1.sub.{b}.RDB{r}.conv{k}.0", convs[at])
                at += 1
    _put(state, f"model.1.sub.{nb}", convs[at])
    at += 1
    for i in range(u):
        _put(state, f"model.{3 * (i + 1)}", convs[at])
        at += 1
    _put(state, f"model.{3 * u + 2}", convs[at])
    _put(state, f"model.{3 * u + 4}", convs[at + 1])
    return Converted(state, f"ESRGAN (RRDB, {nb} blocks, {nf} features)", 2**u)


def _verify(graph: Graph, converted: Converted) -> None:
    """Refuse unless the rebuilt network computes what the ncnn graph does."""
    from spandrel import ModelLoader

    try:
        descriptor = ModelLoader(device="cpu").load_from_state_dict(converted.state)
    except Exception as exc:
        raise NcnnError(
            f"spandrel cannot build the converted weights ({exc})"
        ) from None
    in_c = descriptor.input_channels
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, in_c, 16, 16, generator=gen)
    with torch.inference_mode():
        want = forward(graph, x)
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
        graph = load(param, bin_path)
        for match in (_as_compact, _as_rrdb):
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
        "upsampling, or the compact SRVGG net); its layers are " + ", ".join(kinds),
    )


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _already_imported(folder: Path, param: Path, digest: str) -> Path | None:
    from safetensors import safe_open

    for path in folder.glob("*.safetensors"):
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except Exception:  # an unreadable file is not ours
            continue
        if meta.get("ncnn_param") == param.name and meta.get("ncnn_sha256") == digest:
            return path
    return None


def import_model(param: Path, bin_path: Path | None = None) -> library.Entry:
    """Convert one ncnn model into the user models folder; return its entry.

    Importing the same files twice returns the first import.
    """
    from safetensors.torch import save_file

    param = Path(param)
    bin_path = Path(bin_path) if bin_path else param.with_suffix(".bin")
    converted = convert(param, bin_path)
    folder = paths.models_dir()
    digest = _digest(bin_path)
    target = _already_imported(folder, param, digest)
    if target is None:
        target = library.free_name(folder, param.stem + ".safetensors")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
        os.close(fd)
        try:
            meta = {
                "ncnn_param": param.name,
                "ncnn_sha256": digest,
                "architecture": converted.architecture,
            }
            state = {k: v.contiguous() for k, v in converted.state.items()}
            save_file(state, tmp, metadata=meta)
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
