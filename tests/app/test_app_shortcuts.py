"""The README's keyboard shortcuts, as real key presses in the real window.

README: S split, B side by side, D difference, 1 zoom 100 %, F fit, Esc stops
a run, Ctrl+V pastes an image into the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication, QImage
from pytestqt.qtbot import QtBot

from tests.app.fakes import fake_methods, fake_slow, next_emission, run_async
from unsr_app.main_window import MainWindow


@pytest.fixture
def window(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> Iterator[MainWindow]:
    w = MainWindow(
        store,
        factory=fake_slow,
        methods_job=fake_methods,
        paste_dir=tmp_path / "pasted",
        warm_up=False,
    )
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=5000):
        w.show()
    w.activateWindow()
    qtbot.waitUntil(w.is_idle, timeout=5000)
    yield w
    w.close()


def _press(qtbot: QtBot, w: MainWindow, key: str) -> None:
    """A real key press, sent where the user's focus is: the queue's list."""
    target = w.studio.queue.list
    target.setFocus()
    if key == "Ctrl+V":
        qtbot.keyClick(target, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    elif key == "Esc":
        qtbot.keyClick(target, Qt.Key.Key_Escape)
    else:
        qtbot.keyClick(target, key)


@pytest.mark.parametrize(
    ("key", "mode", "start"),
    [("S", "split", "side"), ("B", "side", "split"), ("D", "diff", "split")],
)
def test_view_mode_keys(
    qtbot: QtBot, window: MainWindow, key: str, mode: str, start: str
) -> None:
    viewer = window.studio.viewer
    viewer.set_mode(start)  # type: ignore[arg-type]
    _press(qtbot, window, key)
    assert viewer.mode == mode


def test_1_zooms_to_100_percent_and_f_fits(qtbot: QtBot, window: MainWindow) -> None:
    viewer = window.studio.viewer
    image = QImage(400, 300, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.gray)
    viewer.set_images(image, None)
    fitted = viewer.state.zoom
    viewer.state.set_zoom(3.0)
    _press(qtbot, window, "1")
    assert viewer.state.zoom == 1.0 and not viewer.state.fitted
    _press(qtbot, window, "F")
    assert viewer.state.fitted and viewer.state.zoom == pytest.approx(fitted)


def test_esc_stops_the_run(
    qtbot: QtBot,
    window: MainWindow,
    loop: asyncio.AbstractEventLoop,
    images: list[Path],
) -> None:
    with qtbot.waitSignal(window.studio.queue.items_added, timeout=30_000):
        window.studio.queue.add_paths(images[:2])
    qtbot.waitUntil(window.is_idle, timeout=30_000)

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(window.runner.batch_finished)
        window.studio.method.start.click()
        await next_emission(window.runner.progressed)
        _press(qtbot, window, "Esc")
        return await asyncio.wait_for(finished, 5)  # type: ignore[return-value]

    assert run_async(loop, scenario()) == (0, 0, True)


def test_ctrl_v_pastes_an_image_into_the_queue(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    image = QImage(9, 7, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.red)
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(window.studio.queue.items_added, timeout=30_000):
        _press(qtbot, window, "Ctrl+V")
    (item,) = window.studio.queue.items()
    assert item.path.parent == tmp_path / "pasted"
    assert QImage(str(item.path)).size() == image.size()
    qtbot.waitUntil(window.is_idle, timeout=30_000)
