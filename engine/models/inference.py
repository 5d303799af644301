"""Running a spandrel network on an image: padding, tiles, precision.

The tensor contract is spandrel's: (1, C, H, W) in [0, 1] in, (1, C, sH, sW)
in [0, 1] out. Around it this module adds what a desktop app needs:

* inputs padded (reflect, then replicate) to the model's size requirements,
  with the padding cropped off the output;
* the model's tiling advice declared as :class:`engine.tiling.TilingNeeds`
  ("internal" models see the whole image, "discouraged" ones get big tiles
  and a wide overlap), for the pipeline's one tiled pass;
* bf16 autocast only where a quick check on a crop of the image shows the
  output within 1/255 of fp32; otherwise fp32. The verdict is kept in the
  models index per file and machine, so the check runs once, not per command;
* channels-last tensors on the CPU for the convolutional architectures
  measured in ``benchmarks/models.py`` (oneDNN's convolutions run 1.4-2.5x
  faster on them than on NCHW tensors; the results differ only by float
  rounding).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from engine import device as devices
from engine import tiling
from engine.events import FloatArray
from engine.models import index
from engine.models.info import Precision
from engine.models.loading import LoadedModel, ModelInfo, file_key

#: The largest difference from fp32 accepted for bf16 (one 8-bit level).
BF16_TOLERANCE = 1.0 / 255.0
#: Side of the crop the bf16 check runs on.
CHECK_CROP = 64

# Transformers hold attention maps as well as features; scale their budget.
_ARCH_MEMORY_FACTOR = {
    "SwinIR": 4.0,
    "Swin2SR": 4.0,
    "HAT": 6.0,
    "DAT": 4.0,
    "ATD": 6.0,
    "DRCT": 6.0,
    "RGT": 4.0,
    "GRL": 6.0,
    "IPT": 6.0,
}


def pad_to(x: torch.Tensor, info: ModelInfo) -> torch.Tensor:
    """Pad (1, C, h, w) on the bottom/right to meet the model's size needs.

    Reflect padding keeps image statistics at the border (a model sees a
    plausible continuation, not a black band); reflect cannot pad more than
    the edge minus one, so the rest is replicated.
    """
    h, w = x.shape[-2:]
    m = max(1, info.multiple_of)
    th = math.ceil(max(h, info.min_size) / m) * m
    tw = math.ceil(max(w, info.min_size) / m) * m
    if info.square:
        th = tw = max(th, tw)
    ph, pw = th - h, tw - w
    if ph == 0 and pw == 0:
        return x
    rh, rw = min(ph, h - 1), min(pw, w - 1)
    if rh or rw:
        x = F.pad(x, (0, rw, 0, rh), mode="reflect")
    if ph - rh or pw - rw:
        x = F.pad(x, (0, pw - rw, 0, ph - rh), mode="replicate")
    return x


def _features(info: ModelInfo) -> int:
    for tag in info.tags:
        if tag.endswith("nf") and tag[:-2].isdigit():
            return int(tag[:-2])
    return 64


def bytes_per_out_pixel(info: ModelInfo) -> float:
    """Peak activation bytes per output pixel, for :func:`tiling.auto_tile`.

    Measured with ``benchmarks/models.py`` as it was at commit b0407d4 (peak
    resident memory of a pass; docs/benchmarks.md keeps the table):
    an RRDB x4 net with 64 features peaks near 11.5 KB per input pixel (dense
    blocks at the input size, then 64-channel maps at 2x and 4x), which
    ``4 * nf * (8 + 2.5 s^2)`` covers; the compact SRVGG net keeps its
    features at the input size and needs about a tenth of that,
    ``4 * (3 nf + 6 s^2)``. Other convolutional nets get the RRDB figure (a
    safe side), transformers a factor on top for their attention maps.
    """
    nf, s2 = _features(info), info.scale**2
    if info.arch_id == "Compact":
        per_in_px = 4.0 * (3 * nf + 6 * s2)
    else:
        per_in_px = 4.0 * nf * (8 + 2.5 * s2)
        per_in_px *= _ARCH_MEMORY_FACTOR.get(info.arch_id, 1.0)
    return per_in_px / s2


def needs(info: ModelInfo, overlap: int = 16) -> tiling.TilingNeeds:
    """The model's tiling advice and size rules as declared needs.

    Models that tile internally see the whole image; models that discourage
    tiling get twice the budget (fewer seams: half the bytes declared) and
    twice the overlap. Tiles sit on the model's grid (``multiple_of``).
    """
    discouraged = info.tiling == "discouraged"
    return tiling.TilingNeeds(
        multiple=max(1, info.multiple_of),
        overlap=overlap * (2 if discouraged else 1),
        bytes_per_out_pixel=bytes_per_out_pixel(info) / (2 if discouraged else 1),
        min_tile=max(1, info.min_size),
        whole_image=info.tiling == "internal",
    )


#: Architectures whose CPU convolutions were measured faster channels-last
#: (``benchmarks/models.py``); others keep the NCHW layout spandrel gives them.
CHANNELS_LAST_ARCHS = frozenset({"Compact", "ESRGAN", "SPAN", "RealCUGAN"})
_LAYOUT_LOCK = threading.Lock()


def memory_format(info: ModelInfo, dev: torch.device) -> torch.memory_format:
    """The tensor layout the network runs fastest in on ``dev``."""
    if dev.type == "cpu" and info.arch_id in CHANNELS_LAST_ARCHS:
        return torch.channels_last
    return torch.contiguous_format


def _to_layout(model: torch.nn.Module, fmt: torch.memory_format) -> None:
    """Convert the 4-D weights once; the loaded network is shared and cached."""
    with _LAYOUT_LOCK:
        weights = [p for p in model.parameters() if p.dim() == 4]
        if weights and not weights[0].is_contiguous(memory_format=fmt):
            model.to(memory_format=fmt)


def forward_fn(
    loaded: LoadedModel, dev: torch.device, bf16: bool
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network as (1, 3, h, w) -> (1, 3, sh, sw): padded, on ``dev``, clamped."""
    info = loaded.info
    model = loaded.descriptor.model
    fmt = memory_format(info, dev)
    _to_layout(model, fmt)

    def run_rgb(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        xp = pad_to(x, info).to(dev).contiguous(memory_format=fmt)
        with torch.inference_mode(), devices.autocast(dev, enabled=bf16):
            y: torch.Tensor = model(xp)
            y = y.float().clamp(0.0, 1.0)[..., : h * info.scale, : w * info.scale]
        return y.contiguous()

    if info.input_channels == 1:
        # Grey models see each colour plane on its own.
        def run_planes(x: torch.Tensor) -> torch.Tensor:
            return torch.cat([run_rgb(x[:, c : c + 1]) for c in range(3)], dim=1)

        return run_planes
    return run_rgb


# Verdicts live as long as the loaded network they were measured on.
_BF16_VERDICTS: weakref.WeakKeyDictionary[LoadedModel, dict[str, bool]] = (
    weakref.WeakKeyDictionary()
)
_VERDICT_LOCK = threading.Lock()


def bf16_ok(loaded: LoadedModel, x: torch.Tensor, dev: torch.device) -> bool:
    """Whether bf16 autocast keeps the output within 1/255 of fp32.

    Checked once per loaded network and device on a centre crop of ``x``; a
    model whose arithmetic does not survive bf16 (large activations, long
    residual chains) stays fp32.
    """
    info = loaded.info
    if not info.supports_bfloat16:
        return False
    if dev.type == "cpu" and not devices.cpu_bf16_pays():
        return False  # emulated bf16 is slower than fp32
    if dev.type not in ("cpu", "cuda"):
        return False
    key = str(dev)
    with _VERDICT_LOCK:
        known = _BF16_VERDICTS.get(loaded, {})
        if key in known:
            return known[key]
    h, w = x.shape[-2:]
    side = max(CHECK_CROP, info.min_size)
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    crop = x[..., y0 : y0 + side, x0 : x0 + side]
    ref = forward_fn(loaded, dev, bf16=False)(crop)
    low = forward_fn(loaded, dev, bf16=True)(crop)
    ok = (
        bool(torch.isfinite(low).all())
        and float((ref - low).abs().max()) <= BF16_TOLERANCE
    )
    with _VERDICT_LOCK:
        _BF16_VERDICTS.setdefault(loaded, {})[key] = ok
    return ok


def _bf16_possible(info: ModelInfo, dev: torch.device) -> bool:
    if not info.supports_bfloat16 or dev.type not in ("cpu", "cuda"):
        return False
    return dev.type == "cuda" or devices.cpu_bf16_pays()


def use_bf16(
    loaded: LoadedModel, rgb: FloatArray, dev: torch.device, precision: Precision
) -> bool:
    """Whether to run under bf16: forced, refused, or checked on a crop of ``rgb``.

    The automatic check's verdict is remembered in the models index for this
    file on this machine: it depends on the network's arithmetic and the
    processor, not on the image, and running it costs two passes over a crop,
    which used to double the time of a small job on every command.
    """
    info = loaded.info
    if precision == "fp32":
        return False
    if precision == "bf16":
        return info.supports_bfloat16 and dev.type in ("cpu", "cuda")
    if not _bf16_possible(info, dev):
        return False
    try:
        key: index.Key | None = file_key(info.path)
    except OSError:
        key = None
    machine = devices.machine_key(dev.type, dev.index or 0)
    known = None if key is None else index.decision(key, machine, "bf16")
    if isinstance(known, bool):
        return known
    h, w = rgb.shape[:2]
    side = max(CHECK_CROP, info.min_size)
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    crop = rgb[y0 : y0 + side, x0 : x0 + side].transpose(2, 0, 1)
    ok = bf16_ok(loaded, torch.from_numpy(np.ascontiguousarray(crop))[None], dev)
    if key is not None:
        index.remember_decision(key, machine, "bf16", ok)
    return ok


__all__ = [
    "BF16_TOLERANCE",
    "CHANNELS_LAST_ARCHS",
    "Precision",
    "bf16_ok",
    "bytes_per_out_pixel",
    "forward_fn",
    "memory_format",
    "needs",
    "pad_to",
    "use_bf16",
]
