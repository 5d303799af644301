"""The studio's Start on a Ray cluster: Settings, progress, statuses, history, Stop.

One local 2-CPU Ray serves the module (starting one takes seconds), bound to
127.0.0.1 and started the way the app's "local" address starts it; the
window's batch joins it. The batch runs through the worker: the GUI thread
only receives what the controller says.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from engine.cluster import connect
from engine.store import Store
from tests.app.fakes import GapMeter, drop_files, next_emission, run_async
from tests.cluster.helpers import (
    hidden_files,
    is_loopback,
    listening,
    local_cluster,
    photos,
    ray_pids,
)
from unsr_app.main_window import MainWindow

# Before Ray is imported anywhere: a local Ray listens on loopback only.
connect.prepare_local_env()

# The first test also waits for the module's Ray to start and for its
# workers to import the engine: more than the suite's 120 s on a loaded box.
pytestmark = pytest.mark.timeout(300)

#: The longest the GUI thread may go without handling its events while a
#: cluster batch runs, beyond the machine's own noise.
LIMIT_S = 0.150


@pytest.fixture(scope="module")
def local_ray() -> Iterator[connect.Session]:
    pytest.importorskip("ray")
    with local_cluster(num_cpus=2) as session:
        yield session


@pytest.fixture
def window(
    qtbot: QtBot,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
    local_ray: connect.Session,
) -> Iterator[MainWindow]:
    """The real window and engine, bicubic ×2 selected, at its minimum size."""
    w = MainWindow(store, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.methods_loaded, timeout=60_000):
        w.show()
    w.resize(960, 600)
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    s = w.studio
    s.method.method.setCurrentIndex(s.method.method.findData("bicubic"))
    yield w
    qtbot.waitUntil(lambda: w.is_idle() and not w.runner.is_draining(), 60_000)
    w.close()


def _queue(qtbot: QtBot, w: MainWindow, paths: list[Path]) -> None:
    """Drop ``paths`` on the queue, as a person would."""
    with qtbot.waitSignal(w.studio.queue.items_added, timeout=30_000):
        assert drop_files(w.studio.queue.list.viewport(), paths)
    qtbot.waitUntil(w.is_idle, timeout=30_000)


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it ended meanwhile
        return b""


def _set_cluster_in_settings(qtbot: QtBot, w: MainWindow, address: str) -> None:
    dialog = w.open_settings()
    assert dialog.isVisible()
    dialog.address.clear()
    qtbot.keyClicks(dialog.address, address)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.settings_dialog is None, timeout=5_000)


def test_start_runs_the_queue_on_the_cluster(
    qtbot: QtBot,
    window: MainWindow,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
) -> None:
    w, s = window, window.studio
    good = photos(tmp_path / "in", 2)
    damaged = tmp_path / "in" / "zz_damaged.png"
    damaged.write_bytes(good[0].read_bytes())
    _queue(qtbot, w, [*good, damaged])
    # Damaged after it was queued (a copy cut short): the worker finds out.
    damaged.write_bytes(damaged.read_bytes()[:60])

    _set_cluster_in_settings(qtbot, w, "local")
    assert store.value("cluster/address") == "local"
    assert s.method.start.text() == "Start on cluster"

    seen = []
    w.runner.progressed.connect(lambda _item, event: seen.append(event))
    meter = GapMeter()
    meter.calibrate(qtbot)

    async def run() -> tuple[int, int, bool]:
        history = next_emission(w.history_loaded, timeout=240)
        finished = next_emission(w.runner.batch_finished, timeout=240)
        s.method.start.click()
        result = await finished
        await history
        return result  # type: ignore[return-value]

    assert run_async(loop, run(), timeout=260) == (2, 1, False)
    gap = meter.stop()

    items = s.queue.items()
    assert [i.status for i in items] == ["done", "done", "failed"]
    reason = items[2].detail
    for item, source in zip(items[:2], good, strict=True):
        expected = source.with_name(f"{source.stem}_bicubic_x2.png")
        assert item.output == expected and expected.is_file()
        assert item.detail == expected.name
    assert not (tmp_path / "in" / "zz_damaged_bicubic_x2.png").exists()
    assert hidden_files(tmp_path / "in") == []  # no part or claim file left

    # The progress bar followed the files; the log and the history have them.
    batch = [e for e in seen if e.stage == "cluster batch"]
    assert batch and (batch[-1].step, batch[-1].total) == (3, 3)
    assert s.progress.label.text() == "Batch finished: 2 done, 1 failed"
    log = s.log.plain_text()
    assert "Ray cluster at 127.0.0.1:" in log
    assert f"zz_damaged.png failed: {reason}" in log
    runs = s.history.runs()
    assert sorted((r.input.name, r.status) for r in runs if r.input) == [
        ("p00.png", "done"),
        ("p01.png", "done"),
        ("zz_damaged.png", "failed"),
    ]
    assert {r.method for r in runs} == {"bicubic"}
    assert len(Store().runs()) == 3
    assert gap < LIMIT_S, f"the GUI thread waited {gap * 1000:.0f} ms"

    # The same bytes and the same reason as the local path.
    from engine import batch as batches
    from engine.io.images import ImageError
    from engine.jobs import run as run_job

    for source in good:
        local = tmp_path / "local" / f"{source.stem}.png"
        run_job(batches.process_file(source, local, "bicubic", 2))
        ours = source.with_name(f"{source.stem}_bicubic_x2.png")
        assert local.read_bytes() == ours.read_bytes()
    with pytest.raises(ImageError) as local_error:
        run_job(batches.process_file(damaged, tmp_path / "d.png", "bicubic", 2))
    assert reason == local_error.value.reason

    # Everything the cluster's processes listen on is 127.0.0.1; no dashboard.
    pids = ray_pids(os.environ["RAY_TMPDIR"])
    addresses = listening(pids)
    assert addresses and all(map(is_loopback, addresses)), addresses
    assert not any(b"dashboard" in _command(pid) for pid in pids)


def test_stop_cancels_the_cluster_batch(
    qtbot: QtBot,
    window: MainWindow,
    loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
) -> None:
    import ray

    w, s = window, window.studio
    files = photos(tmp_path / "in", 12)
    _queue(qtbot, w, files)
    w.set_cluster("local")

    async def stop_early() -> tuple[int, int, bool]:
        finished = next_emission(w.runner.batch_finished, timeout=120)
        progressed = next_emission(w.runner.progressed, timeout=120)
        s.method.start.click()
        await progressed  # the controller is checking the nodes
        s.method.stop.click()
        return await finished  # type: ignore[return-value]

    done, failed, stopped = run_async(loop, stop_early(), timeout=150)
    assert stopped and failed == 0
    items = s.queue.items()
    cancelled = [i for i in items if i.status == "cancelled"]
    assert cancelled and all(i.detail == "stopped" for i in cancelled)
    assert done + len(cancelled) == len(files)
    assert s.progress.bar.format().startswith("cancelled")
    assert "Batch stopped" in s.log.plain_text()
    assert s.method.start.isEnabled() and not s.method.stop.isEnabled()

    # The job's thread ends and the cluster is free again: its workers gone,
    # no claim or part file left, only the outputs of files done.
    qtbot.waitUntil(lambda: not w.runner.is_draining(), timeout=60_000)
    qtbot.waitUntil(
        lambda: ray.available_resources().get("CPU", 0) == 2, timeout=30_000
    )
    assert hidden_files(tmp_path / "in") == []
    written = sorted(p for p in (tmp_path / "in").iterdir() if "_bicubic_" in p.name)
    assert len(written) == sum(i.status == "done" for i in items)
