"""The one bridge between engine jobs and Qt: a QObject running a job in a QThread.

A Python thread cannot be killed, so the job's yields are the cancellation
points: :meth:`Worker.cancel` sets a flag that the loop checks between events,
then closes the generator so its ``finally`` blocks clean up.

Workers run at the window's own priority. The window stays responsive by
design, not by starving the work: the GUI thread only receives events (a
preview arrives converted, the loss plot redraws on a timer), torch releases
the GIL inside its kernels, and heavy imports are warmed up in a worker at
launch. A worker niced below the window crawled whenever anything else ran
on the machine.

:class:`JobHandle` lives in the GUI thread and owns one worker and its thread
(superqt's ``new_worker_qthread`` wiring; PySide owns the Python-made
objects, so they are released by reference once the thread has ended rather
than with ``deleteLater``). It re-emits the worker's signals in
the GUI thread and emits the terminal signal (``finished``, ``failed`` or
``cancelled``) only once the thread has ended, so whoever reacts to it never
races a thread that is still running.
"""

from __future__ import annotations

import asyncio
import threading
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from unsr_app.qimage import array_to_qimage

JobFactory = Callable[[], Generator[Any, None, Any]]
Outcome = tuple[Literal["finished", "failed", "cancelled"], Any]


@dataclass(frozen=True)
class PreviewFrame:
    """A job's Preview as a QImage.

    Made in the worker thread: converting a large float image would stall the
    GUI thread. ``box`` is where it belongs in the input (input pixels, see
    :class:`engine.events.Preview`); ``pixels`` keeps the float data so live
    metrics score what the engine made, not its 8-bit display.
    """

    step: int
    label: str
    image: QImage
    box: tuple[float, float, float, float] | None = None
    pixels: Any = None


# Every thread started here until it has ended; tests check it is empty.
_LIVE: set[QThread] = set()


def live_threads() -> list[QThread]:
    """Threads started by :class:`JobHandle` that have not finished yet."""
    return [t for t in _LIVE if t.isRunning()]


# Handles kept alive until their threads end, whoever made them: a stopped
# job's handle must outlive the runner that let it go.
_ORPHANS: set[JobHandle] = set()


def keep_until_ended(handle: JobHandle) -> None:
    """Own ``handle`` here until its thread has ended, then let Qt delete it.

    A stopped job's thread runs on to its next yield; its handle must not be
    deleted with its parent meanwhile (a QThread destroyed while running
    aborts the process).
    """
    handle.setParent(None)
    _ORPHANS.add(handle)

    def ended(*_: object) -> None:
        _ORPHANS.discard(handle)
        handle.deleteLater()

    for signal in (handle.finished, handle.failed, handle.cancelled):
        signal.connect(ended)


def wait_all(ms: int = 15000) -> bool:
    """Block until every job thread has ended (at exit); True when they have."""
    return all(t.wait(ms) for t in live_threads())


class Worker(QObject):
    """Consume one job in whatever thread this object lives in.

    The factory is called inside :meth:`run`, so the job's imports (torch, the
    method modules) happen off the GUI thread.
    """

    progressed = Signal(object)
    losses = Signal(object)
    preview = Signal(object)
    kernel = Signal(object)
    message = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, factory: JobFactory) -> None:
        super().__init__()
        self._factory = factory
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next yield (thread-safe)."""
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        """Run the job to its end, cancellation or error; always emit ``done``."""
        from engine.events import Kernel, Losses, Message, Preview, Progress

        routes: dict[type, Any] = {
            Progress: self.progressed,
            Losses: self.losses,
            Preview: self.preview,
            Kernel: self.kernel,
            Message: self.message,
        }
        job = None
        try:
            if self._cancel.is_set():
                self.cancelled.emit()
                return
            job = self._factory()
            while True:
                event = next(job)
                route = routes.get(type(event))
                if isinstance(event, Preview):
                    image = array_to_qimage(event.image)
                    frame = PreviewFrame(
                        event.step, event.label, image, event.box, event.image
                    )
                    self.preview.emit(frame)
                elif route is not None:
                    route.emit(event)
                if self._cancel.is_set():
                    job.close()
                    self.cancelled.emit()
                    return
        except StopIteration as stop:
            self.finished.emit(stop.value)
        except Exception as exc:  # any job error becomes the item's reason
            self.failed.emit(_reason(exc))
        finally:
            if job is not None:
                job.close()
            # Home to the GUI thread, so Python may free it there once the
            # thread has ended (a deleteLater here would race Python's own
            # ownership of the wrapper and free it twice).
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.done.emit()


def _reason(exc: BaseException) -> str:
    """A one-line reason for the user; the traceback's last frame for bugs."""
    text = str(exc).strip() or type(exc).__name__
    # The engine's own errors (ImageError, MethodError, ...) are written for
    # people and name the file; so are the usual OS and value errors.
    if type(exc).__module__.startswith("engine") or isinstance(
        exc, ValueError | OSError | MemoryError
    ):
        return text
    frame = traceback.extract_tb(exc.__traceback__)[-1:]
    where = (
        f" ({frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno})" if frame else ""
    )
    return f"{type(exc).__name__}: {text}{where}"


class JobHandle(QObject):
    """One job in its own thread, seen from the GUI thread.

    Parameters
    ----------
    factory
        Called in the worker thread; returns the job generator.
    """

    progressed = Signal(object)
    losses = Signal(object)
    preview = Signal(object)
    kernel = Signal(object)
    message = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, factory: JobFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._outcome: Outcome | None = None
        self._pending: Outcome = ("failed", "the job ended without a result")
        self._thread: QThread | None = QThread()
        self._worker: Worker | None = Worker(factory)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # Bound slots of this GUI-thread object: Qt queues every call here.
        self._worker.progressed.connect(self._on_worker_progressed)
        self._worker.losses.connect(self._on_worker_losses)
        self._worker.preview.connect(self._on_worker_preview)
        self._worker.kernel.connect(self._on_worker_kernel)
        self._worker.message.connect(self._on_worker_message)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        self._worker.cancelled.connect(self._on_worker_cancelled)
        # Direct: QThread.quit is thread-safe, and the thread must end even
        # while the GUI thread is blocked waiting for it (closing the window).
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    @property
    def outcome(self) -> Outcome | None:
        """How the job ended, once its thread has finished."""
        return self._outcome if self._thread is None else None

    def start(self) -> None:
        """Start the thread (and so the job)."""
        if self._thread is not None:
            _LIVE.add(self._thread)
            self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next yield."""
        if self._worker is not None:
            self._worker.cancel()

    def is_running(self) -> bool:
        """True from :meth:`start` until the thread has ended."""
        return self._thread is not None and self._thread.isRunning()

    def wait(self, ms: int = 5000) -> bool:
        """Block until the thread ends (for shutdown); True when it has."""
        return self._thread is None or self._thread.wait(ms)

    async def result(self) -> Outcome:
        """Await the job's end in a qasync loop: ("finished", value) and so on."""
        if self.outcome is not None:
            return self.outcome
        loop = asyncio.get_event_loop()
        future: asyncio.Future[Outcome] = loop.create_future()

        def settle(
            kind: Literal["finished", "failed", "cancelled"], value: Any
        ) -> None:
            if not future.done():
                future.set_result((kind, value))

        self.finished.connect(lambda v: settle("finished", v))
        self.failed.connect(lambda v: settle("failed", v))
        self.cancelled.connect(lambda: settle("cancelled", None))
        return await future

    @Slot(object)
    def _on_worker_progressed(self, event: object) -> None:
        self.progressed.emit(event)

    @Slot(object)
    def _on_worker_losses(self, event: object) -> None:
        self.losses.emit(event)

    @Slot(object)
    def _on_worker_preview(self, event: object) -> None:
        self.preview.emit(event)

    @Slot(object)
    def _on_worker_kernel(self, event: object) -> None:
        self.kernel.emit(event)

    @Slot(object)
    def _on_worker_message(self, event: object) -> None:
        self.message.emit(event)

    @Slot(object)
    def _on_worker_finished(self, value: object) -> None:
        self._pending = ("finished", value)

    @Slot(str)
    def _on_worker_failed(self, reason: str) -> None:
        self._pending = ("failed", reason)

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self._pending = ("cancelled", None)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.wait()  # `finished` comes from the thread just before it ends
            _LIVE.discard(thread)
        # Python owns both objects: dropping them once the thread has ended
        # frees them in this thread, which is what deleteLater would do.
        self._thread = self._worker = None
        self._outcome = self._pending
        kind, value = self._outcome
        if kind == "finished":
            self.finished.emit(value)
        elif kind == "failed":
            self.failed.emit(value)
        else:
            self.cancelled.emit()
