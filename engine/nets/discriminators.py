"""Discriminators: a configurable PatchGAN and the SRGAN-style classifier."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

DNorm = Literal["none", "instance", "batch", "sn"]


@dataclass(frozen=True)
class PatchSpec:
    """The shape of a PatchD.

    Attributes
    ----------
    ndf : int
        Channels of the first conv; doubled per layer up to 8x.
    strides : tuple of int
        Stride of each hidden conv (their number is ``len(strides)``); the
        output conv has stride 1. junyanz's 70x70 D is (2, 2, 2, 1); Maeda's
        LR Ds are all 1 with ``padding=0``.
    norm : str
        Normalisation of every hidden conv but the first.
    padding : int
        Padding of every 4x4 conv.
    highpass : float
        When above 0, the D sees only ``x - gaussian_blur(x, sigma=highpass)``
        (the frequency separation of Fritsche et al. 2019): noise, blur and
        JPEG live in the high band, so a short CPU run's D learns them quickly
        instead of telling the two domains apart by their content.
    """

    ndf: int = 32
    strides: tuple[int, ...] = (2, 1, 1)
    norm: DNorm = "none"
    padding: int = 1
    highpass: float = 0.0


def gaussian_taps(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian reaching 3 sigma (at least 3 taps).

    Its outer product is ``degrade.gaussian_kernel(sigma, sigma, 0, 2r + 1)``.
    """
    r = max(1, math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


class HighPass(nn.Module):
    """``x - blur(x)``: a fixed separable Gaussian, reflect-padded, per channel."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        # Not persistent: it is a function of ``sigma``, so checkpoints omit it.
        taps = gaussian_taps(sigma)
        self.radius = taps.shape[0] // 2
        self.taps: torch.Tensor
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The high band of ``x`` (same shape)."""
        c, r = x.shape[1], self.radius
        kh = self.taps.view(1, 1, 1, -1).expand(c, 1, 1, -1)
        kv = self.taps.view(1, 1, -1, 1).expand(c, 1, -1, 1)
        low = F.pad(x, (r, r, r, r), mode="reflect")
        low = F.conv2d(F.conv2d(low, kh, groups=c), kv, groups=c)
        return x - low


class PatchD(nn.Module):
    """Fully convolutional discriminator with a map of per-patch logits."""

    def __init__(self, spec: PatchSpec, in_ch: int = 3, out_ch: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if spec.highpass > 0:
            layers.append(HighPass(spec.highpass))
        ch, p = in_ch, spec.padding
        for i, s in enumerate(spec.strides):
            nxt = spec.ndf * min(2**i, 8)
            c = nn.Conv2d(ch, nxt, 4, s, p, bias=spec.norm in ("none", "sn") or i == 0)
            layers.append(spectral_norm(c) if spec.norm == "sn" else c)
            if i > 0 and spec.norm == "instance":
                layers.append(nn.InstanceNorm2d(nxt))
            elif i > 0 and spec.norm == "batch":
                layers.append(nn.BatchNorm2d(nxt))
            layers.append(nn.LeakyReLU(0.2, True))
            ch = nxt
        last = nn.Conv2d(ch, out_ch, 4, 1, p)
        layers.append(spectral_norm(last) if spec.norm == "sn" else last)
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logit map (B, out_ch, h', w')."""
        out: torch.Tensor = self.model(x)
        return out


class VGGStyleD(nn.Module):
    """SRGAN's discriminator: 8 convs (stride 2 every other), then two FCs.

    ``input_size`` must be a multiple of 16.
    """

    def __init__(self, in_ch: int = 3, ndf: int = 64, input_size: int = 96) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError("VGGStyleD needs an input size that is a multiple of 16")
        plan = [(ndf, 2), (2 * ndf, 1), (2 * ndf, 2), (4 * ndf, 1), (4 * ndf, 2)]
        plan += [(8 * ndf, 1), (8 * ndf, 2)]
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, ndf, 3, 1, 1),
            nn.LeakyReLU(0.2, True),
        ]
        ch = ndf
        for out, s in plan:
            layers += [
                nn.Conv2d(ch, out, 3, s, 1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(0.2, True),
            ]
            ch = out
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        hidden = min(1024, 16 * ndf)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(ch * side * side, hidden),
            nn.LeakyReLU(0.2, True),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return one logit per image, (B, 1)."""
        out: torch.Tensor = self.classifier(self.features(x))
        return out


__all__ = ["DNorm", "PatchD", "PatchSpec", "VGGStyleD"]
