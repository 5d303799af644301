"""The queue: drop files and folders, paste, or open; a thumbnail and status each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from unsr_app.requests import IMAGE_SUFFIXES, QueueItem

THUMB = 56
_STATUS_COLOUR = {
    "queued": None,
    "fitting": "#3b8eea",
    "upscaling": "#3b8eea",
    "done": "#2e9d5b",
    "failed": "#d9534f",
    "cancelled": "#b07d1b",
}
_ROLE = Qt.ItemDataRole.UserRole


def _button(text: str, tip: str) -> QToolButton:
    """A compact text button: four fit the queue's width at 960 px."""
    b = QToolButton()
    b.setText(text)
    b.setToolTip(tip)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return b


class QueuePanel(QWidget):
    """A list of :class:`QueueItem` with thumbnails and statuses.

    The panel does not look into folders: what is dropped, pasted or picked
    is asked for with ``paths_given``, and the window answers with
    :meth:`add_items` once the batch planner has expanded it in a worker.

    Signals
    -------
    paths_given(list)
        Files and folders to queue (an intent: the window expands them).
    items_added(list)
        New items were queued.
    current_changed(object)
        The selected item (or None).
    image_pasted(QImage)
        An image came from the clipboard or a drop (an intent: the window
        saves it losslessly, then queues the file).
    message(str)
        Something to log (nothing to paste).
    """

    paths_given = Signal(list)
    items_added = Signal(list)
    current_changed = Signal(object)
    image_pasted = Signal(QImage)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setUniformItemSizes(True)
        # Long output names are elided in the middle, never a sideways scroll.
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setAcceptDrops(False)  # the panel takes drops, not the list
        self.list.currentItemChanged.connect(
            lambda cur, _prev: self.current_changed.emit(self.item_of(cur))
        )
        self.hint = QLabel(
            "Drop images or folders here,\npaste with Ctrl+V, or use Add files…"
        )
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setEnabled(False)
        self.count = QLabel()

        add_files = _button("Add files…", "Choose images to queue (Ctrl+O)")
        add_files.clicked.connect(self.open_files_dialog)
        add_folder = _button(
            "Add folder…", "Queue every image of a folder and its sub-folders"
        )
        add_folder.clicked.connect(self.open_folder_dialog)
        clear = _button("Clear done", "Remove finished, failed and cancelled items")
        clear.clicked.connect(self.clear_finished)
        # Remove is on the list's right-click menu and the Del key: four
        # buttons would not fit the queue's width in the smallest window.
        delete = QAction("Remove selected", self.list)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self.remove_selected)
        tidy = QAction("Clear done", self.list)
        tidy.triggered.connect(self.clear_finished)
        self.list.addActions([delete, tidy])
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(2)
        for b in (add_files, add_folder, clear):
            buttons.addWidget(b)
        buttons.addStretch(1)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("<b>Queue</b>"))
        top.addStretch(1)
        top.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.hint)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._update_hint()

    # -- adding ------------------------------------------------------------
    def add_paths(self, paths: Iterable[Path]) -> None:
        """Ask for files and folders to be queued (see ``paths_given``)."""
        given = [Path(p) for p in paths]
        if given:
            self.paths_given.emit(given)

    def add_items(
        self,
        files: Sequence[tuple[Path, Path | None]],
        thumbnails: Sequence[QImage] = (),
    ) -> list[QueueItem]:
        """Queue expanded (file, dropped folder) pairs; return the new items.

        Files already queued are skipped. ``thumbnails`` (one per file, made
        off the GUI thread) become the rows' icons.
        """
        known = {item.path.resolve() for item in self.items()}
        added: list[QueueItem] = []
        thumbs = list(thumbnails) + [QImage()] * (len(files) - len(thumbnails))
        for (path, root), thumb in zip(files, thumbs, strict=True):
            if path.resolve() in known:
                continue
            known.add(path.resolve())
            item = QueueItem(path=path, root=root)
            self._append(item, thumb)
            added.append(item)
        if added:
            self.items_added.emit(added)
            if self.list.currentRow() < 0:
                self.list.setCurrentRow(self.list.count() - len(added))
        self._update_hint()
        return added

    def add_from_mime(self, mime: QMimeData) -> None:
        """Queue what a drop or the clipboard carries: file URLs or an image."""
        if mime.hasUrls():
            files = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
            self.add_paths(files)
            return
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.image_pasted.emit(image)
                return
        self.message.emit("nothing to add: the clipboard holds no image or file")

    def paste(self) -> None:
        """Queue the clipboard's image or files."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None:
            self.add_from_mime(mime)

    def open_files_dialog(self) -> None:
        """Ask for image files and queue them."""
        filters = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ")"
        files, _ = QFileDialog.getOpenFileNames(self, "Add images", "", filters)
        self.add_paths(Path(f) for f in files)

    def open_folder_dialog(self) -> None:
        """Ask for a folder and queue the images in it, recursively."""
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of images")
        if folder:
            self.add_paths([Path(folder)])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        """Accept files, folders and images."""
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        """Queue what was dropped."""
        self.add_from_mime(event.mimeData())
        event.acceptProposedAction()

    # -- reading -----------------------------------------------------------
    def items(self) -> list[QueueItem]:
        """Every item, in order."""
        return [self.list.item(i).data(_ROLE) for i in range(self.list.count())]

    def pending(self) -> list[QueueItem]:
        """Items a Start should process: queued, failed or cancelled ones."""
        return [
            i for i in self.items() if i.status in ("queued", "failed", "cancelled")
        ]

    def current(self) -> QueueItem | None:
        """The selected item."""
        return self.item_of(self.list.currentItem())

    @staticmethod
    def item_of(row: QListWidgetItem | None) -> QueueItem | None:
        """The QueueItem behind a list row."""
        return None if row is None else row.data(_ROLE)

    # -- changing ----------------------------------------------------------
    def select(self, item: QueueItem) -> None:
        """Make ``item`` the current one (the viewer follows)."""
        row = self._row_of(item)
        if row is not None:
            self.list.setCurrentItem(row)

    def refresh(self, item: QueueItem) -> None:
        """Redraw ``item``'s status line."""
        row = self._row_of(item)
        if row is None:
            return
        status = item.status
        detail = f": {item.detail}" if item.detail else ""
        row.setText(f"{item.path.name}\n{status}{detail}")
        row.setToolTip(f"{item.path}\n{status}{detail}")
        colour = _STATUS_COLOUR.get(status)
        row.setForeground(QColor(colour) if colour else self.palette().text().color())
        self._update_hint()

    def remove_selected(self) -> None:
        """Drop the selected items that are not running."""
        for row in self.list.selectedItems():
            if self.item_of(row) and self.item_of(row).status not in (  # type: ignore[union-attr]
                "fitting",
                "upscaling",
            ):
                self.list.takeItem(self.list.row(row))
        self._update_hint()

    def clear_finished(self) -> None:
        """Drop done, failed and cancelled items."""
        for i in reversed(range(self.list.count())):
            item = self.item_of(self.list.item(i))
            if item is not None and item.status in ("done", "failed", "cancelled"):
                self.list.takeItem(i)
        self._update_hint()

    def _append(self, item: QueueItem, thumb: QImage) -> None:
        row = QListWidgetItem()
        row.setData(_ROLE, item)
        if not thumb.isNull():
            row.setIcon(QIcon(QPixmap.fromImage(thumb)))
        else:
            row.setIcon(
                self.style().standardIcon(self.style().StandardPixmap.SP_FileIcon)
            )
        self.list.addItem(row)
        self.refresh(item)

    def _row_of(self, item: QueueItem) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(_ROLE) is item:
                return self.list.item(i)
        return None

    def _update_hint(self) -> None:
        items = self.items()
        self.hint.setVisible(not items)
        done = sum(i.status == "done" for i in items)
        failed = sum(i.status == "failed" for i in items)
        noun = "item" if len(items) == 1 else "items"
        text = f"{len(items)} {noun} · {done} done" if items else ""
        self.count.setText(text + (f" · {failed} failed" if failed else ""))
