"""Comparison tools: a baseline as side A, the A/B flick of a held key, the loupe."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from pytestqt.qtbot import QtBot

from tests.app.fakes import fake_methods, next_emission, run_async
from unsr_app.main_window import MainWindow
from unsr_app.qimage import array_to_qimage, qimage_to_array
from unsr_app.requests import FileOutcome, RunRequest, RunRow
from unsr_app.widgets.compare_viewer import CompareViewer
from unsr_app.widgets.image_canvas import LOUPE_RADIUS


def _up2(a: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


def nearest_x2(
    path: Path, request: RunRequest, root: Path | None, finish: Any = None
) -> Generator[Any, None, FileOutcome]:
    """A method that writes the input x2 by nearest neighbour."""
    yield from ()
    out = path.with_name(f"{path.stem}_nearest_x2.png")
    Image.fromarray(_up2(np.asarray(Image.open(path).convert("RGB")))).save(out)
    return FileOutcome(output=out, seconds=0.01)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def window(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, photo: Path
) -> Iterator[MainWindow]:
    w = MainWindow(store, factory=nearest_x2, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    w.activateWindow()
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        w.studio.queue.add_paths([photo])

    async def run() -> None:
        finished = next_emission(w.runner.batch_finished)
        w.studio.method.start.click()
        await finished

    with qtbot.waitSignal(w.view_loaded, timeout=30_000):
        run_async(loop, run())
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    yield w
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    w.close()


def test_bicubic_as_side_a_is_scored_beside_the_result(
    qtbot: QtBot, window: MainWindow, photo: Path, tmp_path: Path
) -> None:
    viewer = window.studio.viewer
    ref = tmp_path / "reference.png"
    Image.fromarray(_up2(np.asarray(Image.open(photo)))).save(ref)
    with qtbot.waitSignal(window.view_loaded, timeout=30_000):
        window.load_reference(ref)
    assert viewer.choose_baseline("bicubic")
    qtbot.waitUntil(lambda: viewer.baseline is not None, timeout=30_000)
    assert viewer.baseline is not None and viewer.after is not None
    assert viewer.baseline.size() == viewer.after.size()
    canvas = viewer.canvas_left
    assert canvas.left is not None and canvas.left.image is viewer.baseline
    assert canvas.left_label == "A · Bicubic ×2"
    qtbot.waitUntil(
        lambda: "A (Bicubic ×2)" in viewer.metrics_label.text(), timeout=30_000
    )
    text = viewer.metrics_label.text()
    assert text.startswith("B: PSNR inf dB")  # the reference is the result here
    # Back to the input.
    assert viewer.choose_baseline("input")
    assert viewer.baseline is None and canvas.left.image is viewer.before


def test_another_result_of_the_same_photo_can_be_side_a(
    qtbot: QtBot, window: MainWindow, photo: Path, tmp_path: Path
) -> None:
    other = tmp_path / "photo_lanczos_x2.png"
    pixels = np.full((24, 32, 3), 200, np.uint8)
    Image.fromarray(pixels).save(other)
    s = window.studio
    s.history.set_runs(
        [RunRow(7, "2026-12-01 10:00", photo, other, "lanczos", 2, 1.0, "done")]
    )
    with qtbot.waitSignal(window.view_loaded, timeout=30_000):
        window.show_item(s.queue.items()[0])
    key = f"file:{other}"
    assert s.viewer.baseline_box.findData(key) >= 0
    assert "lanczos ×2" in s.viewer.baseline_box.itemText(
        s.viewer.baseline_box.findData(key)
    )
    s.viewer.choose_baseline(key)
    qtbot.waitUntil(lambda: s.viewer.baseline is not None, timeout=30_000)
    shown = qimage_to_array(s.viewer.baseline)  # type: ignore[arg-type]
    np.testing.assert_allclose(shown, pixels / 255, atol=1e-6)


def test_holding_a_flicks_to_side_a(qtbot: QtBot, window: MainWindow) -> None:
    s = window.studio
    canvas = s.viewer.canvas_left
    assert canvas.mode == "split" and canvas.right is not None
    s.queue.list.setFocus()
    qtbot.keyPress(s.queue.list, Qt.Key.Key_A)
    assert s.viewer.flicked
    assert canvas.mode == "single" and canvas.left is not None
    assert canvas.left.image is s.viewer.before
    qtbot.keyRelease(s.queue.list, Qt.Key.Key_A)
    assert not s.viewer.flicked and canvas.mode == "split"
    # Typing an "a" in a text field types it.
    s.method.output.setFocus()
    qtbot.keyClick(s.method.output, Qt.Key.Key_A)
    assert not s.viewer.flicked and s.method.output.text() == "a"
    s.method.output.clear()
    # On another page the key is that page's.
    window.show_page("models")
    window.models_page.setFocus()
    qtbot.keyPress(window.models_page, Qt.Key.Key_A)
    assert not s.viewer.flicked
    qtbot.keyRelease(window.models_page, Qt.Key.Key_A)
    window.show_page("studio")


def test_l_toggles_the_loupe(qtbot: QtBot, window: MainWindow) -> None:
    s = window.studio
    s.queue.list.setFocus()
    qtbot.keyClick(s.queue.list, Qt.Key.Key_L)
    assert s.viewer.state.loupe and s.viewer.loupe_button.isChecked()
    qtbot.keyClick(s.queue.list, Qt.Key.Key_L)
    assert not s.viewer.state.loupe


def _solid(h: int, w: int, rgb: tuple[float, float, float]) -> Any:
    return array_to_qimage(np.broadcast_to(np.float32(rgb), (h, w, 3)).copy())


def _pixel(canvas: Any, at: QPointF) -> tuple[float, ...]:
    shot = qimage_to_array(canvas.grab().toImage())
    return tuple(float(v) for v in shot[int(at.y()), int(at.x())])


def test_the_loupe_shows_both_sides_of_the_same_pixels(qtbot: QtBot) -> None:
    v = CompareViewer()
    qtbot.addWidget(v)
    v.resize(900, 500)
    v.show()
    qtbot.waitExposed(v)
    v.set_images(_solid(100, 150, (1, 0, 0)), _solid(200, 300, (0, 0, 1)))
    v.set_loupe(True)
    canvas = v.canvas_left
    canvas.set_divider(0.9)  # the cursor is on side A's part of the split
    inside = canvas.origin() + QPointF(80, 100) * v.state.zoom  # on the image
    cursor = QPoint(int(inside.x()), int(inside.y()))
    qtbot.mouseMove(canvas, cursor)
    assert v.state.loupe_at is not None
    centre = canvas.origin() + v.state.loupe_at * v.state.zoom
    d = QPointF(LOUPE_RADIUS / 2, 0)
    assert _pixel(canvas, centre - d) == (1.0, 0.0, 0.0)  # A in the loupe's left
    assert _pixel(canvas, centre + d) == (0.0, 0.0, 1.0)  # B in its right half
    # Side by side: the other pane magnifies the same image point.
    v.set_mode("side")
    qtbot.waitUntil(v.canvas_right.isVisible)
    qtbot.mouseMove(canvas, cursor)
    right = v.canvas_right
    there = right.origin() + v.state.loupe_at * v.state.zoom
    ring = there + QPointF(LOUPE_RADIUS, 0)
    assert _pixel(right, there) == (0.0, 0.0, 1.0)
    assert _pixel(right, ring)[1] > 0.8  # the white ring, not the blue image
    qtbot.mouseMove(canvas, QPoint(-5, -5))
