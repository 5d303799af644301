"""Small convolutional building blocks shared by every network in unsr.

All blocks keep tensors in NCHW float and never change the spatial size unless
their name says so (``Upsampler``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Act = Literal["relu", "lrelu", "prelu", "none"]
Norm = Literal["none", "batch", "instance"]


def conv(
    in_ch: int, out_ch: int, k: int = 3, stride: int = 1, bias: bool = True
) -> nn.Conv2d:
    """A convolution with "same" padding for odd ``k`` at stride 1."""
    return nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, bias=bias)


def act(kind: Act, ch: int = 1) -> nn.Module:
    """Return the activation ``kind`` (LReLU uses slope 0.2, as in every seed)."""
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "prelu":
        return nn.PReLU(ch)
    return nn.Identity()


def norm(kind: Norm, ch: int) -> nn.Module:
    """Return a normalisation layer, or the identity for "none"."""
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=False)
    return nn.Identity()


class ResBlock(nn.Module):
    """conv-(norm)-act-conv-(norm), scaled and added to the input.

    Parameters
    ----------
    ch
        Channels in and out.
    k
        Kernel size (3 for EDSR/SRResNet, 5 for Maeda's degradation net).
    activation
        Activation between the two convs.
    norm_kind
        Normalisation after each conv ("batch" for SRResNet).
    res_scale
        Factor on the residual branch (EDSR uses 0.1 for wide nets).
    """

    def __init__(
        self,
        ch: int,
        k: int = 3,
        activation: Act = "relu",
        norm_kind: Norm = "none",
        res_scale: float = 1.0,
    ) -> None:
        super().__init__()
        bias = norm_kind == "none"
        self.body = nn.Sequential(
            conv(ch, ch, k, bias=bias),
            norm(norm_kind, ch),
            act(activation, ch),
            conv(ch, ch, k, bias=bias),
            norm(norm_kind, ch),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + res_scale * body(x)``."""
        out: torch.Tensor = x + self.res_scale * self.body(x)
        return out


class ChannelAttention(nn.Module):
    """RCAN's squeeze-and-excitation: global mean -> bottleneck -> sigmoid gate."""

    def __init__(self, ch: int, reduction: int = 16) -> None:
        super().__init__()
        mid = max(1, ch // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(ch, mid, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, ch, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` by its learned gate."""
        out: torch.Tensor = x * self.gate(x)
        return out


class RCAB(nn.Module):
    """Residual channel-attention block: conv-ReLU-conv-CA plus the input."""

    def __init__(self, ch: int, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(ch, ch),
            nn.ReLU(inplace=True),
            conv(ch, ch),
            ChannelAttention(ch, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + body(x)``."""
        out: torch.Tensor = x + self.body(x)
        return out


class ResidualGroup(nn.Module):
    """RCAN's residual group: ``n`` RCABs and a conv, with a group skip."""

    def __init__(self, ch: int, n: int, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[RCAB(ch, reduction) for _ in range(n)], conv(ch, ch)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + body(x)``."""
        out: torch.Tensor = x + self.body(x)
        return out


class DenseBlock(nn.Module):
    """ESRGAN's five-conv dense block with growth ``gc`` and residual scale 0.2."""

    def __init__(self, nf: int, gc: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            conv(nf + i * gc, gc if i < 4 else nf) for i in range(5)
        )
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Densely connected convs; the last one's output is scaled and added."""
        feats = [x]
        for i, layer in enumerate(self.convs):
            out = layer(torch.cat(feats, 1))
            if i < 4:
                feats.append(self.lrelu(out))
        res: torch.Tensor = x + 0.2 * out
        return res


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, scaled skip."""

    def __init__(self, nf: int, gc: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + 0.2 * body(x)``."""
        out: torch.Tensor = x + 0.2 * self.body(x)
        return out


def icnr(c: nn.Conv2d, f: int) -> nn.Conv2d:
    """Give the conv before ``PixelShuffle(f)`` an ICNR init (Aitken et al. 2017).

    The f*f sub-pixel outputs of each channel start with the same weights, so the
    shuffle starts as a nearest-neighbour upsampling: no checkerboard at
    initialisation, which short CPU runs would otherwise not train away.
    """
    # Reuse every (f*f)-th default-initialised filter: same scale as the
    # default init, and no extra draws from the random stream.
    with torch.no_grad():
        c.weight.copy_(c.weight[:: f * f].repeat_interleave(f * f, dim=0))
        if c.bias is not None:
            c.bias.copy_(c.bias[:: f * f].repeat_interleave(f * f))
    return c


class Upsampler(nn.Sequential):
    """Upsample features by ``scale`` (a power of two, or 3).

    ``mode="shuffle"`` is EDSR/RCAN/SRResNet's conv + PixelShuffle; ``"nearest"``
    is ESRGAN's nearest-neighbour interpolation + conv, which avoids checkerboards.
    """

    def __init__(
        self,
        scale: int,
        nf: int,
        mode: Literal["shuffle", "nearest"] = "shuffle",
        activation: Act = "none",
    ) -> None:
        layers: list[nn.Module] = []
        if scale == 3:
            factors = [3]
        elif scale >= 1 and scale & (scale - 1) == 0:
            factors = [2] * int(math.log2(scale))
        else:
            raise ValueError(f"upsampler supports x1, x2, x4, x8 and x3, not x{scale}")
        for f in factors:
            if mode == "shuffle":
                layers += [
                    icnr(conv(nf, nf * f * f), f),
                    nn.PixelShuffle(f),
                    act(activation, nf),
                ]
            else:
                layers += [nn.Upsample(scale_factor=f, mode="nearest"), conv(nf, nf)]
                layers.append(act(activation if activation != "none" else "lrelu", nf))
        super().__init__(*layers)


class MeanShift(nn.Module):
    """Subtract (``sign=-1``) or add back (``sign=1``) a fixed RGB mean.

    With data in [0, 1] and a mean of 0 this is the identity, as in Maeda's
    re-implementations; it is kept so paper profiles can use the DIV2K mean.
    """

    def __init__(self, mean: tuple[float, float, float], sign: int) -> None:
        super().__init__()
        self.register_buffer("shift", sign * torch.tensor(mean).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shift ``x`` by the fixed mean."""
        shift = self.get_buffer("shift")
        return x + shift


__all__ = [
    "RCAB",
    "RRDB",
    "Act",
    "ChannelAttention",
    "DenseBlock",
    "MeanShift",
    "Norm",
    "ResBlock",
    "ResidualGroup",
    "Upsampler",
    "act",
    "conv",
    "norm",
]
