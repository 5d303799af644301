"""The application: QApplication, the qasync loop, theme and the screenshot mode."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from unsr_app import settings, theme, worker


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused when one exists, as under pytest-qt)."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(settings.ORGANISATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationDisplayName("unsr")
    app.setDesktopFileName("unsr")
    icon = Path(__file__).resolve().parent.parent / "resources" / "icons" / "unsr.svg"
    app.setWindowIcon(QIcon(str(icon)))
    return app


def run(args: argparse.Namespace) -> int:
    """Open the window (or render it to a PNG) and run until it closes."""
    import qasync

    from unsr_app.main_window import MainWindow

    if args.screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = create_application()
    store = settings.default_store()
    if args.screenshot:
        # A throw-away settings file: a screenshot must not change the user's.
        tmp = Path(tempfile.mkdtemp(prefix="unsr-shot-")) / "settings.ini"
        store = QSettings(str(tmp), QSettings.Format.IniFormat)
    saved = settings.load(store)
    theme.apply(app, args.theme or saved.theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(store)
    if args.size:
        window.resize(args.size)
    # Listen before asking: the queue fills once a worker has expanded them.
    loaded = _wait_signal(window.studio.queue.items_added, 60) if args.load else None
    if args.load:
        window.studio.queue.add_paths(args.load)
    if args.tab:
        window.show_page(args.tab)
    try:
        if args.screenshot:
            with loop:
                return int(loop.run_until_complete(_screenshot(window, args, loaded)))
        window.show()
        if args.report_startup:
            with loop:
                return int(loop.run_until_complete(_report_startup(window)))
        closed = asyncio.Event()
        app.aboutToQuit.connect(closed.set)
        with loop:
            loop.run_until_complete(closed.wait())
        return 0
    finally:
        # Look-ups (method list, history) don't yield: let them end before
        # Python tears the thread objects down.
        # A warm-up import cannot be interrupted halfway: wait for it rather
        # than let Qt abort on a thread destroyed while running.
        worker.wait_all(120_000)


def _wait_signal(signal: object, timeout: float) -> Coroutine[Any, Any, bool]:
    """Listen to a Qt signal now; the result awaits it (False on timeout).

    Connecting at once means an emission before the await is not missed.
    """
    fired = asyncio.Event()
    signal.connect(lambda *_: fired.set())  # type: ignore[attr-defined]

    async def wait() -> bool:
        try:
            await asyncio.wait_for(fired.wait(), timeout)
            return True
        except TimeoutError:
            return False

    return wait()


async def _screenshot(
    window: object,
    args: argparse.Namespace,
    loaded: Coroutine[Any, Any, bool] | None = None,
) -> int:
    """Show the window offscreen, optionally run the queue, and save a PNG.

    With ``--after`` the capture is taken that many seconds into the run (a
    fit in progress, its reference loaded first so live metrics show), then
    the run is stopped; with ``--keep`` as well, Stop & keep is pressed then
    and the capture waits for the result. Otherwise it comes after the run.
    """
    from unsr_app.main_window import MainWindow

    assert isinstance(window, MainWindow)
    s = window.studio
    methods = _wait_signal(window.methods_loaded, 60)
    window.show()
    await methods
    if loaded is not None:
        await loaded
    if args.method or args.scale:
        from dataclasses import replace

        request = s.method.request()
        request = replace(
            request,
            method=args.method or request.method,
            scale=args.scale or request.scale,
            profile=args.profile,
        )
        s.method.set_request(request)
    if args.mode:
        s.viewer.set_mode(args.mode)
    if s.queue.items():
        s.queue.select(s.queue.items()[0])
    live = args.run and args.after is not None and not args.keep
    if args.reference and args.run and args.after is not None:
        await _settle(window, args.timeout)
        shown = _wait_signal(window.view_loaded, args.timeout)
        window.load_reference(args.reference)
        await shown
    if args.run and s.queue.pending():
        finished = _wait_signal(window.runner.batch_finished, args.timeout)
        window._on_method_start_clicked()
        if args.after is None:
            await finished
        elif args.keep:  # stop and keep after a while, capture the result
            await asyncio.sleep(args.after)
            window._on_method_keep_clicked()
            await finished
        else:
            finished.close()  # not awaited: the capture comes mid-run
            await asyncio.sleep(args.after)
    if args.reference and not live:
        window.load_reference(args.reference)
    if not live:
        await _settle(window, args.timeout)
    if args.baseline:
        s.viewer.choose_baseline(args.baseline)
        await _settle(window, args.timeout)
    _place_view(window, args)
    await asyncio.sleep(0.6)  # the plot's redraw timer and the paints
    window.grab().save(str(args.screenshot))
    if window.runner.is_running():
        window.runner.stop()
        await _settle(window, args.timeout)
    window.close()
    return 0


async def _settle(window: Any, timeout: float) -> None:
    """Wait for look-ups (metrics, history, baselines) to end."""
    await asyncio.sleep(0.5)
    for _ in range(int(timeout * 10)):
        if not window._jobs and not window.runner.is_draining():
            break  # a running batch is fine: --after captures it live
        await asyncio.sleep(0.1)


def _place_view(window: Any, args: argparse.Namespace) -> None:
    """Zoom, divider and loupe as the screenshot options ask."""
    viewer = window.studio.viewer
    canvas = viewer.canvas_left
    if args.zoom:
        viewer.state.set_zoom(args.zoom / 100, viewer.state.center)
    if args.divider is not None:
        canvas.set_divider(args.divider)
    if args.loupe:
        from PySide6.QtCore import QPointF

        fx, fy = (float(v) for v in args.loupe.split(","))
        viewer.set_loupe(True)
        at = QPointF(canvas.width() * fx, canvas.height() * fy)
        viewer.state.set_loupe_at(canvas.widget_to_image(at))


async def _report_startup(window: object) -> int:
    """Write the seconds from ``UNSR_T0`` to a painted window, then quit."""
    await asyncio.sleep(0)
    QApplication.processEvents()
    start = float(os.environ.get("UNSR_T0", "0") or 0)
    sys.stdout.write(f"window-shown {time.time() - start:.3f}\n")
    sys.stdout.flush()
    window.close()  # type: ignore[attr-defined]
    return 0


def parse_size(text: str) -> QSize:
    """``1440x900`` as a QSize."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must look like 1440x900, not {text!r}"
        ) from None
    return QSize(w, h)
