"""Tiled inference for any upscale callable, with feathered seams.

The callable takes a tensor (1, C, h, w) in [0, 1] and returns (1, C', s*h, s*w).
Tiles overlap by ``overlap`` input pixels; each tile's output is weighted by a
ramp that falls to 0 at its inner edges, so seams blend instead of showing.

Memory, and why it is handled this way:

* The tile edge comes from a budget (:func:`auto_tile`): a method declares the
  peak bytes its network needs per *output* pixel, and the largest tile that
  fits the budget is used.
* A budget is a guess. When a tile still runs out of memory, the whole pass
  restarts with half the tile edge (with a warning Message), down to
  ``min_tile``; out-of-memory strikes on the first tile, because every tile is
  at most that size, so a restart loses little work.
* The result is assembled on the CPU. The blending weights are separable
  (a row ramp times a column ramp on a grid), so their sum is two 1-D vectors,
  not a second full-size image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from engine import device as devices
from engine.events import FloatArray, Message
from engine.jobs import Clock, Job

if TYPE_CHECKING:
    import torch
    from torch import nn

# torch is imported by the functions that run tiles, not by this module: the
# method registry needs TilingNeeds to list methods, and listing them must not
# wait for torch (``unsr methods``, the app's method panel).
UpscaleFn = Callable[["torch.Tensor"], "torch.Tensor"]

#: A fallback for methods that do not declare their peak memory: 64 channels
#: of float32 times a few live feature maps at output resolution.
DEFAULT_BYTES_PER_OUT_PIXEL: Final = 64 * 4 * 4
#: Below this edge a tile is mostly overlap; give up instead.
MIN_TILE: Final = 32
#: Tile edges are rounded down to a multiple of this (friendlier to kernels).
TILE_MULTIPLE: Final = 8


@dataclass(frozen=True)
class TilingNeeds:
    """What a network asks of the tiled pass; the method declares, tiling obeys.

    The same idea as spandrel's size requirements: a method says what its
    network needs and never tiles by itself.

    Attributes
    ----------
    multiple : int
        Tiles (and the image) must be a multiple of this in input pixels (a
        pixel-unshuffle front end); the image is padded and the padding cropped.
    overlap : int
        Overlap between tiles in input pixels; more than the receptive radius.
    bytes_per_out_pixel : float
        The network's peak bytes per output pixel, for :func:`auto_tile`.
    min_tile : int
        The smallest tile edge the network accepts (its own size rule); the
        budget and the out-of-memory back-off never go below :data:`MIN_TILE`.
    whole_image : bool
        The network sees the whole image in one piece (it tiles internally,
        or it is not a network at all, like an interpolator).
    channels_last : bool
        Feed tiles in channels-last layout (pair with a channels-last model).
    bf16 : bool
        Try bf16 autocast; kept only where a crop check stays within
        :data:`engine.device.BF16_TOLERANCE` of fp32.
    """

    multiple: int = 1
    overlap: int = 16
    bytes_per_out_pixel: float = DEFAULT_BYTES_PER_OUT_PIXEL
    min_tile: int = 1
    whole_image: bool = False
    channels_last: bool = False
    bf16: bool = False


class TileMemoryError(MemoryError):
    """Even the smallest allowed tile ran out of memory."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Return True when ``exc`` means an allocation failed (CUDA, MPS or CPU)."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text or "can't allocate memory" in text
    return False


def auto_tile(
    h: int,
    w: int,
    scale: int,
    memory_mb: float,
    bytes_per_out_pixel: float = DEFAULT_BYTES_PER_OUT_PIXEL,
    *,
    min_tile: int = MIN_TILE,
) -> int:
    """Return the largest tile edge (input pixels) whose pass fits the budget.

    Parameters
    ----------
    h, w
        Input size.
    scale
        Upscale factor.
    memory_mb
        Budget for the network's working memory per tile, in MiB (the
        assembled output is not part of it).
    bytes_per_out_pixel
        The network's peak bytes per output pixel, as the method declares.
    min_tile
        Never return less than this.

    Returns
    -------
    int
        ``max(h, w)`` when the whole image fits (one tile), else an edge that
        is a multiple of 8 and at least ``min_tile``.
    """
    if h <= 0 or w <= 0 or scale <= 0:
        raise ValueError(f"bad size {w}x{h} or scale {scale}")
    # Input pixels one tile may hold.
    area = memory_mb * 2**20 / (bytes_per_out_pixel * scale * scale)
    if h * w <= area:
        return max(h, w)
    short, long = min(h, w), max(h, w)
    # A thin image: tiles span the short side and are long along the other.
    thin = short * short <= area
    edge = int(area // short) if thin else math.isqrt(int(area))
    edge = edge // TILE_MULTIPLE * TILE_MULTIPLE
    return max(min_tile, min(edge, long))


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
    import torch

    w = torch.ones(n)
    for size, flip in ((lo, False), (hi, True)):
        size = min(size, n)
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


def _axis(
    length: int, tile: int, overlap: int, scale: int
) -> tuple[list[tuple[int, int, torch.Tensor]], torch.Tensor]:
    """Tiles along one axis as (start, end, ramp) and the ramps' sum (output px)."""
    import torch

    total = torch.zeros(length * scale)
    spans = []
    for a in _starts(length, tile, overlap):
        b = min(a + tile, length)
        ov = overlap * scale
        # Blend only on sides that touch another tile.
        ramp = _ramp((b - a) * scale, ov if a > 0 else 0, ov if b < length else 0)
        total[a * scale : b * scale] += ramp
        spans.append((a, b, ramp))
    return spans, total


def _one_pass(
    fn: UpscaleFn,
    x: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    make_out: Callable[[int], torch.Tensor],
    stage: str = "upscaling tiles",
) -> Job[torch.Tensor]:
    """Run every tile once at edge ``tile`` and blend them into one image.

    ``make_out(channels)`` gives the zeroed (1, C', sH, sW) CPU tensor to
    accumulate into, possibly a strided view (the numpy HWC buffer of
    :func:`upscale_array`); it is called once the first tile shows C'.
    """
    import torch

    _, _, h, w = x.shape
    overlap = min(overlap, tile // 2)
    rows, row_sum = _axis(h, tile, overlap, scale)
    cols, col_sum = _axis(w, tile, overlap, scale)
    out: torch.Tensor | None = None
    clock = Clock(len(rows) * len(cols), stage)
    yield clock.progress(0)
    done = 0
    for y0, y1, wy in rows:
        for x0, x1, wx in cols:
            # inference_mode only around the call: a generator must not leave
            # a thread-local grad mode switched while it is suspended.
            with torch.inference_mode():
                piece = fn(x[:, :, y0:y1, x0:x1])
            piece = piece.detach().to("cpu", torch.float32)
            expected = ((y1 - y0) * scale, (x1 - x0) * scale)
            if piece.ndim != 4 or tuple(piece.shape[2:]) != expected:
                raise ValueError(
                    f"the network returned {tuple(piece.shape)} for a "
                    f"{x1 - x0}x{y1 - y0} tile; expected x{scale}, i.e. "
                    f"(1, C, {expected[0]}, {expected[1]})"
                )
            if out is None:
                out = make_out(piece.shape[1])
            sy, sx = y0 * scale, x0 * scale
            region = out[:, :, sy : sy + expected[0], sx : sx + expected[1]]
            region += piece * (wy[:, None] * wx[None, :])
            del piece
            done += 1
            yield clock.progress(done)
    assert out is not None
    # Every pixel's weight is row_sum[y] * col_sum[x] (separable ramps).
    out.div_(row_sum.clamp_min(1e-8)[:, None]).div_(col_sum.clamp_min(1e-8))
    return out


def _backing_off(
    attempt: Callable[[int], Job[torch.Tensor]], tile: int, min_tile: int
) -> Job[torch.Tensor]:
    """Run ``attempt(tile)``, halving ``tile`` on out-of-memory errors."""
    import torch

    while True:
        try:
            return (yield from attempt(tile))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if tile <= min_tile:
            raise TileMemoryError(
                f"out of memory even with {tile} px tiles ({reason}); close other "
                "programs, or try a smaller scale or another device"
            )
        smaller = max(min_tile, tile // 2)
        yield Message(
            f"out of memory with {tile} px tiles; retrying with {smaller} px tiles",
            level="warning",
            data={"tile": smaller, "previous_tile": tile, "reason": reason},
        )
        tile = smaller


def upscale_tiled(
    fn: UpscaleFn,
    x: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int = 16,
    *,
    min_tile: int = MIN_TILE,
) -> Job[torch.Tensor]:
    """Upscale ``x`` (1, C, H, W) tile by tile and blend the tiles.

    Parameters
    ----------
    fn
        The upscale callable; it is called under ``torch.inference_mode``.
    x
        Input on the device ``fn`` expects.
    scale
        The integer factor ``fn`` applies.
    tile
        Tile edge in input pixels; halved on out-of-memory errors.
    overlap
        Overlap between neighbouring tiles in input pixels.
    min_tile
        The smallest tile edge to back off to.

    Returns
    -------
    torch.Tensor
        (1, C', scale*H, scale*W) on the CPU, float32.

    Raises
    ------
    TileMemoryError
        If a tile of ``min_tile`` still runs out of memory.
    """
    import torch

    _, _, h, w = x.shape

    def make_out(channels: int) -> torch.Tensor:
        return torch.zeros(1, channels, h * scale, w * scale)

    return (
        yield from _backing_off(
            lambda t: _one_pass(fn, x, scale, t, overlap, make_out),
            tile,
            min(min_tile, tile),
        )
    )


def upscale_array(
    fn: UpscaleFn,
    rgb: FloatArray,
    scale: int,
    *,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    memory_mb: float = 768,
    overlap: int = 16,
    bytes_per_out_pixel: float = DEFAULT_BYTES_PER_OUT_PIXEL,
    channels_last: bool = False,
    bf16: bool = False,
    min_tile: int = MIN_TILE,
    stage: str = "upscaling tiles",
) -> Job[FloatArray]:
    """Upscale an (H, W, 3) image with ``fn``, tile by tile, on ``device``.

    This is what methods call for their final pass: the image stays on the CPU
    and only one tile at a time is moved to the device; the output is written
    straight into the (sH, sW, C) array that is returned.

    Parameters
    ----------
    fn
        Maps (1, C, h, w) in [0, 1] on ``device`` to (1, C', s*h, s*w).
    rgb
        float32 (H, W, C) in [0, 1].
    scale
        The factor ``fn`` applies.
    device
        Where ``fn`` runs (a name is resolved with :func:`engine.device.pick`).
    tile
        Tile edge in input pixels; None picks it from ``memory_mb`` and
        ``bytes_per_out_pixel`` (see :func:`auto_tile`).
    memory_mb, bytes_per_out_pixel
        The budget and the network's declared peak bytes per output pixel.
    overlap
        Tile overlap in input pixels; more than the network's receptive radius.
    channels_last
        Feed tiles in channels-last layout (pair with a channels-last model).
    bf16
        Run under bf16 autocast, if a check on a small crop shows the output
        stays within :data:`engine.device.BF16_TOLERANCE` of fp32; otherwise a
        Message says so and fp32 is used.
    min_tile
        The smallest tile to back off to on out-of-memory errors.
    stage
        The Progress stage name of the pass.

    Returns
    -------
    ndarray
        float32 (sH, sW, C') in [0, 1].
    """
    import torch

    if rgb.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {rgb.shape}")
    h, w, _ = rgb.shape
    dev = device if isinstance(device, torch.device) else devices.pick(device)
    if tile is None:
        tile = auto_tile(h, w, scale, memory_mb, bytes_per_out_pixel, min_tile=min_tile)
    x = _nchw_view(rgb)
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def to_device(t: torch.Tensor) -> torch.Tensor:
        return t.to(dev).contiguous(memory_format=fmt)

    use_bf16 = bf16 and (yield from _bf16_holds(fn, _centre(x, 48), to_device))

    def run_tile(t: torch.Tensor) -> torch.Tensor:
        piece = to_device(t)
        if use_bf16:
            with devices.autocast(dev):
                return fn(piece)
        return fn(piece)

    buffer = _OutputBuffer(h * scale, w * scale)
    yield from _backing_off(
        lambda t: _one_pass(run_tile, x, scale, t, overlap, buffer.zeroed, stage),
        tile,
        min(min_tile, tile),
    )
    assert buffer.array is not None
    np.clip(buffer.array, 0.0, 1.0, out=buffer.array)
    return buffer.array


def _nchw_view(rgb: FloatArray) -> torch.Tensor:
    """A (1, C, H, W) view of an (H, W, C) float32 array, not a copy.

    Each tile is made contiguous on its way to the device, and a 12 MP image
    is 144 MB: copying it whole would double the input's memory.
    """
    import torch

    src = np.ascontiguousarray(rgb, np.float32)
    if not src.flags.writeable:
        src = src.copy()  # torch.from_numpy refuses read-only memory
    return torch.from_numpy(src).permute(2, 0, 1)[None]


def _centre(x: torch.Tensor, edge: int) -> torch.Tensor:
    """The central ``edge`` x ``edge`` crop of (1, C, H, W) (smaller if it is)."""
    h, w = x.shape[2:]
    cy, cx = max(0, h // 2 - edge // 2), max(0, w // 2 - edge // 2)
    return x[:, :, cy : cy + edge, cx : cx + edge]


def _bf16_holds(
    fn: UpscaleFn, crop: torch.Tensor, to_device: Callable[[torch.Tensor], torch.Tensor]
) -> Job[bool]:
    """True when bf16 keeps ``fn`` on ``crop`` within tolerance of fp32.

    Otherwise the pass runs in fp32, and a Message says by how much bf16
    missed; where bf16 does not pay on the device (no AMX) there is nothing
    to tell, as every pass there runs in fp32.
    """
    err = devices.bf16_error(fn, to_device(crop))
    if err <= devices.BF16_TOLERANCE:
        return True
    if not math.isinf(err):
        yield Message(
            f"bf16 skipped: off by {err:.4f} against fp32 on a sample (the limit"
            f" is {devices.BF16_TOLERANCE:.4f}); running in fp32",
            data={"bf16_error": err},
        )
    return False


class _OutputBuffer:
    """The (sH, sW, C) numpy output that tiles accumulate into, as NCHW views."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.array: FloatArray | None = None

    def zeroed(self, channels: int) -> torch.Tensor:
        """A zeroed (1, C, sH, sW) view of the array, made when first asked.

        Kept across back-off restarts: allocating 0.5 GB again is not free.
        """
        import torch

        if self.array is None or self.array.shape[2] != channels:
            self.array = np.zeros((self.height, self.width, channels), np.float32)
        else:
            self.array.fill(0.0)
        return torch.from_numpy(self.array).permute(2, 0, 1)[None]


def upscale_declared(
    fn: UpscaleFn,
    rgb: FloatArray,
    scale: int,
    needs: TilingNeeds,
    *,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    memory_mb: float = 768,
    stage: str = "upscaling tiles",
) -> Job[FloatArray]:
    """Upscale (H, W, C) through ``fn`` as ``needs`` declares; the one tiled pass.

    The image is padded (reflect, then edge) to ``needs.multiple`` so that every
    tile sits on the network's grid, tile edge and overlap are kept on that
    grid, and the padding is cropped off the output. ``tile`` (a user's choice)
    wins over the budget except for networks that must see the whole image.

    Returns
    -------
    ndarray
        float32 (sH, sW, C') in [0, 1].
    """
    h, w = rgb.shape[:2]
    m = max(1, needs.multiple)
    floor = max(needs.min_tile, m)
    back_off_floor = max(MIN_TILE, floor)
    if needs.whole_image:
        edge = max(h, w)
    elif tile is not None:
        edge = tile
    else:
        edge = auto_tile(
            h, w, scale, memory_mb, needs.bytes_per_out_pixel, min_tile=back_off_floor
        )
    edge = max(floor, edge // m * m)
    overlap = needs.overlap
    src = rgb
    if m > 1:
        src = pad_to_multiple(rgb, m)
        edge = max(edge, m)
        overlap = min(math.ceil(overlap / m) * m, edge // 2 // m * m)
    if edge >= max(src.shape[:2]):
        edge = max(src.shape[:2])  # one tile: the whole image, with the back-off
    out = yield from upscale_array(
        fn,
        src,
        scale,
        device=device,
        tile=edge,
        overlap=overlap,
        channels_last=needs.channels_last,
        bf16=needs.bf16,
        min_tile=min(back_off_floor, edge),
        stage=stage,
    )
    if out.shape[0] != h * scale or out.shape[1] != w * scale:
        out = np.ascontiguousarray(out[: h * scale, : w * scale])
    return out


def support_radius(modules: Iterable[nn.Module]) -> int:
    """An upper bound of how far the convolutions of ``modules`` reach.

    Every convolution's reach added up, as if they all ran one after another at
    the input's resolution: true of a chain with residual skips, more than
    enough for layers after an upsampler (their pixels are smaller).
    """
    from torch import nn

    reach = 0
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                k, d = m.kernel_size, m.dilation
                reach += max(d[0] * (k[0] - 1), d[1] * (k[1] - 1)) // 2
    return reach


def receptive_radius(
    fn: UpscaleFn,
    modules: Iterable[nn.Module],
    *,
    limit: int = 64,
    tolerance: float = 0.5 / 255,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> int:
    """How far (input pixels) an output pixel of ``fn`` looks, measured.

    A tile's edge pixels see zero padding where the whole image has content;
    an output pixel is right in a tile when everything beyond that distance
    can move it by at most ``tolerance``. The gradient of one output pixel
    (each channel in turn) with respect to a random (1, 3, 2*limit+1, ...)
    input bounds that: the summed absolute gradient beyond radius ``r`` times
    the largest change of an input (1) is the error at first order. Returns
    the smallest such ``r``, at most ``limit``; with ``limit`` at least
    :func:`support_radius`, the probe holds everything the pixel sees.

    Global pooling in ``modules`` (RCAN's channel attention) is held fixed
    during the probe: over a tile it sees the tile's means instead of the
    image's, an effect that tiles of about a hundred pixels make negligible
    (at most 0.02/255 for the demo Maeda checkpoint, the only user).
    """
    import torch
    from torch import nn

    pools = [
        m
        for module in modules
        for m in module.modules()
        if isinstance(m, nn.AdaptiveAvgPool2d)
    ]
    hooks = [p.register_forward_hook(lambda _m, _i, out: out.detach()) for p in pools]
    n = 2 * limit + 1
    gen = torch.Generator().manual_seed(seed)
    try:
        # The probe needs gradients even when a caller runs in inference mode.
        with torch.inference_mode(False), torch.enable_grad():
            x = torch.rand(1, 3, n, n, generator=gen).to(device).requires_grad_(True)
            out = fn(x)
            scale = out.shape[2] // n
            pixel = out[0, :, scale * limit, scale * limit]
            grads = [
                torch.autograd.grad(pixel[c], x, retain_graph=True)[0]
                for c in range(pixel.shape[0])
            ]
    finally:
        for hook in hooks:
            hook.remove()
    maps = [g[0].abs().sum(0).cpu() for g in grads]  # (n, n) per output channel
    reach = (torch.arange(n) - limit).abs()
    distance = torch.maximum(reach[:, None], reach[None, :])
    for r in range(limit + 1):
        outside = distance > r
        if all(float(m[outside].sum()) <= tolerance for m in maps):
            return r
    return limit


def pad_to_multiple(rgb: FloatArray, multiple: int) -> FloatArray:
    """Pad (H, W, C) on the bottom/right to multiples of ``multiple``."""
    h, w = rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return rgb
    widths = ((0, ph), (0, pw), (0, 0))
    # Reflect cannot reach further than the edge minus one; replicate then.
    if ph < h and pw < w:
        padded: FloatArray = np.pad(rgb, widths, mode="reflect")
    else:
        padded = np.pad(rgb, widths, mode="edge")
    return padded


__all__ = [
    "DEFAULT_BYTES_PER_OUT_PIXEL",
    "MIN_TILE",
    "TileMemoryError",
    "TilingNeeds",
    "UpscaleFn",
    "auto_tile",
    "is_out_of_memory",
    "pad_to_multiple",
    "receptive_radius",
    "support_radius",
    "upscale_array",
    "upscale_declared",
    "upscale_tiled",
]
