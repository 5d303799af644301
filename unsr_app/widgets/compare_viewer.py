"""The compare viewer: split, side by side, and difference, with shared zoom."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PySide6.QtCore import QSizeF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from unsr_app.qimage import heat_map, qimage_to_array
from unsr_app.widgets.image_canvas import ImageCanvas
from unsr_app.widgets.view_state import ViewState

Mode = Literal["split", "side", "diff"]
_MODES: tuple[tuple[Mode, str, str], ...] = (
    ("split", "Split", "Before and after under a draggable divider (S)"),
    ("side", "Side by side", "Before and after next to each other, in step (B)"),
    (
        "diff",
        "Difference",
        "Where after differs from before, or from the reference (D)",
    ),
)


def _tool(text: str, tip: str, checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


class CompareViewer(QWidget):
    """Before/after viewer with a reference image and quality numbers.

    Signals
    -------
    reference_requested()
        The user asked to load a reference high-resolution image.
    metrics_wanted()
        An after image and a reference are shown: score one against the
        other (from the engine's float data) and answer with
        :meth:`set_metrics`.
    """

    reference_requested = Signal()
    metrics_wanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = ViewState(self)
        self.canvas_left = ImageCanvas(self.state)
        self.canvas_right = ImageCanvas(self.state)
        self.canvas_right.hide()
        self.before: QImage | None = None
        self.after: QImage | None = None
        self.reference: QImage | None = None
        self._diff: QImage | None = None
        self._labels = ("Before", "After")
        self.mode: Mode = "split"

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        self._mode_group = QButtonGroup(self)
        for mode, text, tip in _MODES:
            button = _tool(text, tip, checkable=True)
            button.setChecked(mode == self.mode)
            button.setProperty("mode", mode)
            self._mode_group.addButton(button)
            bar.addWidget(button)
        self._mode_group.buttonClicked.connect(
            lambda b: self.set_mode(b.property("mode"))
        )
        bar.addSpacing(12)
        fit = _tool("Fit", "Fit the image to the window (F)")
        fit.clicked.connect(self.fit)
        one = _tool("1:1", "Zoom to 100%: one image pixel per screen pixel (1)")
        one.clicked.connect(lambda: self.state.set_zoom(1.0, self.state.center))
        bar.addWidget(fit)
        bar.addWidget(one)
        self.zoom_label = QLabel()
        self.zoom_label.setMinimumWidth(48)
        bar.addWidget(self.zoom_label)
        bar.addStretch(1)
        self.metrics_label = QLabel()
        self.metrics_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        # Long metric lines must never widen the viewer and squeeze the sides.
        self.metrics_label.setSizePolicy(
            QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred
        )
        ref = _tool(
            "Reference…", "Load the true high-resolution image to score against"
        )
        ref.clicked.connect(self.reference_requested)
        bar.addWidget(ref)

        panes = QHBoxLayout()
        panes.setContentsMargins(0, 0, 0, 0)
        panes.setSpacing(4)
        panes.addWidget(self.canvas_left)
        panes.addWidget(self.canvas_right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(panes, 1)
        layout.addWidget(self.metrics_label)
        self.state.changed.connect(self._on_state_changed)
        self._refresh()

    # -- data --------------------------------------------------------------
    def set_images(
        self,
        before: QImage | None,
        after: QImage | None,
        labels: tuple[str, str] = ("Before", "After"),
        keep_view: bool = False,
    ) -> None:
        """Show ``before`` against ``after`` (either may be None)."""
        self.before = before if before is not None and not before.isNull() else None
        self.after = after if after is not None and not after.isNull() else None
        self._labels = labels
        self._diff = None
        self._refresh(keep_view)
        self._ask_metrics()

    def set_after(self, after: QImage, label: str = "After") -> None:
        """Replace the after image (a live preview) without moving the view."""
        keep = self.after is not None and after.size() == self.after.size()
        self.set_images(self.before, after, (self._labels[0], label), keep_view=keep)

    def set_reference(self, reference: QImage | None) -> None:
        """Set (or clear) the high-resolution reference; metrics follow."""
        ok = reference is not None and not reference.isNull()
        self.reference = reference if ok else None
        self._diff = None
        self.set_metrics(None)
        self._refresh(keep_view=True)
        self._ask_metrics()

    def set_metrics(self, metrics: dict[str, float | None] | None) -> None:
        """Show PSNR / SSIM / LPIPS (None values read "unavailable")."""
        if not metrics:
            hint = "Load a reference to score" if self.reference is None else ""
            self.metrics_label.setText(hint)
            return
        parts = []
        for name, value in metrics.items():
            if value is None:
                parts.append(f"{name} unavailable")
            elif name == "PSNR":
                parts.append(f"PSNR {value:.2f} dB")
            else:
                parts.append(f"{name} {value:.4f}")
        self.metrics_label.setText("  ·  ".join(parts) + "  (vs the reference)")

    def _ask_metrics(self) -> None:
        if self.after is not None and self.reference is not None:
            self.metrics_label.setText("Scoring…")
            self.metrics_wanted.emit()

    # -- view --------------------------------------------------------------
    def set_mode(self, mode: Mode) -> None:
        """Switch between "split", "side" and "diff"."""
        self.mode = mode
        for button in self._mode_group.buttons():
            button.setChecked(button.property("mode") == mode)
        self._refresh(keep_view=True)

    def fit(self) -> None:
        """Fit the image to the (left) canvas."""
        self.state.fit(self.canvas_left.viewport_size())

    def _refresh(self, keep_view: bool = False) -> None:
        main = self.after or self.before
        if main is not None:
            self.state.set_image_size(QSizeF(main.size()))
        left, right = self.canvas_left, self.canvas_right
        before_label, after_label = self._labels
        right.setVisible(self.mode == "side")
        left.left = left.right = right.left = right.right = None
        left.mode = "single"
        if self.mode == "split":
            left.mode = "split"
            left.left, left.right = self.before, self.after
            left.left_label, left.right_label = before_label, after_label
            if self.after is None:
                left.right_label = ""
        elif self.mode == "side":
            left.left, left.left_label = self.before, before_label
            right.left, right.left_label = self.after, after_label
            right.placeholder = "The result appears here"
        else:
            left.left = self._difference()
            left.left_label = self._diff_label()
        if not keep_view or self.state.fitted:
            # Fit after the layout has settled: the right pane may just have
            # appeared and halved the left one.
            self.state.fitted = True
            self.state.fit(left.viewport_size())
        left.update()
        right.update()

    def _difference(self) -> QImage | None:
        if self._diff is not None:
            return self._diff
        base = self.reference if self.reference is not None else self.before
        if self.after is None or base is None:
            return None
        size = self.after.size()
        scaled = base.scaled(
            size,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        err = np.abs(qimage_to_array(self.after) - qimage_to_array(scaled)).mean(axis=2)
        # Normalise to a high percentile so a few outliers don't wash it out.
        top = float(np.percentile(err[::3, ::3], 99.5)) or 1.0  # a sample is enough
        self._diff = heat_map(err, vmax=top)
        return self._diff

    def _diff_label(self) -> str:
        if self.after is None:
            return "Difference needs a result"
        base = "reference" if self.reference is not None else "before (resized)"
        return f"|after − {base}|, bright = differs most"

    def _on_state_changed(self) -> None:
        self.zoom_label.setText(f"{self.state.zoom * 100:.0f}%")
