"""The camera's noise, cut from the flat regions of its photos.

Ji et al. (CVPRW 2020) collect patches whose variance is low, subtract their
mean and add them to the synthetic LR: samples of the camera's noise with its
spatial correlation, its channel coupling and what its JPEG left of it, not a
Gaussian model of it. Two measured refinements (docs/benchmarks.md,
"Estimated degradation"): a patch loses its best-fitting plane, not only its
mean, since a gentle slope (sky, a shaded wall) is scene, not noise; and each
patch keeps its brightness, so that a tile of noise goes where the synthetic
LR is about as bright, as a sensor's noise grows with the signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from engine.train.losses import dihedral

#: Luminance weights (Rec. 601), shaped for (B, 3, H, W).
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class NoiseSpec:
    """How noise patches are cut from the real photos and drawn.

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
    level_window : float
        A tile's patch is drawn from this share of the pool, the patches
        closest to the tile's brightness (0: from the whole pool).
    level_scale : bool
        Scale each drawn patch to the tile's brightness with the pool's
        noise-level function (see :meth:`NoisePool.noise_level`), for the
        brightnesses the photos have no flat patch of.
    """

    patch: int = 16
    max_std: float = 0.04
    floor_factor: float = 1.5
    floor_quantile: float = 0.05
    capacity: int = 1024
    refresh_every: int = 50
    level_window: float = 0.1
    level_scale: bool = True


class NoiseCut(NamedTuple):
    """What one harvest of a photo found.

    Attributes
    ----------
    patches : Tensor
        The flat patches minus their planes, (N, 3, p, p).
    levels : Tensor
        Each patch's mean luminance before, (N,).
    looked_at : int
        How many patches were examined.
    """

    patches: torch.Tensor
    levels: torch.Tensor
    looked_at: int


def _planes(tiles: torch.Tensor) -> torch.Tensor:
    """Each (N, 3, p, p) tile's least-squares plane per channel."""
    p = tiles.shape[-1]
    r = torch.arange(p, dtype=tiles.dtype) - (p - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    basis = torch.stack([torch.ones(p * p), yy.flatten(), xx.flatten()], 1)
    flat = tiles.reshape(-1, p * p).T
    coef = torch.linalg.pinv(basis) @ flat
    out: torch.Tensor = (basis @ coef).T.reshape(tiles.shape)
    return out


def _tiles(
    photo: torch.Tensor, p: int, offset: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Grid tiles (N, 3, p, p), their luminance, spread and clipping flags."""
    img = photo[:, offset[0] :, offset[1] :]
    h, w = img.shape[1] // p * p, img.shape[2] // p * p
    tiles = img[:, :h, :w].reshape(3, h // p, p, w // p, p).permute(1, 3, 0, 2, 4)
    tiles = tiles.reshape(-1, 3, p, p)
    luma = (tiles * LUMA).sum(1)
    clipped = ((tiles <= 1 / 255) | (tiles >= 254 / 255)).flatten(1).any(1)
    return tiles, luma, luma.flatten(1).std(1), clipped


def camera_floor(photos: list[torch.Tensor], spec: NoiseSpec) -> float | None:
    """The noise floor of a set of photos: a low quantile of their patches' spreads.

    Taken over all the photos of a camera, so that a photo without flat
    regions cannot lower the bar to its own texture. Clipped patches do not
    count: crushed blacks look quieter than the sensor is. None without any
    unclipped patch.
    """
    spreads = []
    for photo in photos:
        _, _, spread, clipped = _tiles(photo, spec.patch, (0, 0))
        spreads.append(spread[~clipped])
    found = torch.cat(spreads) if spreads else torch.empty(0)
    if len(found) == 0:
        return None
    return float(torch.quantile(found, spec.floor_quantile))


def flat_patches(
    photo: torch.Tensor,
    spec: NoiseSpec,
    offset: tuple[int, int] = (0, 0),
    floor: float | None = None,
) -> NoiseCut:
    """The flat patches of ``photo`` (3, H, W), each minus its plane.

    Patches are cut on a grid starting at ``offset``. A patch is kept when its
    luminance spread is below ``spec.max_std`` and within ``floor_factor`` of
    the noise floor (``floor``, or the photo's own, see :func:`camera_floor`),
    and none of its pixels is clipped at 0 or 1 (clipping flattens noise,
    which would understate it).
    """
    p = spec.patch
    empty = torch.empty(0, 3, p, p)
    tiles, luma, spread, clipped = _tiles(photo, p, offset)
    if floor is None:
        floor = camera_floor([photo[:, offset[0] :, offset[1] :]], spec)
    if floor is None:
        return NoiseCut(empty, torch.empty(0), len(tiles))
    keep = (spread <= spec.max_std) & (spread <= spec.floor_factor * floor) & ~clipped
    flat = tiles[keep]
    levels = luma[keep].mean((1, 2))
    return NoiseCut(flat - _planes(flat), levels, len(tiles))


class NoisePool:
    """Noise patches from the real photos with their brightness (a ring buffer)."""

    def __init__(self, spec: NoiseSpec) -> None:
        self.spec = spec
        self.patches = torch.empty(0, 3, spec.patch, spec.patch)
        self.levels = torch.empty(0)
        self.next = 0
        #: Patches looked at and patches found flat, over the run (for reports).
        self.seen = 0
        self.found = 0

    def add(self, cut: NoiseCut) -> None:
        """Keep ``cut``'s patches, replacing the oldest beyond the capacity."""
        self.seen += cut.looked_at
        self.found += len(cut.patches)
        cap = self.spec.capacity
        for patch, level in zip(cut.patches, cut.levels, strict=True):
            if len(self.patches) < cap:
                self.patches = torch.cat([self.patches, patch[None]])
                self.levels = torch.cat([self.levels, level[None]])
            else:
                self.patches[self.next], self.levels[self.next] = patch, level
                self.next = (self.next + 1) % cap

    def _pick(
        self, m: int, levels: torch.Tensor | None, g: torch.Generator
    ) -> torch.Tensor:
        """Indices of ``m`` patches, each among the nearest to ``levels`` (m,)."""
        n = len(self.patches)
        if levels is None or self.spec.level_window <= 0:
            return torch.randint(0, n, (m,), generator=g)
        k = max(1, round(self.spec.level_window * n))
        gap = (self.levels[None, :] - levels[:, None]).abs()
        nearest = gap.topk(k, dim=1, largest=False).indices
        pick = torch.randint(0, k, (m, 1), generator=g)
        out: torch.Tensor = nearest.gather(1, pick)[:, 0]
        return out

    def sample(
        self,
        n: int,
        h: int,
        w: int,
        g: torch.Generator,
        levels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``n`` noise maps (n, 3, h, w), tiled from the pool's patches.

        ``levels`` (n, ceil(h / p), ceil(w / p)) is the brightness of each
        tile's place; each patch is flipped or rotated at random. An empty pool
        (a camera without flat regions, or without noise) gives zeros.
        """
        p = self.spec.patch
        if len(self.patches) == 0:
            return torch.zeros(n, 3, h, w)
        kh, kw = -(-h // p), -(-w // p)
        m = n * kh * kw
        target = None if levels is None else levels.flatten()
        idx = self._pick(m, target, g)
        ops = torch.randint(0, 8, (m,), generator=g)
        tiles = torch.stack(
            [dihedral(self.patches[i], int(o)) for i, o in zip(idx, ops, strict=True)]
        )
        if target is not None and self.spec.level_scale:
            tiles = tiles * self._gain(self.levels[idx], target).view(-1, 1, 1, 1)
        grid = tiles.reshape(n, kh, kw, 3, p, p).permute(0, 3, 1, 4, 2, 5)
        return grid.reshape(n, 3, kh * p, kw * p)[:, :, :h, :w].contiguous()

    def noise_level(self) -> tuple[float, float]:
        """The pool's noise-level function: variance = a * brightness + b.

        A least-squares line through the patches' variances against their
        brightness (photon noise grows linearly with the signal, read noise
        does not), with a and b kept non-negative.
        """
        if len(self.patches) < 2:
            return 0.0, float(self.patches.var()) if len(self.patches) else 0.0
        var = (self.patches * LUMA).sum(1).flatten(1).var(1).double()
        x = self.levels.double()
        basis = torch.stack([x, torch.ones_like(x)], 1)
        a, b = torch.linalg.lstsq(basis, var[:, None]).solution[:, 0].tolist()
        if a < 0:
            a, b = 0.0, float(var.mean())
        if b < 0:
            a, b = float((var * x).sum() / (x * x).sum().clamp_min(1e-12)), 0.0
        return a, b

    def _gain(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """How much a patch of brightness ``source`` is scaled at ``target``."""
        a, b = self.noise_level()
        floor = 1e-8
        ratio = (a * target + b).clamp_min(floor) / (a * source + b).clamp_min(floor)
        return ratio.sqrt().clamp(0.25, 4.0).float()

    def state(self) -> dict[str, torch.Tensor]:
        """The pool as tensors (for checkpoints)."""
        return {
            "patches": self.patches.clone(),
            "levels": self.levels.clone(),
            "counters": torch.tensor([self.next, self.seen, self.found]),
        }

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state`."""
        self.patches = state["patches"].clone()
        self.levels = state["levels"].clone()
        self.next, self.seen, self.found = (int(v) for v in state["counters"])


__all__ = ["LUMA", "NoiseCut", "NoisePool", "NoiseSpec", "camera_floor", "flat_patches"]
