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
    net: torch.nn.Module, folder: Path, name: str, fp16: bool = False
) -> Path:
    """Real-ESRGAN's SRVGG compact net as realesr-animevideov3 is laid out."""
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
    g.add("BinaryOp", [x, base], ["0=0"])
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
