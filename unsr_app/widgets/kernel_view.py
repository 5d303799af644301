"""The learned blur kernel as a small live heat map."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from unsr_app.qimage import heat_map


class _Heat(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.image: QImage | None = None
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        side = min(self.width(), self.height())
        box = QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)
        p.fillRect(box, self.palette().color(self.backgroundRole()).darker(115))
        if self.image is None:
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, "no kernel yet")
            return
        # Nearest-neighbour: each kernel tap is a visible square.
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(box, self.image)


class KernelView(QWidget):
    """Shows a (k, k) kernel, brighter = more weight, with its size and step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kernel: np.ndarray | None = None
        self.heat = _Heat()
        self.caption = QLabel("<b>Kernel</b> · estimated while DualSR fits")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.heat, 1)

    def set_kernel(self, kernel: np.ndarray, step: int | None = None) -> None:
        """Show ``kernel`` (any non-negative 2-D array)."""
        k = np.asarray(kernel, dtype=np.float32)
        self.kernel = k
        self.heat.image = heat_map(np.clip(k, 0, None))
        at = f" · step {step}" if step is not None else ""
        self.caption.setText(f"<b>Kernel</b> · {k.shape[0]}×{k.shape[1]}{at}")
        self.heat.update()

    def clear(self) -> None:
        """Forget the kernel."""
        self.kernel = None
        self.heat.image = None
        self.caption.setText("<b>Kernel</b> · estimated while DualSR fits")
        self.heat.update()
