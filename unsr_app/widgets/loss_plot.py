"""Live loss curves: one per loss name, redrawn a few times a second.

The legend sits under the plot, never over the curves, and each of its
entries is a check box that shows or hides its curve.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

#: Pens cycled by curve: distinct hues (mostly Okabe-Ito, colour-blind
#: friendly) that each keep at least 3:1 contrast against both the light
#: theme's white and the dark theme's near-black plot (no pale yellow).
COLOURS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#9467BD",
    "#CC79A7",
    "#B8860B",
    "#7F7F7F",
)
_REDRAW_MS = 250
# Two columns keep the legend narrower than the history table under it, so a
# fit's six curves do not widen the right column and squeeze the viewer.
_TOGGLE_COLUMNS = 2
_LEGEND_RESERVED = 6  # legend entries the panel keeps room for (DualSR's losses)
_MARKED_BELOW = 12  # curves with fewer points show them as dots


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
        self.toggles: dict[str, QCheckBox] = {}
        self._dirty = False

        self.plot = pg.PlotWidget()
        # The plot with its legend, the kernel and the history share the
        # studio's right column: at the smallest window their minimums must
        # fit its height, or the legend is drawn over the plot.
        self.plot.setMinimumHeight(70)
        self.plot.setAcceptDrops(False)  # a drop here goes to the window's queue
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
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
        self._legend = QWidget()
        self._legend_grid = QGridLayout(self._legend)
        self._legend_grid.setContentsMargins(4, 0, 0, 0)
        self._legend_grid.setHorizontalSpacing(8)
        self._legend_grid.setVerticalSpacing(0)
        layout.addWidget(self._legend)
        self.plot.hide()  # empty axes say nothing: the hint stands in
        # Room for a DualSR fit's six curves is kept from the start: a
        # splitter honours its panels' minimums when the window is resized,
        # not when a panel's minimum grows later.
        self.hint.setMinimumHeight(self.plot.minimumHeight())
        rows = -(-_LEGEND_RESERVED // _TOGGLE_COLUMNS)
        self._legend.setMinimumHeight(rows * QCheckBox("x").sizeHint().height())

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
        for box in self.toggles.values():
            self._legend_grid.removeWidget(box)
            box.deleteLater()
        self.toggles.clear()
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
                curve = self._new_curve(name)
            # A few points make no line to see: mark them until there are more.
            sparse = len(steps) < _MARKED_BELOW
            colour = curve.opts["pen"].color()
            curve.setData(
                np.asarray(steps),
                values,
                symbol="o" if sparse else None,
                symbolSize=5,
                symbolPen=None,
                symbolBrush=colour,
            )

    def _new_curve(self, name: str) -> pg.PlotDataItem:
        """A curve and its legend entry, a check box in the curve's colour."""
        colour = COLOURS[len(self._curves) % len(COLOURS)]
        curve = self.plot.plot(pen=pg.mkPen(colour, width=1.8), connect="finite")
        self._curves[name] = curve
        box = QCheckBox(name)
        box.setChecked(True)
        box.setIcon(_swatch(colour))
        box.setToolTip(f"Show or hide the {name} curve")
        box.toggled.connect(lambda on, n=name: self.set_shown(n, on))
        n = len(self.toggles)
        self._legend_grid.addWidget(box, n // _TOGGLE_COLUMNS, n % _TOGGLE_COLUMNS)
        self.toggles[name] = box
        return curve

    def colour_of(self, name: str) -> str:
        """The curve's colour (#rrggbb)."""
        pen = self._curves[name].opts["pen"]
        return str(pen.color().name())

    def set_shown(self, name: str, on: bool) -> None:
        """Show or hide one loss's curve (the axes fit what is shown)."""
        if name in self.toggles and self.toggles[name].isChecked() != on:
            self.toggles[name].setChecked(on)  # comes back here
            return
        curve = self._curves.get(name)
        if curve is not None:
            curve.setVisible(on)
            self.plot.plotItem.enableAutoRange()

    def is_shown(self, name: str) -> bool:
        """True when the curve ``name`` is drawn."""
        curve = self._curves.get(name)
        return curve is not None and curve.isVisible()


def _swatch(colour: str) -> QIcon:
    """A short thick line in ``colour``: the legend's key."""
    pixmap = QPixmap(16, 16)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setPen(QPen(QColor(colour), 3))
    painter.drawLine(1, 8, 15, 8)
    painter.end()
    return QIcon(pixmap)
