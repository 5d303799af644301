"""One pane of the compare viewer: draws images through a shared ViewState."""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from unsr_app.widgets.view_state import ViewState

Mode = Literal["single", "split"]
_GRAB_PX = 8  # how close to the divider a press must be to drag it


class ImageCanvas(QWidget):
    """Draws one image, or two split by a draggable divider.

    Both images are drawn into the same space (the ``space`` size, normally
    the output's), so an input half the size is shown scaled up: pixels line
    up under the divider. Above 100% pixels are drawn nearest-neighbour.
    """

    divider_moved = Signal(float)

    def __init__(self, state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.mode: Mode = "single"
        self.left: QImage | None = None
        self.right: QImage | None = None
        self.left_label = ""
        self.right_label = ""
        self.placeholder = "Drop images here or use Add files…"
        self.divider = 0.5
        self._dragging: Literal["pan", "divider"] | None = None
        self._last = QPointF()
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        state.changed.connect(self.update)

    # -- coordinates -------------------------------------------------------
    def image_to_widget(self, p: QPointF) -> QPointF:
        """Where the image point ``p`` is drawn in this widget."""
        mid = QPointF(self.width() / 2, self.height() / 2)
        return (p - self.state.center) * self.state.zoom + mid

    def widget_to_image(self, p: QPointF) -> QPointF:
        """The image point under the widget point ``p``."""
        mid = QPointF(self.width() / 2, self.height() / 2)
        return (p - mid) / self.state.zoom + self.state.center

    def viewport_size(self) -> QSizeF:
        """The widget's size as a QSizeF (for fitting)."""
        return QSizeF(self.width(), self.height())

    # -- painting ----------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        """Draw the image(s), the divider and the labels."""
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        if self.left is None and self.right is None:
            p.setPen(self.palette().color(self.foregroundRole()))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        space = QRectF(QPointF(0, 0), self.state.image_size)
        top_left = self.image_to_widget(space.topLeft())
        target = QRectF(top_left, space.size() * self.state.zoom)
        split_x = self.width() * self.divider
        if self.mode == "split" and self.left is not None and self.right is not None:
            self._draw(p, self.left, target, QRectF(0, 0, split_x, self.height()))
            right_clip = QRectF(split_x, 0, self.width() - split_x, self.height())
            self._draw(p, self.right, target, right_clip)
            self._draw_divider(p, split_x)
            self._draw_label(p, self.left_label, left=True)
            self._draw_label(p, self.right_label, left=False)
        else:
            img = self.left if self.left is not None else self.right
            assert img is not None
            self._draw(p, img, target, QRectF(self.rect()))
            label = self.left_label if self.left is not None else self.right_label
            self._draw_label(p, label, left=True)

    def _draw(self, p: QPainter, img: QImage, target: QRectF, clip: QRectF) -> None:
        p.save()
        p.setClipRect(clip)
        # Nearest-neighbour once a source pixel covers a screen pixel or more.
        scale = target.width() / max(1, img.width())
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
        p.drawImage(target, img, QRectF(img.rect()))
        p.restore()

    def _draw_divider(self, p: QPainter, x: float) -> None:
        p.setPen(QPen(QColor(255, 255, 255, 220), 2))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setBrush(QColor(30, 30, 30, 200))
        p.drawEllipse(QPointF(x, self.height() / 2), 11, 11)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        y = self.height() / 2
        p.drawLine(QPointF(x - 6, y), QPointF(x - 2, y - 4))
        p.drawLine(QPointF(x - 6, y), QPointF(x - 2, y + 4))
        p.drawLine(QPointF(x + 6, y), QPointF(x + 2, y - 4))
        p.drawLine(QPointF(x + 6, y), QPointF(x + 2, y + 4))

    def _draw_label(self, p: QPainter, text: str, *, left: bool) -> None:
        if not text:
            return
        metrics = p.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 14, metrics.height() + 6
        x = 8 if left else self.width() - w - 8
        box = QRectF(x, 8, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 160))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(240, 240, 240))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    # -- interaction -------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        """Zoom around the cursor, 25% per notch."""
        notches = event.angleDelta().y() / 120
        if notches:
            anchor = self.widget_to_image(event.position())
            self.state.set_zoom(self.state.zoom * 1.25**notches, anchor)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        """Start dragging the divider (near it) or panning (elsewhere)."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        near = abs(pos.x() - self.width() * self.divider) <= _GRAB_PX
        self._dragging = "divider" if self.mode == "split" and near else "pan"
        self._last = pos
        if self._dragging == "pan":
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        """Drag the divider or the image; show a resize cursor near the divider."""
        pos = event.position()
        if self._dragging == "divider":
            self.set_divider(pos.x() / max(1, self.width()))
        elif self._dragging == "pan":
            delta = pos - self._last
            self.state.pan_by(delta.x(), delta.y())
        elif self.mode == "split":
            near = abs(pos.x() - self.width() * self.divider) <= _GRAB_PX
            shape = (
                Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor
            )
            self.setCursor(shape)
        self._last = pos

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        """End a drag."""
        self._dragging = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Toggle between fit-to-window and 100% at the clicked point."""
        if self.state.fitted:
            self.state.set_zoom(1.0, self.widget_to_image(event.position()))
        else:
            self.state.fit(self.viewport_size())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        """Keep a fitted image fitted."""
        if self.state.fitted:
            self.state.fit(self.viewport_size())
        super().resizeEvent(event)

    def set_divider(self, fraction: float) -> None:
        """Move the before/after divider (0 = all after, 1 = all before)."""
        self.divider = min(1.0, max(0.0, fraction))
        self.divider_moved.emit(self.divider)
        self.update()
