"""DualSR's losses: LSGAN, the Sobel interpolation mask, KernelGAN's kernel priors."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

# The kernel priors live with the nets: the estimated-degradation trainer, a
# lower layer than the methods, fits the same G_DN with them.
from engine.nets.kernel_priors import (
    bicubic_down_filter,
    bicubic_target,
    center_crop,
    centre_of_mass,
    kernel_terms,
    penalty_mask,
)

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss on a map of sigmoid outputs."""
    target = 1.0 if real else 0.0
    return ((pred - target) ** 2).mean()


@functools.cache
def _sobel_weight(c: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Made once per device: a host-to-GPU copy every iteration waits for the GPU.
    kx = _SOBEL_X.to(device, dtype)
    return torch.stack([kx, kx.t()])[:, None].repeat(c, 1, 1, 1)


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
