"""The one protocol every long task follows.

A job is a generator: it yields :mod:`engine.events` as it works and returns its
result (``StopIteration.value``). Yields are the cancellation points, so a job
yields at least every ~200 ms of work; closing the generator cancels it, and the
job's ``finally`` blocks clean up so that nothing half-written remains.

>>> job = engine.pipeline.upscale(rgb, engine.methods.get("bicubic"), 2)
>>> result = run(job)              # or iterate and handle the events
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import TypeVar

from engine.events import Event, Progress

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


__all__ = ["YIELD_INTERVAL_S", "Clock", "Job", "run"]
