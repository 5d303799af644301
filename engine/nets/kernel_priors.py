"""KernelGAN's priors on a blur kernel, and the bicubic prior of its first steps.

Shared by DualSR's zero-shot fit and the estimated-degradation trainer, which
both fit :class:`engine.nets.dualsr.GDn` to a photo's own crops (a leaf module
so that both layers can import it).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Centre crop of (B, C, H, W) to (size, size)."""
    top = (x.shape[-2] - size) // 2
    left = (x.shape[-1] - size) // 2
    return x[..., top : top + size, left : left + size]


def bicubic_down_filter() -> torch.Tensor:
    """The fixed 8x8 bicubic x0.5 filter of KernelGAN's bicubic prior."""
    d = np.array([3.5, 2.5, 1.5, 0.5, 0.5, 1.5, 2.5, 3.5]) * 0.5
    w = np.where(
        d <= 1, 1.5 * d**3 - 2.5 * d**2 + 1, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2
    )
    w = 0.5 * w
    w /= w.sum()
    return torch.from_numpy(np.outer(w, w)).float()


@functools.cache
def _bicubic_weight(
    c: int, grouped: bool, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    # Made once per device: a host-to-GPU copy every iteration waits for the GPU.
    k = bicubic_down_filter().to(device, dtype)
    return k[None, None].expand(c, 1 if grouped else c, 8, 8).contiguous()


def bicubic_target(y: torch.Tensor, out: int, sum_channels: bool) -> torch.Tensor:
    """What G_DN(y) should look like early on: y bicubically halved.

    ``sum_channels`` keeps quirk 1: the filter is expanded to a 3->3 weight, so
    every channel becomes blur(R + G + B), three times too bright.
    """
    c = y.shape[1]
    weight = _bicubic_weight(c, not sum_channels, y.device, y.dtype)
    if sum_channels:
        t = F.conv2d(y, weight, stride=2, padding=3)
    else:
        t = F.conv2d(y, weight, stride=2, padding=3, groups=c)
    return center_crop(t, out)


def penalty_mask(size: int = 13, scale: float = 30.0) -> torch.Tensor:
    """Boundary penalty: 0 inside, growing on the outer frame of the kernel."""
    z = np.arange(size) - (size - 1) / 2
    g1 = np.exp(-(z**2) / (2 * size**2))
    g = np.outer(g1, g1)
    mask = 1.0 - g / g.max()
    centre = size // 2 + size % 2
    margin = (size - centre) // 2 - 1
    if margin > 0:
        mask[margin:-margin, margin:-margin] = 0.0
    return torch.from_numpy(scale * mask).float()


def centre_of_mass(k: torch.Tensor) -> torch.Tensor:
    """Row and column centre of mass of ``k`` (index weights 0..n-1)."""
    idx = torch.arange(k.shape[0], dtype=k.dtype, device=k.device)
    total = k.sum()
    return torch.stack([(k.sum(1) * idx).sum() / total, (k.sum(0) * idx).sum() / total])


def centre_target(n: int) -> float:
    """The centre of mass KernelGAN asks of an n x n kernel (row and column).

    For odd n it is half a pixel past the middle, so a stride-2 output sits
    between two input pixels, where bicubic halving puts it.
    """
    return n // 2 + 0.5 * (2 - n % 2)


def kernel_terms(k: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """KernelGAN's priors on the kernel: sum-to-one, boundaries, centre, sparsity."""
    com = centre_of_mass(k)
    return {
        "sum": (1.0 - k.sum()).abs(),
        "bound": (k * mask).abs().mean(),
        "cent": ((com - centre_target(k.shape[0])) ** 2).mean(),
        "sparse": (k.abs() + 1e-12).pow(0.2).mean(),
    }


__all__ = [
    "bicubic_down_filter",
    "bicubic_target",
    "center_crop",
    "centre_of_mass",
    "centre_target",
    "kernel_terms",
    "penalty_mask",
]
