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
4. GUI stall during a model import: the same heartbeat while the Models page
   adds a large model file (ESRGAN x4, 64 features, 23 blocks: ~67 MB, a full
   spandrel load) and imports an ncnn folder (conversion plus verification),
   after the launch warm-up, in temporary model and data folders.

``--skip-fit`` measures only 1 and 4 (a short run to check the program).
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
        path: Path, request: Any, root: Path | None
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--fit-seconds", type=float, default=20.0)
    parser.add_argument("--skip-fit", action="store_true", help="launch and import")
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
    from engine.methods import available

    if any(m.id == "dualsr" for m in available()):
        real = stall_ms(None, "dualsr", image, 0)
        lines.append(
            f"- GUI thread, real DualSR fit on coffee.png: longest stall "
            f"**{real['fit_max_ms']:.0f} ms**, p99 {real['fit_p99_ms']:.0f} ms; "
            f"Stop to cancelled: {real['stop_s']:.2f} s"
        )
        print(lines[-1])
    else:
        lines.append("- real DualSR: not registered on this branch yet")
    if args.record:
        doc = ROOT / "docs" / "benchmarks.md"
        doc.parent.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n## Studio responsiveness ({stamp})\n\n"
            "Command: `QT_QPA_PLATFORM=offscreen python benchmarks/app.py --record` "
            "(2-core box shared with other jobs; targets: window < 2 s, stall "
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
