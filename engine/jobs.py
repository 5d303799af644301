"""The one protocol every long task follows.

A job is a generator: it yields :mod:`engine.events` as it works and returns its
result (``StopIteration.value``). Yields are the cancellation points, so a job
yields at least every ~200 ms of work; closing the generator cancels it, and the
job's ``finally`` blocks clean up so that nothing half-written remains.

>>> job = upscale(rgb, "bicubic", scale=2)
>>> result = run(job)              # or iterate and handle the events
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from engine.events import Event, FloatArray, Message, Progress

T = TypeVar("T")
Job = Generator[Event, None, T]

#: How often a job should yield at the least, in seconds.
YIELD_INTERVAL_S = 0.2


def run(job: Job[T], on_event: Callable[[Event], None] | None = None) -> T:
    """Drive ``job`` to its end and return its result.

    Parameters
    ----------
    job
        The generator to consume.
    on_event
        Called with every event, in order; events are dropped when None.

    Returns
    -------
    T
        What the job returned.
    """
    try:
        while True:
            event = next(job)
            if on_event is not None:
                on_event(event)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        job.close()


class Clock:
    """Progress bookkeeping for a loop of ``total`` steps: ETA and throttling.

    The ETA comes from the mean rate since the first step, which is steadier than
    the last step's time and honest about warm-up once a few steps are in.
    """

    def __init__(self, total: int, stage: str, every_s: float = YIELD_INTERVAL_S):
        self.total = total
        self.stage = stage
        self.every_s = every_s
        self._start = time.perf_counter()
        self._last = -float("inf")

    def elapsed(self) -> float:
        """Seconds since the clock was made."""
        return time.perf_counter() - self._start

    def progress(self, step: int) -> Progress:
        """Return a Progress event for ``step`` steps done."""
        eta = None
        if step > 0 and self.total > 0:
            eta = self.elapsed() / step * max(0, self.total - step)
        return Progress(step, self.total, self.stage, eta)

    def due(self) -> bool:
        """Return True (and restart the interval) when ``every_s`` has passed."""
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self._last = now
            return True
        return False


@dataclass(frozen=True, eq=False)
class UpscaleResult:
    """What :func:`upscale` returns.

    Attributes
    ----------
    rgb : ndarray
        float32 (sH, sW, 3) in [0, 1].
    alpha : ndarray or None
        float32 (sH, sW) in [0, 1], when the input had one.
    method : str
        The method id.
    scale : int
        The scale factor applied.
    params : object
        The frozen params dataclass the method ran with.
    seconds : float
        Wall time of the whole job.
    """

    rgb: FloatArray
    alpha: FloatArray | None
    method: str
    scale: int
    params: Any
    seconds: float


def upscale(
    rgb: FloatArray,
    method: str,
    scale: int,
    *,
    alpha: FloatArray | None = None,
    profile: str | None = None,
    params: Any = None,
    context: Any = None,
) -> Job[UpscaleResult]:
    """Upscale one image with a registered method.

    Parameters
    ----------
    rgb
        float32 (H, W, 3) in [0, 1].
    method
        A registry id, see :func:`engine.methods.get`.
    scale
        Integer scale factor; the method must support it.
    alpha
        float32 (H, W) in [0, 1]; upscaled separately (Lanczos) and returned.
    profile
        Name of one of the method's profiles; the method's default when None.
    params
        A params instance that overrides ``profile``.
    context
        An :class:`engine.methods.RunContext`; a default CPU/auto context if None.

    Returns
    -------
    UpscaleResult
        Via ``StopIteration.value``.
    """
    # Imported here so `engine.jobs` stays importable without the method modules.
    from engine.methods import RunContext, get, resample

    start = time.perf_counter()
    spec = get(method)
    spec.check_scale(scale)
    chosen = params if params is not None else spec.params_for(profile)
    ctx = context if context is not None else RunContext()
    yield Message(f"{spec.label} x{scale} on a {rgb.shape[1]}x{rgb.shape[0]} image")
    out = yield from spec.run(np.ascontiguousarray(rgb, np.float32), scale, chosen, ctx)
    out_alpha = None
    if alpha is not None:
        # Alpha is a mask, not a photo: a learned method would invent texture in it.
        up = resample.resize(np.repeat(alpha[..., None], 3, axis=2), scale, "lanczos")
        out_alpha = np.clip(up[..., 0], 0.0, 1.0)
    return UpscaleResult(
        rgb=np.clip(out, 0.0, 1.0).astype(np.float32, copy=False),
        alpha=out_alpha,
        method=spec.id,
        scale=scale,
        params=chosen,
        seconds=time.perf_counter() - start,
    )


__all__ = ["YIELD_INTERVAL_S", "Clock", "Job", "UpscaleResult", "run", "upscale"]
