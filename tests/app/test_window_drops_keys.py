"""Paste, drops anywhere, Start during a run, and how a batch says it ended.

Real key presses, a real clipboard image and real drag-and-drop events sent
through QApplication (which walks them up to the widget that takes drops).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from tests.app.fakes import (
    drop_files,
    fake_methods,
    fake_slow,
    next_emission,
    run_async,
)
from unsr_app.main_window import MainWindow
from unsr_app.qimage import array_to_qimage, load_qimage, qimage_to_array
from unsr_app.queue_runner import ItemJobFactory
from unsr_app.requests import FileOutcome, RunRequest


def _window(qtbot: QtBot, store: QSettings, factory: ItemJobFactory) -> MainWindow:
    # As the shipped app makes it: no paste folder given.
    w = MainWindow(store, factory=factory, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    w.activateWindow()
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    return w


@pytest.fixture
def window(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop
) -> Generator[MainWindow, None, None]:
    w = _window(qtbot, store, fake_slow)
    yield w
    w.close()


def _queue(qtbot: QtBot, w: MainWindow, paths: list[Path]) -> None:
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        w.studio.queue.add_paths(paths)
    qtbot.waitUntil(w.is_idle, timeout=30_000)


@pytest.mark.parametrize("where", ["queue", "viewer"])
def test_ctrl_v_saves_the_clipboard_image_losslessly_in_the_data_folder(
    qtbot: QtBot, window: MainWindow, where: str
) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    QGuiApplication.clipboard().setImage(array_to_qimage(pixels))
    s = window.studio
    target = s.queue.list if where == "queue" else s.viewer.canvas_left
    target.setFocus()
    with qtbot.waitSignal(window.studio.queue.items_added, timeout=30_000):
        qtbot.keyClick(target, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    (item,) = window.studio.queue.items()
    assert item.path.parent == Path(os.environ["UNSR_DATA_DIR"]) / "pasted"
    assert item.path.suffix == ".png"
    saved = qimage_to_array(load_qimage(item.path))
    np.testing.assert_array_equal((saved * 255).round().astype(np.uint8), pixels)
    qtbot.waitUntil(window.is_idle, timeout=30_000)


def test_drops_work_anywhere_on_the_window(
    qtbot: QtBot, window: MainWindow, images: list[Path]
) -> None:
    s = window.studio
    asked: list[list[Path]] = []
    s.queue.paths_given.connect(asked.append)
    targets = {
        "viewer": s.viewer.canvas_left,
        "loss plot": s.losses.plot.viewport(),
        "kernel": s.kernel.heat,
        "history": s.history.tree.viewport(),
        "log": s.log.text.viewport(),
        "progress": s.progress.bar,
        "method description": s.method.description,
        "queue": s.queue.list.viewport(),
    }
    taken = {name: drop_files(widget, images[:1]) for name, widget in targets.items()}
    assert taken == dict.fromkeys(targets, True)
    assert asked == [images[:1]] * len(targets)
    # From another page, a drop brings the studio forward.
    window.show_page("train")
    assert drop_files(window.train_page, images[1:2])
    assert window.pages.currentWidget() is s and asked[-1] == images[1:2]
    qtbot.waitUntil(window.is_idle, timeout=30_000)


def test_ctrl_return_during_a_run_says_a_batch_is_running(
    qtbot: QtBot,
    window: MainWindow,
    loop: asyncio.AbstractEventLoop,
    images: list[Path],
) -> None:
    s = window.studio
    _queue(qtbot, window, images[:1])

    async def scenario() -> None:
        finished = next_emission(window.runner.batch_finished)
        s.method.start.click()
        await next_emission(window.runner.progressed)
        s.queue.list.setFocus()
        qtbot.keyClick(
            s.queue.list, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        )
        s.method.stop.click()
        await finished

    run_async(loop, scenario())
    log = s.log.plain_text()
    assert "a batch is running" in log and "nothing to do" not in log


def test_a_stopped_batch_says_cancelled_not_done(
    qtbot: QtBot,
    window: MainWindow,
    loop: asyncio.AbstractEventLoop,
    images: list[Path],
) -> None:
    s = window.studio
    _queue(qtbot, window, images[:2])

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(window.runner.batch_finished)
        s.method.start.click()
        await next_emission(window.runner.progressed)
        s.method.stop.click()
        return await finished  # type: ignore[return-value]

    assert run_async(loop, scenario()) == (0, 0, True)
    bar = s.progress.bar
    assert "cancelled" in bar.text() and "done" not in bar.text()
    assert bar.value() < bar.maximum()
    assert "stopped" in s.progress.label.text()


def _failing(
    path: Path, request: RunRequest, root: Path | None, finish: Any = None
) -> Generator[Any, None, FileOutcome]:
    yield from ()
    raise ValueError(f"{path.name}: not an image")


def test_a_failed_batch_says_failed(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    w = _window(qtbot, store, _failing)
    _queue(qtbot, w, images[:1])

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(w.runner.batch_finished)
        w.studio.method.start.click()
        return await finished  # type: ignore[return-value]

    assert run_async(loop, scenario()) == (0, 1, False)
    assert w.studio.progress.bar.text() == "failed"
    w.close()
