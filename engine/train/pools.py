"""The camera's kernel pool and noise pool, and training pairs made with them.

After Ji et al., "Real-World Super-Resolution via Kernel Estimation and Noise
Injection" (CVPRW 2020): kernels measured on the real photos
(:mod:`engine.train.kernel_fit`) blur and subsample clean HR crops, noise
patches cut from the real photos' flat regions are added, and the result is
JPEG-compressed as the real photos were. The pools are ring buffers, so a run
keeps refreshing them with new fits and new patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.train import jpeg
from engine.train.kernel_fit import KSIZE, bicubic_kernel
from engine.train.losses import dihedral

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class NoiseSpec:
    """How noise patches are cut from the real photos.

    Attributes
    ----------
    patch : int
        Edge of a noise patch (LR pixels); bigger training patches are tiled
        from several.
    max_std : float
        A patch whose luminance varies more than this (in [0, 1] units) is
        never taken: texture, however fine, is not noise.
    floor_factor : float
        Keep only patches within this factor of the photo's noise floor (the
        ``floor_quantile`` of its patches' spreads), so that on a photo without
        flat regions only its flattest patches can pass.
    floor_quantile : float
        Which quantile of a photo's patch spreads is its noise floor.
    capacity : int
        Patches kept; new ones replace the oldest.
    refresh_every : int
        Training steps between harvests at a new random offset (0: never).
    """

    patch: int = 16
    max_std: float = 0.04
    floor_factor: float = 1.5
    floor_quantile: float = 0.05
    capacity: int = 1024
    refresh_every: int = 50


def flat_patches(
    photo: torch.Tensor, spec: NoiseSpec, offset: tuple[int, int] = (0, 0)
) -> tuple[torch.Tensor, int]:
    """The flat patches of ``photo`` (3, H, W), each minus its mean.

    Patches are cut on a grid starting at ``offset``. A patch is kept when its
    luminance spread is below ``spec.max_std`` and within ``floor_factor`` of
    the photo's noise floor, and none of its pixels is clipped at 0 or 1
    (clipping flattens noise, which would understate it).

    Returns
    -------
    Tensor
        The kept patches (N, 3, p, p), possibly N = 0.
    int
        How many patches were looked at.
    """
    p = spec.patch
    img = photo[:, offset[0] :, offset[1] :]
    h, w = img.shape[1] // p * p, img.shape[2] // p * p
    if h == 0 or w == 0:
        return torch.empty(0, 3, p, p), 0
    tiles = img[:, :h, :w].reshape(3, h // p, p, w // p, p).permute(1, 3, 0, 2, 4)
    tiles = tiles.reshape(-1, 3, p, p)
    luma = (tiles * _LUMA).sum(1)
    spread = luma.flatten(1).std(1)
    clipped = ((tiles <= 1 / 255) | (tiles >= 254 / 255)).flatten(1).any(1)
    if bool(clipped.all()):
        return torch.empty(0, 3, p, p), len(tiles)
    # The floor from unclipped patches only: crushed blacks look quieter than
    # the sensor is, and would set the bar below the real noise.
    floor = torch.quantile(spread[~clipped], spec.floor_quantile)
    keep = (spread <= spec.max_std) & (spread <= spec.floor_factor * floor) & ~clipped
    flat = tiles[keep]
    return flat - flat.mean((2, 3), keepdim=True), len(tiles)


class NoisePool:
    """Zero-mean noise patches from the real photos (a ring buffer)."""

    def __init__(self, spec: NoiseSpec) -> None:
        self.spec = spec
        self.patches = torch.empty(0, 3, spec.patch, spec.patch)
        self.next = 0
        #: Patches looked at and patches found flat, over the run (for reports).
        self.seen = 0
        self.found = 0

    def add(self, patches: torch.Tensor, looked_at: int = 0) -> None:
        """Keep ``patches`` (found among ``looked_at``), replacing the oldest."""
        self.seen += looked_at
        self.found += len(patches)
        cap = self.spec.capacity
        for start in range(0, len(patches), cap):
            chunk = patches[start : start + cap]
            room = cap - len(self.patches)
            if room > 0:
                take = chunk[:room]
                self.patches = torch.cat([self.patches, take])
                chunk = chunk[room:]
            for t in chunk:
                self.patches[self.next] = t
                self.next = (self.next + 1) % cap

    def sample(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        """``n`` noise maps (n, 3, h, w), tiled from random patches.

        Each patch is flipped or rotated at random. An empty pool (a camera
        without flat regions, or without noise) gives zeros.
        """
        p = self.spec.patch
        if len(self.patches) == 0:
            return torch.zeros(n, 3, h, w)
        kh, kw = -(-h // p), -(-w // p)
        idx = torch.randint(0, len(self.patches), (n * kh * kw,), generator=g)
        ops = torch.randint(0, 8, (n * kh * kw,), generator=g)
        tiles = torch.stack(
            [dihedral(self.patches[i], int(o)) for i, o in zip(idx, ops, strict=True)]
        )
        grid = tiles.reshape(n, kh, kw, 3, p, p).permute(0, 3, 1, 4, 2, 5)
        return grid.reshape(n, 3, kh * p, kw * p)[:, :, :h, :w].contiguous()

    def state(self) -> dict[str, torch.Tensor]:
        """The pool as tensors (for checkpoints)."""
        return {
            "patches": self.patches.clone(),
            "counters": torch.tensor([self.next, self.seen, self.found]),
        }

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state`."""
        self.patches = state["patches"].clone()
        self.next, self.seen, self.found = (int(v) for v in state["counters"])


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
        x = (x + noise.sample(len(y), x.shape[-2], x.shape[-1], g).to(x)).clamp(0, 1)
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


__all__ = [
    "KernelPool",
    "NoisePool",
    "NoiseSpec",
    "downscale",
    "flat_patches",
    "synthesise",
]
