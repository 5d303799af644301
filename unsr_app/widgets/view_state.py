"""Zoom, centre and the loupe, shared by every canvas of the compare viewer.

Side-by-side canvases hold the same :class:`ViewState`, so pan and zoom stay in
step by construction: each canvas maps image points through the same zoom and
centre, relative to its own middle. The loupe is shared the same way: it sits
on one image point, so both panes magnify the same pixels.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QSizeF, Signal

MIN_ZOOM = 0.02
MAX_ZOOM = 64.0
#: How much more the loupe magnifies than the view around it.
LOUPE_FACTOR = 4.0


class ViewState(QObject):
    """Zoom (screen pixels per image pixel), the image point at the centre, loupe."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.zoom = 1.0
        self.center = QPointF(0, 0)
        self.image_size = QSizeF(0, 0)
        self.fitted = True
        self.loupe = False
        self.loupe_at: QPointF | None = None

    def set_image_size(self, size: QSizeF) -> None:
        """Set the image space (the larger, output image's size)."""
        self.image_size = QSizeF(size)

    def fit(self, viewport: QSizeF) -> None:
        """Show the whole image in ``viewport`` (never above 100%)."""
        iw, ih = self.image_size.width(), self.image_size.height()
        if iw <= 0 or ih <= 0 or viewport.width() <= 0 or viewport.height() <= 0:
            return
        self.zoom = min(1.0, viewport.width() / iw, viewport.height() / ih)
        self.center = QPointF(iw / 2, ih / 2)
        self.fitted = True
        self.changed.emit()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` keeping the image point ``anchor`` where it is."""
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        if anchor is not None and zoom != self.zoom:
            # The anchor's offset from the centre shrinks as the zoom grows.
            k = self.zoom / zoom
            self.center = anchor + (self.center - anchor) * k
        self.zoom = zoom
        self.fitted = False
        self.changed.emit()

    def pan_by(self, dx_screen: float, dy_screen: float) -> None:
        """Move the image by a screen distance (the drag of a mouse)."""
        self.center -= QPointF(dx_screen, dy_screen) / self.zoom
        self.fitted = False
        self.changed.emit()

    def set_loupe(self, on: bool) -> None:
        """Show (or hide) the magnifier that follows the cursor."""
        self.loupe = on
        if not on:
            self.loupe_at = None
        self.changed.emit()

    def set_loupe_at(self, point: QPointF | None) -> None:
        """Put the loupe over the image point ``point`` (None: off the image)."""
        if self.loupe and point != self.loupe_at:
            self.loupe_at = point
            self.changed.emit()

    def loupe_zoom(self) -> float:
        """The loupe's zoom: a few times the view's, at least 2 px per pixel."""
        return min(MAX_ZOOM, max(2.0, self.zoom * LOUPE_FACTOR))
