"""The Train page: pick two folders, a method, a profile and a budget; watch it learn.

Every loss is plotted live, and the intermediate images each method makes are
shown as they change (Maeda's pseudo-clean LR, CycleSR's and CSR-GAN's
translated LR, the domain-adaptation method's target-style LR). A finished (or
stopped) model is saved to the user models folder and announced with
``model_trained`` so the window can refresh its method list.

Before a run the page says which method suits which photos and what the run
will do (:mod:`unsr_app.train_advice`); the last real photo is held back from
training, and at the end the new model is compared with bicubic upscaling on it
by a no-reference measure (:class:`~unsr_app.widgets.train_check.TrainCheck`),
since a user has no ground truth for their own photos.

Jobs run through the app's one thread bridge (:class:`~unsr_app.worker.JobHandle`).
The recipes import torch, so they are looked up in a worker the first time the
page is shown: building the window stays instant.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from unsr_app import job_factories, train_advice
from unsr_app.requests import TrainChoices, TrainRequest
from unsr_app.widgets.loss_plot import LossPlot
from unsr_app.widgets.preview_strip import PreviewStrip
from unsr_app.widgets.train_check import TrainCheck
from unsr_app.worker import JobHandle, PreviewFrame

ChoicesJob = Callable[[], Generator[Any, None, TrainChoices]]
TrainJob = Callable[[TrainRequest], Generator[Any, None, Any]]


class TrainPage(QWidget):
    """Train an unpaired method from two folders.

    Parameters
    ----------
    choices_job, train_job
        The look-up of the recipes and the training job (tests may pass fakes).

    Signals
    -------
    model_trained(str)
        Path of a checkpoint that was just written (the method list should refresh).
    running(bool)
        Training started (True) or ended (False).
    """

    model_trained = Signal(str)
    running = Signal(bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        choices_job: ChoicesJob = job_factories.train_choices_job,
        train_job: TrainJob = job_factories.train_job,
    ) -> None:
        super().__init__(parent)
        self._choices_job = choices_job
        self._train_job = train_job
        self._choices: TrainChoices | None = None
        self._lookup: JobHandle | None = None
        self._handle: JobHandle | None = None
        self._out: Path | None = None
        self._no_check = ""  # why the run's comparison with bicubic failed

        self.real_lr = QLineEdit(placeholderText="the photos to improve")
        self.real_lr.setToolTip("A folder of real low-resolution photos")
        self.hr = QLineEdit(placeholderText="any sharp photos")
        self.hr.setToolTip(
            "A folder of clean high-resolution photos (need not match). Prefer "
            "photos with smooth areas (sky, walls, skin): texture everywhere, "
            "like grass, looks like noise to the discriminators."
        )
        self.method = QComboBox()
        self.method.addItem("Loading methods…")
        self.method.setEnabled(False)
        self.profile = QComboBox()
        self.profile.addItem("CPU (small nets, minutes)", "cpu")
        self.profile.addItem("Paper (published settings, GPU)", "paper")
        self.scale = QComboBox()
        self.scale.addItem("×2", 2)
        self.scale.addItem("×4", 4)
        self.budget = QSpinBox(minimum=1, maximum=24 * 60, value=30, suffix=" min")
        self.name = QLineEdit(placeholderText="default: method and scale")
        self.start_button = QPushButton("Start")
        self.start_button.setEnabled(False)  # until the recipes are known
        self.start_button.setMinimumHeight(30)
        font = self.start_button.font()
        font.setBold(True)
        self.start_button.setFont(font)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop and save the model trained so far")
        self.stop_button.setEnabled(False)
        self.stop_button.setMinimumHeight(30)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.about = QLabel(
            "Learns how your photos are degraded from two folders that need not "
            "match: real low-resolution photos and any clean high-resolution "
            "ones. The model goes to your models folder and the Studio's "
            "method list."
        )
        self.about.setWordWrap(True)
        self.about.setEnabled(False)  # the muted colour of help text
        # In full colour, not muted: a user is about to spend half an hour on
        # it, so which method suits which photos and what to expect come first.
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.advice.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("Pick the two folders, then Start.")
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.losses = LossPlot()
        self.losses.title.setText("<b>Training losses</b>")
        self.losses.hint.setText("Every loss gets its own curve here while training.")
        self.losses.set_log(True)
        self.preview_hint = QLabel(
            "The images each method makes on the way (translated or pseudo-clean "
            "LR, the SR output) appear here every few seconds."
        )
        self.preview_hint.setWordWrap(True)
        self.preview_hint.setEnabled(False)
        self.previews = PreviewStrip()
        self.check = TrainCheck()

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Real LR photos", self._picker(self.real_lr))
        form.addRow("Clean HR photos", self._picker(self.hr))
        form.addRow("Method", self.method)
        form.addRow("Profile", self.profile)
        form.addRow("Scale", self.scale)
        form.addRow("Budget", self.budget)
        form.addRow("Save as", self.name)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.stop_button, 1)
        side = QWidget()
        side.setFixedWidth(420)
        left = QVBoxLayout(side)
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(QLabel("<b>Train an unpaired method</b>"))
        left.addWidget(self.about)
        left.addWidget(self.advice)
        left.addSpacing(4)
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status, 1)
        right = QVBoxLayout()
        right.addWidget(self.losses, 1)
        right.addWidget(QLabel("<b>Intermediate images</b>"))
        right.addWidget(self.preview_hint)
        right.addWidget(self.previews)
        right.addSpacing(6)
        right.addWidget(self.check)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(12)
        layout.addWidget(side)
        layout.addLayout(right, 1)

        self.start_button.clicked.connect(self._on_start_clicked)
        self.stop_button.clicked.connect(self.stop)
        self.method.currentIndexChanged.connect(self._on_choice_changed)
        self.profile.currentIndexChanged.connect(self._on_choice_changed)
        self.budget.valueChanged.connect(self._on_choice_changed)
        self._on_choice_changed()

    def _picker(self, edit: QLineEdit) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse…")
        row.addWidget(edit, 1)
        row.addWidget(button)

        def browse() -> None:
            folder = QFileDialog.getExistingDirectory(
                self, "Choose a folder", edit.text()
            )
            if folder:
                edit.setText(folder)

        button.clicked.connect(browse)
        return box

    # -- data -------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        """Look the recipes up the first time the page is shown."""
        super().showEvent(event)
        self.load_choices()

    def load_choices(self) -> None:
        """Look the recipes up in a worker (once)."""
        if self._choices is not None or self._lookup is not None:
            return
        self._lookup = JobHandle(self._choices_job, self)
        self._lookup.finished.connect(self.set_choices)
        self._lookup.failed.connect(self._on_lookup_failed)
        self._lookup.cancelled.connect(self._on_lookup_cancelled)
        self._lookup.start()

    def set_choices(self, choices: TrainChoices) -> None:
        """Offer ``choices``' recipes; Start is possible from now on."""
        self._lookup = None
        self._choices = choices
        self.method.clear()
        for name, label in choices.recipes:
            self.method.addItem(label, name)
        self.method.setEnabled(bool(choices.recipes))
        self.start_button.setEnabled(bool(choices.recipes))
        # The method made for a camera first: the one most users want.
        recommended = self.method.findData("estimated")
        if recommended >= 0:
            self.method.setCurrentIndex(recommended)
        self._on_choice_changed()

    def _on_choice_changed(self, *_: object) -> None:
        """Say what the chosen method suits and what the run will do."""
        self.advice.setText(
            train_advice.html(
                str(self.method.currentData() or ""),
                str(self.profile.currentData()),
                self.budget.value(),
            )
        )

    def is_busy(self) -> bool:
        """True while training or looking the recipes up."""
        return self._handle is not None or self._lookup is not None

    def is_running(self) -> bool:
        """True while a training job runs."""
        return self._handle is not None

    # -- intents ----------------------------------------------------------
    def _on_start_clicked(self) -> None:
        self.start()

    def start(self, iterations: int | None = None) -> None:
        """Start training as set on the page (``iterations`` replaces the budget)."""
        if self._handle is not None:
            return
        if self._choices is None:
            self.status.setText("The training methods are still loading…")
            return
        for label, edit in (("real LR", self.real_lr), ("HR", self.hr)):
            if not edit.text().strip():
                self.status.setText(f"Choose the {label} folder first.")
                return
            if not Path(edit.text()).is_dir():
                self.status.setText(f"The {label} folder does not exist: {edit.text()}")
                return
        request = self._request(iterations)
        self._out = request.output
        self._reset_views()
        handle = JobHandle(lambda: self._train_job(request), self)
        handle.progressed.connect(self._on_job_progressed)
        handle.losses.connect(self._on_job_losses)
        handle.preview.connect(self._on_job_preview)
        handle.message.connect(self._on_job_message)
        handle.finished.connect(self._on_job_finished)
        handle.failed.connect(self._on_job_failed)
        handle.cancelled.connect(self._on_job_cancelled)
        self._handle = handle
        self._set_running(True)
        self.status.setText(f"Training {self.method.currentText()}…")
        handle.start()

    def _request(self, iterations: int | None) -> TrainRequest:
        assert self._choices is not None
        real, hr = Path(self.real_lr.text()), Path(self.hr.text())
        method, scale = self.method.currentData(), int(self.scale.currentData())
        profile = self.profile.currentData()
        name = self.name.text().strip() or f"{method}-x{scale}"
        out = self._choices.models_dir / f"{name}{self._choices.suffix}"
        budget = None if iterations is not None else self.budget.value() * 60.0
        length = (
            f"--budget-minutes {self.budget.value()}"
            if budget
            else f"--iterations {iterations}"
        )
        return TrainRequest(
            real_lr=real,
            hr=hr,
            recipe=method,
            output=out,
            profile=profile,
            scale=scale,
            budget_s=budget,
            iterations=iterations,
            command=(
                f"unsr train {method} --real-lr {real} --hr {hr} --scale {scale} "
                f"--profile {profile} {length} -o {out}"
            ),
        )

    def stop(self) -> None:
        """Stop training; the model trained so far is saved and can be resumed."""
        if self._handle is not None:
            self._handle.cancel()
            self.status.setText("Stopping after the current step…")

    def shutdown(self) -> None:
        """Stop every job of the page and wait for its thread (window closing)."""
        for handle in (self._handle, self._lookup):
            if handle is not None:
                handle.cancel()
                handle.wait(30000)

    # -- events -----------------------------------------------------------
    def _reset_views(self) -> None:
        self.losses.clear()
        self.previews.clear()
        self.preview_hint.show()
        self._no_check = ""
        self.check.show_note(
            "Training… the comparison with bicubic appears here when the run ends."
        )
        self.progress.setValue(0)
        self.progress.setFormat("starting %p%")

    def _on_job_losses(self, event: Any) -> None:
        self.losses.add(event.step, event.values)

    def _on_job_progressed(self, event: Any) -> None:
        self.progress.setValue(int(100 * event.fraction))
        eta = ""
        if event.eta_s:
            eta = (
                f", about {event.eta_s / 60:.0f} min left"
                if event.eta_s >= 90
                else f", {event.eta_s:.0f} s left"
            )
        self.progress.setFormat(f"{event.stage} %p%{eta}")

    def _on_job_preview(self, frame: PreviewFrame) -> None:
        self.preview_hint.hide()
        self.previews.show_image(frame.label, frame.image)

    def _on_job_message(self, event: Any) -> None:
        self.status.setText(event.text)
        prefix = "no comparison with bicubic: "
        if event.text.startswith(prefix):
            self._no_check = event.text[len(prefix) :]

    def _show_check(self, result: Any) -> None:
        check = getattr(result, "check", None)
        if check is not None:
            self.check.show_check(check)
        else:
            reason = self._no_check or "the trainer gave none"
            self.check.show_note(f"No comparison with bicubic: {reason}.")

    def _on_job_finished(self, result: Any) -> None:
        self._job_ended()
        self.status.setText(
            f"Done: {result.steps} steps in {result.elapsed_s / 60:.1f} min. "
            f"Saved {self._saved_name()} in your models folder; it is now in "
            "the Studio's method list."
        )
        self.status.setToolTip(str(self._out))
        self.progress.setValue(100)
        self.progress.setFormat("done")
        self._show_check(result)
        if self._out is not None and self._out.is_file():
            self.model_trained.emit(str(self._out))

    def _on_job_failed(self, reason: str) -> None:
        self._job_ended()
        self.progress.setFormat("failed")
        self.status.setText(f"Training failed: {reason}")
        self.check.show_note("The run failed: no comparison with bicubic.")

    def _on_job_cancelled(self) -> None:
        self._job_ended()
        self.progress.setFormat("stopped")
        saved = self._out is not None and self._out.is_file()
        self.status.setText(
            f"Stopped. Saved {self._saved_name()} in your models folder; "
            "resume with unsr train --resume."
            if saved
            else "Stopped before the first step; nothing was saved."
        )
        self.status.setToolTip(str(self._out) if saved else "")
        self.check.show_note(
            "Stopped before the end: no comparison with bicubic. Resume the run "
            "(unsr train --resume) to finish it; the comparison comes at the end."
        )
        if saved:
            self.model_trained.emit(str(self._out))

    def _saved_name(self) -> str:
        # The name, not the path: a long path wraps mid-word in the narrow column.
        return self._out.name if self._out is not None else "the model"

    def _on_lookup_failed(self, reason: str) -> None:
        self._lookup = None
        self.method.setItemText(0, "unavailable")
        self.status.setText(f"Training is unavailable: {reason}")

    def _on_lookup_cancelled(self) -> None:
        self._lookup = None

    def _job_ended(self) -> None:
        # Terminal signals come once the thread has ended: nothing to wait for.
        self._handle = None
        self._set_running(False)

    def _set_running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.stop_button.setEnabled(on)
        for w in (self.real_lr, self.hr, self.method, self.profile, self.scale):
            w.setEnabled(not on)
        self.budget.setEnabled(not on)
        self.name.setEnabled(not on)
        self.running.emit(on)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Stop and wait for the worker so no thread outlives the page."""
        self.shutdown()
        super().closeEvent(event)


__all__ = ["TrainPage"]
