"""The compare viewer: split, side by side and difference, with shared zoom.

The left side (A) is the input or a baseline (bicubic, another method's result
of the same photo); the right side (B) is the result, or while a method learns
its live preview, drawn where it belongs in the image over the dimmed input.
Holding the flick key shows A where B was; the loupe magnifies the same pixels
on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from unsr_app.qimage import heat_map, qimage_to_array
from unsr_app.widgets.image_canvas import ImageCanvas, Picture
from unsr_app.widgets.view_state import ViewState

Mode = Literal["split", "side", "diff"]
#: A region of the input: (x, y, width, height) in input pixels.
Box = tuple[float, float, float, float]
_MODES: tuple[tuple[Mode, str, str], ...] = (
    ("split", "Split", "A and B under a draggable divider (S)"),
    ("side", "Side by side", "A and B next to each other, in step (B)"),
    ("diff", "Difference", "Where B differs from the reference, or from A (D)"),
)
INPUT_BASELINE = "input"
DROP_HINT = "Drop images here or use Add files…"


def _tool(text: str, tip: str, checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    # Never squeezed into "Si…de": the viewer's minimum width holds them.
    button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    return button


class CompareViewer(QWidget):
    """A/B viewer with a baseline, a reference image and quality numbers.

    Signals
    -------
    reference_requested()
        The user asked to load a reference high-resolution image.
    metrics_wanted()
        A result (or a placed preview) and a reference are shown: score one
        against the other from the engine's float data, and answer with
        :meth:`set_metrics`.
    baseline_chosen(str)
        The user picked what A is: "input", or a key given to
        :meth:`set_baseline_choices`; answer with :meth:`set_baseline`.
    """

    reference_requested = Signal()
    metrics_wanted = Signal()
    baseline_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = ViewState(self)
        self.canvas_left = ImageCanvas(self.state)
        self.canvas_right = ImageCanvas(self.state)
        self.canvas_right.hide()
        self.before: QImage | None = None
        self.after: QImage | None = None
        self.reference: QImage | None = None
        self.baseline: QImage | None = None
        self.preview: tuple[QImage, Box] | None = None
        self._baseline_label = ""
        self._diff: QImage | None = None
        self._labels = ("Before", "After")
        self._placeholder = DROP_HINT
        self._notice = ""
        self.flicked = False
        self.mode: Mode = "split"

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(2)
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
        bar.addSpacing(8)
        fit = _tool("Fit", "Fit the image to the window (F)")
        fit.clicked.connect(self.fit)
        one = _tool("1:1", "Zoom to 100%: one image pixel per screen pixel (1)")
        one.clicked.connect(lambda: self.state.set_zoom(1.0, self.state.center))
        bar.addWidget(fit)
        bar.addWidget(one)
        self.zoom_label = QLabel()
        self.zoom_label.setMinimumWidth(44)
        bar.addWidget(self.zoom_label)
        bar.addStretch(1)
        self.loupe_button = _tool(
            "Loupe", "A magnifier that follows the cursor on both sides (L)", True
        )
        self.loupe_button.toggled.connect(self.state.set_loupe)
        bar.addWidget(self.loupe_button)

        self.baseline_box = QComboBox()
        self.baseline_box.setToolTip(
            "What the result is compared with (A): the input, bicubic, or another "
            "result of the same photo. Hold A to flick to it."
        )
        self.baseline_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.baseline_box.setMinimumContentsLength(12)
        self.set_baseline_choices([])
        self.baseline_box.activated.connect(
            lambda i: self.baseline_chosen.emit(str(self.baseline_box.itemData(i)))
        )
        ref = _tool(
            "Reference…", "Load the true high-resolution image to score against"
        )
        ref.clicked.connect(self.reference_requested)
        compare = QHBoxLayout()
        compare.setContentsMargins(0, 0, 0, 0)
        compare.addWidget(QLabel("A:"))
        compare.addWidget(self.baseline_box, 1)
        compare.addWidget(ref)
        self.metrics_label = QLabel()
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        # Long metric lines wrap; they never widen the viewer.
        self.metrics_label.setSizePolicy(
            QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum
        )

        panes = QHBoxLayout()
        panes.setContentsMargins(0, 0, 0, 0)
        panes.setSpacing(4)
        panes.addWidget(self.canvas_left)
        panes.addWidget(self.canvas_right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(panes, 1)
        layout.addLayout(compare)
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
        self.preview = None
        self._labels = labels
        self._diff = None
        self._refresh(keep_view)
        self._ask_metrics()

    def set_after(self, after: QImage, label: str = "After") -> None:
        """Replace the after image (a whole-image preview) keeping the view."""
        keep = self.after is not None and after.size() == self.after.size()
        self.set_images(self.before, after, (self._labels[0], label), keep_view=keep)

    def set_preview(self, image: QImage, box: Box | None, label: str) -> None:
        """Show a live preview of the region ``box`` of the input (input pixels).

        The preview is drawn where that region is, over the dimmed input; the
        view does not move while previews follow one another. ``box`` None is
        a preview of the whole image.
        """
        if box is None:
            self.set_after(image, label)
            return
        keep = self.preview is not None or self.after is not None
        self.after = None
        self.preview = (image, box)
        self._labels = (self._labels[0], label)
        self._diff = None
        self._refresh(keep_view=keep)
        self._ask_metrics()

    def preview_box(self) -> Box | None:
        """The input region the live preview shows (None without one)."""
        return self.preview[1] if self.preview is not None else None

    def set_reference(self, reference: QImage | None) -> None:
        """Set (or clear) the high-resolution reference; metrics follow."""
        ok = reference is not None and not reference.isNull()
        self.reference = reference if ok else None
        self._diff = None
        self.set_metrics(None)
        self._refresh(keep_view=True)
        self._ask_metrics()

    def set_baseline_choices(self, choices: Sequence[tuple[str, str]]) -> None:
        """Offer these (key, label) baselines after "Input" (the default)."""
        current = self.baseline_box.currentData()
        self.baseline_box.blockSignals(True)
        self.baseline_box.clear()
        self.baseline_box.addItem("Input", INPUT_BASELINE)
        for key, label in choices:
            self.baseline_box.addItem(label, key)
        index = self.baseline_box.findData(current)
        self.baseline_box.setCurrentIndex(max(0, index))
        self.baseline_box.blockSignals(False)

    def choose_baseline(self, key: str) -> bool:
        """Pick a listed baseline as if the user had; False when not listed."""
        index = self.baseline_box.findData(key)
        if index < 0:
            return False
        self.baseline_box.setCurrentIndex(index)
        self.baseline_chosen.emit(key)
        return True

    def set_baseline(self, image: QImage | None, label: str = "") -> None:
        """Make ``image`` side A (None: back to the input)."""
        ok = image is not None and not image.isNull()
        self.baseline = image if ok else None
        self._baseline_label = label if ok else ""
        if not ok:
            self.baseline_box.setCurrentIndex(0)
        self._diff = None
        self._refresh(keep_view=True)

    def set_placeholder(self, text: str) -> None:
        """What an empty viewer says (a failed item's reason, or the drop hint)."""
        self._placeholder = text
        self._refresh(keep_view=True)

    def set_notice(self, text: str) -> None:
        """A banner over the images (a failed item's reason); "" hides it."""
        self._notice = text
        self._refresh(keep_view=True)

    def notice(self) -> str:
        """The banner's text ("" when none is shown)."""
        return self._notice

    def set_metrics(
        self,
        metrics: dict[str, float | None] | None,
        region: str = "",
        baseline: tuple[str, dict[str, float | None]] | None = None,
    ) -> None:
        """Show PSNR / SSIM / LPIPS of B (None values read "unavailable").

        ``region`` says what was scored when it is not the whole image;
        ``baseline`` is side A's (label, metrics), shown after B's.
        """
        if not metrics:
            hint = "Load a reference to score" if self.reference is None else ""
            self.metrics_label.setText(hint)
            return
        where = f", {region}" if region else ""
        text = _figures(metrics)
        if baseline is not None:
            label, theirs = baseline
            text = f"B: {text}  —  A ({label}): {_figures(theirs)}"
        self.metrics_label.setText(f"{text} (vs the reference{where})")

    def _ask_metrics(self) -> None:
        shown = self.after is not None or self.preview is not None
        if shown and self.reference is not None:
            self.metrics_label.setText("Scoring…")
            self.metrics_wanted.emit()
        elif self.reference is None:
            self.set_metrics(None)

    # -- view --------------------------------------------------------------
    def set_mode(self, mode: Mode) -> None:
        """Switch between "split", "side" and "diff"."""
        self.mode = mode
        for button in self._mode_group.buttons():
            button.setChecked(button.property("mode") == mode)
        self._refresh(keep_view=True)

    def set_loupe(self, on: bool) -> None:
        """Show or hide the loupe (the button follows)."""
        self.loupe_button.setChecked(on)

    def flick(self, on: bool) -> None:
        """While ``on``, show side A where B is (the A/B flick of a held key)."""
        if on != self.flicked:
            self.flicked = on
            self._refresh(keep_view=True)

    def fit(self) -> None:
        """Fit the image to the (left) canvas."""
        self.state.fit(self.canvas_left.viewport_size())

    def set_context_actions(self, actions: Sequence[QAction]) -> None:
        """Offer ``actions`` on a right click in the panes (copy, save...)."""
        for canvas in (self.canvas_left, self.canvas_right):
            canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
            canvas.addActions(list(actions))

    def space(self) -> QSizeF:
        """The view's image space: the result's size (or what stands in for it)."""
        if self.after is not None:
            return QSizeF(self.after.size())
        if self.preview is not None and self.before is not None:
            image, box = self.preview
            k = image.width() / max(box[2], 1e-9)
            return QSizeF(self.before.size()) * k
        shown = _first(self.baseline, self.before)
        return QSizeF(shown.size()) if shown is not None else QSizeF(0, 0)

    def _place(self, box: Box) -> QRectF:
        """``box`` (input pixels) in the view's space."""
        assert self.before is not None
        k = self.space().width() / self.before.width()
        x, y, w, h = box
        return QRectF(x * k, y * k, w * k, h * k)

    def _side_a(self) -> tuple[Picture | None, str]:
        if self.baseline is not None:
            return Picture(self.baseline), f"A · {self._baseline_label}"
        if self.before is not None:
            return Picture(self.before), self._labels[0]
        return None, ""

    def _side_b(self) -> tuple[Picture | None, str]:
        if self.preview is not None:
            if self.before is None:
                return None, ""  # no place for it until the input is read
            image, box = self.preview
            return Picture(image, self._place(box), self.before), self._labels[1]
        if self.after is not None:
            return Picture(self.after), self._labels[1]
        return None, ""

    def _refresh(self, keep_view: bool = False) -> None:
        space = self.space()
        if not space.isEmpty():
            self.state.set_image_size(space)
        left, right = self.canvas_left, self.canvas_right
        a, a_label = self._side_a()
        b, b_label = self._side_b()
        if self.flicked and a is not None:
            b, b_label = a, f"{a_label} (held)"
        right.setVisible(self.mode == "side")
        left.left = left.right = right.left = right.right = None
        left.left_label = left.right_label = right.left_label = ""
        left.mode = "single"
        left.placeholder = self._placeholder
        left.notice = right.notice = ""
        (right if self.mode == "side" else left).notice = self._notice
        if self.mode == "split":
            left.mode = "split"
            left.left, left.right = a, b
            left.left_label, left.right_label = a_label, b_label
            if self.flicked:
                left.mode, left.right = "single", None
        elif self.mode == "side":
            left.left, left.left_label = a, a_label
            right.left, right.left_label = b, b_label
            right.placeholder = "The result appears here"
        else:
            left.left = self._difference()
            left.left_label = self._diff_label()
            if self.flicked and a is not None:
                left.left, left.left_label = a, f"{a_label} (held)"
        if not keep_view or self.state.fitted:
            # Fit after the layout has settled: the right pane may just have
            # appeared and halved the left one.
            self.state.fitted = True
            self.state.fit(left.viewport_size())
        left.update()
        right.update()

    def _difference(self) -> Picture | None:
        if self._diff is not None:
            place = (
                self._place(self.preview[1])
                if self.preview is not None and self.before is not None
                else None
            )
            return Picture(self._diff, place, self.before if place else None)
        if self.preview is not None and self.before is not None:
            image, box = self.preview
            base = self._crop_of_base(box, image.size())
            if base is None:
                return None
            self._diff = _heat(image, base)
            return Picture(self._diff, self._place(box), self.before)
        base = _first(self.reference, self.baseline, self.before)
        if self.after is None or base is None:
            return None
        scaled = base.scaled(
            self.after.size(),
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self._diff = _heat(self.after, scaled)
        return Picture(self._diff)

    def _crop_of_base(self, box: Box, size: QSize) -> QImage | None:
        """The region ``box`` of the reference (or side A), at ``size``."""
        base = _first(self.reference, self.baseline, self.before)
        if base is None or self.before is None:
            return None
        k = base.width() / self.before.width()
        x, y, w, h = (round(v * k) for v in box)
        crop = base.copy(QRect(x, y, w, h))
        return crop.scaled(
            size,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )

    def _diff_label(self) -> str:
        if self.after is None and self.preview is None:
            return "Difference needs a result"
        if self.reference is not None:
            base = "reference"
        elif self.baseline is not None:
            base = self._baseline_label
        else:
            base = "input (resized)"
        where = " on the preview's region" if self.preview is not None else ""
        return f"|B − {base}|{where}, bright = differs most"

    def _on_state_changed(self) -> None:
        self.zoom_label.setText(f"{self.state.zoom * 100:.0f}%")


def _figures(metrics: dict[str, float | None]) -> str:
    parts = []
    for name, value in metrics.items():
        if value is None:
            parts.append(f"{name} unavailable")
        elif name == "PSNR":
            parts.append(f"PSNR {value:.2f} dB")
        else:
            parts.append(f"{name} {value:.4f}")
    return " · ".join(parts)


def _first(*images: QImage | None) -> QImage | None:
    return next((i for i in images if i is not None), None)


def _heat(image: QImage, base: QImage) -> QImage:
    """A heat map of where ``image`` and ``base`` (same size) differ."""
    err = np.abs(qimage_to_array(image) - qimage_to_array(base)).mean(axis=2)
    # Normalise to a high percentile so a few outliers don't wash it out.
    top = float(np.percentile(err[::3, ::3], 99.5)) or 1.0  # a sample is enough
    return heat_map(err, vmax=top)
