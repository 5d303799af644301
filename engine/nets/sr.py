"""``SRNet``: one super-resolution network class with five body families.

It is U in Maeda, G_SR after E in the domain-adaptation method, the SR net of
CycleSR and the SRGAN generator of CSR-GAN. ``encode`` (head and the first
``split`` body blocks) and ``decode`` (the rest, the upsampler and the tail)
give the domain-adaptation method its encoder E and decoder G_SR for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.blocks import RRDB, ResBlock, ResidualGroup, Upsampler, act, conv

Body = Literal["edsr", "rcan", "srresnet", "vdsr", "rrdb"]


@dataclass(frozen=True)
class SRNetSpec:
    """The shape of an SRNet.

    Attributes
    ----------
    body : str
        "edsr" (ResBlocks), "rcan" (residual groups of RCABs), "srresnet" (BN +
        PReLU, 9x9 head and tail), "vdsr" (conv-BN-ReLU units, Vega's "VDSR"),
        "rrdb" (ESRGAN).
    nf : int
        Feature channels.
    nb : int
        Body blocks (RCABs per group for "rcan").
    ng : int
        Residual groups ("rcan" only).
    split : int
        Body blocks that belong to ``encode``; the others to ``decode``.
    global_skip : bool
        Add the bilinearly upsampled input to the output, so the net learns only
        the residual; much faster to train on a CPU budget.
    """

    body: Body = "edsr"
    nf: int = 32
    nb: int = 6
    ng: int = 1
    split: int = 0
    global_skip: bool = True


class SRNet(nn.Module):
    """A feed-forward SR network, (B, 3, h, w) in [0, 1] -> (B, 3, s*h, s*w).

    Parameters
    ----------
    spec
        Body family and sizes.
    scale
        The upscale factor.
    """

    def __init__(self, spec: SRNetSpec, scale: int) -> None:
        super().__init__()
        self.spec = spec
        self.scale = scale
        nf, body = spec.nf, spec.body
        if not 0 <= spec.split <= (spec.ng if body == "rcan" else spec.nb):
            raise ValueError(f"split {spec.split} is outside the body")
        blocks: list[nn.Module]
        end: list[nn.Module] = [conv(nf, nf)]
        if body == "srresnet":
            self.head: nn.Module = nn.Sequential(conv(3, nf, 9), nn.PReLU(nf))
            blocks = [ResBlock(nf, 3, "prelu", "batch") for _ in range(spec.nb)]
            end = [conv(nf, nf, bias=False), nn.BatchNorm2d(nf)]
            up: nn.Module = Upsampler(scale, nf, "shuffle", "prelu")
            tail: nn.Module = conv(nf, 3, 9)
        elif body == "vdsr":
            self.head = conv(3, nf)
            blocks = [
                nn.Sequential(
                    conv(nf, nf, bias=False), nn.BatchNorm2d(nf), nn.ReLU(True)
                )
                for _ in range(spec.nb)
            ]
            end = [conv(nf, nf, bias=False), nn.BatchNorm2d(nf)]
            up = Upsampler(scale, nf, "shuffle", "relu")
            tail = nn.Sequential(conv(nf, nf), nn.ReLU(True), conv(nf, 3))
        elif body == "rrdb":
            self.head = conv(3, nf)
            blocks = [RRDB(nf, max(8, nf // 2)) for _ in range(spec.nb)]
            up = Upsampler(scale, nf, "nearest", "lrelu")
            tail = nn.Sequential(conv(nf, nf), act("lrelu"), conv(nf, 3))
        elif body == "rcan":
            self.head = conv(3, nf)
            blocks = [ResidualGroup(nf, spec.nb) for _ in range(spec.ng)]
            up = Upsampler(scale, nf, "shuffle")
            tail = conv(nf, 3)
        else:
            self.head = conv(3, nf)
            blocks = [ResBlock(nf) for _ in range(spec.nb)]
            up = Upsampler(scale, nf, "shuffle")
            tail = conv(nf, 3)
        self.body_a = nn.Sequential(*blocks[: spec.split])
        self.body_b = nn.Sequential(*blocks[spec.split :], *end)
        self.up = up
        self.tail = tail

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """LR image -> features at LR size (E in the domain-adaptation method)."""
        h: torch.Tensor = self.head(x)
        if len(self.body_a) == 0:
            return h
        out: torch.Tensor = h + self.body_a(h)
        return out

    def decode(self, f: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """Features (and the LR image, for the global skip) -> SR image."""
        out: torch.Tensor = self.tail(self.up(f + self.body_b(f)))
        if self.spec.global_skip:
            out = out + F.interpolate(
                lr, scale_factor=self.scale, mode="bilinear", align_corners=False
            )
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``x``; the output is not clamped (clamping stops gradients)."""
        return self.decode(self.encode(x), x)


__all__ = ["Body", "SRNet", "SRNetSpec"]
