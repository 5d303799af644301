"""ncnn's model format: the .param graph, the .bin weights, an interpreter.

The interpreter exists to check conversions: a network rebuilt from the
weights must give the same output as the ncnn graph itself on a random input,
or the conversion is refused. It covers the layers SR networks exported with
onnx2ncnn/pnnx and ncnnoptimize use (convolutions with fused activations,
PReLU, nearest/bilinear Interp, PixelShuffle, BinaryOp, Eltwise, Split,
Concat); anything else is reported by name.

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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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
            raise NcnnError(".bin is shorter than the .param needs (truncated?)")
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


def read_weights(layers: list[Layer], data: bytes) -> None:
    """Fill each layer's ``weights`` from the ``.bin`` bytes, in layer order."""
    reader = _Reader(data)
    for layer in layers:
        if layer.type == "Convolution":
            size = layer.geti(6, 0)
            out_c = layer.geti(0, 0)
            if layer.geti(8, 0):
                raise NcnnError(
                    f"layer {layer.name}: int8 convolutions are not supported"
                )
            if layer.geti(19, 0):
                raise NcnnError(
                    f"layer {layer.name}: dynamic weights are not supported"
                )
            kw = layer.geti(1, 0)
            kh = layer.geti(11, kw)
            if out_c <= 0 or kw <= 0 or size % (out_c * kw * kh):
                raise NcnnError(f"layer {layer.name}: inconsistent weight size")
            w = reader.tagged(size, layer.name)
            in_c = size // (out_c * kw * kh)
            layer.weights["weight"] = torch.from_numpy(w.reshape(out_c, in_c, kh, kw))
            if layer.geti(5, 0):
                layer.weights["bias"] = torch.from_numpy(reader.raw(out_c))
        elif layer.type == "PReLU":
            layer.weights["weight"] = torch.from_numpy(reader.raw(layer.geti(0, 0)))
        elif layer.type == "MemoryData":
            dims = [layer.geti(k, 0) for k in (2, 11, 1, 0)]  # c, d, h, w
            shape = [d for d in dims if d > 0] or [1]
            count = int(np.prod(shape))
            layer.weights["data"] = torch.from_numpy(reader.raw(count).reshape(shape))
        elif layer.type not in _OPS and layer.type != "Input":
            raise NcnnError(
                f"layer {layer.name} has type {layer.type}, which unsr does not convert"
            )
    if reader.pos != len(reader.data):
        raise NcnnError(
            f".bin holds {len(reader.data) - reader.pos} bytes more than the "
            ".param uses (the files do not belong together)"
        )


def load(param: Path, bin_path: Path) -> Graph:
    """Read a ``.param``/``.bin`` pair into a :class:`Graph`."""
    try:
        text = param.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NcnnError(
            "binary .param files are not supported; use the text form"
        ) from None
    layers = parse_param(text)
    read_weights(layers, bin_path.read_bytes())
    return Graph(layers)


# --- the interpreter ----------------------------------------------------------

Blobs = dict[str, torch.Tensor]


def _activate(y: torch.Tensor, kind: int, params: tuple[float, ...]) -> torch.Tensor:
    if kind == 0:
        return y
    if kind == 1:
        return F.relu(y)
    if kind == 2:
        return F.leaky_relu(y, params[0] if params else 0.0)
    if kind == 3:
        return y.clamp(params[0], params[1])
    if kind == 4:
        return torch.sigmoid(y)
    raise NcnnError(f"fused activation type {kind} is not supported")


def _conv(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    kw = layer.geti(1, 0)
    kh = layer.geti(11, kw)
    dw = layer.geti(2, 1)
    dh = layer.geti(12, dw)
    sw = layer.geti(3, 1)
    sh = layer.geti(13, sw)
    left = layer.geti(4, 0)
    top = layer.geti(14, left)
    right = layer.geti(15, left)
    bottom = layer.geti(16, top)
    if left == -233 or top == -233:  # "SAME" padding
        left = right = (dw * (kw - 1)) // 2
        top = bottom = (dh * (kh - 1)) // 2
    if left < 0 or top < 0:
        raise NcnnError(f"layer {layer.name}: padding mode {left} is not supported")
    if layer.getf(18, 0.0) != 0.0:
        raise NcnnError(f"layer {layer.name}: non-zero pad values are not supported")
    x = F.pad(xs[0], (left, right, top, bottom))
    y = F.conv2d(
        x,
        layer.weights["weight"],
        layer.weights.get("bias"),
        stride=(sh, sw),
        dilation=(dh, dw),
    )
    act = layer.get(10, ())
    return _activate(y, layer.geti(9, 0), act if isinstance(act, tuple) else (act,))


def _relu(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    slope = layer.getf(0, 0.0)
    return F.leaky_relu(xs[0], slope) if slope else F.relu(xs[0])


def _prelu(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return F.prelu(xs[0], layer.weights["weight"])


def _interp(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    kind = layer.geti(0, 0)
    modes = {1: "nearest", 2: "bilinear", 3: "bicubic"}
    if kind not in modes:
        raise NcnnError(f"layer {layer.name}: resize type {kind} is not supported")
    oh, ow = layer.geti(3, 0), layer.geti(4, 0)
    if oh and ow:
        raise NcnnError(
            f"layer {layer.name}: resizes to a fixed {ow}x{oh}; only scale "
            "factors work for images of any size"
        )
    h, w = xs[0].shape[-2:]
    size = (int(h * layer.getf(1, 1.0)), int(w * layer.getf(2, 1.0)))
    if kind == 1:
        return F.interpolate(xs[0], size=size, mode="nearest")
    return F.interpolate(
        xs[0], size=size, mode=modes[kind], align_corners=bool(layer.geti(6, 0))
    )


def _pixel_shuffle(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    if layer.geti(1, 0) != 0:
        raise NcnnError(f"layer {layer.name}: pixel-shuffle mode 1 is not supported")
    return F.pixel_shuffle(xs[0], layer.geti(0, 1))


_BINARY: dict[int, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    0: torch.add,
    1: torch.sub,
    2: torch.mul,
    3: torch.div,
    4: torch.maximum,
    5: torch.minimum,
    7: lambda a, b: b - a,
    8: lambda a, b: b / a,
}


def _binary(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    op = _BINARY.get(layer.geti(0, 0))
    if op is None:
        raise NcnnError(f"layer {layer.name}: binary op {layer.geti(0, 0)} unsupported")
    if layer.geti(1, 0):
        return op(xs[0], torch.full_like(xs[0], layer.getf(2, 0.0)))
    return op(xs[0], xs[1])


def _eltwise(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    kind = layer.geti(0, 0)
    coeffs = layer.get(1, ())
    c = coeffs if isinstance(coeffs, tuple) and coeffs else (1.0,) * len(xs)
    if kind == 0:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out
    if kind == 1:
        return sum(
            (ci * x for ci, x in zip(c, xs, strict=False)), torch.zeros_like(xs[0])
        )
    if kind == 2:
        out = xs[0]
        for x in xs[1:]:
            out = torch.maximum(out, x)
        return out
    raise NcnnError(f"layer {layer.name}: eltwise op {kind} unsupported")


def _concat(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(xs, dim=layer.geti(0, 0) + 1)


def _memory(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    data = layer.weights["data"]
    return data.reshape(1, *data.shape) if data.dim() == 3 else data


def _same(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0]


_OPS: dict[str, Callable[[Layer, list[torch.Tensor]], torch.Tensor]] = {
    "Convolution": _conv,
    "ReLU": _relu,
    "PReLU": _prelu,
    "Interp": _interp,
    "PixelShuffle": _pixel_shuffle,
    "BinaryOp": _binary,
    "Eltwise": _eltwise,
    "Concat": _concat,
    "MemoryData": _memory,
    "Split": _same,
    "Noop": _same,
    "Sigmoid": lambda layer, xs: torch.sigmoid(xs[0]),
}


def forward(graph: Graph, x: torch.Tensor) -> torch.Tensor:
    """Run the ncnn graph on ``x`` (1, C, H, W) with PyTorch ops."""
    blobs: Blobs = {}
    for layer in graph.layers:
        if layer.type == "Input":
            for name in layer.outputs:
                blobs[name] = x
            continue
        op = _OPS.get(layer.type)
        if op is None:
            raise NcnnError(f"layer {layer.name}: type {layer.type} is not supported")
        try:
            xs = [blobs[name] for name in layer.inputs]
        except KeyError as exc:
            raise NcnnError(
                f"layer {layer.name} reads blob {exc} before it exists"
            ) from None
        y = op(layer, xs)
        for name in layer.outputs:
            blobs[name] = y
    return blobs[graph.output]


__all__ = [
    "MAGIC",
    "TAG_FP16",
    "Graph",
    "Layer",
    "NcnnError",
    "forward",
    "load",
    "parse_param",
    "read_weights",
]
