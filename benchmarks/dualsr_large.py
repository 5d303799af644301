"""DualSR on a 12 MP photo, end to end: time, peak memory, the sampler's setup.

The photo is a 4000x3000 mosaic of scikit-image's colour photos (offline, no
download). Three figures are taken in one process, with the kernel's peak-RSS
counter reset before each (``/proc/self/clear_refs``, Linux):

* the sampler's setup (the even-trimmed copy and both probability maps with
  every crop corner drawn): seconds and peak MB above the RSS before it;
* the whole run as a user starts it (``batch.process_file``: read the PNG, fit,
  the tiled x2 (or x4) pass, write the PNG): seconds per stage and the process's peak
  RSS, which is what has to stay under 3 GB.

Run through ``benchmarks/dualsr.py --large`` (the command is recorded with the
figures).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from skimage import data

from engine import batch, jobs
from engine.events import Event, Message, Progress
from engine.methods.base import RunContext
from engine.methods.dualsr import DUALSR, DualSRParams, sampler
from engine.methods.dualsr.fit import crop_size
from engine.methods.dualsr.method import bicubic_first
from engine.store import Store

#: Colour photos bundled with scikit-image, all at least 300x400.
PHOTOS: tuple[Callable[[], np.ndarray], ...] = (
    data.astronaut,
    data.coffee,
    data.rocket,
    data.chelsea,
    data.immunohistochemistry,
    data.hubble_deep_field,
    data.retina,
    lambda: data.stereo_motorcycle()[0],
)


def mosaic(h: int = 3000, w: int = 4000, tile: tuple[int, int] = (300, 400)) -> Any:
    """A (h, w, 3) uint8 photo tiled from :data:`PHOTOS`, crops shifting per tile."""
    th, tw = tile
    photos = [np.asarray(p())[..., :3] for p in PHOTOS]
    out = np.empty((h, w, 3), np.uint8)
    rng = np.random.default_rng(0)
    n = 0
    for y in range(0, h, th):
        for x in range(0, w, tw):
            img = photos[n % len(photos)]
            n += 1
            oy = int(rng.integers(0, img.shape[0] - th + 1))
            ox = int(rng.integers(0, img.shape[1] - tw + 1))
            piece = img[oy : oy + th, ox : ox + tw]
            out[y : y + th, x : x + tw] = piece[: h - y, : w - x]
    return out


def _mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def sampler_setup(
    rgb: np.ndarray, params: DualSRParams, scale: int = 2
) -> dict[str, float]:
    """Seconds and peak MB (above the RSS before) of the sampler's setup.

    At x4 the fit learns from the photo's bicubic x2, and so does the sampler;
    making that image is counted too.
    """
    _reset_peak()
    before = _mb("VmRSS")
    t0 = time.perf_counter()
    if scale == 4:
        rgb = bicubic_first(rgb)
    c = crop_size(rgb.shape[0], rgb.shape[1], params)
    img = sampler.prepare(rgb, params.border_cut, keep=2 * c)
    plan = sampler.plan(img, c, params.iters * params.batch, seed=0)
    seconds = time.perf_counter() - t0
    peak = _mb("VmHWM") - before
    del plan, img
    return {"sampler_s": seconds, "sampler_peak_mb": peak}


class _Stages:
    """Wall time of each Progress stage of a job."""

    def __init__(self) -> None:
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.steps = 0
        self.said: list[str] = []

    def on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            now = time.perf_counter()
            self.start.setdefault(event.stage, now)
            self.end[event.stage] = now
            if event.stage.startswith("fitting"):
                self.steps = max(self.steps, event.step)
        elif isinstance(event, Message):
            self.said.append(event.text)

    def seconds(self, prefix: str) -> float:
        names = [s for s in self.start if s.startswith(prefix)]
        return sum(self.end[s] - self.start[s] for s in names)


def end_to_end(
    png: Path, params: DualSRParams, device: str, folder: Path, scale: int = 2
) -> dict[str, float]:
    """Read, fit, upscale and write ``png``: seconds per stage, peak RSS."""
    store = Store(folder / "unsr.sqlite")
    stages = _Stages()
    _reset_peak()
    t0 = time.perf_counter()
    job = batch.process_file(
        png, folder / "out.png", DUALSR, scale, params=params,
        context=RunContext(device=device), store=store,
    )  # fmt: skip
    result = jobs.run(job, stages.on_event)
    total = time.perf_counter() - t0
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # x4: 192 MP
    try:
        with Image.open(result.output) as written:
            size = written.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return {
        "total_s": total,
        "fit_s": stages.seconds("fitting"),
        "tiles_s": stages.seconds("upscaling"),
        "peak_rss_mb": _mb("VmHWM"),
        "iters_run": stages.steps,
        "guard": [t for t in stages.said if t.startswith("guard")],
        "out_w": size[0],
        "out_h": size[1],
    }


def run(params: DualSRParams, device: str = "cpu", scale: int = 2) -> dict[str, Any]:
    """All the figures of the 12 MP row at ``scale`` (2, or 4 for the x4 row)."""
    pixels = mosaic()
    rgb = pixels.astype(np.float32) / 255.0
    baseline = _mb("VmRSS")
    figures: dict[str, Any] = {"baseline_rss_mb": baseline}
    figures.update(sampler_setup(rgb, params, scale))
    del rgb
    with tempfile.TemporaryDirectory(prefix="unsr-large-") as tmp:
        png = Path(tmp) / "photo_12mp.png"
        Image.fromarray(pixels).save(png, compress_level=1)
        del pixels
        figures.update(end_to_end(png, params, device, Path(tmp), scale))
    figures["load_avg_1m"] = os.getloadavg()[0]
    figures["iters"] = params.iters
    figures["scale"] = scale
    return figures


__all__ = ["mosaic", "run", "sampler_setup"]
