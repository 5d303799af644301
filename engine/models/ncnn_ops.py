"""Running an ncnn graph with PyTorch ops, layer by layer.

The interpreter checks conversions: a network rebuilt from an ncnn model's
weights must compute what the graph computes, or the conversion is refused. It
covers the layers that super-resolution models exported with onnx2ncnn or pnnx
use: convolutions and deconvolutions with fused activations, PReLU and the
element-wise activations (Swish, Sigmoid, ...), Interp (nearest, bilinear,
bicubic), PixelShuffle, BinaryOp, Eltwise, Concat, Crop, Padding, global and
plain Pooling, InnerProduct (the squeeze-and-excitation blocks of Real-CUGAN).

Blobs are 4-D tensors (1, C, H, W); a pooled vector is (1, C, 1, 1), which
broadcasts per channel the way ncnn broadcasts a 1-D blob against a 3-D one.
Each op follows the layer's parameters as ncnn's ``src/layer/*.cpp`` read them
(numbers are the keys of the ``.param`` line); unit tests check each one
against the ncnn runtime when it is installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from engine.models.ncnn_format import Graph, Layer, NcnnError

Op = Callable[[Layer, list[torch.Tensor]], torch.Tensor]


def _floats(value: object) -> tuple[float, ...]:
    if isinstance(value, tuple):
        return value
    return (float(value),) if isinstance(value, int | float) else ()


def activate(y: torch.Tensor, kind: int, params: tuple[float, ...]) -> torch.Tensor:
    """The fused activation ``kind`` (key 9) with its parameters (key 10)."""
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
    if kind == 5:
        return y * torch.tanh(F.softplus(y))
    if kind == 6:
        alpha, beta = params if len(params) == 2 else (1 / 6, 0.5)
        return y * (y * alpha + beta).clamp(0.0, 1.0)
    raise NcnnError(f"fused activation type {kind} is not supported")


def _fused(layer: Layer, y: torch.Tensor) -> torch.Tensor:
    return activate(y, layer.geti(9, 0), _floats(layer.get(10, ())))


def _pads(layer: Layer, left_key: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) from keys 4/15/14/16 (left, right, top, bottom)."""
    left = layer.geti(left_key, 0)
    right = layer.geti(15, left)
    top = layer.geti(14, left)
    bottom = layer.geti(16, top)
    return left, right, top, bottom


def _conv(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    kw = layer.geti(1, 0)
    kh = layer.geti(11, kw)
    dw = layer.geti(2, 1)
    dh = layer.geti(12, dw)
    sw = layer.geti(3, 1)
    sh = layer.geti(13, sw)
    left, right, top, bottom = _pads(layer, 4)
    if left == -233 or top == -233:  # "SAME" padding
        left = right = (dw * (kw - 1)) // 2
        top = bottom = (dh * (kh - 1)) // 2
    if min(left, right, top, bottom) < 0:
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
    return _fused(layer, y)


def _deconv(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    """A transposed convolution; ncnn keeps its weights as (out, in, kh, kw)."""
    dw = layer.geti(2, 1)
    dh = layer.geti(12, dw)
    sw = layer.geti(3, 1)
    sh = layer.geti(13, sw)
    left, right, top, bottom = _pads(layer, 4)
    if min(left, right, top, bottom) < 0 or layer.geti(20, 0) or layer.geti(21, 0):
        raise NcnnError(
            f"layer {layer.name}: deconvolution to a target size is not supported"
        )
    w = layer.weights["weight"].transpose(0, 1)
    y = F.conv_transpose2d(xs[0], w, stride=(sh, sw), dilation=(dh, dw))
    # Output padding extends the full output; only the bias reaches it.
    y = F.pad(y, (0, layer.geti(18, 0), 0, layer.geti(19, 0)))
    bias = layer.weights.get("bias")
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    h, w_ = y.shape[-2:]
    y = y[..., top : h - bottom, left : w_ - right]
    return _fused(layer, y)


def _inner_product(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    flat = xs[0].reshape(1, -1)
    y = F.linear(flat, layer.weights["weight"], layer.weights.get("bias"))
    return _fused(layer, y.reshape(1, -1, 1, 1))


def _pooling(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    kind = layer.geti(0, 0)
    if kind not in (0, 1):
        raise NcnnError(f"layer {layer.name}: pooling type {kind} is not supported")
    x = xs[0]
    if layer.geti(4, 0):  # global pooling: one value per channel
        if kind == 0:
            return x.amax(dim=(2, 3), keepdim=True)
        return x.mean(dim=(2, 3), keepdim=True)
    if layer.geti(7, 0):
        raise NcnnError(f"layer {layer.name}: adaptive pooling is not supported")
    kw = layer.geti(1, 0)
    kh = layer.geti(11, kw)
    sw = layer.geti(2, 1)
    sh = layer.geti(12, sw)
    pads = (layer.geti(3, 0), layer.geti(14, 0), layer.geti(13, 0), layer.geti(15, 0))
    h, w = x.shape[-2:]
    exact = (h - kh) % sh == 0 and (w - kw) % sw == 0
    if any(pads) or not (exact or layer.geti(5, 0) == 1):
        raise NcnnError(f"layer {layer.name}: padded pooling is not supported")
    if kind == 0:
        return F.max_pool2d(x, (kh, kw), (sh, sw))
    return F.avg_pool2d(x, (kh, kw), (sh, sw))


def _relu(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    slope = layer.getf(0, 0.0)
    return F.leaky_relu(xs[0], slope) if slope else F.relu(xs[0])


def _prelu(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    slope = layer.weights["weight"]
    if slope.numel() == 1:
        return torch.where(xs[0] >= 0, xs[0], xs[0] * slope[0])
    return F.prelu(xs[0], slope)


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
    # ncnn maps output to input coordinates by the inverse of the factor, not
    # by the ratio of the sizes (they differ when the size is rounded down).
    factor = (layer.getf(1, 1.0), layer.getf(2, 1.0))
    if kind == 1:
        return F.interpolate(
            xs[0], scale_factor=factor, mode="nearest", recompute_scale_factor=False
        )
    return F.interpolate(
        xs[0],
        scale_factor=factor,
        mode=modes[kind],
        align_corners=bool(layer.geti(6, 0)),
        recompute_scale_factor=False,
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
    6: torch.pow,
    7: lambda a, b: b - a,
    8: lambda a, b: b / a,
    9: lambda a, b: torch.pow(b, a),
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


def _span(size: int, start: int, end: int) -> tuple[int, int]:
    """The start and end of one axis: negatives count from the end, as ends <= 0."""
    a = start if start >= 0 else size + start
    b = min(size, end) if end > 0 else size + end
    return max(0, a), max(a, b)


def _crop(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    if len(xs) > 1:
        raise NcnnError(f"layer {layer.name}: crop to a reference blob unsupported")
    starts, ends, axes = (_floats(layer.get(k, ())) for k in (9, 10, 11))
    if starts:
        out = x
        for start, end, axis in zip(starts, ends, axes or range(3), strict=False):
            dim = int(axis) + 1 if axis >= 0 else int(axis)
            a, b = _span(out.shape[dim], int(start), int(end))
            out = out.narrow(dim, a, b - a)
        return out
    out = x
    # (offset, size) for w, h and c; a size of -233 runs to the end.
    for dim, off_k, size_k in ((3, 0, 3), (2, 1, 4), (1, 2, 5)):
        n = out.shape[dim]
        off, size = layer.geti(off_k, 0), layer.geti(size_k, -233)
        if layer.geti(size_k + 3, 0) or size == 0 or not 0 <= off < n:
            raise NcnnError(f"layer {layer.name}: this form of Crop is not supported")
        size = n - off if size == -233 else size
        out = out.narrow(dim, off, min(size, n - off))
    return out


def _padding(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    top, bottom, left, right = (layer.geti(k, 0) for k in (0, 1, 2, 3))
    kind = layer.geti(4, 0)
    if layer.geti(6, 0) or layer.geti(7, 0) or layer.geti(8, 0):
        raise NcnnError(f"layer {layer.name}: channel padding is not supported")
    pad = (left, right, top, bottom)
    if kind == 0:
        return F.pad(xs[0], pad, value=layer.getf(5, 0.0))
    if kind in (1, 2):
        return F.pad(xs[0], pad, mode="replicate" if kind == 1 else "reflect")
    raise NcnnError(f"layer {layer.name}: padding type {kind} is not supported")


def _memory(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    data = layer.weights["data"]
    if data.dim() == 1:  # a vector of channels broadcasts per channel
        return data.reshape(1, -1, 1, 1)
    return data.reshape(1, *data.shape) if data.dim() == 3 else data


def _same(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0]


def _dropout(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    scale = layer.getf(0, 1.0)
    return xs[0] if scale == 1.0 else xs[0] * scale


def _clip(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0].clamp(layer.getf(0, -math.inf), layer.getf(1, math.inf))


def _hard_sigmoid(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return (xs[0] * layer.getf(0, 0.2) + layer.getf(1, 0.5)).clamp(0.0, 1.0)


def _hard_swish(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] * _hard_sigmoid(layer, xs)


def _elu(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
    return F.elu(xs[0], layer.getf(0, 0.1))


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> Op:
    def op(layer: Layer, xs: list[torch.Tensor]) -> torch.Tensor:
        return fn(xs[0])

    return op


#: Every layer type the interpreter runs ("Input" is fed, not run).
OPS: dict[str, Op] = {
    "Convolution": _conv,
    "Deconvolution": _deconv,
    "InnerProduct": _inner_product,
    "Pooling": _pooling,
    "ReLU": _relu,
    "PReLU": _prelu,
    "Interp": _interp,
    "PixelShuffle": _pixel_shuffle,
    "BinaryOp": _binary,
    "Eltwise": _eltwise,
    "Concat": _concat,
    "Crop": _crop,
    "Padding": _padding,
    "MemoryData": _memory,
    "Split": _same,
    "Noop": _same,
    "Dropout": _dropout,
    "Sigmoid": _unary(torch.sigmoid),
    "Swish": _unary(F.silu),
    "TanH": _unary(torch.tanh),
    "Mish": _unary(F.mish),
    "Clip": _clip,
    "HardSigmoid": _hard_sigmoid,
    "HardSwish": _hard_swish,
    "ELU": _elu,
}
#: The types :func:`engine.models.ncnn_format.load` should accept.
KNOWN = frozenset({"Input", *OPS})


def forward(graph: Graph, x: torch.Tensor) -> torch.Tensor:
    """Run the ncnn graph on ``x`` (1, C, H, W) with PyTorch ops."""
    blobs: dict[str, torch.Tensor] = {}
    for layer in graph.layers:
        if layer.type == "Input":
            for name in layer.outputs:
                blobs[name] = x
            continue
        op = OPS.get(layer.type)
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


__all__ = ["KNOWN", "OPS", "activate", "forward"]
