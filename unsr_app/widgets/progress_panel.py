"""The progress bar with the current file, the stage and the ETA."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


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

    def start_file(self, name: str, index: int, count: int) -> None:
        """A new file of the batch began."""
        self._file = f"file {index + 1}/{count} · {name}"
        self.label.setText(self._file)
        self.bar.setValue(0)
        self.bar.setFormat("%p%")

    def update_progress(self, fraction: float, stage: str, eta_s: float | None) -> None:
        """Show a job's progress within the current file."""
        self.bar.setValue(int(fraction * 1000))
        self.label.setText(f"{self._file} · {stage} · ETA {format_eta(eta_s)}")

    def finish(self, text: str) -> None:
        """The batch ended: say how."""
        self.label.setText(text)
        self.bar.setValue(self.bar.maximum())
        self.bar.setFormat("done")
