"""Tiled inference for any upscale callable, with feathered seams.

The callable takes a tensor (1, C, h, w) in [0, 1] and returns (1, C, s*h, s*w).
Tiles overlap by ``overlap`` input pixels; each tile's output is weighted by a
ramp that falls to ~0 at its inner edges, so seams blend instead of showing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from engine.jobs import Clock, Job

UpscaleFn = Callable[[torch.Tensor], torch.Tensor]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    n = math.ceil((length - tile) / step) + 1
    starts = [min(i * step, length - tile) for i in range(n)]
    return sorted(set(starts))


def _ramp(n: int, lo: int, hi: int) -> torch.Tensor:
    """Weights along one axis for a tile whose sides overlap by ``lo`` / ``hi``.

    The outer half of an overlap is discarded (weight 0): those pixels saw the
    tile's zero padding. The inner half ramps up linearly, so neighbours blend.
    """
    w = torch.ones(n)
    for size, flip in ((lo, False), (hi, True)):
        if size <= 0:
            continue
        cut = size // 2
        blend = size - cut
        side = torch.cat([torch.zeros(cut), (torch.arange(blend) + 0.5) / blend])
        side = side.flip(0) if flip else side
        if flip:
            w[n - size :] = torch.minimum(w[n - size :], side)
        else:
            w[:size] = torch.minimum(w[:size], side)
    return w


def upscale_tiled(
    fn: UpscaleFn,
    x: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int = 16,
) -> Job[torch.Tensor]:
    """Upscale ``x`` (1, C, H, W) tile by tile and blend the tiles.

    Parameters
    ----------
    fn
        The upscale callable; it is called under no particular grad mode.
    x
        Input on the device ``fn`` expects.
    scale
        The integer factor ``fn`` applies.
    tile
        Tile edge in input pixels.
    overlap
        Overlap between neighbouring tiles in input pixels.

    Returns
    -------
    torch.Tensor
        (1, C, scale*H, scale*W) on the CPU, float32.
    """
    _, c, h, w = x.shape
    overlap = min(overlap, tile // 2)
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    out = torch.zeros(1, c, h * scale, w * scale)
    weight = torch.zeros(1, 1, h * scale, w * scale)
    clock = Clock(len(ys) * len(xs), "upscaling tiles")
    done = 0
    yield clock.progress(0)
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            piece = fn(x[:, :, y0:y1, x0:x1]).float().cpu()
            # Blend only on sides that touch another tile.
            ov = overlap * scale
            wy = _ramp(piece.shape[2], ov if y0 > 0 else 0, ov if y1 < h else 0)
            wx = _ramp(piece.shape[3], ov if x0 > 0 else 0, ov if x1 < w else 0)
            wmap = (wy[:, None] * wx[None, :])[None, None]
            sy, sx = y0 * scale, x0 * scale
            out[:, :, sy : sy + piece.shape[2], sx : sx + piece.shape[3]] += (
                piece * wmap
            )
            weight[:, :, sy : sy + piece.shape[2], sx : sx + piece.shape[3]] += wmap
            done += 1
            yield clock.progress(done)
    return out / weight.clamp_min(1e-8)


__all__ = ["UpscaleFn", "upscale_tiled"]
