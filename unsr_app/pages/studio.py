"""The Studio page: where its widgets sit. Layout only; the window wires them.

+-----------+-----------------------------+-------------+
| queue     |  compare viewer             | losses      |
|           |                             | kernel      |
+-----------+                             +-------------+
| method    |                             | history     |
+-----------+-----------------------------+-------------+
| progress: file 2/5 · photo.jpg · fitting · ETA 0:42  [=====     ] |
| log                                                              |
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from unsr_app.widgets import (
    CompareViewer,
    HistoryPanel,
    KernelView,
    LogPane,
    LossPlot,
    MethodPanel,
    ProgressPanel,
    QueuePanel,
)


def _splitter(orientation: Qt.Orientation, *widgets: QWidget) -> QSplitter:
    s = QSplitter(orientation)
    s.setChildrenCollapsible(False)
    for w in widgets:
        s.addWidget(w)
    return s


class StudioPage(QWidget):
    """The studio's widgets in resizable splitters.

    Queue and method on the left, the viewer in the middle, the fit's curves,
    kernel and the history on the right, progress and log below.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.queue = QueuePanel()
        self.method = MethodPanel()
        self.viewer = CompareViewer()
        self.losses = LossPlot()
        self.kernel = KernelView()
        self.history = HistoryPanel()
        self.progress = ProgressPanel()
        self.log = LogPane()

        self.left = _splitter(Qt.Orientation.Vertical, self.queue, self.method)
        self.left.setStretchFactor(0, 1)
        self.right = _splitter(
            Qt.Orientation.Vertical, self.losses, self.kernel, self.history
        )
        self.right.setSizes([260, 170, 260])
        self.columns = _splitter(
            Qt.Orientation.Horizontal, self.left, self.viewer, self.right
        )
        self.columns.setStretchFactor(1, 1)
        self.columns.setSizes([300, 700, 340])
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.progress)
        bottom_layout.addWidget(self.log, 1)
        self.rows = _splitter(Qt.Orientation.Vertical, self.columns, bottom)
        self.rows.setStretchFactor(0, 1)
        # The log keeps its height as the window shrinks (the columns
        # stretch), so it starts short enough to leave the right column room
        # for its panels at the smallest window.
        self.rows.setSizes([620, 120])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.rows)

    def save_layout(self) -> bytes:
        """The splitters' positions, for QSettings."""
        parts = [
            s.saveState() for s in (self.rows, self.columns, self.left, self.right)
        ]
        return b"\0SPLIT\0".join(bytes(p.data()) for p in parts)

    def restore_layout(self, data: bytes) -> None:
        """Put the splitters back where :meth:`save_layout` found them."""
        parts = data.split(b"\0SPLIT\0") if data else []
        if len(parts) != 4:
            return
        for splitter, part in zip(
            (self.rows, self.columns, self.left, self.right), parts, strict=True
        ):
            splitter.restoreState(QByteArray(part))
