"""The Cluster field of Settings: remembered, checked, and honest without Ray.

No Ray is started here (tests/app/test_app_cluster.py runs batches on one).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from tests.app.fakes import fake_fit, fake_methods, next_emission, run_async
from unsr_app import cluster, settings
from unsr_app.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]


def _window(qtbot: QtBot, store: QSettings) -> MainWindow:
    w = MainWindow(store, factory=fake_fit, methods_job=fake_methods, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=10_000):
        w.show()
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    return w


@pytest.fixture
def window(
    qtbot: QtBot, store: QSettings, loop: asyncio.AbstractEventLoop
) -> Iterator[MainWindow]:
    w = _window(qtbot, store)
    yield w
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    w.close()


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("", True),
        ("local", True),
        ("auto", True),
        ("10.0.0.5:6379", True),
        ("ray://head.example:10001", True),
        ("[::1]:6379", True),
        ("head", False),
        ("http://head:8265", False),
        ("head:99999", False),
    ],
)
def test_cluster_addresses(address: str, ok: bool) -> None:
    assert (cluster.address_problem(address) is None) is ok


def test_the_address_is_checked_saved_and_shown_on_start(
    qtbot: QtBot, window: MainWindow, store: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(window, "ray_version", "2.60.0")
    dialog = window.open_settings()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled() and "batches run on this machine" in dialog.status.text()
    qtbot.keyClicks(dialog.address, "head")
    assert not ok.isEnabled() and "not a cluster address" in dialog.status.text()
    qtbot.keyClicks(dialog.address, ":6379")
    assert ok.isEnabled() and "Start sends the queue" in dialog.status.text()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.settings_dialog is None, timeout=5_000)
    assert window.cluster_address() == "head:6379"
    assert window.studio.method.start.text() == "Start on cluster"
    assert "head:6379" in window.studio.method.start.toolTip()
    assert settings.load(store).cluster == "head:6379"
    # Saving the window keeps it; a new window starts with it.
    window.save_settings()
    assert settings.load(store).cluster == "head:6379"
    store.setValue("cluster/address", "not an address")
    assert settings.load(store).cluster == ""


def test_without_ray_the_field_says_so_and_the_batch_stays_here(
    qtbot: QtBot,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
) -> None:
    monkeypatch.setattr(cluster, "ray_version", lambda: None)
    store.setValue("cluster/address", "local")
    w = _window(qtbot, store)
    s = w.studio
    assert s.method.start.text() == "Start" and w.cluster_address() == ""
    dialog = w.open_settings()
    assert dialog.address.text() == "local"
    line = dialog.status.text()
    assert "Ray is not installed" in line and "install unsr[cluster]" in line
    dialog.reject()
    with qtbot.waitSignal(s.queue.items_added, timeout=30_000):
        s.queue.add_paths(images[:1])
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    s.method.method.setCurrentIndex(s.method.method.findData("bicubic"))

    async def run() -> tuple[int, int, bool]:
        finished = next_emission(w.runner.batch_finished)
        s.method.start.click()
        return await finished  # type: ignore[return-value]

    # The local loop ran it: the fake job wrote its file, one item at a time.
    assert run_async(loop, run()) == (1, 0, False)
    assert s.queue.items()[0].output == images[0].with_name("img0_fake_x2.png")
    log = s.log.plain_text()
    assert "Ray is not installed here: batches run on this machine" in log
    assert "started bicubic ×2 on 1\n" in log and "Ray cluster at" not in log
    qtbot.waitUntil(w.is_idle, timeout=10_000)
    w.close()


def test_looking_for_ray_does_not_import_it() -> None:
    # A local Ray keeps to 127.0.0.1 only if its switches are set before
    # Ray's first import, which the engine does when a batch starts.
    code = (
        "import sys; from unsr_app import cluster; "
        "from unsr_app.widgets import settings_dialog; "
        "cluster.ray_version(); print('ray' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "False"
