"""The result's actions (save as, copy, open its folder), the quit question,
and the history: status and quality in view, scores kept, run again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from tests.app.fakes import fake_methods, fake_slow, next_emission, run_async
from unsr_app.main_window import MainWindow
from unsr_app.qimage import qimage_to_array


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    path = tmp_path / "a-photo-with-a-rather-long-name-from-a-camera.png"
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def window(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, photo: Path
) -> Iterator[MainWindow]:
    """The real window and file jobs (bicubic), one photo run once."""
    w = MainWindow(store, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=60_000):
        w.show()
    w.resize(960, 600)
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        w.studio.queue.add_paths([photo])
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    s = w.studio
    s.method.method.setCurrentIndex(s.method.method.findData("bicubic"))

    async def run() -> None:
        history = next_emission(w.history_loaded, timeout=60)
        finished = next_emission(w.runner.batch_finished, timeout=60)
        s.method.start.click()
        await finished
        await history

    run_async(loop, run(), timeout=90)
    qtbot.waitUntil(lambda: w.view.result_path() is not None, timeout=30_000)
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    yield w
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    w.close()


def test_save_as_copies_or_converts_the_result(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = window.view.result_path()
    assert out is not None
    for name in ("copy.png", "converted.jpg"):
        target = tmp_path / "saved" / name
        monkeypatch.setattr(
            QFileDialog, "getSaveFileName", lambda *a, t=target, **k: (str(t), "")
        )
        window.save_result_as()
        qtbot.waitUntil(target.exists, timeout=30_000)
        qtbot.waitUntil(window.is_idle, timeout=30_000)
    assert (tmp_path / "saved" / "copy.png").read_bytes() == out.read_bytes()
    with Image.open(tmp_path / "saved" / "converted.jpg") as jpeg:
        assert jpeg.format == "JPEG" and jpeg.size == (64, 48)


def test_copy_result_and_open_its_folder(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    QGuiApplication.clipboard().clear()
    assert window.view.copy_result()
    copied = qimage_to_array(QGuiApplication.clipboard().image())
    np.testing.assert_array_equal(copied, qimage_to_array(window.studio.viewer.after))
    opened: list[QUrl] = []
    monkeypatch.setattr(
        QDesktopServices, "openUrl", lambda url: opened.append(url) or True
    )
    assert window.view.open_folder()
    out = window.view.result_path()
    assert out is not None and opened == [QUrl.fromLocalFile(str(out.parent))]


def test_the_history_shows_status_and_quality_without_scrolling(
    qtbot: QtBot, window: MainWindow, photo: Path, tmp_path: Path
) -> None:
    s = window.studio
    (run,) = s.history.runs()
    tree = s.history.tree
    header = tree.header()
    for column in (1, 2):  # status, quality
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert (
            header.sectionViewportPosition(column) >= 0
            and right <= tree.viewport().width()
        )
    assert tree.topLevelItem(0).text(1).startswith("done")

    # Scored against a reference, the result's figures are stored with its run.
    ref = tmp_path / "reference.png"
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(ref)
    with qtbot.waitSignal(window.history_loaded, timeout=60_000):
        window.load_reference(ref)
    (scored,) = s.history.runs()
    assert scored.id == run.id and "PSNR" in scored.metrics
    assert "dB" in tree.topLevelItem(0).text(2)
    from engine.store import Store

    record = Store().get(int(run.id))
    note = json.loads((record.folder / "reference.json").read_text())
    assert note["reference"] == str(ref) and note["metrics"]["PSNR"] == pytest.approx(
        scored.metrics["PSNR"]
    )


def test_run_again_uses_the_runs_settings(
    qtbot: QtBot, window: MainWindow, loop: asyncio.AbstractEventLoop
) -> None:
    s = window.studio
    (run,) = s.history.runs()
    s.method.method.setCurrentIndex(s.method.method.findData("lanczos"))

    async def again() -> tuple[int, int, bool]:
        history = next_emission(window.history_loaded, timeout=60)
        finished = next_emission(window.runner.batch_finished, timeout=60)
        s.history.run_again.emit(run)
        result = await finished
        await history
        return result  # type: ignore[return-value]

    assert run_async(loop, again(), timeout=90) == (1, 0, False)
    runs = s.history.runs()
    assert len(runs) == 2 and runs[0].method == "bicubic" and runs[0].scale == 2
    assert s.method.request().method == "bicubic"


def test_quitting_mid_fit_asks_first(
    qtbot: QtBot,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
    photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = MainWindow(store, factory=fake_slow, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        w.studio.queue.add_paths([photo])
    w.studio.method.method.setCurrentIndex(w.studio.method.method.findData("fake"))
    asked: list[str] = []

    def answer(button: QMessageBox.StandardButton) -> Any:
        def question(parent: object, title: str, text: str, *a: object) -> Any:
            asked.append(text)
            return button

        return question

    async def start() -> None:
        progressed = next_emission(w.runner.progressed)
        w.studio.method.start.click()
        await progressed

    run_async(loop, start())
    monkeypatch.setattr(
        QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel)
    )
    assert not w.close()
    assert w.isVisible() and w.runner.is_running()
    assert asked and asked[0].startswith("A fit is running")
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert w.close()
    assert len(asked) == 2 and not w.isVisible()
    qtbot.waitUntil(lambda: not w.runner.is_running(), timeout=10_000)
