"""A read-only log whose text can be selected and copied."""

from __future__ import annotations

import time

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

_PREFIX = {"info": "", "warning": "warning: ", "error": "error: "}


class LogPane(QWidget):
    """Time-stamped lines; Copy puts the whole log on the clipboard."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(5000)
        self.text.setPlaceholderText("What the studio does is logged here.")
        copy = QPushButton("Copy log")
        copy.clicked.connect(self.copy)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.text.clear)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("<b>Log</b>"))
        bar.addStretch(1)
        bar.addWidget(copy)
        bar.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.text, 1)

    def append(self, text: str, level: str = "info") -> None:
        """Add one line with the time and the level."""
        stamp = time.strftime("%H:%M:%S")
        self.text.appendPlainText(f"{stamp}  {_PREFIX.get(level, '')}{text}")

    def copy(self) -> None:
        """Put the whole log on the clipboard."""
        QGuiApplication.clipboard().setText(self.text.toPlainText())

    def plain_text(self) -> str:
        """The log as one string."""
        return self.text.toPlainText()
