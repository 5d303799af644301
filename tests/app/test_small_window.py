"""At the smallest window (960x600) nothing of the studio is clipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QRect, QSettings
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget
from pytestqt.qtbot import QtBot

from tests.app.fakes import fake_fit, fake_methods
from unsr_app.main_window import MainWindow


def _assert_inside(widget: QWidget, window: QWidget) -> None:
    """``widget`` is whole inside every ancestor up to ``window``."""
    child: QWidget = widget
    while child is not window:
        parent = child.parentWidget()
        assert parent is not None
        assert parent.rect().contains(child.geometry()), (
            f"{type(widget).__name__} {getattr(widget, 'text', lambda: '')()!r} "
            f"{child.geometry()} outside {type(parent).__name__} {parent.rect()}"
        )
        child = parent
    top_left = widget.mapTo(window, QPoint(0, 0))
    assert window.rect().contains(QRect(top_left, widget.size()))


def test_nothing_is_clipped_at_the_minimum_size(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    photo = tmp_path / "a-photo-with-a-long-descriptive-name.png"
    Image.fromarray(np.full((400, 600, 3), 90, np.uint8)).save(photo)
    w = MainWindow(store, factory=fake_fit, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    w.resize(960, 600)
    qtbot.waitUntil(lambda: w.width() == 960 and w.height() == 600)
    assert w.minimumSizeHint().width() <= 960
    assert w.minimumSizeHint().height() <= 600
    with qtbot.waitSignal(w.view_loaded, timeout=30_000):
        w.studio.queue.add_paths([photo])
    # A fit's six loss curves fill the legend under the plot, not over it,
    # and do not widen the right column into the viewer's room.
    losses = w.studio.losses
    names = ("gan", "cycle_fwd", "cycle_bwd", "interp", "kernel_reg", "disc")
    losses.add(1, dict.fromkeys(names, 0.5))
    qtbot.waitUntil(
        lambda: all(
            n in losses.toggles and losses.toggles[n].isVisible() for n in names
        )
    )
    for name in names:
        box = losses.toggles[name]
        _assert_inside(box, w)
        top = box.mapTo(losses, QPoint(0, 0)).y()
        assert top > losses.plot.geometry().bottom(), f"{name} lies over the plot"
    viewer = w.studio.viewer
    viewer.set_metrics({"PSNR": 31.25, "SSIM": 0.9123, "LPIPS": None}, "whole image")

    # Every button of the viewer and the method panel shows its whole text,
    # and lies inside its parent and the window (a row of buttons wider than
    # its room keeps their sizes and pushes the last ones past the edge).
    for panel in (viewer, w.studio.method, w.studio.queue):
        for button in panel.findChildren(QAbstractButton):
            if button.isVisible() and button.text():
                assert button.width() >= button.sizeHint().width(), button.text()
                _assert_inside(button, w)
    _assert_inside(viewer.metrics_label, w)
    # The metrics line wraps instead of being cut.
    label: QLabel = viewer.metrics_label
    qtbot.waitUntil(
        lambda: label.height() >= label.heightForWidth(label.width()), timeout=2000
    )
    assert label.heightForWidth(label.width()) > label.fontMetrics().height()
    # The before/after labels fit their halves without overlapping, and a
    # short one is shown whole.
    canvas = viewer.canvas_left
    left = canvas.label_rect(canvas.left_label, left=True)
    right = canvas.label_rect("After · result.png", left=False)
    assert left.right() < canvas.width() / 2 < right.left()
    assert canvas.label_text(canvas.left_label, left) == "Before · 600×400"
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    w.close()
