"""Fixtures for the studio's tests: temp settings, a qasync loop, fake jobs.

Every test fails if it leaves a worker thread running (napari's rule).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from unsr_app import gc_guard, worker


@pytest.fixture(autouse=True)
def _no_thread_left_running(qapp: QApplication) -> Iterator[None]:
    """Fail any test that leaves a QThread of ours running.

    Each test's garbage is collected here, on the GUI thread, and the window's
    GUI-thread collector is stopped: a later test's worker thread must not be
    the one that collects this test's widgets (unsr_app.gc_guard says why).
    """
    yield
    gc_guard.uninstall()
    gc.collect()
    deadline = time.monotonic() + 0.5
    while worker.live_threads() and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    left = worker.live_threads()
    for thread in left:
        thread.quit()
        thread.wait(5000)
    assert not left, f"{len(left)} QThread(s) still running after the test"


@pytest.fixture
def store(tmp_path: Path) -> QSettings:
    """Settings in a temp file, never the user's."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop over the test's QApplication."""
    import qasync

    ev = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(ev)
    yield ev
    ev.close()
    asyncio.set_event_loop(None)
    # A closed qasync loop's Qt timers (the timeouts of wait_for, cancelled
    # but not yet fired) are killed only when they fire; were the loop freed
    # first, a later test's event loop would deliver them to a deleted object
    # and crash. Kept alive, the stopped timer kills each one as it fires.
    _CLOSED_LOOPS.append(ev)


_CLOSED_LOOPS: list[asyncio.AbstractEventLoop] = []


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """Three tiny PNGs."""
    paths = []
    for i in range(3):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((6, 8, 3), 40 * i, np.uint8)).save(p)
        paths.append(p)
    return paths
