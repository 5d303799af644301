"""DualSR's three networks: the upsampler, the linear downsampler, the critic.

Shapes follow the DualSR authors' code (Emad, Peemen and Corporaal, WACV 2021).
Widths and depths are arguments so that a faster profile can shrink them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

#: G_DN's layers as (kernel size, stride); the 3x3 layer carries the stride.
G_DN_LAYERS: tuple[tuple[int, int], ...] = (
    (7, 1),
    (5, 1),
    (3, 2),
    (1, 1),
    (1, 1),
    (1, 1),
)


class GUp(nn.Module):
    """The upsampler: fixed bilinear x2, then a plain conv body as a residual.

    Parameters
    ----------
    width
        Channels of the hidden convs (64 in the paper).
    depth
        Number of 3x3 convs in the body (8 in the paper).
    at_lr
        Run the body on the input's pixels and pixel-shuffle its 12 output
        channels to the four x2 phases (as ESPCN and Real-ESRGAN's compact net
        do) instead of running it on the bilinear x2 image (the paper): a
        quarter of the body's pixels, twice its receptive field.
    """

    def __init__(self, width: int = 64, depth: int = 8, at_lr: bool = False) -> None:
        super().__init__()
        self.at_lr = at_lr
        layers: list[nn.Module] = []
        ch_in = 3
        ch_last = 12 if at_lr else 3  # at LR: RGB for each of the four x2 phases
        for i in range(depth):
            last = i == depth - 1
            ch_out = ch_last if last else width
            layers.append(nn.Conv2d(ch_in, ch_out, 3, padding=1))
            if not last:
                layers.append(nn.ReLU(inplace=True))
            ch_in = ch_out
        self.body = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                assert m.bias is not None
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the x2 image (not clamped), (B, 3, 2H, 2W)."""
        # The authors' fixed phase filters equal this bilinear resize exactly.
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        res = F.pixel_shuffle(self.body(x), 2) if self.at_lr else self.body(up)
        out: torch.Tensor = up + res
        return out


class GDn(nn.Module):
    """KernelGAN's deep linear downsampler with DualSR's stride placement.

    Six bias-free, activation-free, unpadded convs applied to each colour
    channel alone with shared weights. Being linear, the whole chain equals a
    single 13x13 correlation with stride 2 by :meth:`composed_kernel`; the
    ``deep`` flag of :meth:`forward` selects the literal chain, otherwise that
    single correlation is used (same outputs and gradients, ~1/30 of the work).

    Parameters
    ----------
    width
        Channels of the hidden layers (64 in the paper).
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        ch_in = 1
        for i, (k, _) in enumerate(G_DN_LAYERS):
            ch_out = 1 if i == len(G_DN_LAYERS) - 1 else width
            n = ch_in * k * k
            # DualSR's init: N(1/n, 1/n), which starts near a box blur.
            w = torch.randn(ch_out, ch_in, k, k) / n + 1.0 / n
            self.weights.append(nn.Parameter(w))
            ch_in = ch_out
        self.kernel_size = 1 + sum(k - 1 for k, _ in G_DN_LAYERS)

    def composed_kernel(self) -> torch.Tensor:
        """Return the equivalent (13, 13) correlation kernel, differentiably.

        The impulse response of the stride-free chain (full zero padding at each
        step) is the correlation kernel flipped on both axes.
        """
        w0 = self.weights[0]
        cur = torch.ones(1, 1, 1, 1, dtype=w0.dtype, device=w0.device)
        for w in self.weights:
            k = w.shape[-1]
            cur = F.conv2d(cur, w, padding=k - 1)
        return cur[0, 0].flip(0, 1)

    def forward(self, x: torch.Tensor, deep: bool = False) -> torch.Tensor:
        """Downscale (B, C, H, W) by 2 with a valid 13x13 footprint.

        Returns (B, C, (H - 12) // 2, (W - 12) // 2) for even H, W.
        """
        b, c, h, w = x.shape
        flat = x.reshape(b * c, 1, h, w)
        if deep:
            for weight, (_, stride) in zip(self.weights, G_DN_LAYERS, strict=True):
                flat = F.conv2d(flat, weight, stride=stride)
        elif h % 2 or w % 2:
            k = self.composed_kernel().to(flat.dtype)
            flat = F.conv2d(flat, k[None, None], stride=2)
        else:
            flat = F.conv2d(F.pixel_unshuffle(flat, 2), self.polyphase_kernel())
        return flat.reshape(b, c, flat.shape[-2], flat.shape[-1])

    def polyphase_kernel(self) -> torch.Tensor:
        """The composed kernel split by phase: (1, 4, 7, 7), for stride 1.

        A stride-2 correlation of an even-sized image with the 13x13 kernel
        equals a stride-1 correlation of its four pixel phases
        (``pixel_unshuffle``) with the kernel's four phases (zero-padded to
        14x14). Same sums; oneDNN runs the single-channel stride-2 form,
        forward and backward, about 1.7x slower (docs/benchmarks.md).
        """
        k = F.pad(self.composed_kernel(), (0, 1, 0, 1))
        return k.reshape(7, 2, 7, 2).permute(1, 3, 0, 2).reshape(1, 4, 7, 7)


class DDn(nn.Module):
    """KernelGAN's patch critic on LR patches: 7x7 receptive field, sigmoid map.

    Parameters
    ----------
    width
        Channels (64 in the paper).
    blocks
        Number of [1x1 conv, BatchNorm, ReLU] blocks (5 in the paper).
    paper_init
        Keep the authors' effective init: PyTorch's default for the spectrally
        normalised weights (their Xavier-0.1 call never reaches them). When
        False, apply the Xavier-normal(0.1) init the code intended.
    """

    def __init__(self, width: int = 64, blocks: int = 5, paper_init: bool = True):
        super().__init__()
        convs: list[nn.Conv2d] = [nn.Conv2d(3, width, 7)]
        layers: list[nn.Module] = []
        for _ in range(blocks):
            conv = nn.Conv2d(width, width, 1)
            convs.append(conv)
            layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        convs.append(nn.Conv2d(width, 1, 1))
        for conv in convs:
            if not paper_init:
                nn.init.xavier_normal_(conv.weight, gain=0.1)
            assert conv.bias is not None
            nn.init.zeros_(conv.bias)
        for m in layers:
            if isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        self.head = spectral_norm(convs[0])
        body = [spectral_norm(m) if isinstance(m, nn.Conv2d) else m for m in layers]
        self.body = nn.Sequential(*body)
        self.tail = spectral_norm(convs[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the per-patch realness map in (0, 1), (B, 1, H - 6, W - 6)."""
        return torch.sigmoid(self.tail(self.body(self.head(x))))


__all__ = ["G_DN_LAYERS", "DDn", "GDn", "GUp"]
