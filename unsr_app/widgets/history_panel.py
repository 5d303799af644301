"""The run history: past runs from the engine's store; open one to compare."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from unsr_app.requests import RunRow

_COLUMNS = ("When", "Input", "Method", "Scale", "Time", "Metrics", "Status")
_ROLE = Qt.ItemDataRole.UserRole


class HistoryPanel(QWidget):
    """A table of runs, newest first.

    Signals
    -------
    refresh_requested()
        The user asked to reload the history.
    run_opened(RunRow)
        The user opened a run (double click or Open).
    """

    refresh_requested = Signal()
    run_opened = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(_COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemDoubleClicked.connect(lambda row, _c: self._open(row))
        self.note = QLabel("Loading the run history…")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)
        reload_button = QPushButton("Refresh")
        reload_button.clicked.connect(self.refresh_requested)
        open_button = QPushButton("Open")
        open_button.setToolTip("Show the run's input and output in the viewer")
        open_button.clicked.connect(lambda: self._open(self.tree.currentItem()))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("<b>History</b>"))
        top.addStretch(1)
        top.addWidget(open_button)
        top.addWidget(reload_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(self.tree, 1)

    def set_runs(self, runs: Sequence[RunRow] | None) -> None:
        """Show ``runs``; None means the store could not be read."""
        self.tree.clear()
        if runs is None:
            self.note.setText("The run history could not be read (see the log).")
            self.note.show()
            return
        self.note.setText("No runs yet: finished upscales are listed here.")
        self.note.setVisible(not runs)
        for run in runs:
            metrics = "  ".join(f"{k} {v:.3g}" for k, v in run.metrics.items())
            secs = f"{run.seconds:.1f} s" if run.seconds is not None else ""
            row = QTreeWidgetItem(
                [
                    run.when,
                    run.input.name if run.input else "",
                    run.method,
                    f"×{run.scale}",
                    secs,
                    metrics,
                    run.status,
                ]
            )
            row.setData(0, _ROLE, run)
            row.setToolTip(1, str(run.input or ""))
            self.tree.addTopLevelItem(row)

    def runs(self) -> list[RunRow]:
        """The rows shown."""
        rows = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [row.data(0, _ROLE) for row in rows if row is not None]

    def _open(self, row: QTreeWidgetItem | None) -> None:
        if row is not None:
            self.run_opened.emit(row.data(0, _ROLE))
