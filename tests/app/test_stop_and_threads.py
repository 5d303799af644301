"""Stop within a second however slow a step is, stop and keep, the worker's
priority, and the warm-up that keeps the first fit from freezing the window."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from engine.events import Progress
from tests.app.fakes import fake_methods, next_emission, run_async
from unsr_app import job_factories
from unsr_app.main_window import MainWindow
from unsr_app.queue_runner import ItemJobFactory
from unsr_app.requests import FileOutcome, RunRequest
from unsr_app.worker import JobHandle

ROOT = Path(__file__).resolve().parents[2]

#: One "step" of the slow fit: far longer than Stop may take.
SLOW_STEP_S = 3.0


class SlowFit:
    """A fit whose steps take :data:`SLOW_STEP_S` between yields (a torch step
    on a loaded machine); it records when each job started and ended."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.ended: list[float] = []

    def __call__(
        self, path: Path, request: RunRequest, root: Path | None, finish: Any
    ) -> Generator[Any, None, FileOutcome]:
        self.started.append(time.monotonic())
        try:
            for step in range(1000):
                yield Progress(step, 1000, "fitting")
                time.sleep(SLOW_STEP_S)
            raise AssertionError("the slow fit should have been stopped")
        finally:
            self.ended.append(time.monotonic())


def _window(qtbot: QtBot, store: QSettings, factory: ItemJobFactory) -> MainWindow:
    w = MainWindow(store, factory=factory, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    return w


def _queue(qtbot: QtBot, w: MainWindow, paths: list[Path]) -> None:
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        w.studio.queue.add_paths(paths)
    qtbot.waitUntil(w.is_idle, timeout=30_000)


def test_stop_ends_a_slow_fit_within_a_second(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    fit = SlowFit()
    w = _window(qtbot, store, fit)
    s = w.studio
    _queue(qtbot, w, images[:2])

    async def stop_after_first_step() -> float:
        finished = next_emission(w.runner.batch_finished)
        s.method.start.click()
        await next_emission(w.runner.progressed)
        t0 = time.monotonic()
        s.method.stop.click()
        await finished
        assert s.method.start.isEnabled()  # idle: the user may start again
        return time.monotonic() - t0

    assert run_async(loop, stop_after_first_step()) < 1.0
    assert [i.status for i in s.queue.items()] == ["cancelled", "queued"]
    # A new Start waits for the stopped job's thread: never two jobs at once.
    assert w.runner.is_draining()

    async def start_again() -> None:
        progressed = next_emission(w.runner.progressed, timeout=30)
        s.method.start.click()
        await progressed
        finished = next_emission(w.runner.batch_finished)
        s.method.stop.click()
        await finished

    run_async(loop, start_again(), timeout=40)
    assert len(fit.started) == 2 and fit.started[1] >= fit.ended[0]
    qtbot.waitUntil(lambda: not w.runner.is_draining(), timeout=30_000)
    assert len(fit.ended) == 2
    w.close()


def _keepable(
    path: Path, request: RunRequest, root: Path | None, finish: threading.Event
) -> Generator[Any, None, FileOutcome]:
    """A fit that, asked to finish, writes what it has (its step count)."""
    step = 0
    while not finish.is_set():
        step += 1
        yield Progress(step, 10_000, "fitting")
        time.sleep(0.02)
    out = path.with_name(f"{path.stem}_kept_x2.png")
    Image.fromarray(np.full((4, 4, 3), min(step, 255), np.uint8)).save(out)
    return FileOutcome(output=out, seconds=0.1)


def test_stop_and_keep_keeps_the_result_so_far_and_skips_the_rest(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    w = _window(qtbot, store, _keepable)
    s = w.studio
    _queue(qtbot, w, images[:2])
    s.method.method.setCurrentIndex(s.method.method.findData("fake"))  # fits

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(w.runner.batch_finished)
        s.method.start.click()
        await next_emission(w.runner.progressed)
        assert s.method.keep.isEnabled()
        s.method.keep.click()
        return await finished  # type: ignore[return-value]

    assert run_async(loop, scenario()) == (1, 0, True)
    first, second = s.queue.items()
    assert first.status == "done" and first.output is not None
    assert first.output.exists() and second.status == "queued"
    assert "kept" in s.progress.label.text()
    assert s.progress.bar.text() == "done"
    w.close()


def test_stop_and_keep_is_only_offered_while_a_method_fits(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    w = _window(qtbot, store, _keepable)
    s = w.studio
    _queue(qtbot, w, images[:1])
    s.method.method.setCurrentIndex(s.method.method.findData("bicubic"))

    async def scenario() -> None:
        finished = next_emission(w.runner.batch_finished)
        s.method.start.click()
        await next_emission(w.runner.progressed)
        assert not s.method.keep.isEnabled() and s.method.stop.isEnabled()
        s.method.stop.click()
        await finished

    run_async(loop, scenario())
    qtbot.waitUntil(lambda: not w.runner.is_draining(), timeout=30_000)
    w.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux nice values")
def test_a_job_runs_at_the_windows_priority(qtbot: QtBot) -> None:
    seen: list[int] = []

    def job() -> Generator[Any, None, None]:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        yield from ()

    handle = JobHandle(job)
    with qtbot.waitSignal(handle.finished, timeout=10_000):
        handle.start()
    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [gui]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux nice values")
def test_a_batch_runs_its_fit_at_the_windows_priority(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    """Through the window's own queue runner, not only a bare job handle: a fit
    niced or put in an idle scheduling class crawls when anything else runs."""
    seen: list[tuple[int, int]] = []

    def fit(
        path: Path, request: RunRequest, root: Path | None, finish: Any
    ) -> Generator[Any, None, FileOutcome]:
        tid = threading.get_native_id()
        seen.append((os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid)))
        yield Progress(1, 1, "fitting")
        out = path.with_name(f"{path.stem}_fit_x2.png")
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(out)
        return FileOutcome(output=out, seconds=0.01)

    w = _window(qtbot, store, fit)
    _queue(qtbot, w, images[:1])
    w.studio.method.method.setCurrentIndex(w.studio.method.method.findData("fake"))

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(w.runner.batch_finished)
        w.studio.method.start.click()
        return await finished  # type: ignore[return-value]

    assert run_async(loop, scenario()) == (1, 0, False)
    gui = threading.get_native_id()
    assert seen == [(os.getpriority(os.PRIO_PROCESS, gui), os.sched_getscheduler(gui))]
    w.close()


def test_the_window_warms_the_engine_up_off_the_gui_thread_at_launch(
    qtbot: QtBot, store: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window as the app makes it (warm-up on by default) starts the
    warm-up job at once, in a worker thread, and says when the engine is ready."""
    ran: list[int] = []

    def warm_up() -> Generator[Any, None, str]:
        ran.append(threading.get_ident())
        yield Progress(0, 1, "warming up")
        return "9.9"

    monkeypatch.setattr(job_factories, "warm_up_job", warm_up)
    w = MainWindow(store, factory=SlowFit(), methods_job=fake_methods)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: "engine ready" in w.studio.log.plain_text(), timeout=10_000)
    assert ran and ran[0] != threading.get_ident()
    assert "torch 9.9" in w.studio.log.plain_text()
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    w.close()


def test_the_warm_up_imports_what_the_first_optimiser_step_needs() -> None:
    """Made before the first fit, an optimiser imports torch._dynamo (seconds
    of imports holding the GIL, which froze the window); the warm-up does it,
    then freezes what the imports made out of the garbage collector's way."""
    code = (
        "import sys; from engine import jobs; "
        "from unsr_app.job_factories import warm_up_job; "
        "import gc; "
        "before = 'torch._dynamo' in sys.modules; jobs.run(warm_up_job()); "
        "print(before, 'torch._dynamo' in sys.modules, "
        "'engine.methods.dualsr.fit' in sys.modules, gc.get_freeze_count() > 1e5)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    # The import-time objects are frozen: the collector's full passes (which
    # hold the GIL) no longer walk them.
    assert out == ["False", "True", "True", "True"]


@pytest.fixture
def photo(tmp_path: Path) -> Iterator[Path]:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:72, 0:72] / 72
    img = np.stack([xx, yy, 0.5 + 0.4 * np.sin(9 * xx + 5 * yy)], axis=2)
    img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    path = tmp_path / "photo.png"
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    yield path


def test_stop_and_keep_on_a_real_dualsr_fit_writes_the_result_so_far(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop, photo: Path
) -> None:
    w = MainWindow(store, warm_up=False)  # the real method list and file jobs
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=60_000):
        w.show()
    qtbot.waitUntil(w.is_idle, timeout=60_000)
    s = w.studio
    _queue(qtbot, w, [photo])
    s.method.set_request(RunRequest(method="dualsr", scale=2, profile="fast"))
    steps: list[int] = []

    async def scenario() -> tuple[int, int, bool]:
        finished = next_emission(w.runner.batch_finished, timeout=300)

        def on_progress(_item: object, event: Any) -> None:
            if event.stage == "fitting":
                steps.append(event.step)
                if event.step >= 3 and s.method.keep.isEnabled():
                    s.method.keep.click()

        w.runner.progressed.connect(on_progress)
        s.method.start.click()
        return await finished  # type: ignore[return-value]

    assert run_async(loop, scenario(), timeout=300) == (1, 0, True)
    (item,) = s.queue.items()
    assert item.status == "done" and item.output is not None
    with Image.open(item.output) as out:
        assert out.size == (144, 144)
    assert max(steps) < 1400  # the fast profile's 1400 iterations were not run
    assert "learnt so far" in s.log.plain_text()
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    w.close()


def test_the_window_collects_garbage_on_the_gui_thread_only(
    qtbot: QtBot, store: QSettings
) -> None:
    import gc

    from unsr_app import gc_guard

    w = MainWindow(store, warm_up=False)
    qtbot.addWidget(w)
    assert not gc.isenabled()  # no collection may start on the worker thread
    collector = gc_guard.install()
    assert collector is gc_guard.install()  # one per application

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    before = gc.get_count()[0]
    junk = [Cycle() for _ in range(gc.get_threshold()[0] + 10)]
    del junk
    assert gc.get_count()[0] > before
    qtbot.waitUntil(lambda: gc.get_count()[0] < before + 10, timeout=5000)
    gc_guard.uninstall()
    assert gc.isenabled()
