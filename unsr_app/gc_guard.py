"""Python's cyclic garbage collector, run on the GUI thread only.

The collector runs in whichever thread happens to allocate when a threshold is
crossed. When that is the engine's worker thread and the garbage holds Qt
objects (a closed dialog, a window in a reference cycle), their destructors run
there: ``~QObject`` takes Qt's connection lock and then asks for the GIL (to
look up a Python override), while the GUI thread, holding the GIL, destroys
another object and waits for that lock. Both wait forever; the test suite met
exactly this (a gdb trace of the hung run: ``gc_collect_generations`` in the
QThread, ``QBasicMutex::lockInternal`` under ``~QAction`` in the main thread).

So while the window lives, automatic collection is off and a timer on the GUI
thread runs the collections the thresholds ask for, the usual remedy for Qt
bindings. Objects freed by reference counting are unaffected.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

#: How often the GUI thread checks the collector's counts (ms).
INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Runs the collections the thresholds call for, on its (GUI) thread."""

    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)
        gc.disable()

    def check(self) -> None:
        """Collect the oldest generation due, as Python's own trigger would.

        A generation is due when its count and every younger one's passed
        their thresholds; collecting it collects the younger ones too.
        """
        counts, limits = gc.get_count(), gc.get_threshold()
        due = -1
        for gen, (count, limit) in enumerate(zip(counts, limits, strict=True)):
            if count <= limit:
                break
            due = gen
        if due >= 0:
            gc.collect(due)

    def stop(self) -> None:
        """Hand collection back to Python's own thresholds."""
        self._timer.stop()
        gc.enable()


def install() -> GuiThreadCollector | None:
    """Start the GUI-thread collector once per application; returns it."""
    app = QCoreApplication.instance()
    if app is None:
        return None
    found = app.findChild(GuiThreadCollector)
    return found if found is not None else GuiThreadCollector(app)


def uninstall() -> None:
    """Stop the application's collector, if any, and re-enable automatic GC."""
    app = QCoreApplication.instance()
    found = app.findChild(GuiThreadCollector) if app is not None else None
    if found is not None:
        found.stop()
        found.setParent(None)
        found.deleteLater()
    gc.enable()


__all__ = ["INTERVAL_MS", "GuiThreadCollector", "install", "uninstall"]
