"""Handing files to the cluster: one task per image, or a pool of slots.

Both schedulers answer the same three calls: :meth:`busy`, :meth:`poll` (hand
out work, wait at most ``timeout`` seconds, return what finished) and
:meth:`close` (cancel what is still running). A result is ``(item, outcome,
lost)``: the worker's :class:`~engine.cluster.spec.FileOutcome`, or None and
the reason the file was given up after its worker died too often.

* :class:`Tasks`: a fit (DualSR) is minutes of work per image, so each image
  is one Ray task: largest first (the longest jobs do not end up alone at
  the end), a bounded number in flight (the controller's memory and the
  object store do not grow with the batch), and Ray re-runs a task whose
  worker or node died.
* :class:`Slots`: a pretrained model costs seconds to load and well under a
  second per photo, so each CPU/GPU slot gets one actor that loads it once,
  with a couple of files queued so it never waits for the controller. When a
  slot dies with its node, its files go back to the front of the queue and a
  replacement slot is asked for (it starts when the cluster has room).
"""

from __future__ import annotations

import contextlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.cluster import remote
from engine.cluster.connect import import_ray
from engine.cluster.spec import ClusterError, ClusterOptions, FileOutcome, Item

Result = tuple[Item, FileOutcome | None, str | None]


class Scheduler(Protocol):
    """What the controller needs of a scheduler."""

    def busy(self) -> bool:
        """True while files are queued or running."""
        ...

    def poll(self, timeout: float) -> list[Result]:
        """Hand out work, wait up to ``timeout`` s, return what finished."""
        ...

    def running(self) -> int:
        """Files being worked on right now."""
        ...

    def requeued(self) -> int:
        """Files handed out again after their worker was lost."""
        ...

    def close(self) -> None:
        """Cancel what still runs."""
        ...


def slots(options: ClusterOptions) -> int:
    """How many jobs the cluster runs at once with the requested reservation.

    Raises
    ------
    ClusterError
        GPUs are requested and the cluster has none.
    """
    resources = import_ray().cluster_resources()
    if options.gpus_per_job > 0:
        gpus = float(resources.get("GPU", 0))
        if gpus <= 0:
            raise ClusterError("--gpus-per-job was given, but the cluster has no GPU")
        return max(1, int(gpus / options.gpus_per_job))
    return max(1, int(float(resources.get("CPU", 0)) / options.cpus_per_job))


def _ready(refs: list[Any], timeout: float) -> list[Any]:
    """The refs that are finished: wait for one, then take all that are done."""
    ray = import_ray()
    ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
    if ready and rest:
        more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
        ready += more
    return list(ready)


def _lost(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else type(exc).__name__
    return f"its worker was lost ({type(exc).__name__}: {detail})"


class Tasks:
    """One Ray task per image, in the given order, a bounded number in flight."""

    def __init__(
        self, items: Sequence[Item], spec: Any, options: ClusterOptions, n: int
    ) -> None:
        ray = import_ray()
        self.queue = deque(items)
        self.inflight: dict[Any, Item] = {}
        self.limit = max(1, n * options.in_flight_per_slot)
        self.spec = ray.put(spec)  # shipped once, not pickled into each task
        self.task = remote.fit_one.options(
            num_cpus=options.cpus_per_job,
            num_gpus=options.gpus_per_job,
            max_retries=options.retries,
            retry_exceptions=False,
        )

    def busy(self) -> bool:
        """True while files are queued or running."""
        return bool(self.queue or self.inflight)

    def running(self) -> int:
        """Files handed to Ray and not back yet."""
        return len(self.inflight)

    def requeued(self) -> int:
        """Unknown here: Ray re-runs a lost task by itself; 0."""
        return 0

    def poll(self, timeout: float) -> list[Result]:
        """Top up the tasks in flight, then collect those that finished."""
        ray = import_ray()
        while self.queue and len(self.inflight) < self.limit:
            item = self.queue.popleft()
            self.inflight[self.task.remote(item, self.spec)] = item
        results: list[Result] = []
        if not self.inflight:
            return results
        for ref in _ready(list(self.inflight), timeout):
            item = self.inflight.pop(ref)
            try:
                results.append((item, ray.get(ref), None))
            except ray.exceptions.RayError as exc:  # retried by Ray already
                results.append((item, None, _lost(exc)))
        return results

    def close(self) -> None:
        """Cancel the tasks still in flight (their workers are stopped)."""
        ray = import_ray()
        for ref in self.inflight:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self.inflight.clear()
        self.queue.clear()


@dataclass(eq=False)
class _Slot:
    handle: Any
    up: Any | None  # the ref that resolves when the actor has started
    inflight: dict[Any, Item] = field(default_factory=dict)
    node: str = ""


class Slots:
    """One actor per slot that loads the method once; files stream through."""

    def __init__(
        self, items: Sequence[Item], spec: Any, options: ClusterOptions, n: int
    ) -> None:
        ray = import_ray()
        self.queue = deque(items)
        self.depth = max(1, options.in_flight_per_slot)
        self.retries = options.retries
        self.spec = ray.put(spec)
        self.factory = remote.Slot.options(
            num_cpus=options.cpus_per_job,
            num_gpus=options.gpus_per_job,
            max_restarts=0,
        )
        self.spares = 2 * n  # replacements for slots lost with their node
        self.lost: Counter[int] = Counter()
        self.slots = [self._start() for _ in range(n)]

    def _start(self) -> _Slot:
        handle = self.factory.remote(self.spec)
        return _Slot(handle, handle.node.remote())

    def busy(self) -> bool:
        """True while files are queued or running."""
        return bool(self.queue) or any(s.inflight for s in self.slots)

    def running(self) -> int:
        """Files handed to slots and not back yet."""
        return sum(len(s.inflight) for s in self.slots)

    def requeued(self) -> int:
        """Files handed out again after their slot was lost."""
        return sum(self.lost.values())

    def _feed(self) -> None:
        for slot in self.slots:
            while slot.up is None and self.queue and len(slot.inflight) < self.depth:
                item = self.queue.popleft()
                slot.inflight[slot.handle.run.remote(item)] = item

    def poll(self, timeout: float) -> list[Result]:
        """Keep every started slot fed, then collect the files that finished."""
        ray = import_ray()
        self._feed()
        waiting: dict[Any, _Slot] = {}
        for slot in self.slots:
            waiting.update(dict.fromkeys(slot.inflight, slot))
            if slot.up is not None:
                waiting[slot.up] = slot
        results: list[Result] = []
        if not waiting:
            return results
        for ref in _ready(list(waiting), timeout):
            slot = waiting[ref]
            if slot not in self.slots:
                continue  # buried earlier in this loop
            try:
                value = ray.get(ref)
            except ray.exceptions.RayError as exc:
                self._bury(slot, exc, results)
                continue
            if ref == slot.up:
                slot.up, slot.node = None, str(value)
            else:
                results.append((slot.inflight.pop(ref), value, None))
        return results

    def _bury(self, slot: _Slot, exc: BaseException, results: list[Result]) -> None:
        """A slot died (its node, its process): requeue its files, ask for another."""
        ray = import_ray()
        self.slots.remove(slot)
        with contextlib.suppress(Exception):
            ray.kill(slot.handle)
        for item in slot.inflight.values():
            self.lost[item.index] += 1
            if self.lost[item.index] > self.retries:
                results.append((item, None, _lost(exc)))
            else:
                self.queue.appendleft(item)
        if self.spares > 0:
            self.spares -= 1
            self.slots.append(self._start())
        elif not self.slots:
            while self.queue:
                item = self.queue.popleft()
                results.append((item, None, "no worker is left in the cluster"))

    def close(self) -> None:
        """Stop every slot (files in flight are abandoned; claims are released)."""
        ray = import_ray()
        for slot in self.slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.handle)
        self.slots.clear()
        self.queue.clear()


__all__ = ["Result", "Scheduler", "Slots", "Tasks", "slots"]
