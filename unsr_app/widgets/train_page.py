"""The Train page: pick two folders, a method, a profile and a budget; watch it learn.

Every loss is plotted live, and the intermediate images each method makes are
shown as they change (Maeda's pseudo-clean LR, CycleSR's and CSR-GAN's
translated LR, the domain-adaptation method's target-style LR). A finished (or
stopped) model is saved to the user models folder and announced with
``model_trained`` so the window can refresh its method list.

The training job runs in a QThread through a small local runner
(``_JobRunner``); it follows the same pattern as ``unsr_app/worker.py`` and
can be replaced by it once that lands.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

_COLORS = [
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#9a6324",
    "#808000",
    "#000075",
    "#a9a9a9",
    "#ffe119",
]


class _JobRunner(QObject):
    """Consumes one engine job in a worker thread and re-emits its events."""

    progressed = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job: Generator[Any, None, Any]) -> None:
        super().__init__()
        self._job = job
        self._stop = False

    def cancel(self) -> None:
        """Ask the job to stop at its next yield (thread-safe flag)."""
        self._stop = True

    @Slot()
    def run(self) -> None:
        try:
            while True:
                if self._stop:
                    self._job.close()  # the trainer saves a resumable checkpoint
                    self.cancelled.emit()
                    return
                self.progressed.emit(next(self._job))
        except StopIteration as stop:
            self.finished.emit(stop.value)
        except Exception as err:  # report any failure to the page, never crash Qt
            self._job.close()
            self.failed.emit(f"{type(err).__name__}: {err}")


def _pixmap(img: np.ndarray, size: int = 128) -> QPixmap:
    a = np.ascontiguousarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    h, w = a.shape[:2]
    qimg = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimg).scaled(size, size)


class TrainPage(QWidget):
    """Train an unpaired method from two folders.

    Signals
    -------
    model_trained(str)
        Path of a checkpoint that was just written (the method list should refresh).
    running(bool)
        Training started (True) or ended (False).
    """

    model_trained = Signal(str)
    running = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from engine.train.recipes import RECIPES

        self._recipes = RECIPES
        self._thread: QThread | None = None
        self._runner: _JobRunner | None = None
        self._out: Path | None = None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._series: dict[str, tuple[list[int], list[float]]] = {}
        self._previews: dict[str, QLabel] = {}

        self.real_lr = QLineEdit(placeholderText="folder of real low-resolution photos")
        self.hr = QLineEdit(placeholderText="folder of clean high-resolution photos")
        self.method = QComboBox()
        for name, recipe in RECIPES.items():
            self.method.addItem(recipe.label, name)
        self.profile = QComboBox()
        self.profile.addItem("CPU (small nets, minutes)", "cpu")
        self.profile.addItem("Paper (published settings, GPU)", "paper")
        self.scale = QComboBox()
        self.scale.addItem("x2", 2)
        self.scale.addItem("x4", 4)
        self.budget = QSpinBox(minimum=1, maximum=24 * 60, value=30, suffix=" min")
        self.name = QLineEdit(placeholderText="model name (default: method and scale)")
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("Pick the two folders, then Start.")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget(title="losses")
        self.plot.addLegend()
        self.plot.setLogMode(y=True)
        self._preview_grid = QGridLayout()

        form = QFormLayout()
        form.addRow("Real LR photos", self._picker(self.real_lr))
        form.addRow("Clean HR photos", self._picker(self.hr))
        form.addRow("Method", self.method)
        form.addRow("Profile", self.profile)
        form.addRow("Scale", self.scale)
        form.addRow("Budget", self.budget)
        form.addRow("Save as", self.name)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addLayout(self._preview_grid)

        self.start_button.clicked.connect(self._on_start_clicked)
        self.stop_button.clicked.connect(self.stop)

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

    # -- intents ----------------------------------------------------------
    @Slot()
    def _on_start_clicked(self) -> None:
        self.start()

    def start(self, iterations: int | None = None) -> None:
        """Start training as set on the page (``iterations`` replaces the budget)."""
        from engine import paths
        from engine.train.checkpoint import SUFFIX
        from engine.train.trainer import RunSpec, train_folders

        if self._thread is not None:
            return
        for label, edit in (("real LR", self.real_lr), ("HR", self.hr)):
            if not edit.text().strip():
                self.status.setText(f"Choose the {label} folder first.")
                return
            if not Path(edit.text()).is_dir():
                self.status.setText(f"The {label} folder does not exist: {edit.text()}")
                return
        real, hr = Path(self.real_lr.text()), Path(self.hr.text())
        method, scale = self.method.currentData(), int(self.scale.currentData())
        name = self.name.text().strip() or f"{method}-x{scale}"
        self._out = paths.models_dir() / f"{name}{SUFFIX}"
        budget = None if iterations is not None else self.budget.value() * 60.0
        spec = RunSpec(
            recipe=method,
            profile=self.profile.currentData(),
            scale=scale,
            budget_s=budget,
            iterations=iterations,
            device="auto",
            preview_every_s=5.0,
            info={
                "trained_on": f"real LR photos in {real}; clean HR photos in {hr}",
                "command": (
                    f"unsr train {method} --real-lr {real} --hr {hr} --scale {scale} "
                    f"--profile {self.profile.currentData()} "
                    + (
                        f"--budget-minutes {self.budget.value()}"
                        if budget
                        else f"--iterations {iterations}"
                    )
                    + f" -o {self._out}"
                ),
            },
        )
        self._reset_views()
        job = train_folders(spec, real, hr, self._out)
        self._runner = _JobRunner(job)
        self._thread = QThread(self)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.progressed.connect(self._on_runner_event)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._runner.cancelled.connect(self._on_runner_cancelled)
        for signal in (
            self._runner.finished,
            self._runner.failed,
            self._runner.cancelled,
        ):
            signal.connect(self._thread.quit)
        self._thread.finished.connect(self._on_thread_finished)
        self._set_running(True)
        self.status.setText(f"Training {self.method.currentText()}…")
        self._thread.start()

    @Slot()
    def stop(self) -> None:
        """Stop training; the model trained so far is saved and can be resumed."""
        if self._runner is not None:
            self._runner.cancel()
            self.status.setText("Stopping after the current step…")

    def is_running(self) -> bool:
        """True while a training job runs."""
        return self._thread is not None

    # -- events -----------------------------------------------------------
    def _reset_views(self) -> None:
        self.plot.clear()
        self._curves.clear()
        self._series.clear()
        for label in self._previews.values():
            label.deleteLater()
        self._previews.clear()
        self.progress.setValue(0)

    @Slot(object)
    def _on_runner_event(self, event: Any) -> None:
        from engine.events import Losses, Message, Preview, Progress

        if isinstance(event, Losses):
            for key, value in event.values.items():
                xs, ys = self._series.setdefault(key, ([], []))
                xs.append(event.step)
                ys.append(max(float(value), 1e-8))
                if key not in self._curves:
                    pen = pg.mkPen(_COLORS[len(self._curves) % len(_COLORS)], width=1.5)
                    self._curves[key] = self.plot.plot(name=key, pen=pen)
                if event.step % 5 == 0 or len(xs) < 50:
                    self._curves[key].setData(xs, ys)
        elif isinstance(event, Progress):
            self.progress.setValue(int(100 * event.fraction))
            eta = f", about {event.eta_s / 60:.0f} min left" if event.eta_s else ""
            self.progress.setFormat(f"{event.stage} %p%{eta}")
        elif isinstance(event, Preview):
            if event.label not in self._previews:
                cell = QLabel()
                cell.setToolTip(event.label)
                n = len(self._previews)
                caption = QLabel(event.label)
                self._preview_grid.addWidget(caption, 0, n)
                self._preview_grid.addWidget(cell, 1, n)
                self._previews[event.label] = cell
            self._previews[event.label].setPixmap(_pixmap(event.image))
        elif isinstance(event, Message):
            self.status.setText(event.text)

    def _flush_curves(self) -> None:
        for key, (xs, ys) in self._series.items():
            self._curves[key].setData(xs, ys)

    @Slot(object)
    def _on_runner_finished(self, result: Any) -> None:
        self._flush_curves()
        self.status.setText(
            f"Done: {result.steps} steps in {result.elapsed_s / 60:.1f} min. "
            f"Saved {self._out}; it is now in the method list."
        )
        self.progress.setValue(100)
        if self._out is not None and self._out.is_file():
            self.model_trained.emit(str(self._out))

    @Slot(str)
    def _on_runner_failed(self, message: str) -> None:
        self.status.setText(f"Training failed: {message}")

    @Slot()
    def _on_runner_cancelled(self) -> None:
        self._flush_curves()
        saved = self._out is not None and self._out.is_file()
        self.status.setText(
            f"Stopped. Saved {self._out}; resume with unsr train --resume."
            if saved
            else "Stopped before the first step; nothing was saved."
        )
        if saved:
            self.model_trained.emit(str(self._out))

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is not None:
            self._thread.deleteLater()
        if self._runner is not None:
            self._runner.deleteLater()
        self._thread, self._runner = None, None
        self._set_running(False)

    def _set_running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.stop_button.setEnabled(on)
        self.running.emit(on)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        """Stop and wait for the worker so no thread outlives the page."""
        if self._runner is not None:
            self._runner.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        super().closeEvent(event)


__all__ = ["TrainPage"]
