"""A file that cannot be read is refused when it is dropped, with its reason;
a failed item shows its reason in the viewer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from tests.app.fakes import drop_files, fake_fit, fake_methods, next_emission, run_async
from unsr_app.main_window import MainWindow
from unsr_app.widgets.compare_viewer import DROP_HINT


def _window(qtbot: QtBot, store: QSettings) -> MainWindow:
    w = MainWindow(store, factory=fake_fit, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    return w


def test_unreadable_files_are_refused_at_drop_time_with_their_reason(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    w = _window(qtbot, store)
    folder = images[0].parent
    text = folder / "notes.png"
    text.write_text("not a picture\n")
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        assert drop_files(w.studio.viewer.canvas_left, [text, images[0], empty])
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    assert [i.path for i in w.studio.queue.items()] == [images[0]]
    log = w.studio.log.plain_text()
    assert f"not queued: {text}" in log and "text" in log.split(str(text))[1]
    assert f"not queued: {empty}" in log and "empty" in log.split(str(empty))[1]
    assert "notes.png" in w.statusBar().currentMessage() or "empty.jpg" in (
        w.statusBar().currentMessage()
    )
    w.close()


def test_a_failed_item_shows_its_reason_in_the_viewer(
    qtbot: QtBot,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
    images: list[Path],
    tmp_path: Path,
) -> None:
    w = _window(qtbot, store)
    bad = tmp_path / "bad.png"  # readable; the fake fit fails on it
    bad.write_bytes(images[0].read_bytes())
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        w.studio.queue.add_paths([bad])
    qtbot.waitUntil(w.is_idle, timeout=30_000)

    async def scenario() -> None:
        finished = next_emission(w.runner.batch_finished)
        w.studio.method.start.click()
        await finished

    run_async(loop, scenario())
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    viewer = w.studio.viewer
    assert "bad.png failed" in viewer.notice()
    assert "not an image Pillow can read" in viewer.notice()
    assert viewer.canvas_left.notice == viewer.notice()

    # An item whose file is gone says why instead of "Drop images here".
    bad.unlink()
    with qtbot.waitSignal(w.view_loaded, timeout=30_000):
        w.show_item(w.studio.queue.items()[0].__class__(path=bad))
    text = viewer.canvas_left.placeholder
    assert text != DROP_HINT and "bad.png" in text
    w.close()
