"""The worker thread bridge and the queue runner."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from tests.app.fakes import fake_fit, fake_slow, run_async
from unsr_app.queue_runner import QueueRunner
from unsr_app.requests import QueueItem, RunRequest
from unsr_app.worker import JobHandle, PreviewFrame, live_threads


def test_signals_arrive_in_order(qtbot: QtBot, images: list[Path]) -> None:
    handle = JobHandle(lambda: fake_fit(images[0], RunRequest(), steps=1))
    signals = [
        handle.message,
        handle.progressed,
        handle.losses,
        handle.preview,
        handle.kernel,
        handle.finished,
    ]
    with qtbot.waitSignals(signals, order="strict", timeout=5000):
        handle.start()
    assert not live_threads(), "finished must come after the thread has ended"
    kind, value = handle.outcome  # type: ignore[misc]
    assert kind == "finished"
    assert value.output.exists()


def test_events_carry_their_payload(qtbot: QtBot, images: list[Path]) -> None:
    handle = JobHandle(lambda: fake_fit(images[0], RunRequest(), steps=2))
    got: list[object] = []
    handle.losses.connect(got.append)
    handle.preview.connect(got.append)
    with qtbot.waitSignal(handle.finished, timeout=5000):
        handle.start()
    losses = [e for e in got if hasattr(e, "values")]
    assert [e.step for e in losses] == [1, 2]  # type: ignore[attr-defined]
    previews = [e for e in got if hasattr(e, "image")]
    frame = previews[-1]
    assert isinstance(frame, PreviewFrame) and frame.step == 2
    assert frame.image.size().toTuple() == (12, 8)
    assert frame.image.pixelColor(3, 3).red() == 255  # the float 1.0 preview


def test_stop_cancels_within_a_second(qtbot: QtBot, images: list[Path]) -> None:
    handle = JobHandle(lambda: fake_slow(images[0], RunRequest()))
    with qtbot.waitSignal(handle.progressed, timeout=5000):
        handle.start()
    with qtbot.waitSignal(handle.cancelled, timeout=1000):
        handle.cancel()
    assert handle.outcome == ("cancelled", None)
    assert not handle.is_running()


def test_a_raising_job_fails_with_its_reason(qtbot: QtBot, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    handle = JobHandle(lambda: fake_fit(bad, RunRequest()))
    with qtbot.waitSignal(handle.failed, timeout=5000) as blocker:
        handle.start()
    assert "bad.png" in blocker.args[0]


def test_bad_file_fails_alone_and_the_batch_goes_on(
    qtbot: QtBot, loop: asyncio.AbstractEventLoop, images: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("a text file named .png")
    items = [QueueItem(images[0]), QueueItem(bad), QueueItem(images[1])]
    runner = QueueRunner(fake_fit)
    finished: list[tuple[int, int, bool]] = []
    runner.batch_finished.connect(lambda *a: finished.append(a))
    run_async(loop, runner.run(items, RunRequest()))
    assert [i.status for i in items] == ["done", "failed", "done"]
    assert "bad.png" in items[1].detail
    assert items[0].output is not None and items[0].output.exists()
    assert finished == [(2, 1, False)]


def test_stop_skips_the_rest_of_the_batch(
    qtbot: QtBot, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    items = [QueueItem(p) for p in images]
    runner = QueueRunner(fake_slow)
    runner.progressed.connect(lambda *_: runner.stop())
    run_async(loop, runner.run(items, RunRequest()))
    assert [i.status for i in items] == ["cancelled", "queued", "queued"]


def test_status_follows_the_job_stage(
    qtbot: QtBot, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    seen: list[str] = []
    runner = QueueRunner(partial(fake_fit, steps=1), needs_fit=lambda _m: False)
    runner.item_changed.connect(lambda item: seen.append(item.status))
    run_async(loop, runner.run([QueueItem(images[0])], RunRequest()))
    # Starts as upscaling (no fit expected), the job says "fitting", then done.
    assert seen == ["upscaling", "fitting", "done"]


def test_second_batch_is_refused_while_one_runs(
    qtbot: QtBot, loop: asyncio.AbstractEventLoop, images: list[Path]
) -> None:
    runner = QueueRunner(fake_slow)

    async def scenario() -> tuple[bool, bool]:
        first = runner.start([QueueItem(images[0])], RunRequest())
        second = runner.start([QueueItem(images[1])], RunRequest())
        await asyncio.sleep(0.1)
        runner.stop()
        while runner.is_running():
            await asyncio.sleep(0.02)
        return first, second

    assert run_async(loop, scenario()) == (True, False)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), MemoryError()])
def test_unexpected_errors_become_reasons(qtbot: QtBot, exc: BaseException) -> None:
    def job():  # type: ignore[no-untyped-def]
        yield from ()
        raise exc

    handle = JobHandle(job)
    with qtbot.waitSignal(handle.failed, timeout=5000) as blocker:
        handle.start()
    assert blocker.args[0]
