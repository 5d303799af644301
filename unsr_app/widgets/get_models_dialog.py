"""The "Get models" dialog: the model catalogue as a table, with download progress.

The dialog only shows data and emits intents; whoever opens it runs the
engine jobs (listing, downloading, refreshing OpenModelDB's index) through
the worker and feeds the results back with :meth:`GetModelsDialog.set_rows`,
:meth:`show_progress`, :meth:`set_running` and :meth:`say`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from unsr_app.requests import CatalogueRow

COLUMNS = ("Name", "Scale", "Purpose", "Size", "Licence", "Installed")
_ROLE = Qt.ItemDataRole.UserRole


def size_text(n: int) -> str:
    """``2.4 MB`` style sizes; "?" when unknown."""
    if n <= 0:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def eta_text(seconds: float | None) -> str:
    """``0:21`` style; empty when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    return f"ETA {minutes}:{secs:02d}"


class GetModelsDialog(QDialog):
    """The catalogue: pick models, download them, watch the progress.

    Signals
    -------
    download_requested(tuple)
        The ids the user asked to download.
    cancel_requested()
        Stop the running download (its partial file is kept for resuming).
    refresh_requested()
        Fetch OpenModelDB's index and list its models too.
    """

    download_requested = Signal(object)
    cancel_requested = Signal()
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get models")
        self.resize(860, 560)
        self._rows: list[CatalogueRow] = []
        self._running = False
        self._summary = ""

        intro = QLabel(
            "Models unsr can download, check against their published SHA-256 "
            "and install into your models folder. ncnn models are converted "
            "on install."
        )
        intro.setWordWrap(True)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by name, purpose or licence")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        self.show_all = QCheckBox("Show models unsr cannot use")
        self.show_all.setToolTip(
            "OpenModelDB lists models of architectures spandrel cannot load, or "
            "without a direct download; they are shown greyed with the reason"
        )
        self.show_all.toggled.connect(self._apply_filter)
        self.refresh_button = QPushButton("Refresh from OpenModelDB")
        self.refresh_button.setToolTip(
            "Fetch OpenModelDB's index (hundreds of community models)"
        )
        self.refresh_button.clicked.connect(self.refresh_requested)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.show_all)
        top.addWidget(self.refresh_button)

        self.table = QTreeWidget()
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.table.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.table.itemDoubleClicked.connect(self._on_table_double_clicked)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.details.setMinimumHeight(72)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.download_button = QPushButton("Download")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self._on_download_clicked)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self.cancel_requested)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.download_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addLayout(bottom)
        layout.addWidget(self.message)
        self.set_running(False)

    # --- data in --------------------------------------------------------------

    def set_rows(self, rows: Sequence[CatalogueRow]) -> None:
        """Show the catalogue, keeping the selection."""
        keep = set(self.selected_ids())
        self._rows = list(rows)
        self.table.clear()
        muted = self.palette().placeholderText()
        for row in self._rows:
            item = QTreeWidgetItem(
                [
                    row.name + ("  ★ recommended" if row.recommended else ""),
                    f"x{row.scale}",
                    row.purpose,
                    size_text(row.size),
                    row.licence,
                    "yes" if row.installed else ("" if row.offered else "not offered"),
                ]
            )
            item.setData(0, _ROLE, row)
            item.setToolTip(0, row.id)
            if not row.offered:
                for column in range(len(COLUMNS)):
                    item.setForeground(column, muted)
                item.setToolTip(5, row.unavailable or "")
            self.table.addTopLevelItem(item)
            item.setSelected(row.id in keep)
        self._apply_filter()
        offered = sum(r.offered for r in self._rows)
        self._summary = f"{offered} models offered, {len(self._rows)} listed"
        if not self._running:
            self.status.setText(self._summary)
        self._update_buttons()

    def rows(self) -> list[CatalogueRow]:
        """The rows shown (filtered or not)."""
        return list(self._rows)

    def selected_ids(self) -> list[str]:
        """Ids of the selected rows, in table order."""
        return [
            item.data(0, _ROLE).id
            for item in self._items()
            if item.isSelected() and not item.isHidden()
        ]

    def select(self, ids: Sequence[str]) -> None:
        """Select the rows with ``ids`` (and no others)."""
        self.table.clearSelection()
        for item in self._items():
            if item.data(0, _ROLE).id in ids:
                item.setSelected(True)
                self.table.scrollToItem(item)

    def set_running(self, running: bool) -> None:
        """A download runs: Cancel is live, Download and Refresh wait."""
        self._running = running
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first byte count
        else:
            self.status.setText(self._summary)
        self._update_buttons()

    def show_progress(
        self, step: int, total: int, stage: str, eta: float | None
    ) -> None:
        """Show a download's progress: bytes done of total, the stage, the ETA."""
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * min(1.0, step / total)))
            amount = f"{size_text(step)} of {size_text(total)}"
            self.status.setText(f"{stage}: {amount}  {eta_text(eta)}".rstrip())
        else:
            self.progress.setRange(0, 0)
            self.status.setText(f"{stage}…")

    def say(self, text: str, *, error: bool = False) -> None:
        """One line (or a few) under the table; red for a failure."""
        self.message.setText(text)
        self.message.setProperty("error", error)
        self.message.setStyleSheet("color: #c0392b;" if error else "")

    # --- slots ----------------------------------------------------------------

    def _on_download_clicked(self) -> None:
        ids = [
            row.id for row in self._selected_rows() if row.offered and not row.installed
        ]
        if ids:
            self.download_requested.emit(tuple(ids))

    def _on_table_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        row: CatalogueRow = item.data(0, _ROLE)
        if row.offered and not row.installed and not self._running:
            self.download_requested.emit((row.id,))

    def _on_table_selection_changed(self) -> None:
        rows = self._selected_rows()
        self._update_buttons()
        if len(rows) != 1:
            total = sum(r.size for r in rows if r.offered and not r.installed)
            self.details.setText(
                f"{len(rows)} models selected ({size_text(total)} to download)."
                if rows
                else "Select a model to see where it comes from and its licence."
            )
            return
        (row,) = rows
        facts = dict(row.facts)
        if row.unavailable:
            facts = {"not offered": row.unavailable, **facts}
        cells = "".join(
            f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td>"
            f"<td>{html.escape(v)}</td></tr>"
            for k, v in facts.items()
            if v
        )
        self.details.setText(f"<table>{cells}</table>")

    # --- helpers --------------------------------------------------------------

    def _items(self) -> list[QTreeWidgetItem]:
        found = (
            self.table.topLevelItem(n) for n in range(self.table.topLevelItemCount())
        )
        return [item for item in found if item is not None]

    def _selected_rows(self) -> list[CatalogueRow]:
        chosen = set(self.selected_ids())
        return [r for r in self._rows if r.id in chosen]

    def _apply_filter(self) -> None:
        words = self.search.text().lower().split()
        for item in self._items():
            row: CatalogueRow = item.data(0, _ROLE)
            text = " ".join((row.id, row.name, row.purpose, row.licence)).lower()
            hidden = (not row.offered and not self.show_all.isChecked()) or not all(
                w in text for w in words
            )
            item.setHidden(hidden)

    def _update_buttons(self) -> None:
        wanted = [r for r in self._selected_rows() if r.offered and not r.installed]
        self.download_button.setEnabled(bool(wanted) and not self._running)
        self.download_button.setText(
            f"Download {len(wanted)}" if len(wanted) > 1 else "Download"
        )
        self.cancel_button.setEnabled(self._running)
        self.refresh_button.setEnabled(not self._running)


__all__ = ["COLUMNS", "GetModelsDialog", "eta_text", "size_text"]
