"""The Models page: the models library as a table; add, remove, import ncnn.

The page talks to the engine's models library directly: listing, copying and
converting a file are quick for model files of ordinary size. Every action is
wrapped so that no exception escapes into Qt: a bad file shows its reason in
the page's message line and the page keeps working.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

from unsr_app.worker import JobHandle

if TYPE_CHECKING:  # the engine (and torch) load lazily, off the start-up path
    from engine.models.library import Entry

_COLUMNS = ("Name", "Architecture", "Scale", "Purpose", "Size", "Source", "Status")
_ROLE = Qt.ItemDataRole.UserRole
_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


class ModelsPage(QWidget):
    """A table of the model files unsr knows, with Add, Remove and ncnn import.

    Signals
    -------
    models_changed()
        A model was added, removed or imported: method lists should reload.
    """

    models_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(_COLUMNS))
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
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(QLabel("<b>Models</b>"))
        buttons.addStretch(1)
        for button in (
            self.add_button,
            self.remove_button,
            self.import_button,
            refresh,
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
        self._lookup: JobHandle | None = None
        self.details.setText("The models are listed when this page is shown.")

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """List the models the first time the page is shown."""
        super().showEvent(event)
        if self._loaded:
            return
        if self.engine_loaded():
            self.refresh()
        else:
            self._load_in_background()

    def engine_loaded(self) -> bool:
        """True once the models library (and torch) is imported: listing is quick."""
        return "engine.models" in sys.modules

    def _load_in_background(self) -> None:
        # Importing torch takes seconds: do it in a worker, then list here.
        self._loaded = True
        self.details.setText("Listing the models…")
        self._lookup = JobHandle(_import_library_job, self)
        self._lookup.finished.connect(self._on_lookup_finished)
        self._lookup.failed.connect(self._on_lookup_failed)
        self._lookup.cancelled.connect(self._on_lookup_cancelled)
        self._lookup.start()

    def _on_lookup_finished(self, _value: object) -> None:
        self._lookup = None
        self.refresh()

    def _on_lookup_failed(self, reason: str) -> None:
        self._lookup = None
        self._say(f"Could not list the models: {reason}", error=True)

    def _on_lookup_cancelled(self) -> None:
        self._lookup = None
        self._loaded = False

    def is_busy(self) -> bool:
        """True while the library is being imported in the background."""
        return self._lookup is not None

    def shutdown(self) -> None:
        """Wait for the background import (the window is closing)."""
        if self._lookup is not None:
            self._lookup.cancel()
            self._lookup.wait(30000)

    def invalidate(self) -> None:
        """The library changed elsewhere: list it again now, or when next shown."""
        if self.isVisible():
            self.refresh()
        else:
            self._loaded = False

    # --- data ---------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the library into the table, keeping the selection."""
        self._loaded = True
        keep = self.selected_id()
        self.tree.clear()
        try:
            from engine import models, paths

            entries = models.entries()
            self.folder.setText(f"Your models folder: {paths.models_dir()}")
        except Exception as exc:  # never let a library problem kill the page
            self._say(f"Could not list the models: {exc}", error=True)
            return
        for entry in entries:
            item = QTreeWidgetItem([_cell(entry, c) for c in _COLUMNS])
            item.setData(0, _ROLE, entry)
            item.setToolTip(0, str(entry.path))
            if not entry.usable:
                item.setForeground(6, self.palette().placeholderText())
            self.tree.addTopLevelItem(item)
            if entry.id == keep:
                self.tree.setCurrentItem(item)
        if entries and self.tree.currentItem() is None:
            self.details.setText(
                "Select a model to see its details. Add more with Add…, or drop "
                ".pth / .safetensors files here."
            )
        if not entries:
            self.details.setText(
                "No models yet: add .pth or .safetensors files (Real-ESRGAN, "
                "SwinIR, SPAN, HAT and other spandrel-readable models), drop them "
                "here, or import an Upscayl/ncnn models folder."
            )
        self._update_remove()

    def selected_id(self) -> str | None:
        """The id of the selected model, if any."""
        item = self.tree.currentItem()
        entry = item.data(0, _ROLE) if item is not None else None
        return None if entry is None else str(entry.id)

    # --- actions ------------------------------------------------------------

    def add_files(self, files: Sequence[str | Path]) -> int:
        """Add model files; return how many were added (reasons go to the message)."""
        from engine import models

        added, problems = [], []
        for file in files:
            try:
                entry = models.add(Path(file))
            except Exception as exc:
                problems.append(str(exc))
            else:
                added.append(entry.name)
        self._report(added, problems, "Added")
        return len(added)

    def import_folder(self, folder: str | Path) -> int:
        """Convert the ncnn models of ``folder``; return how many were imported."""
        from engine.models import ncnn

        try:
            results = ncnn.import_folder(Path(folder))
        except Exception as exc:
            self._say(f"{folder}: {exc}", error=True)
            return 0
        if not results:
            self._say(f"{folder}: no .param/.bin pairs found", error=True)
            return 0
        added = [r.entry.name for r in results if r.entry is not None]
        problems = [f"{r.param.name}: {r.error}" for r in results if r.entry is None]
        self._report(added, problems, "Imported")
        return len(added)

    def remove_selected(self) -> bool:
        """Delete the selected model (after confirmation); True if deleted."""
        from engine import models

        model_id = self.selected_id()
        if model_id is None:
            self._say("Select a model to remove.", error=True)
            return False
        if not self.confirm_remove(model_id):
            return False
        try:
            path = models.remove(model_id)
        except Exception as exc:
            self._say(str(exc), error=True)
            return False
        self._say(f"Removed {path.name}.")
        self.refresh()
        self.models_changed.emit()
        return True

    # --- slots --------------------------------------------------------------

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
        entry = current.data(0, _ROLE) if current is not None else None
        self._update_remove()
        if entry is None:
            self.details.clear()
            return
        try:
            facts = entry.facts()
        except Exception as exc:  # the file vanished under us
            self.details.setText(str(exc))
            return
        rows = "".join(
            f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{_escape(v)}</td></tr>"
            for k, v in facts.items()
        )
        self.details.setText(f"<table>{rows}</table>")

    # --- drops --------------------------------------------------------------

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

    # --- helpers ------------------------------------------------------------

    def _update_remove(self) -> None:
        # Bundled models ship with unsr and stay: only the user's can go.
        item = self.tree.currentItem()
        entry = item.data(0, _ROLE) if item is not None else None
        self.remove_button.setEnabled(entry is not None and entry.source == "user")

    def _report(self, added: list[str], problems: list[str], verb: str) -> None:
        parts = []
        if added:
            parts.append(f"{verb} {', '.join(added)}.")
        parts.extend(problems)
        self._say(" ".join(parts) if parts else "Nothing to do.", error=bool(problems))
        if added:
            self.refresh()
            self.models_changed.emit()

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


def _import_library_job() -> Generator[Any, None, None]:
    """Import the models library (and torch) in a worker thread."""
    yield from ()
    import engine.models  # noqa: F401 - imported for its side effect


def _cell(entry: Entry, column: str) -> str:
    info = entry.info
    if column == "Name":
        return str(entry.name)
    if column == "Source":
        return str(entry.source)
    if column == "Status":
        return str(entry.status)
    if column == "Size":
        from engine.models.library import human_bytes

        return human_bytes(entry.path.stat().st_size) if entry.path.exists() else ""
    if info is None:
        return "unsr" if column == "Architecture" and entry.kind == "unsr" else ""
    return {
        "Architecture": info.architecture,
        "Scale": f"x{info.scale}",
        "Purpose": info.purpose,
    }[column]


def _dropped(urls: Sequence[Any]) -> list[Path]:
    out = []
    for url in urls:
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir() or path.suffix.lower() in _SUFFIXES:
            out.append(path)
    return out


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["ModelsPage"]
