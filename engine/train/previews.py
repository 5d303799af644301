"""Pictures of a training run's inner state, for Preview events."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mosaic(tiles: torch.Tensor, columns: int = 4, zoom: int = 1) -> torch.Tensor:
    """Lay (N, 3, h, w) tiles out in a grid with 2-px grey gaps; (3, H, W)."""
    n, _, h, w = tiles.shape
    if zoom > 1:
        tiles = F.interpolate(tiles, scale_factor=zoom, mode="nearest")
        h, w = h * zoom, w * zoom
    cols = min(columns, max(n, 1))
    rows = -(-n // cols)
    gap = 2
    out = torch.full((3, rows * (h + gap) - gap, cols * (w + gap) - gap), 0.5)
    for i in range(n):
        r, c = divmod(i, cols)
        out[:, r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = (
            tiles[i]
        )
    return out.clamp(0, 1)


def kernel_tiles(kernels: torch.Tensor) -> torch.Tensor:
    """(N, k, k) kernels as grey tiles (N, 3, k, k), each scaled to its peak."""
    peak = kernels.flatten(1).amax(1).clamp_min(1e-8).view(-1, 1, 1)
    grey = (kernels / peak).clamp(0, 1)
    return grey[:, None].expand(-1, 3, -1, -1)


def noise_tiles(noise: torch.Tensor, gain: float = 4.0) -> torch.Tensor:
    """Zero-mean noise patches made visible: mid-grey plus ``gain`` times them."""
    return (0.5 + gain * noise).clamp(0, 1)


def side_by_side(a: torch.Tensor, b: torch.Tensor, zoom: int = 2) -> torch.Tensor:
    """Two (3, h, w) images next to each other, enlarged, with a gap."""
    return mosaic(torch.stack([a, b]), columns=2, zoom=zoom)


__all__ = ["kernel_tiles", "mosaic", "noise_tiles", "side_by_side"]
