"""One pane of the compare viewer: draws pictures through a shared ViewState."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import QEvent, QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from unsr_app.widgets.view_state import ViewState

Mode = Literal["single", "split"]
_GRAB_PX = 8  # how close to the divider a press must be to drag it
_PAD = 14  # a label's box is its text plus this
LOUPE_RADIUS = 90
#: How dark the backdrop around a partial picture is drawn (alpha of black).
DIM_ALPHA = 130


@dataclass(frozen=True, eq=False)
class Picture:
    """What one side of a canvas shows.

    Attributes
    ----------
    image : QImage
        The pixels.
    place : QRectF or None
        Where ``image`` goes in the view's space (image coordinates); None
        stretches it over the whole space (an input shown at output size).
    backdrop : QImage or None
        Drawn dimmed over the whole space around ``place``: the input while a
        live preview covers only a part of the image.
    """

    image: QImage
    place: QRectF | None = None
    backdrop: QImage | None = None


class ImageCanvas(QWidget):
    """Draws one picture, or two split by a draggable divider.

    Pictures are drawn into the same space (the ``state.image_size``, normally
    the output's), so an input half the size is shown scaled up: pixels line
    up under the divider. Above 100% pixels are drawn nearest-neighbour, from
    a whole-pixel origin so that at 100% one image pixel is one screen pixel.
    """

    divider_moved = Signal(float)

    def __init__(self, state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.mode: Mode = "single"
        self.left: Picture | None = None
        self.right: Picture | None = None
        self.left_label = ""
        self.right_label = ""
        self.placeholder = "Drop images here or use Add files…"
        #: A banner over the bottom of the pane (a failed item's reason).
        self.notice = ""
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

    def origin(self) -> QPointF:
        """Where image point (0, 0) is painted: :meth:`image_to_widget`, rounded.

        Whole screen pixels, so at 100% (and any whole zoom) image pixels land
        on screen pixels exactly.
        """
        o = self.image_to_widget(QPointF(0, 0))
        return QPointF(round(o.x()), round(o.y()))

    def viewport_size(self) -> QSizeF:
        """The widget's size as a QSizeF (for fitting)."""
        return QSizeF(self.width(), self.height())

    # -- painting ----------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        """Draw the picture(s), the divider, the labels and the loupe."""
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        if self.left is None and self.right is None:
            p.setPen(self.palette().color(self.foregroundRole()))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            p.drawText(
                QRectF(self.rect()).adjusted(24, 24, -24, -24), flags, self.placeholder
            )
            self._draw_notice(p)
            return
        origin, zoom = self.origin(), self.state.zoom
        whole = QPainterPath()
        whole.addRect(QRectF(self.rect()))
        if self._split():
            split_x = self.width() * self.divider
            left_clip, right_clip = _halves(whole, split_x)
            self._draw(p, self.left, origin, zoom, left_clip)
            self._draw(p, self.right, origin, zoom, right_clip)
            self._draw_divider(p, split_x)
            self._draw_label(p, self.left_label, left=True)
            self._draw_label(p, self.right_label, left=False)
        else:
            self._draw(p, self._single(), origin, zoom, whole)
            label = self.left_label if self.left is not None else self.right_label
            self._draw_label(p, label, left=True)
        self._draw_loupe(p)
        self._draw_notice(p)

    def _draw_notice(self, p: QPainter) -> None:
        if not self.notice:
            return
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        room = QRectF(16, 0, self.width() - 32, self.height())
        text = p.fontMetrics().boundingRect(room.toRect(), flags, self.notice)
        box = QRectF(8, self.height() - text.height() - 20, self.width() - 16, 0)
        box.setHeight(text.height() + 12)
        p.save()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(150, 32, 32, 225))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(box.adjusted(8, 6, -8, -6), flags, self.notice)
        p.restore()

    def _split(self) -> bool:
        return self.mode == "split" and self.left is not None and self.right is not None

    def _single(self) -> Picture | None:
        return self.left if self.left is not None else self.right

    def _draw(
        self,
        p: QPainter,
        pic: Picture | None,
        origin: QPointF,
        zoom: float,
        clip: QPainterPath,
    ) -> None:
        """Draw ``pic`` with image point (0, 0) at ``origin``, inside ``clip``."""
        if pic is None:
            return
        full = QRectF(origin, self.state.image_size * zoom)
        p.save()
        p.setClipPath(clip)
        if pic.backdrop is not None:
            _blit(p, pic.backdrop, full)
        target = full
        if pic.place is not None:
            place = pic.place
            target = QRectF(origin + place.topLeft() * zoom, place.size() * zoom)
            if pic.backdrop is not None:
                around = QPainterPath()
                around.addRect(full)
                hole = QPainterPath()
                hole.addRect(target)
                p.fillPath(around.subtracted(hole), QColor(0, 0, 0, DIM_ALPHA))
        _blit(p, pic.image, target)
        if pic.place is not None:
            p.setPen(QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        p.restore()

    def _draw_loupe(self, p: QPainter) -> None:
        at = self.state.loupe_at
        if not self.state.loupe or at is None:
            return
        centre = self.origin() + at * self.state.zoom
        zoom = self.state.loupe_zoom()
        origin = centre - at * zoom
        origin = QPointF(round(origin.x()), round(origin.y()))
        circle = QPainterPath()
        circle.addEllipse(centre, LOUPE_RADIUS, LOUPE_RADIUS)
        p.save()
        p.fillPath(circle, self.palette().color(self.backgroundRole()).darker(140))
        if self._split():
            # Both sides of the same pixels: before on the left half, after
            # on the right half of the loupe, whatever the divider shows.
            left, right = _halves(circle, centre.x())
            self._draw(p, self.left, origin, zoom, left)
            self._draw(p, self.right, origin, zoom, right)
            p.setPen(QPen(QColor(255, 255, 255, 200), 1))
            p.drawLine(
                QPointF(centre.x(), centre.y() - LOUPE_RADIUS),
                QPointF(centre.x(), centre.y() + LOUPE_RADIUS),
            )
        else:
            self._draw(p, self._single(), origin, zoom, circle)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(255, 255, 255, 230), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(centre, LOUPE_RADIUS, LOUPE_RADIUS)
        p.restore()

    def _draw_divider(self, p: QPainter, x: float) -> None:
        p.save()
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
        p.restore()

    def label_rect(self, text: str, *, left: bool) -> QRectF:
        """Where a label is drawn: elided to its half (or all) of the width."""
        room = (self.width() / 2 if self._split() else self.width()) - 20
        metrics = self.fontMetrics()
        w = min(metrics.horizontalAdvance(text) + _PAD + 2, max(24.0, room))
        x = 8 if left else self.width() - w - 8
        return QRectF(x, 8, w, metrics.height() + 6)

    def label_text(self, text: str, box: QRectF) -> str:
        """``text`` as drawn in ``box``: elided in the middle when too long."""
        return self.fontMetrics().elidedText(
            text, Qt.TextElideMode.ElideMiddle, int(box.width()) - _PAD
        )

    def _draw_label(self, p: QPainter, text: str, *, left: bool) -> None:
        if not text:
            return
        box = self.label_rect(text, left=left)
        shown = self.label_text(text, box)
        p.save()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 160))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(240, 240, 240))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, shown)
        p.restore()

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
            event.ignore()  # a right click opens the viewer's menu
            return
        pos = event.position()
        near = abs(pos.x() - self.width() * self.divider) <= _GRAB_PX
        self._dragging = "divider" if self.mode == "split" and near else "pan"
        self._last = pos
        if self._dragging == "pan":
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        """Drag the divider or the image; the loupe follows the cursor."""
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
        if self.state.loupe:
            self.state.set_loupe_at(self.widget_to_image(pos))

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        """The loupe goes with the cursor."""
        self.state.set_loupe_at(None)
        super().leaveEvent(event)

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


def _blit(p: QPainter, img: QImage, target: QRectF) -> None:
    """Draw all of ``img`` into ``target``; nearest-neighbour from 100% up."""
    scale = target.width() / max(1, img.width())
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
    p.drawImage(target, img, QRectF(img.rect()))


def _halves(area: QPainterPath, x: float) -> tuple[QPainterPath, QPainterPath]:
    """``area`` cut at ``x`` into its left and right parts."""
    box = area.boundingRect()
    left, right = QPainterPath(), QPainterPath()
    left.addRect(QRectF(box.left(), box.top(), x - box.left(), box.height()))
    right.addRect(QRectF(x, box.top(), box.right() - x, box.height()))
    return area.intersected(left), area.intersected(right)
