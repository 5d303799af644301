"""DualSR's losses: LSGAN, the Sobel interpolation mask, KernelGAN's kernel priors."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss on a map of sigmoid outputs."""
    target = 1.0 if real else 0.0
    return ((pred - target) ** 2).mean()


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Centre crop of (B, C, H, W) to (size, size)."""
    top = (x.shape[-2] - size) // 2
    left = (x.shape[-1] - size) // 2
    return x[..., top : top + size, left : left + size]


@functools.cache
def _sobel_weight(c: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Made once per device: a host-to-GPU copy every iteration waits for the GPU.
    kx = _SOBEL_X.to(device, dtype)
    return torch.stack([kx, kx.t()])[:, None].repeat(c, 1, 1, 1)


@functools.cache
def _bicubic_weight(
    c: int, grouped: bool, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    k = bicubic_down_filter().to(device, dtype)
    return k[None, None].expand(c, 1 if grouped else c, 8, 8).contiguous()


def sobel_mask(b: torch.Tensor) -> torch.Tensor:
    """1 on flat regions, falling to 0 where the Sobel magnitude reaches 1.

    Per channel, unnormalised kernels, zero padding (so crop borders count as
    edges), as in the authors' code.
    """
    c = b.shape[1]
    g = F.conv2d(b, _sobel_weight(c, b.device, b.dtype), padding=1, groups=c)
    mag = torch.sqrt(g[:, 0::2] ** 2 + g[:, 1::2] ** 2)
    return 1.0 - mag.clamp(0.0, 1.0)


def masked_interp(
    fake_hr: torch.Tensor, b: torch.Tensor, over_mask: bool = False
) -> torch.Tensor:
    """L1 between G_UP's output and bicubic on the flat regions.

    ``over_mask`` divides by the mask's sum instead of the element count (fixes
    quirk 5, where the weight depended on how textured the crop is).
    """
    m = sobel_mask(b.detach())
    diff = (fake_hr - b).abs() * m
    if over_mask:
        return diff.sum() / m.sum().clamp_min(1.0)
    return diff.mean()


def bicubic_down_filter() -> torch.Tensor:
    """The fixed 8x8 bicubic x0.5 filter of KernelGAN's bicubic prior."""
    d = np.array([3.5, 2.5, 1.5, 0.5, 0.5, 1.5, 2.5, 3.5]) * 0.5
    w = np.where(
        d <= 1, 1.5 * d**3 - 2.5 * d**2 + 1, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2
    )
    w = 0.5 * w
    w /= w.sum()
    return torch.from_numpy(np.outer(w, w)).float()


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


def kernel_terms(k: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """KernelGAN's priors on the kernel: sum-to-one, boundaries, centre, sparsity."""
    n = k.shape[0]
    target = n // 2 + 0.5 * (2 - n % 2)
    com = centre_of_mass(k)
    return {
        "sum": (1.0 - k.sum()).abs(),
        "bound": (k * mask).abs().mean(),
        "cent": ((com - target) ** 2).mean(),
        "sparse": (k.abs() + 1e-12).pow(0.2).mean(),
    }


__all__ = [
    "bicubic_down_filter",
    "bicubic_target",
    "center_crop",
    "centre_of_mass",
    "kernel_terms",
    "lsgan",
    "masked_interp",
    "penalty_mask",
    "sobel_mask",
]
