"""``LRTranslator``: a same-resolution image (or feature) translator.

One class covers Maeda's correction net G_XY (``body="rcan"``), his degradation
net G_YX (``noise_ch=1``: a noise map at a quarter of the size, brought up by
two transposed convs, or a per-pixel one), the LR CycleGANs of CycleSR and
CSR-GAN, and G_t of the domain-adaptation method (``in_ch=nf``, no global skip).

With ``zero_tail`` and ``global_skip`` the last conv starts at zero, so the net
starts as the identity: the single most useful stabiliser for short CPU runs,
because the adversarial game begins from a sensible image, not from noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from engine.nets.blocks import Norm, ResBlock, ResidualGroup, conv


@dataclass(frozen=True)
class TranslatorSpec:
    """The shape of an LRTranslator.

    Attributes
    ----------
    nf : int
        Feature channels.
    nb : int
        ResBlocks (or RCABs per group with ``body="rcan"``).
    ng : int
        Residual groups for ``body="rcan"``.
    k : int
        Kernel size of the body convs (5 in Maeda's degradation net).
    body : str
        "res" (ResBlocks with LReLU) or "rcan".
    norm : str
        Normalisation inside the ResBlocks.
    zero_tail : bool
        Initialise the last conv to zero.
    global_skip : bool
        Add the input to the output (needs ``in_ch == out_ch``).
    noise_scale : int
        With a noise input, z is 1/``noise_scale`` of the image's size: 4 is
        yoon28's quarter-size map brought up by two transposed convs (each z
        value paints one 4x4 pattern); 1 is a per-pixel map through 1x1 convs,
        which can make a sensor's pixel-level noise directly.
    """

    nf: int = 32
    nb: int = 4
    ng: int = 1
    k: int = 3
    body: Literal["res", "rcan"] = "res"
    norm: Norm = "none"
    zero_tail: bool = True
    global_skip: bool = True
    noise_scale: Literal[1, 4] = 4


class LRTranslator(nn.Module):
    """(B, in_ch, h, w) [+ noise (B, noise_ch, h/f, w/f)] -> (B, out_ch, h, w).

    f is ``spec.noise_scale``; :func:`draw_noise` makes a map of the right size.

    Parameters
    ----------
    spec
        Sizes and options.
    in_ch, out_ch
        Channels in and out (3 for images, ``nf`` for features).
    noise_ch
        Channels of the noise map; 0 for a deterministic translator.
    """

    def __init__(
        self, spec: TranslatorSpec, in_ch: int = 3, out_ch: int = 3, noise_ch: int = 0
    ) -> None:
        super().__init__()
        if spec.global_skip and in_ch != out_ch:
            raise ValueError("a global skip needs as many channels in as out")
        nf = spec.nf
        self.spec = spec
        self.noise_ch = noise_ch
        self.head = nn.Sequential(conv(in_ch, nf, spec.k), nn.LeakyReLU(0.2, True))
        if noise_ch:
            c1, c2 = max(4, nf // 8), max(8, nf // 4)
            up1: nn.Module
            up2: nn.Module
            if spec.noise_scale == 4:
                up1, up2 = (
                    nn.ConvTranspose2d(noise_ch, c1, 2, 2),
                    nn.ConvTranspose2d(c1, c2, 2, 2),
                )
            else:
                up1, up2 = nn.Conv2d(noise_ch, c1, 1), nn.Conv2d(c1, c2, 1)
            self.noise = nn.Sequential(
                up1, nn.LeakyReLU(0.2, True), up2, nn.LeakyReLU(0.2, True)
            )
            self.fuse = nn.Conv2d(nf + c2, nf, 1)
        blocks: list[nn.Module]
        if spec.body == "rcan":
            blocks = [ResidualGroup(nf, spec.nb) for _ in range(spec.ng)]
        else:
            blocks = [ResBlock(nf, spec.k, "lrelu", spec.norm) for _ in range(spec.nb)]
        self.body = nn.Sequential(*blocks, conv(nf, nf))
        self.tail = conv(nf, out_ch)
        if spec.zero_tail:
            nn.init.zeros_(self.tail.weight)
            assert self.tail.bias is not None
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Translate ``x``; ``z`` is required when the net was built with noise."""
        h = self.head(x)
        if self.noise_ch:
            if z is None:
                raise ValueError("this translator needs a noise map z")
            # z is drawn at ceil(size / f); trim the upsampled map to the image,
            # so any size works (a whole photo in a preview, not only patches).
            n = self.noise(z)[..., : h.shape[2], : h.shape[3]]
            h = self.fuse(torch.cat([h, n], 1))
        out: torch.Tensor = self.tail(h + self.body(h))
        if self.spec.global_skip:
            out = out + x
        return out


def draw_noise(
    spec: TranslatorSpec, x: torch.Tensor, gen: torch.Generator | None = None
) -> torch.Tensor:
    """A one-channel standard-normal noise map sized for ``x`` and ``spec``.

    Its size is ``ceil(h / f)`` by ``ceil(w / f)``: the translator trims what
    its upsampling makes beyond the image.
    """
    b, _, h, w = x.shape
    f = spec.noise_scale
    return torch.randn(b, 1, -(-h // f), -(-w // f), generator=gen).to(x.device)


__all__ = ["LRTranslator", "TranslatorSpec", "draw_noise"]
