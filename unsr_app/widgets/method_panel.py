"""Method, scale, profile, output folder, format and quality; Start and Stop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from unsr_app.cluster import describe
from unsr_app.requests import FORMATS, MethodInfo, RunRequest


class WrappingLabel(QLabel):
    """A word-wrapped label that asks its layout for all the lines it needs.

    Layouts size a wrapped QLabel from its one-line hint, so a long method
    description (a demo's benchmark verdict) was cut off; the label's minimum
    height follows its text and width instead.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        """Set the text, then the height it needs at the current width."""
        super().setText(text)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        """Re-fit the height when the width changes."""
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        need = self.heightForWidth(max(self.width(), 120))
        if need > 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)


#: The method list's groups, in order: (title, what each member is).
GROUPS = (
    ("Pretrained models (seconds)", "fast: a pretrained network"),
    ("Learns from each image (minutes)", "fits per image: learns this photo first"),
    ("Interpolation (instant)", "fast: classic interpolation, no learning"),
    ("Trained by you", "trained with unsr on your photos"),
    ("Demos", "demo: a tiny example network, not for real work"),
)


def group_of(info: MethodInfo) -> int:
    """The index in :data:`GROUPS` of a method."""
    if info.demo:
        return 4
    if info.needs_fit:
        return 1
    return {"pretrained": 0, "trained": 3}.get(info.kind, 2)


def tag(info: MethodInfo) -> str:
    """One line: which kind of method this is (fast, fits per image, demo)."""
    text = GROUPS[group_of(info)][1]
    if info.native_scale:
        text += f", x{info.native_scale} natively"
    return text[0].upper() + text[1:]


def grouped(methods: Sequence[MethodInfo]) -> list[tuple[str, list[MethodInfo]]]:
    """The non-empty groups of ``methods``, in :data:`GROUPS` order."""
    out = []
    for n, (title, _) in enumerate(GROUPS):
        members = [m for m in methods if group_of(m) == n]
        if members:
            out.append((title, members))
    return out


class MethodPanel(QWidget):
    """The run settings as a form; emits intents, never runs anything.

    Signals
    -------
    start_clicked(), stop_clicked()
        The user pressed Start or Stop.
    keep_clicked()
        The user pressed Stop & keep: end the fit now, keep what it learnt.
    changed()
        Any setting changed (the window saves settings on it).
    """

    start_clicked = Signal()
    stop_clicked = Signal()
    keep_clicked = Signal()
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._methods: list[MethodInfo] = []
        self._wanted = RunRequest()

        self.method = QComboBox()
        self.method.addItem("Loading methods…")
        self.method.setEnabled(False)
        self.description = WrappingLabel()
        #: What kind of method is selected: fast, fits per image, demo.
        self.tag = QLabel()
        self.tag.setObjectName("methodTag")
        self.scale = QComboBox()
        self.profile = QComboBox()
        self.output = QLineEdit()
        self.output.setPlaceholderText("Beside each input")
        self.output.setToolTip("Leave empty to write each result beside its input")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the output folder")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.setContentsMargins(0, 0, 0, 0)
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        self.fmt = QComboBox()
        for fid, label, _q in FORMATS:
            self.fmt.addItem(label, fid)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(95)
        self.quality.setSuffix(" %")
        fmt_row = QHBoxLayout()
        fmt_row.setContentsMargins(0, 0, 0, 0)
        fmt_row.addWidget(self.fmt, 1)
        fmt_row.addWidget(QLabel("quality"))
        fmt_row.addWidget(self.quality)

        self.start = QPushButton("Start")
        self.start.setDefault(True)
        self.start.setToolTip("Upscale every queued item (Ctrl+Return)")
        self.start.setMinimumHeight(30)
        font = self.start.font()
        font.setBold(True)
        self.start.setFont(font)
        self.stop = QPushButton("Stop")
        self.stop.setToolTip("Stop the current item and the rest of the batch (Esc)")
        self.stop.setEnabled(False)
        self.stop.setMinimumHeight(30)
        self.keep = QPushButton("Stop && keep")
        self.keep.setToolTip(
            "End the fit now and upscale with what it has learnt so far (its "
            "weight average); the rest of the batch is skipped (Shift+Esc)"
        )
        self.keep.setEnabled(False)
        self.keep.setMinimumHeight(30)
        self.start.clicked.connect(self.start_clicked)
        self.stop.clicked.connect(self.stop_clicked)
        self.keep.clicked.connect(self.keep_clicked)
        run_row = QHBoxLayout()
        run_row.setContentsMargins(0, 0, 0, 0)
        run_row.addWidget(self.start, 2)
        run_row.addWidget(self.stop, 1)
        run_row.addWidget(self.keep, 1)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Method", self.method)
        form.addRow("", self.tag)
        form.addRow("", self.description)
        form.addRow("Scale", self.scale)
        form.addRow("Profile", self.profile)
        form.addRow("Output", out_row)
        form.addRow("Format", fmt_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Method</b>"))
        layout.addLayout(form)
        layout.addLayout(run_row)

        self.method.currentIndexChanged.connect(self._on_method_changed)
        for combo in (self.scale, self.profile, self.fmt):
            combo.currentIndexChanged.connect(self._on_any_changed)
        self.quality.valueChanged.connect(self._on_any_changed)
        self.output.editingFinished.connect(self._on_any_changed)

    # -- data --------------------------------------------------------------
    def set_methods(self, methods: Sequence[MethodInfo]) -> None:
        """Fill the method list; keep the wanted (saved) method when present."""
        wanted = self._wanted
        self._methods = list(methods)
        self.method.blockSignals(True)
        self.method.clear()
        for group, members in grouped(self._methods):
            self._add_header(group)
            for m in members:
                self.method.addItem(f"  {m.label}", m.id)
                self.method.setItemData(
                    self.method.count() - 1,
                    m.description,
                    Qt.ItemDataRole.ToolTipRole,
                )
        self.method.setEnabled(bool(self._methods))
        index = self.method.findData(wanted.method)
        if index < 0 and self._methods:  # the registry's first, not a header
            index = self.method.findData(self._methods[0].id)
        self.method.setCurrentIndex(index)
        self.method.blockSignals(False)
        self._on_method_changed()
        self._select(self.scale, wanted.scale)
        self._select(self.profile, wanted.profile)

    def methods(self) -> list[MethodInfo]:
        """The methods listed."""
        return list(self._methods)

    def method_info(self, method_id: str) -> MethodInfo | None:
        """The listed method with ``method_id``."""
        return next((m for m in self._methods if m.id == method_id), None)

    def request(self) -> RunRequest:
        """What is set now, as a request."""
        if not self._methods:
            return self._wanted
        text = self.output.text().strip()
        return RunRequest(
            method=self.method.currentData(),
            scale=int(self.scale.currentData() or 2),
            profile=self.profile.currentData(),
            output_dir=Path(text).expanduser() if text else None,
            fmt=self.fmt.currentData(),
            quality=self.quality.value(),
        )

    def set_request(self, request: RunRequest) -> None:
        """Show ``request`` (saved settings); the method applies once listed."""
        self._wanted = request
        self.output.setText(str(request.output_dir) if request.output_dir else "")
        self._select(self.fmt, request.fmt)
        self.quality.setValue(request.quality)
        if self._methods:
            self.set_methods(self._methods)

    def set_cluster(self, address: str) -> None:
        """Say on Start where the batch runs: "" here, else that Ray cluster."""
        self.start.setText("Start on cluster" if address else "Start")
        where = describe(address)
        self.start.setToolTip(f"Upscale every queued item on {where} (Ctrl+Return)")

    def set_running(self, running: bool, fitting: bool = False) -> None:
        """Start is for an idle studio, Stop for a running one.

        Stop & keep only while a method fits (it has a result so far).
        """
        self.start.setEnabled(not running)
        self.stop.setEnabled(running)
        self.keep.setEnabled(running and fitting)
        for w in (self.method, self.scale, self.profile, self.output, self.fmt):
            w.setEnabled(not running and (w is not self.method or bool(self._methods)))

    # -- slots -------------------------------------------------------------
    def _on_method_changed(self) -> None:
        info = self.method_info(self.method.currentData())
        if info is None:
            return
        keep_scale = self.scale.currentData() or self._wanted.scale
        if info.native_scale in info.scales:
            keep_scale = info.native_scale  # a model starts at its own factor
        self.scale.blockSignals(True)
        self.scale.clear()
        for s in info.scales:
            self.scale.addItem(f"×{s}", s)
        self._select(self.scale, keep_scale if keep_scale in info.scales else 2)
        self.scale.blockSignals(False)
        self.profile.blockSignals(True)
        self.profile.clear()
        for name in info.profiles:
            self.profile.addItem(name, name)
        self.profile.setEnabled(len(info.profiles) > 1)
        self.profile.blockSignals(False)
        self.tag.setText(tag(info))
        self.description.setText(info.description)
        self._on_any_changed()

    def _on_any_changed(self) -> None:
        has_quality = next(
            (q for f, _l, q in FORMATS if f == self.fmt.currentData()), 0
        )
        self.quality.setEnabled(bool(has_quality))
        if self._methods:
            self._wanted = self.request()
        self.changed.emit()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Output folder", self.output.text()
        )
        if folder:
            self.output.setText(folder)
            self._on_any_changed()

    def _add_header(self, text: str) -> None:
        # A group title: shown in the list, never selectable.
        self.method.addItem(text)
        item = self.method.model().item(self.method.count() - 1)  # type: ignore[attr-defined]
        item.setFlags(
            item.flags() & ~Qt.ItemFlag.ItemIsSelectable & ~Qt.ItemFlag.ItemIsEnabled
        )
        font = item.font()
        font.setBold(True)
        item.setFont(font)

    @staticmethod
    def _select(combo: QComboBox, data: object) -> None:
        index = combo.findData(data)
        if index >= 0:
            combo.setCurrentIndex(index)
