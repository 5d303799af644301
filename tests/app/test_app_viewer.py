"""The compare viewer: split, side by side in step, zoom, difference, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from unsr_app.qimage import array_to_qimage, qimage_to_array
from unsr_app.widgets.compare_viewer import CompareViewer
from unsr_app.widgets.image_canvas import ImageCanvas


def _image(h: int, w: int, seed: int) -> QImage:
    rng = np.random.default_rng(seed)
    return array_to_qimage(rng.random((h, w, 3)).astype(np.float32))


def _wheel(canvas: ImageCanvas, pos: QPointF, notches: int) -> None:
    event = QWheelEvent(
        pos,
        canvas.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas, event)


@pytest.fixture
def viewer(qtbot: QtBot) -> CompareViewer:
    v = CompareViewer()
    qtbot.addWidget(v)
    v.resize(900, 500)
    v.show()
    qtbot.waitExposed(v)
    v.set_images(_image(20, 30, 1), _image(40, 60, 2))
    return v


def _assert_in_step(v: CompareViewer) -> None:
    left, right = v.canvas_left, v.canvas_right
    assert left.size() == right.size()
    for p in (QPointF(0, 0), QPointF(30, 20), QPointF(59, 39)):
        a, b = left.image_to_widget(p), right.image_to_widget(p)
        assert (a.x(), a.y()) == pytest.approx((b.x(), b.y()))


def test_side_by_side_stays_in_step_under_zoom_and_pan(
    qtbot: QtBot, viewer: CompareViewer
) -> None:
    viewer.set_mode("side")
    qtbot.waitUntil(lambda: viewer.canvas_right.isVisible())
    left, right = viewer.canvas_left, viewer.canvas_right
    before = left.image_to_widget(QPointF(10, 10))
    anchor = QPointF(left.width() / 3, left.height() / 3)
    under_cursor = left.widget_to_image(anchor)
    _wheel(left, anchor, 3)
    assert viewer.state.zoom > 1.5
    # Zoom keeps the point under the cursor where it was.
    after = left.image_to_widget(under_cursor)
    assert (after.x(), after.y()) == pytest.approx((anchor.x(), anchor.y()), abs=1e-6)
    _assert_in_step(viewer)
    # Pan on the right pane: the left follows.
    qtbot.mousePress(right, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(right, QPoint(140, 90))
    qtbot.mouseRelease(right, Qt.MouseButton.LeftButton, pos=QPoint(140, 90))
    moved = left.image_to_widget(QPointF(10, 10))
    assert moved != before
    _assert_in_step(viewer)


def test_fit_shows_whole_image_and_one_to_one_is_pixel_exact(
    viewer: CompareViewer,
) -> None:
    viewer.fit()
    c = viewer.canvas_left
    tl, br = c.image_to_widget(QPointF(0, 0)), c.image_to_widget(QPointF(60, 40))
    assert tl.x() >= -1e-6 and tl.y() >= -1e-6
    assert br.x() <= c.width() + 1e-6 and br.y() <= c.height() + 1e-6
    viewer.state.set_zoom(1.0)
    d = c.image_to_widget(QPointF(11, 0)) - c.image_to_widget(QPointF(10, 0))
    assert d.x() == pytest.approx(1.0)


def test_zoom_draws_nearest_neighbour_pixels(qtbot: QtBot) -> None:
    v = CompareViewer()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    qtbot.waitExposed(v)
    checker = np.zeros((4, 4, 3), np.float32)
    checker[::2, ::2] = checker[1::2, 1::2] = 1.0
    v.set_images(array_to_qimage(checker), None)
    v.state.set_zoom(16.0, QPointF(2, 2))
    shot = qimage_to_array(v.canvas_left.grab().toImage())
    c = v.canvas_left.image_to_widget(QPointF(1.5, 1.5))  # centre of pixel (1, 1)
    patch = shot[int(c.y()) - 5 : int(c.y()) + 5, int(c.x()) - 5 : int(c.x()) + 5]
    # Nearest-neighbour: a 10x10 patch inside one source pixel is one colour.
    assert patch.std() < 1e-6
    assert patch.mean() == pytest.approx(1.0)


def test_split_divider_drags(qtbot: QtBot, viewer: CompareViewer) -> None:
    c = viewer.canvas_left
    x = int(c.width() * c.divider)
    y = c.height() // 2
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseMove(c, QPoint(x + 100, y))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=QPoint(x + 100, y))
    assert c.divider == pytest.approx((x + 100) / c.width(), abs=0.01)


def test_difference_map_and_metrics_request(
    qtbot: QtBot, viewer: CompareViewer
) -> None:
    viewer.set_mode("diff")
    diff = viewer.canvas_left.left
    assert diff is not None and diff.image.size() == viewer.after.size()  # type: ignore[union-attr]
    with qtbot.waitSignal(viewer.metrics_wanted):
        viewer.set_reference(_image(40, 60, 3))
    assert viewer.metrics_label.text() == "Scoring…"
    viewer.set_metrics({"PSNR": 31.5, "SSIM": 0.91, "LPIPS": None})
    text = viewer.metrics_label.text()
    assert "31.50 dB" in text and "0.9100" in text and "LPIPS unavailable" in text


def test_live_preview_keeps_the_view(viewer: CompareViewer) -> None:
    viewer.state.set_zoom(4.0, QPointF(5, 5))
    centre = QPointF(viewer.state.center)
    viewer.set_after(_image(40, 60, 9), "Preview · step 10")
    assert viewer.state.zoom == 4.0 and viewer.state.center == centre
