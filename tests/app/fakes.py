"""Fake jobs and async helpers for the studio's tests."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from engine.events import Kernel, Losses, Message, Preview, Progress
from unsr_app.requests import FileOutcome, MethodInfo, RunRequest


def run_async(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], timeout: float = 20
) -> Any:
    """Run ``coro`` on the qasync loop (Qt events are processed meanwhile)."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def next_emission(
    signal: Any, timeout: float = 20
) -> Coroutine[Any, Any, tuple[Any, ...]]:
    """Listen to a Qt signal now; await the result for its next arguments.

    Connecting at once (not when awaited) means an emission that comes before
    the await is not missed.
    """
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_event_loop().create_future()

    def fire(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(fire)

    async def wait() -> tuple[Any, ...]:
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            signal.disconnect(fire)

    return wait()


def fake_fit(
    path: Path,
    request: RunRequest,
    root: Path | None = None,
    finish: Any = None,
    steps: int = 3,
) -> Generator[Any, None, FileOutcome]:
    """A tiny fit: progress, losses, a preview and a kernel per step.

    Files whose name contains "bad" fail the way a bad image does.
    """
    if "bad" in path.name:
        raise ValueError(f"{path.name}: not an image Pillow can read")
    yield Message(f"fitting {path.name}")
    for step in range(1, steps + 1):
        yield Progress(step, steps, "fitting", eta_s=0.1 * (steps - step))
        yield Losses(step, {"cycle": 1.0 / step, "gan": 0.5 + 0.1 * step})
        yield Preview(step, np.full((8, 12, 3), step / steps, np.float32), "output")
        yield Kernel(step, np.eye(5, dtype=np.float32) / 5)
    out = path.with_name(f"{path.stem}_fake_x2.png")
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(out)
    return FileOutcome(output=out, seconds=0.01)


def fake_slow(
    path: Path, request: RunRequest, root: Path | None = None, finish: Any = None
) -> Generator[Any, None, FileOutcome]:
    """A fit that would take a minute, yielding every 20 ms (for Stop)."""
    for step in range(3000):
        time.sleep(0.02)
        yield Progress(step, 3000, "fitting")
    raise AssertionError("the slow job should have been stopped")


def fake_methods() -> Generator[Any, None, list[MethodInfo]]:
    """The method list without importing the registry."""
    yield from ()
    return [
        MethodInfo(
            "bicubic", "Bicubic", "Plain bicubic.", (2, 3, 4), ("default",), False
        ),
        MethodInfo(
            "fake", "Fake fit", "Fits per image.", (2, 4), ("fast", "paper"), True
        ),
    ]


def drop_files(target: QWidget, paths: list[Path]) -> bool:
    """Drag ``paths`` onto ``target`` and drop them; True when the drop was taken."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(target.width() // 2, target.height() // 2)
    action = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos, action, mime, buttons, mods)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos.toPointF(), action, mime, buttons, mods)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()


class GapMeter:
    """The longest the GUI thread went without handling its events.

    A timer ticking every 10 ms on the GUI thread records when each tick
    came; a stalled thread shows as one long gap. On a shared machine other
    processes delay any thread now and then, so :meth:`calibrate` measures
    the idle window's own longest extra gap first, and :meth:`stop`
    subtracts it (the approach of ``test_models_page_responsive``).
    """

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self.noise = 0.0
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def calibrate(self, qtbot: Any, ms: int = 1000) -> None:
        """Start ticking and take ``ms`` of the idle window as the noise."""
        self._timer.start()
        qtbot.wait(ms)
        self.noise = max(0.0, self._longest() - 0.010)
        self.ticks[:] = self.ticks[-1:]  # a stall right after is seen from here

    def stop(self) -> float:
        """Stop ticking; the longest gap since :meth:`calibrate`, noise taken off."""
        self._timer.stop()
        return self._longest() - self.noise

    def _longest(self) -> float:
        gaps = (b - a for a, b in itertools.pairwise(self.ticks))
        return max(gaps, default=0.0)
