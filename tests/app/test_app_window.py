"""The main window end to end, with fake jobs and temp settings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.app.fakes import fake_fit, fake_methods, fake_slow, next_emission, run_async
from unsr_app import settings, theme
from unsr_app.main_window import MainWindow
from unsr_app.queue_runner import ItemJobFactory


def _queue(qtbot: QtBot, w: MainWindow, paths: list[Path]) -> None:
    """Drop ``paths`` on the queue and wait for the worker's expansion."""
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        w.studio.queue.add_paths(paths)
    qtbot.waitUntil(w.is_idle, timeout=30_000)


def _select(qtbot: QtBot, w: MainWindow, index: int) -> None:
    """Select a queue item and wait until the viewer shows it."""
    item = w.studio.queue.items()[index]
    if w.studio.queue.current() is item:
        return
    with qtbot.waitSignal(w.view_loaded, timeout=30_000):
        w.studio.queue.select(item)


def _window(
    qtbot: QtBot, store: QSettings, factory: ItemJobFactory | None
) -> MainWindow:
    w = MainWindow(store, factory=factory, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=5000):
        w.show()
    qtbot.waitUntil(w.is_idle, timeout=5000)  # the history look-up
    return w


@pytest.fixture
def window(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop
) -> Iterator[MainWindow]:
    w = _window(qtbot, store, fake_fit)
    yield w
    w.close()


def test_methods_are_listed_with_descriptions(window: MainWindow) -> None:
    panel = window.studio.method
    assert [m.id for m in panel.methods()] == ["bicubic", "fake"]
    assert panel.description.text() == "Plain bicubic."
    panel.method.setCurrentIndex(1)
    assert panel.description.text() == "Fits per image."
    assert [panel.scale.itemData(i) for i in range(panel.scale.count())] == [2, 4]
    assert panel.profile.isEnabled()


def test_start_runs_the_queue_and_feeds_plot_kernel_viewer(
    qtbot: QtBot,
    window: MainWindow,
    loop: asyncio.AbstractEventLoop,
    images: list[Path],
    tmp_path: Path,
) -> None:
    s = window.studio
    bad = tmp_path / "bad.png"  # an image the fake fit fails on
    bad.write_bytes(images[0].read_bytes())
    _queue(qtbot, window, [images[0], bad, images[1]])

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(window.runner.batch_finished)
        qtbot.mouseClick(s.method.start, Qt.MouseButton.LeftButton)
        assert s.method.stop.isEnabled() and not s.method.start.isEnabled()
        return await finished  # type: ignore[return-value]

    assert run_async(loop, scenario()) == (2, 1, False)
    statuses = [(i.path.name, i.status) for i in s.queue.items()]
    assert statuses == [
        ("img0.png", "done"),
        ("bad.png", "failed"),
        ("img1.png", "done"),
    ]
    assert s.method.start.isEnabled() and not s.method.stop.isEnabled()
    assert s.losses.point_count("cycle") == 3
    assert s.kernel.kernel is not None
    assert "bad.png failed" in s.log.plain_text()
    assert "2 done, 1 failed" in s.progress.label.text()
    # The finished item is shown: its output in the viewer.
    _select(qtbot, window, 2)
    assert s.viewer.after is not None


def test_stop_cancels_the_running_item(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    w = _window(qtbot, store, fake_slow)
    s = w.studio
    _queue(qtbot, w, images[:2])

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(w.runner.batch_finished)
        s.method.start.click()
        await next_emission(w.runner.progressed)
        s.method.stop.click()
        return await asyncio.wait_for(finished, 1.5)  # type: ignore[return-value]

    assert run_async(loop, scenario()) == (0, 0, True)
    assert [i.status for i in s.queue.items()] == ["cancelled", "queued"]
    w.close()


def test_settings_are_remembered(
    qtbot: QtBot,
    qapp: QApplication,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
) -> None:
    w = _window(qtbot, store, fake_fit)
    p = w.studio.method
    p.method.setCurrentIndex(p.method.findData("fake"))
    p.scale.setCurrentIndex(p.scale.findData(4))
    p.profile.setCurrentIndex(p.profile.findData("paper"))
    p.fmt.setCurrentIndex(p.fmt.findData("webp"))
    p.quality.setValue(70)
    w.resize(1300, 820)
    w.set_theme("dark")
    w.close()
    geometry = settings.load(store).geometry
    assert len(geometry) > 16
    theme.apply(qapp, "system")  # the app's look is global: undo it for other tests

    again = _window(qtbot, store, fake_fit)
    r = again.studio.method.request()
    assert (r.method, r.scale, r.profile, r.fmt, r.quality) == (
        "fake",
        4,
        "paper",
        "webp",
        70,
    )
    assert again._settings.theme == "dark"
    # The offscreen screen is small, so Qt clamps a restored size: compare the
    # saved geometry rather than the size.
    assert again._settings.geometry == geometry
    again.close()


def test_window_is_at_least_1280_by_800(window: MainWindow) -> None:
    assert window.width() >= 1280 and window.height() >= 800


def test_a_reference_belongs_to_its_item(
    qtbot: QtBot, window: MainWindow, images: list[Path]
) -> None:
    s = window.studio
    _queue(qtbot, window, images[:2])
    _select(qtbot, window, 0)
    with qtbot.waitSignal(window.view_loaded, timeout=30_000):
        window.load_reference(images[2])
    assert s.viewer.reference is not None
    _select(qtbot, window, 1)
    assert s.viewer.reference is None
    _select(qtbot, window, 0)
    assert s.viewer.reference is not None
    qtbot.waitUntil(window.is_idle, timeout=30_000)


def test_a_real_run_lands_in_the_history_and_opens(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    w = _window(qtbot, store, None)
    s = w.studio
    _queue(qtbot, w, images[:1])

    async def scenario() -> None:
        history = next_emission(w.history_loaded)
        finished = next_emission(w.runner.batch_finished)
        s.method.start.click()
        assert await finished == (1, 0, False)
        await history

    run_async(loop, scenario())
    [run] = s.history.runs()
    assert (run.method, run.scale, run.status) == ("bicubic", 2, "done")
    assert run.input == images[0] and run.output is not None and run.output.exists()
    s.viewer.set_images(None, None)
    with qtbot.waitSignal(w.view_loaded, timeout=30_000):
        s.history.run_opened.emit(run)
    assert s.viewer.before is not None and s.viewer.after is not None
    assert s.viewer.after.width() == 2 * s.viewer.before.width()
    w.close()


def test_the_window_has_studio_train_and_models_tabs(window: MainWindow) -> None:
    tabs = [window.pages.tabText(i) for i in range(window.pages.count())]
    assert tabs == ["Studio", "Train", "Models"]
    assert window.pages.widget(1) is window.train_page
    assert window.pages.widget(2) is window.models_page
    # Neither page has loaded the engine: they wait until they are shown.
    assert window.train_page.method.count() == 1 and not window.train_page.is_busy()
    assert window.show_page("models") and window.pages.currentWidget() is (
        window.models_page
    )


def _real_window(qtbot: QtBot, store: QSettings) -> MainWindow:
    w = MainWindow(store, factory=fake_fit, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=30_000):
        w.show()
    qtbot.waitUntil(w.is_idle, timeout=5000)
    return w


@pytest.mark.parametrize("source", ["models_page", "train_page"])
def test_a_new_model_appears_in_the_method_list(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, source: str
) -> None:
    from engine import paths
    from tests import model_factory as mf

    w = _real_window(qtbot, store)
    panel = w.studio.method
    panel.method.setCurrentIndex(panel.method.findData("lanczos"))
    before = {m.id for m in panel.methods()}
    model = mf.save(mf.compact(scale=2), paths.models_dir() / "tiny-new.safetensors")
    with qtbot.waitSignal(w.methods_loaded, timeout=30_000):
        if source == "models_page":
            w.models_page.models_changed.emit()
        else:
            w.train_page.model_trained.emit(str(model))
    added = {m.id for m in panel.methods()} - before
    assert len(added) == 1 and "tiny-new" in added.pop()
    assert panel.request().method == "lanczos"  # the selection is kept
    qtbot.waitUntil(w.is_idle, timeout=5000)
    w.close()
