"""The Models page: the models library as a table; add, remove, import ncnn.

Every engine call (listing, a full spandrel load when a file is added, an ncnn
conversion with its verification run, a removal) runs as a job in a worker
thread, one after the other, so the window keeps breathing however large the
model. A bad file shows its reason in the page's message line and the page
keeps working.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from unsr_app import job_factories
from unsr_app.pages.model_downloads import ModelDownloads
from unsr_app.requests import ModelChange, ModelListing, ModelRow
from unsr_app.worker import JobFactory, JobHandle

_ROLE = Qt.ItemDataRole.UserRole
_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


class ModelsPage(QWidget):
    """A table of the model files unsr knows, with Add, Remove and ncnn import.

    Signals
    -------
    models_changed()
        A model was added, removed or imported: method lists should reload.
    idle()
        The last queued engine job ended (tests and the window wait for it).
    """

    models_changed = Signal()
    idle = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(job_factories.MODEL_COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(self._on_tree_current_changed)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.folder = QLabel()
        self.folder.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )

        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip(
            "Copy .pth / .safetensors model files into your models folder"
        )
        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip(
            "Delete the selected model from your models folder"
        )
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.import_button = QPushButton("Import ncnn folder…")
        self.import_button.setToolTip(
            "Convert a folder of ncnn models (.param + .bin, as Upscayl ships them)"
        )
        self.import_button.clicked.connect(self._on_import_clicked)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.get_button = QPushButton("Get models…")
        self.get_button.setToolTip(
            "Download well-known models from unsr's catalogue (and OpenModelDB)"
        )
        #: The Get models dialog and its downloads (its own worker jobs).
        self.downloads = ModelDownloads(self)
        self.get_button.clicked.connect(self.downloads.open)
        self.downloads.installed.connect(self._on_downloads_installed)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(QLabel("<b>Models</b>"))
        buttons.addStretch(1)
        for button in (
            self.get_button,
            self.add_button,
            self.remove_button,
            self.import_button,
            self.refresh_button,
        ):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.folder)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.message)

        #: Asked before deleting; tests and the window may replace it.
        self.confirm_remove: Callable[[str], bool] = self._ask_remove
        #: File and folder pickers; replaceable for tests.
        self.pick_files: Callable[[], Sequence[str]] = self._ask_files
        self.pick_folder: Callable[[], str] = self._ask_folder
        # Listing imports torch and reads model files: wait until shown, so
        # building the window stays instant.
        self._loaded = False
        self._handle: JobHandle | None = None
        self._queue: deque[tuple[JobFactory, Callable[[Any], None], str]] = deque()
        self.details.setText("The models are listed when this page is shown.")

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """List the models the first time the page is shown."""
        super().showEvent(event)
        if not self._loaded:
            self.refresh()

    def is_busy(self) -> bool:
        """True while an engine job of this page runs or waits to run."""
        return self._handle is not None or bool(self._queue)

    def shutdown(self) -> None:
        """Drop the waiting jobs and wait for the running one (window closing)."""
        self._queue.clear()
        self.downloads.shutdown()
        if self._handle is not None:
            self._handle.cancel()
            self._handle.wait(30000)

    def invalidate(self) -> None:
        """The library changed elsewhere: list it again now, or when next shown."""
        if self.isVisible():
            self.refresh()
        else:
            self._loaded = False

    # --- intents: each becomes a job for the worker --------------------------

    def refresh(self) -> None:
        """List the library again (in a worker), keeping the selection."""
        self._loaded = True
        if not self.tree.topLevelItemCount():
            self.details.setText("Listing the models…")
        self._submit(
            job_factories.list_models_job, self._on_listed, "Could not list the models"
        )

    def add_files(self, files: Sequence[str | Path]) -> None:
        """Add model files in a worker; the message line tells what happened."""
        paths = [Path(f) for f in files]
        self._submit(
            lambda: job_factories.add_models_job(paths),
            self._on_changed,
            "Could not add",
        )

    def import_folder(self, folder: str | Path) -> None:
        """Convert the ncnn models of ``folder`` in a worker."""
        path = Path(folder)
        self._submit(
            lambda: job_factories.import_ncnn_job(path),
            self._on_changed,
            "Could not import",
        )

    def remove_selected(self) -> bool:
        """Delete the selected model after confirmation; False when not asked to."""
        model_id = self.selected_id()
        if model_id is None:
            self._say("Select a model to remove.", error=True)
            return False
        if not self.confirm_remove(model_id):
            return False
        self._submit(
            lambda: job_factories.remove_model_job(model_id),
            self._on_changed,
            "Could not remove",
        )
        return True

    def selected_id(self) -> str | None:
        """The id of the selected model, if any."""
        row = self._row(self.tree.currentItem())
        return None if row is None else row.id

    # --- the job queue -------------------------------------------------------

    def _submit(
        self, job: JobFactory, on_done: Callable[[Any], None], failure: str
    ) -> None:
        self._queue.append((job, on_done, failure))
        if self._handle is None:
            self._next()

    def _next(self) -> None:
        self._update_buttons()
        if not self._queue:
            self.idle.emit()
            return
        job, on_done, failure = self._queue.popleft()
        handle = JobHandle(job, self)
        handle.finished.connect(on_done)
        handle.failed.connect(
            lambda reason: self._say(f"{failure}: {reason}", error=True)
        )
        for signal in (handle.finished, handle.failed, handle.cancelled):
            signal.connect(self._on_job_ended)
        self._handle = handle
        self._update_buttons()
        handle.start()

    def _on_job_ended(self, *_: object) -> None:
        self._handle = None
        self._next()

    # --- results ----------------------------------------------------------------

    def _on_listed(self, listing: ModelListing) -> None:
        keep = self.selected_id()
        self.tree.clear()
        self.folder.setText(f"Your models folder: {listing.folder}")
        for row in listing.rows:
            item = QTreeWidgetItem(list(row.cells))
            item.setData(0, _ROLE, row)
            item.setToolTip(0, str(row.path))
            if not row.usable:
                item.setForeground(6, self.palette().placeholderText())
            self.tree.addTopLevelItem(item)
            if row.id == keep:
                self.tree.setCurrentItem(item)
        if listing.rows and self.tree.currentItem() is None:
            self.details.setText(
                "Select a model to see its details. Add more with Add…, or drop "
                ".pth / .safetensors files here."
            )
        if not listing.rows:
            self.details.setText(
                "No models yet: add .pth or .safetensors files (Real-ESRGAN, "
                "SwinIR, SPAN, HAT and other spandrel-readable models), drop them "
                "here, or import an Upscayl/ncnn models folder."
            )
        self._update_buttons()

    def _on_changed(self, change: ModelChange) -> None:
        parts = []
        if change.done:
            parts.append(f"{change.verb} {', '.join(change.done)}.")
        parts.extend(change.problems)
        # One line per file: several failures must not run together.
        text = "\n".join(parts) if parts else "Nothing to do."
        self._say(text, error=bool(change.problems))
        if change.done:
            self.refresh()
            self.models_changed.emit()

    # --- slots ----------------------------------------------------------------

    def _on_downloads_installed(self) -> None:
        self.refresh()
        self.models_changed.emit()

    def _on_add_clicked(self) -> None:
        files = self.pick_files()
        if files:
            self.add_files(files)

    def _on_import_clicked(self) -> None:
        folder = self.pick_folder()
        if folder:
            self.import_folder(folder)

    def _on_remove_clicked(self) -> None:
        self.remove_selected()

    def _on_tree_current_changed(self, current: QTreeWidgetItem | None, _: Any) -> None:
        row = self._row(current)
        self._update_buttons()
        if row is None:
            self.details.clear()
            return
        rows = "".join(
            f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td>"
            f"<td>{html.escape(v)}</td></tr>"
            for k, v in row.facts.items()
        )
        self.details.setText(f"<table>{rows}</table>")

    # --- drops ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        """Accept model files and folders."""
        if _dropped(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """Add dropped model files; import dropped folders as ncnn models."""
        paths = _dropped(event.mimeData().urls())
        files = [p for p in paths if p.is_file()]
        if files:
            self.add_files(files)
        for folder in (p for p in paths if p.is_dir()):
            self.import_folder(folder)
        event.acceptProposedAction()

    # --- helpers --------------------------------------------------------------

    @staticmethod
    def _row(item: QTreeWidgetItem | None) -> ModelRow | None:
        return item.data(0, _ROLE) if item is not None else None

    def _update_buttons(self) -> None:
        # Bundled models ship with unsr and stay: only the user's can go.
        row = self._row(self.tree.currentItem())
        busy = self.is_busy()
        self.remove_button.setEnabled(row is not None and row.removable and not busy)
        for button in (self.add_button, self.import_button, self.refresh_button):
            button.setEnabled(not busy)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setProperty("error", error)
        self.message.setStyleSheet("color: #c0392b;" if error else "")

    def _ask_files(self) -> Sequence[str]:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Add model files",
            "",
            "Model files (*.pth *.pt *.ckpt *.safetensors);;All files (*)",
        )
        return files

    def _ask_folder(self) -> str:
        return str(
            QFileDialog.getExistingDirectory(
                self, "Folder of ncnn models (.param + .bin)"
            )
        )

    def _ask_remove(self, model_id: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Remove model",
            f"Delete {model_id} from your models folder? This cannot be undone.",
        )
        return answer == QMessageBox.StandardButton.Yes


def _dropped(urls: Sequence[Any]) -> list[Path]:
    out = []
    for url in urls:
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir() or path.suffix.lower() in _SUFFIXES:
            out.append(path)
    return out


__all__ = ["ModelsPage"]
