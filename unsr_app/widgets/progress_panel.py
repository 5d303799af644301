"""The progress bar with the current file, the stage and the ETA."""

from __future__ import annotations

from typing import Literal

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

#: How a batch ended.
Outcome = Literal["done", "stopped", "failed"]
_SAID: dict[Outcome, str] = {
    "done": "done",
    "stopped": "cancelled at %p%",
    "failed": "failed",
}


def format_eta(seconds: float | None) -> str:
    """``1:05`` / ``1:02:03``; a dash while there is no basis for one."""
    if seconds is None:
        return "–"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressPanel(QWidget):
    """One line: "file 2/5 · photo.jpg · fitting · ETA 0:42" and a bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("idle")
        self.label = QLabel("Ready")
        self.label.setMinimumWidth(320)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 2)
        layout.addWidget(self.bar, 3)
        self._file = ""
        self.outcome: Outcome | None = None

    def start_file(self, name: str, index: int, count: int) -> None:
        """A new file of the batch began."""
        self._file = f"file {index + 1}/{count} · {name}"
        self.label.setText(self._file)
        self.bar.setValue(0)
        self.bar.setFormat("%p%")
        self.outcome = None

    def start_batch(self, text: str) -> None:
        """A batch that runs as one job began (a cluster's); ``text`` says where."""
        self.start_file("", 0, 0)
        self._file = text
        self.label.setText(text)

    def update_progress(self, fraction: float, stage: str, eta_s: float | None) -> None:
        """Show a job's progress within the current file."""
        self.bar.setValue(int(fraction * 1000))
        self.label.setText(f"{self._file} · {stage} · ETA {format_eta(eta_s)}")

    def finish(self, text: str, outcome: Outcome = "done") -> None:
        """The batch ended: say how.

        Only a batch that did all its work shows a full bar; a stopped one
        keeps the bar where it stopped, and either says so on it.
        """
        self.label.setText(text)
        if outcome == "done":
            self.bar.setValue(self.bar.maximum())
        self.bar.setFormat(_SAID[outcome])
        self.outcome = outcome
