"""The live view of a fit shows the truth: the preview sits where it belongs.

A fake fit yields what DualSR yields, a preview of an input region upscaled x2
with the region's box, and waits; the window is grabbed pixel by pixel.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QSettings
from pytestqt.qtbot import QtBot

from engine.events import Preview, Progress
from tests.app.fakes import fake_methods
from unsr_app.main_window import MainWindow
from unsr_app.qimage import qimage_to_array
from unsr_app.requests import FileOutcome, RunRequest
from unsr_app.widgets.image_canvas import DIM_ALPHA

BOX = (16, 8, 32, 32)  # x, y, w, h in input pixels


def _up2(a: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, np.ndarray, Path, np.ndarray]:
    """A noisy 64x48 input and its reference (the input x2, plus a little noise)."""
    rng = np.random.default_rng(7)
    lr = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    hr = np.clip(_up2(lr).astype(int) + rng.integers(-2, 3, (96, 128, 3)), 0, 255)
    hr = hr.astype(np.uint8)
    Image.fromarray(lr).save(tmp_path / "photo.png")
    Image.fromarray(hr).save(tmp_path / "reference.png")
    return tmp_path / "photo.png", lr, tmp_path / "reference.png", hr


def _region_fit(preview: np.ndarray, release: threading.Event) -> Any:
    """A fit that shows ``preview`` of BOX and waits for ``release``."""

    def factory(
        path: Path, request: RunRequest, root: Path | None, finish: Any = None
    ) -> Generator[Any, None, FileOutcome]:
        step = 0
        while not release.is_set():
            step += 1
            yield Progress(step, 0, "fitting")
            if step % 5 == 1:
                yield Preview(step, preview, "centre crop", tuple(map(float, BOX)))
            time.sleep(0.02)
        out = path.with_name("photo_fake_x2.png")
        Image.fromarray((preview * 255).astype(np.uint8)).save(out)
        return FileOutcome(output=out, seconds=0.1)

    return factory


def _grab(w: MainWindow, canvas: Any = None) -> tuple[np.ndarray, int, int]:
    c = canvas if canvas is not None else w.studio.viewer.canvas_left
    shot = (qimage_to_array(c.grab().toImage()) * 255).round().astype(np.uint8)
    o = c.origin()
    return shot, int(o.y()), int(o.x())


def test_the_preview_is_placed_where_it_belongs_and_scored_there(
    qtbot: QtBot,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
    photo: tuple[Path, np.ndarray, Path, np.ndarray],
) -> None:
    path, lr, ref_path, hr = photo
    x, y, bw, bh = BOX
    # What a good fit would show: the reference's pixels of the box.
    preview = hr[2 * y : 2 * (y + bh), 2 * x : 2 * (x + bw)].astype(np.float32) / 255
    release = threading.Event()
    w = MainWindow(
        store,
        factory=_region_fit(preview, release),
        methods_job=fake_methods,
        warm_up=False,
    )
    qtbot.addWidget(w)
    w.resize(1360, 860)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    try:
        with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
            w.studio.queue.add_paths([path])
        with qtbot.waitSignal(w.view_loaded, timeout=30_000):
            w.load_reference(ref_path)
        viewer = w.studio.viewer
        w.studio.method.set_request(RunRequest(method="fake", scale=2))
        w._on_method_start_clicked()
        qtbot.waitUntil(lambda: viewer.preview is not None, timeout=30_000)
        viewer.state.set_zoom(1.0, QPointF(64, 48))  # one output pixel per screen px
        canvas = viewer.canvas_left
        assert viewer.state.image_size.width() == 128  # the output's space

        canvas.set_divider(0.0)  # all B: the preview over the dimmed input
        shot, oy, ox = _grab(w)
        out = shot[oy : oy + 96, ox : ox + 128]
        inside = out[2 * y : 2 * (y + bh), 2 * x : 2 * (x + bw)]
        np.testing.assert_array_equal(inside, (preview * 255).round().astype(np.uint8))
        dimmed = (_up2(lr).astype(float) * (1 - DIM_ALPHA / 255)).round()
        outside = np.ones((96, 128), bool)
        outside[2 * y - 1 : 2 * (y + bh) + 1, 2 * x - 1 : 2 * (x + bw) + 1] = False
        assert np.abs(out[outside].astype(float) - dimmed[outside]).max() <= 2

        canvas.set_divider(1.0)  # all A: the input, at the same coordinates
        shot, oy, ox = _grab(w)
        out = shot[oy : oy + 96, ox : ox + 128]
        np.testing.assert_array_equal(out, _up2(lr))

        # Side by side: both panes show the same image points.
        viewer.set_mode("side")
        right = viewer.canvas_right
        # The right pane halves the left one once the layout has run.
        qtbot.waitUntil(lambda: abs(canvas.width() - right.width()) <= 8)
        qtbot.wait(100)
        viewer.state.set_zoom(1.0, QPointF(64, 48))
        shot, oy, ox = _grab(w)
        np.testing.assert_array_equal(shot[oy : oy + 96, ox : ox + 128], _up2(lr))
        shot, oy, ox = _grab(w, right)
        out = shot[oy : oy + 96, ox : ox + 128]
        inside = out[2 * y : 2 * (y + bh), 2 * x : 2 * (x + bw)]
        np.testing.assert_array_equal(inside, (preview * 255).round().astype(np.uint8))
        assert np.abs(out[outside].astype(float) - dimmed[outside]).max() <= 2
        viewer.set_mode("split")

        # Difference: only the preview's region is compared, with the reference.
        viewer.set_mode("diff")
        diff = canvas.left
        assert diff is not None and diff.place is not None
        assert (diff.place.x(), diff.place.width()) == (2 * x, 2 * bw)

        # Live metrics score the preview against the reference's same region.
        qtbot.waitUntil(lambda: "dB" in viewer.metrics_label.text(), timeout=30_000)
        text = viewer.metrics_label.text()
        assert "32×32 px region at (16, 8)" in text
        psnr = float(text.split("PSNR ")[1].split(" dB")[0])
        assert psnr == float("inf") or psnr > 60
    finally:
        release.set()
        qtbot.waitUntil(lambda: not w.runner.is_running(), timeout=30_000)
        qtbot.waitUntil(w.is_idle, timeout=30_000)
        w.close()
