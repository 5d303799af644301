"""A row of a training run's intermediate images, each under its caption.

Cells shrink to share the row's width (a method may show four or five images,
the Train page's column holds three at full size at the smallest window), and
long captions are elided with the whole text in a tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

#: Largest and smallest cell side, in pixels.
FULL, SMALLEST = 160, 64


class PreviewStrip(QWidget):
    """Shows the latest image per label, in the order labels first came."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: dict[str, QImage] = {}
        self.cells: dict[str, QLabel] = {}
        self.captions: dict[str, QLabel] = {}
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(6)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignLeft)
        # The cells follow the width given; they must not ask for more.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(0)  # nothing to show yet

    def side(self) -> int:
        """The cells' side for the current width and number of images."""
        n = max(1, len(self.cells))
        room = (self.width() - self._grid.horizontalSpacing() * (n - 1)) // n
        return max(SMALLEST, min(FULL, room))

    def show_image(self, label: str, image: QImage) -> None:
        """Show ``image`` under ``label`` (replacing the last one of that label)."""
        self.images[label] = image
        if label not in self.cells:
            n = len(self.cells)
            cell = QLabel()
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell.setToolTip(label)
            caption = QLabel()
            caption.setToolTip(label)
            self._grid.addWidget(caption, 0, n)
            self._grid.addWidget(cell, 1, n)
            self.cells[label] = cell
            self.captions[label] = caption
            self._fit()
        else:
            self._paint(label, self.side())

    def clear(self) -> None:
        """Forget every image (a new run starts)."""
        for widget in (*self.cells.values(), *self.captions.values()):
            self._grid.removeWidget(widget)
            widget.deleteLater()
        self.cells.clear()
        self.captions.clear()
        self.images.clear()
        self.setFixedHeight(0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        """Share the new width between the cells."""
        super().resizeEvent(event)
        if self.cells and self.cells[next(iter(self.cells))].width() != self.side():
            self._fit()

    def _fit(self) -> None:
        side = self.side()
        for label in self.cells:
            self.cells[label].setFixedSize(side, side)
            caption = self.captions[label]
            caption.setFixedWidth(side)
            caption.setText(
                caption.fontMetrics().elidedText(
                    label, Qt.TextElideMode.ElideRight, side
                )
            )
            self._paint(label, side)
        spacing = self._grid.verticalSpacing()
        self.setFixedHeight(side + spacing + self.fontMetrics().height() + 4)

    def _paint(self, label: str, side: int) -> None:
        self.cells[label].setPixmap(
            QPixmap.fromImage(self.images[label]).scaled(
                side,
                side,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )


__all__ = ["FULL", "SMALLEST", "PreviewStrip"]
