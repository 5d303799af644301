"""Live loss curves: one per loss name, redrawn a few times a second."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

# Distinct, colour-blind-friendly pens (Okabe-Ito), cycled by curve.
_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
_REDRAW_MS = 250


class LossPlot(QWidget):
    """A pyqtgraph plot fed with (step, {name: value}) points.

    Points are buffered and drawn on a timer, so a job that reports every step
    costs the GUI thread one redraw per quarter second, not one per step.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._steps: dict[str, list[float]] = {}
        self._values: dict[str, list[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False

        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(140)
        self.plot.setAcceptDrops(False)  # a drop here goes to the window's queue
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.log_box = QCheckBox("Log scale")
        self.log_box.toggled.connect(self.set_log)
        self.title = QLabel("<b>Losses</b>")
        self.hint = QLabel(
            "Every loss gets its own curve here while a method learns from "
            "the image (DualSR)."
        )
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setEnabled(False)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.log_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.hint, 1)
        layout.addWidget(self.plot, 1)
        self.plot.hide()  # empty axes say nothing: the hint stands in

        self._apply_palette()
        self._timer = QTimer(self)
        self._timer.setInterval(_REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        """Follow theme changes: the plot takes the window's colours."""
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        pal = self.palette()
        self.plot.setBackground(pal.color(QPalette.ColorRole.Base))
        fg = pal.color(QPalette.ColorRole.Text)
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))
        # pyqtgraph's default legend text is pale grey: unreadable on white.
        self.plot.plotItem.legend.setLabelTextColor(fg)

    def add(self, step: int, values: Mapping[str, float]) -> None:
        """Buffer one point per loss; drawn at the next tick."""
        for name, value in values.items():
            if not np.isfinite(value):
                continue
            self._steps.setdefault(name, []).append(float(step))
            self._values.setdefault(name, []).append(float(value))
        self._dirty = True

    def clear(self) -> None:
        """Forget every curve (a new fit starts)."""
        self._steps.clear()
        self._values.clear()
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        self._curves.clear()
        self.plot.plotItem.legend.clear()
        self.hint.show()
        self.plot.hide()

    def names(self) -> list[str]:
        """The losses seen so far, in order of arrival."""
        return list(self._steps)

    def point_count(self, name: str) -> int:
        """How many points the curve ``name`` has received."""
        return len(self._steps.get(name, ()))

    def set_log(self, on: bool) -> None:
        """Plot the y axis on a log scale (non-positive values are clipped)."""
        self.log_box.setChecked(on)
        self.plot.setLogMode(y=on)
        self._dirty = True
        self._redraw()

    def is_log(self) -> bool:
        """True when the y axis is logarithmic."""
        return self.log_box.isChecked()

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.hint.setVisible(not self._steps)
        self.plot.setVisible(bool(self._steps))
        for name, steps in self._steps.items():
            values = np.asarray(self._values[name])
            if self.is_log():
                # A zero (a loss not active yet) has no logarithm: leave a
                # gap rather than a plunge that squeezes every other curve.
                values = np.where(values > 0, values, np.nan)
            curve = self._curves.get(name)
            if curve is None:
                colour = _COLOURS[len(self._curves) % len(_COLOURS)]
                curve = self.plot.plot(
                    name=name, pen=pg.mkPen(colour, width=1.6), connect="finite"
                )
                self._curves[name] = curve
            curve.setData(np.asarray(steps), values)
