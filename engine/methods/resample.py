"""Classical interpolation: the bicubic and Lanczos baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from engine.events import FloatArray
from engine.jobs import Job
from engine.methods.base import Method, RunContext, Upscaler, UpscalerFn
from engine.tiling import TilingNeeds

#: The interpolation filters (not to be confused with a blur kernel).
Filter = Literal["bicubic", "lanczos"]
_PIL_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
#: Any integer scale a person might want from an interpolator.
SCALES = tuple(range(1, 9))


@dataclass(frozen=True)
class ResampleParams:
    """Interpolators have nothing to tune; the dataclass keeps the protocol."""


def resize_to(rgb: FloatArray, height: int, width: int, filt: Filter) -> FloatArray:
    """Resize float32 (H, W, C) to an exact size, plane by plane, clamped to [0, 1]."""
    planes = []
    for c in range(rgb.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(rgb[..., c], dtype=np.float32))
        planes.append(np.asarray(plane.resize((width, height), _PIL_FILTERS[filt])))
    out: FloatArray = np.clip(np.stack(planes, axis=2), 0.0, 1.0).astype(np.float32)
    return out


def resize(rgb: FloatArray, scale: int, filt: Filter) -> FloatArray:
    """Resize float32 (H, W, C) by an integer factor, channel by channel.

    Pillow's float ("F") mode keeps full precision and uses the Keys a = -0.5
    cubic that SR papers call bicubic (OpenCV's cubic uses a = -0.75).
    """
    h, w = rgb.shape[:2]
    return resize_to(rgb, h * scale, w * scale, filt)


def _upscaler(filt: Filter) -> UpscalerFn:
    def build(
        rgb: FloatArray, scale: int, params: Any, ctx: RunContext, fitted: Any
    ) -> Job[Upscaler]:
        import torch

        def fn(x: torch.Tensor) -> torch.Tensor:
            # An interpolator is not a network: it sees the whole image at once
            # (no seams to blend) and keeps Pillow's exact filters.
            arr = x[0].permute(1, 2, 0).numpy()
            return torch.from_numpy(resize(arr, scale, filt)).permute(2, 0, 1)[None]

        yield from ()
        needs = TilingNeeds(whole_image=True, overlap=0)
        return Upscaler(fn, scale, needs, stage="interpolating")

    return build


BICUBIC = Method(
    id="bicubic",
    label="Bicubic",
    description=(
        "Plain bicubic interpolation: instant and soft; the baseline to beat."
    ),
    scales=SCALES,
    profiles={"default": ResampleParams()},
    upscaler=_upscaler("bicubic"),
)

LANCZOS = Method(
    id="lanczos",
    label="Lanczos",
    description=(
        "Lanczos-3 interpolation: a little sharper than bicubic, slight ringing."
    ),
    scales=SCALES,
    profiles={"default": ResampleParams()},
    upscaler=_upscaler("lanczos"),
)
