"""The run history: past runs from the engine's store; open one, or run it again."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from unsr_app.requests import RunRow

#: Status and quality come first: they must show without scrolling sideways.
_COLUMNS = ("Run", "Status", "Quality")
_ROLE = Qt.ItemDataRole.UserRole
_STATUS_COLOUR = {
    "done": "#2e9d5b",
    "failed": "#d9534f",
    "cancelled": "#b07d1b",
    "interrupted": "#b07d1b",
}


def _quality(metrics: dict[str, float]) -> str:
    """The figures a reference gave, two to a line."""
    parts = []
    for name, value in metrics.items():
        parts.append(f"{value:.2f} dB" if name == "PSNR" else f"{name} {value:.3f}")
    return "\n".join(parts[:2]) if parts else "–"


def _tip(run: RunRow) -> str:
    lines = [
        f"{run.input or ''}",
        f"{run.method} ×{run.scale}" + (f" · {run.profile}" if run.profile else ""),
        f"{run.when} · {run.status}"
        + (f" · {run.seconds:.1f} s" if run.seconds is not None else ""),
    ]
    if run.output is not None:
        lines.append(f"→ {run.output}")
    if run.metrics:
        figures = ", ".join(f"{k} {v:.4g}" for k, v in run.metrics.items())
        lines.append(f"scored against a reference: {figures}")
    if run.error:
        lines.append(f"why: {run.error}")
    return "\n".join(lines)


class HistoryPanel(QWidget):
    """A table of runs, newest first.

    Signals
    -------
    refresh_requested()
        The user asked to reload the history.
    run_opened(RunRow)
        The user opened a run (double click or Open).
    run_again(RunRow)
        The user asked to run that photo again with that run's settings.
    fit_applied(RunRow)
        The user asked to upscale other photos with that run's saved DualSR
        fit (one fit for a whole shoot); offered for finished DualSR runs.
    """

    refresh_requested = Signal()
    run_opened = Signal(object)
    run_again = Signal(object)
    fit_applied = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(_COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemDoubleClicked.connect(lambda row, _c: self._open(row))
        self.note = QLabel("Loading the run history…")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)
        open_button = _tool("Open", "Show the run's input and result in the viewer")
        open_button.clicked.connect(lambda: self._open(self.tree.currentItem()))
        again = _tool(
            "Run again", "Queue the photo with this run's method and settings"
        )
        again.clicked.connect(lambda: self._again(self.tree.currentItem()))
        reload_button = _tool("Refresh", "Read the history again")
        reload_button.clicked.connect(self.refresh_requested)
        for text, slot in (
            ("Open", lambda: self._open(self.tree.currentItem())),
            (
                "Run again with these settings",
                lambda: self._again(self.tree.currentItem()),
            ),
        ):
            act = QAction(text, self.tree)
            act.triggered.connect(slot)
            self.tree.addAction(act)
        # In the context menu only: a fourth button would widen the panel past
        # the window's minimum size.
        self.apply_action = QAction("Apply this fit to other photos…", self.tree)
        self.apply_action.setToolTip(
            "Upscale other photos with this run's DualSR fit, without fitting "
            "again (photos from the same camera share its blur)"
        )
        self.apply_action.setEnabled(False)
        self.apply_action.triggered.connect(
            lambda: self._apply(self.tree.currentItem())
        )
        self.tree.addAction(self.apply_action)
        self.tree.currentItemChanged.connect(
            lambda row, _previous: self._on_tree_current_changed(row)
        )
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(2)
        top.addWidget(QLabel("<b>History</b>"))
        top.addStretch(1)
        top.addWidget(open_button)
        top.addWidget(again)
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
            name = run.input.name if run.input else "?"
            status = run.status
            if run.seconds is not None:
                status += f"\n{run.seconds:.1f} s"
            row = QTreeWidgetItem(
                [f"{name}\n{run.method} ×{run.scale}", status, _quality(run.metrics)]
            )
            row.setData(0, _ROLE, run)
            colour = _STATUS_COLOUR.get(run.status)
            if colour:
                row.setForeground(1, QBrush(QColor(colour)))
            for column in range(len(_COLUMNS)):
                row.setToolTip(column, _tip(run))
            self.tree.addTopLevelItem(row)

    def runs(self) -> list[RunRow]:
        """The rows shown."""
        rows = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [row.data(0, _ROLE) for row in rows if row is not None]

    def _open(self, row: QTreeWidgetItem | None) -> None:
        if row is not None:
            self.run_opened.emit(row.data(0, _ROLE))

    def _again(self, row: QTreeWidgetItem | None) -> None:
        if row is not None:
            self.run_again.emit(row.data(0, _ROLE))

    def _apply(self, row: QTreeWidgetItem | None) -> None:
        if row is not None and has_fit(row.data(0, _ROLE)):
            self.fit_applied.emit(row.data(0, _ROLE))

    def _on_tree_current_changed(self, row: QTreeWidgetItem | None) -> None:
        usable = row is not None and has_fit(row.data(0, _ROLE))
        self.apply_action.setEnabled(usable)


def has_fit(run: RunRow) -> bool:
    """Whether ``run`` left a DualSR fit to apply (a finished DualSR run)."""
    return run.method == "dualsr" and run.status == "done"


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    return button
