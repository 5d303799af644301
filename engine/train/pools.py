"""The camera's kernel pool, and training pairs made with it and the noise pool.

After Ji et al., "Real-World Super-Resolution via Kernel Estimation and Noise
Injection" (CVPRW 2020): kernels measured on the real photos
(:mod:`engine.train.kernel_spectrum`, :mod:`engine.train.kernel_fit`) blur and
subsample clean HR crops, noise patches cut from the real photos' flat regions
(:mod:`engine.train.noise_pool`) are added, and the result is JPEG-compressed
as the real photos were. The pools are ring buffers, so a run keeps refreshing
them with new estimates and new patches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.train import jpeg
from engine.train.kernel_fit import KSIZE, bicubic_kernel
from engine.train.noise_pool import LUMA, NoisePool


class KernelPool:
    """Kernels (13 x 13, sum 1, centred) measured on the real photos."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.kernels = torch.empty(0, KSIZE, KSIZE)
        self.next = 0

    def add(self, k: torch.Tensor) -> bool:
        """Keep ``k`` unless it is unusable (not finite); replaces the oldest."""
        if not bool(torch.isfinite(k).all()):
            return False
        if len(self.kernels) < self.capacity:
            self.kernels = torch.cat([self.kernels, k[None]])
        else:
            self.kernels[self.next] = k
            self.next = (self.next + 1) % self.capacity
        return True

    def sample(self, n: int, g: torch.Generator) -> torch.Tensor:
        """``n`` kernels drawn at random (bicubic while the pool is empty)."""
        if len(self.kernels) == 0:
            return bicubic_kernel().expand(n, KSIZE, KSIZE).clone()
        idx = torch.randint(0, len(self.kernels), (n,), generator=g)
        return self.kernels[idx]

    def state(self) -> dict[str, torch.Tensor]:
        """The pool as tensors (for checkpoints)."""
        return {"kernels": self.kernels.clone(), "next": torch.tensor(self.next)}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state`."""
        self.kernels = state["kernels"].clone()
        self.next = int(state["next"])


def downscale(y: torch.Tensor, kernels: torch.Tensor, scale: int) -> torch.Tensor:
    """Blur each image of ``y`` (B, 3, H, W) with its kernel and halve it.

    The 13x13 stride-2 kernels are G_DN's (reflect-padded by 6, so an output
    pixel sits between two input pixels, as in bicubic halving); x4 halves
    twice with the same kernel, as KernelGAN composes its x4 kernel.
    """
    b, c = y.shape[:2]
    w = kernels.to(y).repeat_interleave(c, 0)[:, None]
    x = y
    for _ in range({2: 1, 4: 2}[scale]):
        x = F.pad(x, [KSIZE // 2] * 4, mode="reflect")
        h, wd = x.shape[-2:]
        x = F.conv2d(x.reshape(1, b * c, h, wd), w, stride=2, groups=b * c)
        x = x.reshape(b, c, x.shape[-2], x.shape[-1])
    return x


def synthesise(
    y: torch.Tensor,
    kernels: KernelPool,
    noise: NoisePool,
    settings: tuple[jpeg.JpegSetting, ...],
    scale: int,
    g: torch.Generator,
) -> torch.Tensor:
    """Training LR for HR crops ``y``: kernel, subsample, real noise, JPEG.

    Each crop gets its own kernel, noise patches and (where the photos are
    JPEG) one of the photos' JPEG settings; the result is rounded to 8 bits,
    as a camera's file is.
    """
    with torch.no_grad():
        x = downscale(y, kernels.sample(len(y), g), scale)
        # Each noise tile comes from a patch about as bright as the place it
        # goes: a camera's noise grows with the signal.
        p = noise.spec.patch
        luma = (x * LUMA.to(x)).sum(1, keepdim=True)
        levels = F.avg_pool2d(luma, p, ceil_mode=True)[:, 0].cpu()
        n = noise.sample(len(y), x.shape[-2], x.shape[-1], g, levels)
        x = (x + n.to(x)).clamp(0, 1)
        if settings:
            picks = torch.randint(0, len(settings), (len(y),), generator=g)
            x = torch.stack(
                [
                    jpeg.compress(xi, settings[int(i)])
                    for xi, i in zip(x, picks, strict=True)
                ]
            )
        else:
            x = torch.round(x * 255) / 255
    return x


__all__ = ["KernelPool", "downscale", "synthesise"]
