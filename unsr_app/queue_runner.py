"""The queue as a coroutine: one job at a time, each awaited, failures go on.

The runner knows nothing about widgets. It takes queue items and a request,
runs one :class:`~unsr_app.worker.JobHandle` per item, and re-emits what the
jobs say, tagged with the item, so the window can route it.

Stop is immediate for the window: the item is cancelled and the batch ends at
once, while the job's thread closes the job at its next yield in the
background (a torch step cannot be interrupted halfway). The next batch waits
for that thread before it starts, so two jobs never run at once. Stop and keep
asks the running job to finish early with what it has (see
:attr:`engine.methods.base.RunContext.finish_early`) and skips the rest.

With a cluster address the whole batch is one job instead
(:func:`unsr_app.cluster.cluster_batch_job`): the engine's controller runs in
the worker's thread, hands the files to Ray and says how each one ended; the
runner maps those answers back onto the queue items.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from unsr_app import cluster
from unsr_app.job_factories import FileJobs
from unsr_app.requests import QueueItem, RunRequest
from unsr_app.worker import JobHandle, keep_until_ended

#: Makes the job for one item: (input path, request, dropped root, finish
#: early) -> job. The event is set for "stop and keep".
ItemJobFactory = Callable[
    [Path, RunRequest, Path | None, threading.Event], Generator[Any, None, Any]
]


#: The signals a stopped item's job says no more through.
_ALL = ("progressed", "losses", "preview", "kernel", "message")


class QueueRunner(QObject):
    """Run queue items one after the other.

    Parameters
    ----------
    factory
        Makes the job for one item; None runs the real file jobs
        (:class:`~unsr_app.job_factories.FileJobs`, one per batch).
    needs_fit
        Whether a method id fits before it upscales (for the item's status).

    Signals
    -------
    item_changed(item)
        The item's status or detail changed.
    item_started(item, index, count)
        Work on an item began.
    progressed / losses / preview / kernel / message (item, event)
        What the current job yields.
    batch_finished(done, failed, cancelled)
        The batch ended; ``cancelled`` is True when Stop ended it.
    late_result(item, outcome)
        A stopped item's job finished all the same (Stop came while it wrote
        its result): the file exists.
    drained()
        A stopped cluster batch's job has ended: the files it finished are
        all in the run history now.
    """

    item_changed = Signal(object)
    item_started = Signal(object, int, int)
    progressed = Signal(object, object)
    losses = Signal(object, object)
    preview = Signal(object, object)
    kernel = Signal(object, object)
    message = Signal(object, object)
    item_finished = Signal(object, object)
    batch_finished = Signal(int, int, bool)
    late_result = Signal(object, object)
    drained = Signal()

    def __init__(
        self,
        factory: ItemJobFactory | None = None,
        needs_fit: Callable[[str], bool] = lambda _: False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory = factory
        self._needs_fit = needs_fit
        self._task: asyncio.Task[None] | None = None
        self._handle: JobHandle | None = None
        self._stopping = False
        self._finish = threading.Event()
        self._address = ""  # the cluster of the batch under way ("" here)
        self._release: asyncio.Future[None] | None = None
        # Stopped jobs whose threads have not ended yet.
        self._draining: dict[JobHandle, asyncio.Future[Any]] = {}

    def is_running(self) -> bool:
        """True while a batch is under way."""
        return self._task is not None and not self._task.done()

    def start(
        self, items: Sequence[QueueItem], request: RunRequest, address: str = ""
    ) -> bool:
        """Schedule a batch on the running qasync loop; False if one runs.

        ``address`` names a Ray cluster (see :mod:`unsr_app.cluster`) to run
        the batch on; empty runs it here, one item after another.
        """
        if self.is_running():
            return False
        self._address = address
        batch = (
            self.run_on_cluster(list(items), request, address)
            if address
            else self.run(list(items), request)
        )
        self._task = asyncio.ensure_future(batch)
        return True

    def stop(self) -> None:
        """Cancel the current job and skip the items not started yet.

        The item is reported cancelled at once; its thread ends at the job's
        next yield (see :meth:`is_draining`).
        """
        self._stopping = True
        if self._handle is not None:
            self._handle.cancel()
        if self._release is not None and not self._release.done():
            self._release.set_result(None)

    def finish_now(self) -> None:
        """Stop and keep: the current job ends early with its result so far.

        A fit stops at its next step and upscales with what it has learnt;
        the items not started yet are skipped.
        """
        self._stopping = True
        self._finish.set()

    def on_cluster(self) -> bool:
        """True while the batch under way runs on a cluster."""
        return self.is_running() and bool(self._address)

    def is_finishing(self) -> bool:
        """True once :meth:`finish_now` was asked during this batch."""
        return self._finish.is_set()

    def is_draining(self) -> bool:
        """True while a stopped job's thread is still ending."""
        return bool(self._draining)

    def shutdown(self, ms: int = 3000) -> None:
        """Stop and wait for the worker threads (window closing)."""
        self.stop()
        for handle in [self._handle, *self._draining]:
            if handle is not None:
                handle.cancel()
                handle.wait(ms)

    async def run(self, items: list[QueueItem], request: RunRequest) -> None:
        """Process ``items`` in order; each failure is recorded and skipped."""
        self._stopping = False
        self._finish.clear()
        if self._draining:  # a stopped job's thread is still ending
            await asyncio.wait(list(self._draining.values()))
        done = failed = 0
        # A reused fit (one fit for a whole shoot) leaves only the tiled pass.
        fitting = self._needs_fit(request.method) and request.reuse is None
        # The real jobs resolve the method once for the whole batch.
        factory = self._factory if self._factory is not None else FileJobs()
        for index, item in enumerate(items):
            if self._stopping:
                break
            self._set(item, "fitting" if fitting else "upscaling", "")
            self.item_started.emit(item, index, len(items))
            kind, value = await self._run_item(item, request, factory)
            if kind == "finished":
                done += 1
                item.output = getattr(value, "output", None)
                item.run_id = getattr(value, "run_id", None)
                name = item.output.name if item.output else ""
                self._set(item, "done", name)
                self.item_finished.emit(item, value)
            elif kind == "failed":
                failed += 1
                self._set(item, "failed", str(value))
            else:
                self._set(item, "cancelled", "stopped")
        self.batch_finished.emit(done, failed, self._stopping)

    async def run_on_cluster(
        self, items: list[QueueItem], request: RunRequest, address: str
    ) -> None:
        """Run ``items`` as one batch on the Ray cluster at ``address``.

        Each item is settled by the file's answer from the cluster (done, or
        failed with the reason); Stop cancels the whole batch at once, and a
        file the cluster finished as Stop came is reported late, as here.
        """
        self._stopping = False
        self._finish.clear()
        if self._draining:  # a stopped job's thread is still ending
            await asyncio.wait(list(self._draining.values()))
        for item in items:
            self._set(item, "queued", "on the cluster")
        pairs = [(item.path, item.root) for item in items]
        ended = {"batch": False}

        def job() -> Generator[Any, None, Any]:
            return cluster.cluster_batch_job(pairs, request, address)

        def said(event: Any) -> None:
            outcome = cluster.file_result(event)
            if outcome is None or not 0 <= outcome.index < len(items):
                if not ended["batch"]:
                    self.message.emit(None, event)
                return
            item = items[outcome.index]
            status, detail = cluster.status_of(outcome)
            item.output = Path(outcome.output) if status == "done" else None
            item.run_id = None  # the controller records runs in batches
            self._set(item, status, detail)
            if status == "done":
                signal = self.late_result if ended["batch"] else self.item_finished
                signal.emit(item, outcome)

        handle = JobHandle(job, self)
        handle.progressed.connect(lambda e: self.progressed.emit(None, e))
        handle.message.connect(said)
        # Stopped, it keeps saying which files were done: late answers count.
        kind, value = await self._follow(handle, None, mute=("progressed",))
        ended["batch"] = True
        for item in items:
            if item.status != "queued":
                continue
            if kind == "cancelled":
                self._set(item, "cancelled", "stopped")
            else:
                self._set(item, "failed", _unanswered(item.path, kind, value))
        done = sum(item.status == "done" for item in items)
        failed = sum(item.status == "failed" for item in items)
        self.batch_finished.emit(done, failed, self._stopping)

    async def _run_item(
        self, item: QueueItem, request: RunRequest, factory: ItemJobFactory
    ) -> Any:
        finish = self._finish

        def job() -> Generator[Any, None, Any]:
            return factory(item.path, request, item.root, finish)

        handle = JobHandle(job, self)
        handle.progressed.connect(lambda e: self._on_progress(item, e))
        handle.losses.connect(lambda e: self.losses.emit(item, e))
        handle.preview.connect(lambda e: self.preview.emit(item, e))
        handle.kernel.connect(lambda e: self.kernel.emit(item, e))
        handle.message.connect(lambda e: self.message.emit(item, e))
        return await self._follow(handle, item)

    async def _follow(
        self, handle: JobHandle, item: QueueItem | None, mute: Sequence[str] = _ALL
    ) -> Any:
        """Start ``handle``'s job and await its end, or Stop, whichever first.

        On Stop the job is let go ("cancelled" at once) and its thread is
        drained in the background, its signals named in ``mute``
        disconnected.
        """
        self._handle = handle
        loop = asyncio.get_event_loop()
        self._release = release = loop.create_future()
        ended = _ended(handle, loop)
        handle.start()
        if self._stopping and not self._finish.is_set():  # Stop between two items
            handle.cancel()
            release.set_result(None)
        try:
            await asyncio.wait({ended, release}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._handle = self._release = None
        if ended.done():
            handle.deleteLater()
            return ended.result()
        self._drain(item, handle, ended, mute)
        return ("cancelled", None)

    def _drain(
        self,
        item: QueueItem | None,
        handle: JobHandle,
        ended: asyncio.Future[Any],
        mute: Sequence[str] = _ALL,
    ) -> None:
        """Keep a stopped job's handle until its thread has ended.

        ``item`` None is a cluster batch: its late answers come through the
        signals not named in ``mute``, not its result.
        """
        self._draining[handle] = ended
        # What it still says belongs to a stopped item: the window moved on.
        for name in mute:
            getattr(handle, name).disconnect()

        keep_until_ended(handle)

        def gone() -> None:
            if not shiboken6.isValid(self):
                return  # the runner went first (its window closed)
            self._draining.pop(handle, None)
            kind, value = handle.outcome or ("cancelled", None)
            if item is None:  # a cluster batch: its history is written now
                self.drained.emit()
            elif kind == "finished":
                item.output = getattr(value, "output", None)
                item.run_id = getattr(value, "run_id", None)
                self._set(item, "done", item.output.name if item.output else "")
                self.late_result.emit(item, value)

        # Qt signals, not the asyncio future: they arrive even once the loop
        # that started the batch has closed.
        handle.finished.connect(lambda _v: gone())
        handle.failed.connect(lambda _r: gone())
        handle.cancelled.connect(gone)

    def _on_progress(self, item: QueueItem, event: Any) -> None:
        stage = str(getattr(event, "stage", "")).lower()
        status = "fitting" if ("fit" in stage or "train" in stage) else "upscaling"
        if item.status != status and item.status in ("fitting", "upscaling"):
            self._set(item, status, "")
        self.progressed.emit(item, event)

    def _set(self, item: QueueItem, status: Any, detail: str) -> None:
        item.status = status
        item.detail = detail
        self.item_changed.emit(item)


def _unanswered(path: Path, kind: str, value: Any) -> str:
    """Why an item of a cluster batch has no answer of its own."""
    if kind == "failed":
        return str(value)  # the batch could not run: no cluster, a bad node
    for source, reason in getattr(value, "failed", ()):
        if Path(source) == path:
            return str(reason)
    for source, reason in getattr(value, "skipped", ()):
        if Path(source) == path:
            return f"skipped, {reason}"
    return "the cluster sent no result for it"


def _ended(handle: JobHandle, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    """A future of ``handle``'s outcome, settled when its thread has ended."""
    ended: asyncio.Future[Any] = loop.create_future()

    def settle(*_: object) -> None:
        if not ended.done() and not loop.is_closed():
            ended.set_result(handle.outcome)

    handle.finished.connect(settle)
    handle.failed.connect(settle)
    handle.cancelled.connect(settle)
    return ended
