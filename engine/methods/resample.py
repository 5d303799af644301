"""Classical interpolation: the bicubic and Lanczos baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from engine.events import FloatArray, Progress
from engine.jobs import Job
from engine.methods.base import Method, RunContext

Kernel = Literal["bicubic", "lanczos"]
_PIL_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
#: Any integer scale a person might want from an interpolator.
SCALES = tuple(range(1, 9))


@dataclass(frozen=True)
class ResampleParams:
    """Interpolators have nothing to tune; the dataclass keeps the protocol."""


def resize(rgb: FloatArray, scale: int, kernel: Kernel) -> FloatArray:
    """Resize float32 (H, W, C) by an integer factor, channel by channel.

    Pillow's float ("F") mode keeps full precision and uses the Keys a = -0.5
    cubic that SR papers call bicubic (OpenCV's cubic uses a = -0.75).
    """
    h, w = rgb.shape[:2]
    size = (w * scale, h * scale)
    planes = []
    for c in range(rgb.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(rgb[..., c], dtype=np.float32))
        planes.append(np.asarray(plane.resize(size, _PIL_FILTERS[kernel])))
    out: FloatArray = np.clip(np.stack(planes, axis=2), 0.0, 1.0).astype(np.float32)
    return out


def _job(kernel: Kernel) -> Any:
    def run(
        rgb: FloatArray, scale: int, params: ResampleParams, ctx: RunContext
    ) -> Job[FloatArray]:
        yield Progress(0, rgb.shape[2], "interpolating")
        planes = []
        for c in range(rgb.shape[2]):
            planes.append(resize(rgb[..., c : c + 1], scale, kernel)[..., 0])
            yield Progress(c + 1, rgb.shape[2], "interpolating")
        return np.stack(planes, axis=2)

    return run


BICUBIC = Method(
    id="bicubic",
    label="Bicubic",
    description=(
        "Plain bicubic interpolation: instant and soft; the baseline to beat."
    ),
    scales=SCALES,
    profiles={"default": ResampleParams()},
    needs_fit=False,
    run=_job("bicubic"),
)

LANCZOS = Method(
    id="lanczos",
    label="Lanczos",
    description=(
        "Lanczos-3 interpolation: a little sharper than bicubic, slight ringing."
    ),
    scales=SCALES,
    profiles={"default": ResampleParams()},
    needs_fit=False,
    run=_job("lanczos"),
)
