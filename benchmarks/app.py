"""Measure the studio's responsiveness: launch time, GUI stalls during a fit, Stop.

Usage (from the project root):

    python benchmarks/app.py            # print the figures
    python benchmarks/app.py --record   # also append them to docs/benchmarks.md

1. Launch: seconds from process start to a shown, painted window
   (``python -m unsr_app --report-startup``, offscreen), median of 3, next to
   the time ``python -c "import torch"`` takes on the same machine.
2. GUI stall: the longest gap of a 10 ms QTimer heartbeat on the GUI thread,
   idle and while the window runs a fit. The fit is DualSR when it is
   registered, and always a synthetic fit with DualSR's event profile (a small
   torch net trained on CPU, losses every step, the kernel every 10 steps, a
   512x512 preview every 2 s), so the figure exists before DualSR lands.
3. Stop latency: seconds from Stop to the item reported cancelled.
4. A real DualSR fit through the window (the engine's file job, the fast
   profile unless ``--fit-iters`` shortens it) while ``unsr fit`` fits the
   same photo in another process at the same time: the GUI's longest stall in
   the first 10 s of the fit and over the whole fit, and the seconds per
   iteration of both (the window's worker must not crawl beside other work).
5. Stop with slow iterations: a DualSR fit whose iterations take seconds
   (the paper profile with 8 crops a step, one torch thread) is stopped at
   random moments: seconds from Stop to an idle window (Start enabled), and
   to the stopped job's thread having ended.
6. GUI stall during a model import: the same heartbeat while the Models page
   adds a large model file (ESRGAN x4, 64 features, 23 blocks: ~67 MB, a full
   spandrel load) and imports an ncnn folder (conversion plus verification),
   after the launch warm-up, in temporary model and data folders.

``--skip-fit`` measures only 1 and 6 (a short run to check the program);
``--fit-iters 60 --stops 2`` makes 4 and 5 short.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def launch_seconds(runs: int = 3) -> tuple[float, float]:
    """Median seconds to a shown window, and to `import torch` for scale."""
    shown = []
    for _ in range(runs):
        env = dict(os.environ, UNSR_T0=repr(time.time()))
        out = subprocess.run(
            [sys.executable, "-m", "unsr_app", "--report-startup"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        line = next(x for x in out.splitlines() if x.startswith("window-shown"))
        shown.append(float(line.split()[1]))
    torch_s = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        torch_s.append(time.perf_counter() - t0)
    return statistics.median(shown), statistics.median(torch_s)


def synthetic_fit(seconds: float) -> Any:
    """A job factory with DualSR's event profile and real CPU torch work."""

    def factory(
        path: Path, request: Any, root: Path | None, finish: Any = None
    ) -> Generator[Any, None, Any]:
        import numpy as np
        import torch
        from torch import nn

        from engine.events import Kernel, Losses, Preview, Progress
        from unsr_app.requests import FileOutcome

        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 12, 3, padding=1),
            nn.PixelShuffle(2),
        )
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        image = torch.rand(1, 3, 256, 256)
        start = last_preview = time.perf_counter()
        step = 0
        while time.perf_counter() - start < seconds:
            step += 1
            x = torch.rand(8, 3, 48, 48)
            y = net(x)
            loss = (y[:, :, ::2, ::2] - x).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            elapsed = time.perf_counter() - start
            yield Progress(step, 0, "fitting", max(0.0, seconds - elapsed))
            yield Losses(step, {"cycle": loss.item(), "gan": 1 / step, "kernel": 0.1})
            if step % 10 == 0:
                k = np.outer(np.hanning(13), np.hanning(13)).astype(np.float32)
                yield Kernel(step, k / k.sum())
            if time.perf_counter() - last_preview > 2.0:
                last_preview = time.perf_counter()
                with torch.no_grad():
                    out = net(image).clamp(0, 1)[0].permute(1, 2, 0).numpy()
                yield Preview(step, np.ascontiguousarray(out, np.float32))
        return FileOutcome(output=path, seconds=time.perf_counter() - start)

    return factory


def stall_ms(
    factory: Any, method: str, image: Path, seconds: float
) -> dict[str, float]:
    """Heartbeat gaps (ms) idle and during one fit; then the Stop latency."""
    import qasync
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from unsr_app.app import create_application
    from unsr_app.main_window import MainWindow

    app = create_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "unsr-bench-settings.ini"
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def beat() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    holder: list[MainWindow] = []

    async def measure() -> dict[str, float]:
        # Control: the same heartbeat before the window does anything, which
        # is the machine's own scheduling noise.
        timer.start()
        await asyncio.sleep(3.0)
        control = max(gaps)
        timer.stop()
        gaps.clear()
        window = MainWindow(QSettings(str(tmp), QSettings.Format.IniFormat), factory)
        holder.append(window)
        window.resize(1440, 900)
        gaps.clear()
        last[0] = clock.elapsed()
        timer.start()
        window.show()
        finished = asyncio.Event()
        window.runner.batch_finished.connect(lambda *_: finished.set())
        while not window.studio.method.methods() or not window.is_idle():
            await asyncio.sleep(0.05)
        startup = max(gaps)  # torch loads in the background meanwhile
        gaps.clear()
        await asyncio.sleep(3.0)
        idle = max(gaps)
        gaps.clear()
        added = asyncio.Event()
        window.studio.queue.items_added.connect(lambda *_: added.set())
        window.studio.queue.add_paths([image])
        await added.wait()
        window.studio.method.set_request(
            window.studio.method.request().__class__(method=method, scale=2)
        )
        window._on_method_start_clicked()
        await finished.wait()
        busy = sorted(gaps)
        result = {
            "control_max_ms": control - 10,
            "startup_max_ms": startup - 10,
            "idle_max_ms": idle - 10,
            "fit_max_ms": busy[-1] - 10,
            "fit_p99_ms": busy[int(len(busy) * 0.99)] - 10,
        }
        # Stop latency on a second, long run of the same fit.
        finished.clear()
        for item in window.studio.queue.items():
            item.status = "queued"
        window._on_method_start_clicked()
        await asyncio.sleep(3.0)
        t0 = time.perf_counter()
        window._on_method_stop_clicked()
        await finished.wait()
        result["stop_s"] = time.perf_counter() - t0
        timer.stop()
        return result

    with loop:
        out = loop.run_until_complete(measure())
        holder[0].close()
    return out


def dualsr_job(params: Any, threads: int | None = None) -> Any:
    """The window's file job for DualSR with ``params`` (the engine's own path)."""

    def factory(
        path: Path, request: Any, root: Path | None, finish: Any = None
    ) -> Generator[Any, None, Any]:
        from engine import batch
        from engine.methods.base import RunContext
        from unsr_app.job_factories import output_path
        from unsr_app.requests import FileOutcome

        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        out = output_path(path, request, root)
        result = yield from batch.process_file(
            path,
            out,
            "dualsr",
            2,
            params=params,
            context=RunContext(device="cpu", finish_early=finish),
        )
        return FileOutcome(output=result.output, seconds=result.seconds)

    return factory


class _Heartbeat:
    """A 10 ms QTimer on the GUI thread; its gaps, stamped, are the stalls."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.beats: list[tuple[float, float]] = []  # (time, gap in ms)
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        self.beats.append((now, (now - self._last) * 1000 - 10))
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def worst(self, start: float, end: float) -> float:
        """The longest stall (ms) between two perf_counter times."""
        return max((g for t, g in self.beats if start <= t <= end), default=0.0)

    def p99(self, start: float, end: float) -> float:
        gaps = sorted(g for t, g in self.beats if start <= t <= end)
        return gaps[int(len(gaps) * 0.99)] if gaps else 0.0


def _per_iteration(stamps: list[tuple[float, int]]) -> float:
    """Seconds per iteration from (time, step) pairs, the first tenth skipped."""
    if len(stamps) < 4:
        return float("nan")
    steady = stamps[len(stamps) // 10 :]
    (t0, s0), (t1, s1) = steady[0], steady[-1]
    return (t1 - t0) / max(1, s1 - s0)


def _cli_fit(image: Path, iters: int, out: Path) -> tuple[Any, list[tuple[float, int]]]:
    """Start ``unsr fit`` on ``image``; its (time, iteration) pairs fill as it runs."""
    import re
    import threading

    cmd = [
        sys.executable, "-m", "engine.cli", "fit", str(image), "--profile", "fast",
        "--iters", str(iters), "--device", "cpu", "-o", str(out), "--overwrite",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    stamps: list[tuple[float, int]] = []
    pattern = re.compile(rb"fitting (\d+)/")

    def read() -> None:
        assert proc.stderr is not None
        tail = b""  # a line may arrive split over two reads
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            tail = (tail + chunk)[-256:]
            found = pattern.findall(tail)
            step = int(found[-1]) if found else 0
            if step and (not stamps or step > stamps[-1][1]):
                stamps.append((time.perf_counter(), step))

    threading.Thread(target=read, daemon=True).start()
    return proc, stamps


def _window(factory: Any) -> Any:
    from PySide6.QtCore import QSettings

    from unsr_app.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="unsr-bench-")) / "settings.ini"
    window = MainWindow(QSettings(str(tmp), QSettings.Format.IniFormat), factory)
    window.resize(1440, 900)
    return window


async def _until(condition: Any, timeout: float = 3600) -> None:
    end = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError("the window did not get there in time")
        await asyncio.sleep(0.02)


def real_fit(image: Path, iters: int) -> dict[str, float]:
    """GUI stalls during a real DualSR fit, and its pace beside ``unsr fit``."""
    import qasync

    from engine.methods.dualsr import FAST
    from unsr_app.app import create_application
    from unsr_app.requests import RunRequest

    app = create_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    beat = _Heartbeat()

    async def measure() -> dict[str, float]:
        window = _window(dualsr_job(FAST.with_(iters=iters)))
        beat.start()
        window.show()
        await asyncio.sleep(0.5)
        await _until(lambda: window.studio.method.methods() and window.is_idle())
        window.studio.queue.add_paths([image])
        await _until(lambda: bool(window.studio.queue.items()) and window.is_idle())
        window.studio.method.set_request(RunRequest(method="dualsr", scale=2))
        steps: list[tuple[float, int]] = []
        window.runner.progressed.connect(
            lambda _i, e: (
                steps.append((time.perf_counter(), e.step))
                if e.stage == "fitting"
                else None
            )
        )
        out = Path(tempfile.mkdtemp(prefix="unsr-bench-")) / "cli.png"
        proc, cli_steps = _cli_fit(image, iters, out)
        start = time.perf_counter()
        window._on_method_start_clicked()
        await _until(lambda: not window.runner.is_running())
        end = time.perf_counter()
        while proc.poll() is None:
            await asyncio.sleep(0.2)
        beat.timer.stop()
        window.close()
        return {
            "first10_ms": beat.worst(start, start + 10),
            "whole_ms": beat.worst(start, end),
            "whole_p99_ms": beat.p99(start, end),
            "fit_s": end - start,
            "app_s_per_iter": _per_iteration(steps),
            "cli_s_per_iter": _per_iteration(cli_steps),
        }

    with loop:
        return loop.run_until_complete(measure())


def stop_latency(image: Path, stops: int) -> dict[str, float]:
    """Stop a fit with slow iterations at random moments; seconds to idle."""
    import random

    import qasync

    from engine.methods.dualsr import PAPER
    from unsr_app.app import create_application
    from unsr_app.requests import RunRequest

    app = create_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    rng = random.Random(0)

    async def measure() -> dict[str, float]:
        window = _window(dualsr_job(PAPER.with_(batch=8), threads=1))
        window.show()
        await _until(lambda: window.studio.method.methods() and window.is_idle())
        window.studio.queue.add_paths([image])
        await _until(lambda: bool(window.studio.queue.items()) and window.is_idle())
        window.studio.method.set_request(RunRequest(method="dualsr", scale=2))
        steps: list[tuple[float, int]] = []
        window.runner.progressed.connect(
            lambda _i, e: (
                steps.append((time.perf_counter(), e.step))
                if e.stage == "fitting"
                else None
            )
        )
        idle, ended, per_iter = [], [], []
        for _ in range(stops):
            for item in window.studio.queue.items():
                item.status = "queued"
            steps.clear()
            window._on_method_start_clicked()
            await _until(lambda: len(steps) >= 4)  # a few slow iterations in
            per_iter.append(_per_iteration(steps))
            await asyncio.sleep(rng.uniform(0, per_iter[-1]))
            t0 = time.perf_counter()
            window.studio.method.stop.click()
            await _until(
                lambda: (
                    not window.runner.is_running()
                    and window.studio.method.start.isEnabled()
                )
            )
            idle.append(time.perf_counter() - t0)
            await _until(lambda: not window.runner.is_draining())
            ended.append(time.perf_counter() - t0)
        window.close()
        return {
            "s_per_iter": statistics.median(per_iter),
            "idle_max_s": max(idle),
            "idle_median_s": statistics.median(idle),
            "ended_max_s": max(ended),
            "ended_median_s": statistics.median(ended),
        }

    with loop:
        return loop.run_until_complete(measure())


def import_stall_ms() -> dict[str, float]:
    """Heartbeat gaps (ms) while the Models page adds a model and imports ncnn."""
    import qasync
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from tests import model_factory as mf
    from tests import ncnn_export as nx
    from unsr_app.app import create_application
    from unsr_app.main_window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="unsr-bench-models-"))
    big = mf.save(mf.rrdb(scale=4, nf=64, nb=23), work / "4x-esrgan-size.pth")
    ncnn_dir = work / "ncnn"
    ncnn_dir.mkdir()
    nx.export_rrdb(mf.rrdb(scale=4, nf=32, nb=2), ncnn_dir, "x4-ncnn")
    app = create_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    clock = QElapsedTimer()
    clock.start()
    gaps: list[float] = []
    last = [clock.elapsed()]

    def beat() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)

    async def idle(window: MainWindow) -> None:
        while not window.is_idle():
            await asyncio.sleep(0.05)

    async def during(window: MainWindow, action: Any) -> tuple[float, float]:
        gaps.clear()
        last[0] = clock.elapsed()
        start = time.perf_counter()
        action()
        await idle(window)
        return max(gaps) - 10, time.perf_counter() - start

    async def measure() -> dict[str, float]:
        window = MainWindow(settings)
        window.resize(1440, 900)
        timer.start()
        window.show()
        await asyncio.sleep(0.5)
        await idle(window)  # the launch warm-up (torch, spandrel)
        window.show_page("models")
        await idle(window)
        page = window.models_page
        add_ms, add_s = await during(window, lambda: page.add_files([big]))
        ncnn_ms, ncnn_s = await during(window, lambda: page.import_folder(ncnn_dir))
        timer.stop()
        window.close()
        return {"add_ms": add_ms, "add_s": add_s, "ncnn_ms": ncnn_ms, "ncnn_s": ncnn_s}

    with loop:
        return loop.run_until_complete(measure())


def _half_size(image: Path) -> Path:
    """``image`` halved (a 300x200 photo: a DualSR fit of minutes, not hours)."""
    from PIL import Image

    out = image.with_name(f"{image.stem}-half.png")
    with Image.open(image) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--fit-seconds", type=float, default=20.0)
    parser.add_argument("--skip-fit", action="store_true", help="launch and import")
    parser.add_argument(
        "--fit-iters", type=int, default=1400, help="iterations of the real fit"
    )
    parser.add_argument(
        "--stops", type=int, default=5, help="Stops timed on the slow fit"
    )
    args = parser.parse_args()
    # Models and runs go to temp folders, never the user's.
    for var in ("UNSR_MODELS_DIR", "UNSR_DATA_DIR"):
        os.environ[var] = tempfile.mkdtemp(prefix="unsr-bench-")
    # A copy in a temp folder: outputs go beside their input, never into resources/.
    image = Path(tempfile.mkdtemp(prefix="unsr-bench-")) / "coffee.png"
    shutil.copy(ROOT / "resources" / "samples" / "coffee.png", image)

    shown, torch_s = launch_seconds()
    lines = [
        f"- launch to a shown window: **{shown:.2f} s** (median of 3; "
        f"`import torch` alone takes {torch_s:.2f} s, so the window does not wait "
        f"for it: ratio {shown / torch_s:.2f})",
    ]
    print(lines[-1])
    stall = import_stall_ms()
    lines.append(
        f"- GUI thread while the Models page adds a ~67 MB ESRGAN model "
        f"({stall['add_s']:.1f} s in a worker): longest stall "
        f"**{stall['add_ms']:.0f} ms**; while it imports an ncnn folder "
        f"({stall['ncnn_s']:.1f} s): **{stall['ncnn_ms']:.0f} ms**"
    )
    print(lines[-1])
    if args.skip_fit:
        return 0
    synth = stall_ms(
        synthetic_fit(args.fit_seconds), "bicubic", image, args.fit_seconds
    )
    lines.append(
        f"- GUI thread, synthetic DualSR-profile fit ({args.fit_seconds:.0f} s of "
        f"CPU torch training, losses every step, 512x512 preview every 2 s): "
        f"longest stall **{synth['fit_max_ms']:.0f} ms**, p99 "
        f"{synth['fit_p99_ms']:.0f} ms (idle window: {synth['idle_max_ms']:.0f} ms; "
        f"bare event loop, no window: {synth['control_max_ms']:.0f} ms; "
        f"while torch loads in the background after launch: "
        f"{synth['startup_max_ms']:.0f} ms); "
        f"Stop to cancelled: {synth['stop_s']:.2f} s"
    )
    print(lines[-1])
    photo = _half_size(image)
    real = real_fit(photo, args.fit_iters)
    lines.append(
        f"- GUI thread, real DualSR fit (fast profile, {args.fit_iters} iterations, "
        f"coffee.png halved to 300x200, {real['fit_s']:.0f} s): longest stall in "
        f"the first 10 s **{real['first10_ms']:.0f} ms**, over the whole fit "
        f"**{real['whole_ms']:.0f} ms** (p99 {real['whole_p99_ms']:.0f} ms); "
        f"{real['app_s_per_iter']:.3f} s per iteration in the window beside "
        f"{real['cli_s_per_iter']:.3f} s for `unsr fit` of the same photo at the "
        "same time"
    )
    print(lines[-1])
    slow = stop_latency(photo, args.stops)
    lines.append(
        f"- Stop during a fit with slow iterations ({slow['s_per_iter']:.1f} s each: "
        f"paper profile, 8 crops a step, one thread), {args.stops} Stops at random "
        f"moments: window idle after **{slow['idle_max_s']:.2f} s** at most "
        f"(median {slow['idle_median_s']:.2f} s); the stopped job's thread ended "
        f"after {slow['ended_max_s']:.2f} s at most (median "
        f"{slow['ended_median_s']:.2f} s)"
    )
    print(lines[-1])
    if args.record:
        doc = ROOT / "docs" / "benchmarks.md"
        doc.parent.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n## Studio responsiveness ({stamp})\n\n"
            "Command: `QT_QPA_PLATFORM=offscreen python benchmarks/app.py --record` "
            f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the "
            "end, the benchmark's own fits included; targets: window < 2 s, stall "
            "< 100 ms).\n\n" + "\n".join(lines) + "\n"
        )
        # Replace this benchmark's own section; keep everyone else's.
        text = doc.read_text() if doc.exists() else "# Benchmarks\n"
        start = text.find("\n## Studio responsiveness")
        if start >= 0:
            end = text.find("\n## ", start + 1)
            text = text[:start] + (text[end:] if end >= 0 else "")
        doc.write_text(text.rstrip() + "\n" + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
