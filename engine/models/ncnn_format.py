"""ncnn's model format: the .param graph and the .bin weights.

:mod:`engine.models.ncnn_ops` runs a graph read here with PyTorch ops, to
check conversions; the layer types it runs are the ones :func:`load` accepts,
and anything else is reported by name before the weights are read (a weighted
layer this reader does not know would shift every later weight).

Format notes (ncnn ``paramdict.cpp``, ``modelbin.cpp``, ``layer/*.cpp``):

* ``.param``: the magic ``7767517``, ``layer_count blob_count``, then one line
  per layer: ``type name n_in n_out in_blobs... out_blobs... key=value...``.
  A key ``-233xx`` holds an array ``n,v1,...,vn`` for parameter ``xx``.
* ``.bin``: each weighted layer's blobs, in layer order. A convolution's
  weights ("type 0" blobs) start with a 4-byte tag: 0 for raw float32,
  ``0x01306B47`` for float16, ``0x000D4B38`` for int8, other non-zero tags for
  a 256-entry lookup table plus uint8 indices. Biases, PReLU slopes and
  MemoryData ("type 1" blobs) are raw float32.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_SCALED = 0x0002C056

ParamValue = int | float | tuple[float, ...]


class NcnnError(ValueError):
    """The files are not an ncnn model this reader understands."""


@dataclass
class Layer:
    """One line of a ``.param`` file, plus its weights once read."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue]
    weights: dict[str, torch.Tensor] = field(default_factory=dict)

    def get(self, key: int, default: ParamValue) -> ParamValue:
        """The parameter ``key``, or ``default`` as ncnn does."""
        return self.params.get(key, default)

    def geti(self, key: int, default: int) -> int:
        """An integer parameter."""
        value = self.params.get(key, default)
        if isinstance(value, tuple):
            raise NcnnError(f"layer {self.name}: parameter {key} is an array")
        return int(value)

    def getf(self, key: int, default: float) -> float:
        """A float parameter."""
        value = self.params.get(key, default)
        if isinstance(value, tuple):
            raise NcnnError(f"layer {self.name}: parameter {key} is an array")
        return float(value)


@dataclass
class Graph:
    """A parsed ncnn model: its layers in file order."""

    layers: list[Layer]

    def of_type(self, *types: str) -> list[Layer]:
        """The layers of the given types, in file order."""
        return [layer for layer in self.layers if layer.type in types]

    @property
    def output(self) -> str:
        """The blob no layer consumes, written last: the network's output."""
        consumed = {b for layer in self.layers for b in layer.inputs}
        produced = [b for layer in self.layers for b in layer.outputs]
        free = [b for b in produced if b not in consumed]
        if not free:
            raise NcnnError("the graph has no output blob")
        return free[-1]


def _value(text: str) -> ParamValue:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise NcnnError(f"bad parameter value {text!r}") from None


def parse_param(text: str) -> list[Layer]:
    """Parse the text of a ``.param`` file (weights not read yet)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != str(MAGIC):
        raise NcnnError("not an ncnn .param text file (the first line must be 7767517)")
    try:
        n_layers = int(lines[1].split()[0])
    except (IndexError, ValueError):
        raise NcnnError("the layer/blob count line is missing") from None
    layers = []
    for number, line in enumerate(lines[2:], start=3):
        tok = line.split()
        try:
            n_in, n_out = int(tok[2]), int(tok[3])
            inputs = tuple(tok[4 : 4 + n_in])
            outputs = tuple(tok[4 + n_in : 4 + n_in + n_out])
            rest = tok[4 + n_in + n_out :]
        except (IndexError, ValueError):
            raise NcnnError(f"line {number} is not a layer: {line[:60]!r}") from None
        if len(inputs) != n_in or len(outputs) != n_out:
            raise NcnnError(f"line {number}: fewer blobs than announced")
        params: dict[int, ParamValue] = {}
        for item in rest:
            key_text, _, value_text = item.partition("=")
            try:
                key = int(key_text)
            except ValueError:
                raise NcnnError(f"line {number}: bad parameter {item!r}") from None
            if key <= -23300:
                values = value_text.split(",")
                params[-key - 23300] = tuple(float(v) for v in values[1:])
            else:
                params[key] = _value(value_text)
        layers.append(Layer(tok[0], tok[1], inputs, outputs, params))
    if len(layers) != n_layers:
        raise NcnnError(f"announces {n_layers} layers but holds {len(layers)}")
    return layers


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise NcnnError(
                "the .bin file is shorter than the .param needs: it is "
                "truncated, or the two files do not belong together"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def raw(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), "<f4").copy()

    def tagged(self, count: int, layer: str) -> np.ndarray:
        """A "type 0" blob: 4-byte storage tag, then the data."""
        head = self.take(4)
        tag = int.from_bytes(head, "little")
        padded = (2 * count + 3) // 4 * 4
        if tag == TAG_FP16:
            half = np.frombuffer(self.take(padded), "<f2")[:count]
            return half.astype(np.float32)
        if tag == TAG_INT8:
            raise NcnnError(f"layer {layer}: int8-quantised weights are not supported")
        if tag == TAG_FP32_SCALED or tag == 0:
            return self.raw(count)
        if head[0] != 0 or sum(head) != 0:
            table = self.raw(256)
            index = np.frombuffer(self.take((count + 3) // 4 * 4), np.uint8)[:count]
            return table[index]
        return self.raw(count)  # pragma: no cover


def _kernel_blobs(layer: Layer, reader: _Reader, out_c: int, size: int) -> None:
    """A weight blob (tagged) of ``size`` values, then ``out_c`` biases if any."""
    if layer.geti(8, 0):
        raise NcnnError(f"layer {layer.name}: int8-quantised weights are not supported")
    if out_c <= 0 or size <= 0 or size % out_c:
        raise NcnnError(f"layer {layer.name}: inconsistent weight size")
    layer.weights["weight"] = torch.from_numpy(reader.tagged(size, layer.name))
    if layer.geti(5 if layer.type != "InnerProduct" else 1, 0):
        layer.weights["bias"] = torch.from_numpy(reader.raw(out_c))


def _read_conv(layer: Layer, reader: _Reader) -> None:
    """Convolution / Deconvolution: (out, in, kh, kw) weights, then biases."""
    if layer.geti(19 if layer.type == "Convolution" else 28, 0):
        raise NcnnError(f"layer {layer.name}: dynamic weights are not supported")
    if layer.geti(7, 1) != 1:
        raise NcnnError(f"layer {layer.name}: grouped convolutions are not supported")
    out_c, size = layer.geti(0, 0), layer.geti(6, 0)
    kw = layer.geti(1, 0)
    kh = layer.geti(11, kw)
    if kw <= 0 or kh <= 0 or size % max(1, out_c * kw * kh):
        raise NcnnError(f"layer {layer.name}: inconsistent weight size")
    _kernel_blobs(layer, reader, out_c, size)
    in_c = size // (out_c * kw * kh)
    w = layer.weights["weight"]
    layer.weights["weight"] = w.reshape(out_c, in_c, kh, kw)


def _read_inner_product(layer: Layer, reader: _Reader) -> None:
    out_c, size = layer.geti(0, 0), layer.geti(2, 0)
    _kernel_blobs(layer, reader, out_c, size)
    w = layer.weights["weight"]
    layer.weights["weight"] = w.reshape(out_c, size // out_c)


def _read_prelu(layer: Layer, reader: _Reader) -> None:
    layer.weights["weight"] = torch.from_numpy(reader.raw(max(1, layer.geti(0, 0))))


def _read_memory(layer: Layer, reader: _Reader) -> None:
    dims = [layer.geti(k, 0) for k in (2, 11, 1, 0)]  # c, d, h, w
    shape = [d for d in dims if d > 0] or [1]
    count = int(np.prod(shape))
    layer.weights["data"] = torch.from_numpy(reader.raw(count).reshape(shape))


#: The layer types that carry weights in the .bin, and how to read them.
WEIGHTED: dict[str, Callable[[Layer, _Reader], None]] = {
    "Convolution": _read_conv,
    "Deconvolution": _read_conv,
    "InnerProduct": _read_inner_product,
    "PReLU": _read_prelu,
    "MemoryData": _read_memory,
}


def read_weights(layers: list[Layer], data: bytes) -> None:
    """Fill each layer's ``weights`` from the ``.bin`` bytes, in layer order."""
    reader = _Reader(data)
    for layer in layers:
        read = WEIGHTED.get(layer.type)
        if read is not None:
            read(layer, reader)
    if reader.pos != len(reader.data):
        raise NcnnError(
            f".bin holds {len(reader.data) - reader.pos} bytes more than the "
            ".param uses (the files do not belong together)"
        )


def check_types(layers: list[Layer], known: Collection[str]) -> None:
    """Refuse a graph with a layer type outside ``known``, naming the layer."""
    for layer in layers:
        if layer.type not in known:
            raise NcnnError(
                f"layer {layer.name} has type {layer.type}, which unsr does not convert"
            )


def load(param: Path, bin_path: Path, known: Collection[str]) -> Graph:
    """Read a ``.param``/``.bin`` pair into a :class:`Graph`.

    Parameters
    ----------
    param, bin_path
        The two files.
    known
        The layer types the caller can run; any other type is refused before
        the weights are read.
    """
    try:
        text = param.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NcnnError(
            "binary .param files are not supported; use the text form"
        ) from None
    layers = parse_param(text)
    check_types(layers, known)
    read_weights(layers, bin_path.read_bytes())
    return Graph(layers)


__all__ = [
    "MAGIC",
    "TAG_FP16",
    "WEIGHTED",
    "Graph",
    "Layer",
    "NcnnError",
    "check_types",
    "load",
    "parse_param",
    "read_weights",
]
