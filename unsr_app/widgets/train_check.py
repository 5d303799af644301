"""The end of a training run: the new model against bicubic on a real photo.

A user has no ground truth for their own photos, so this shows the trainer's
no-reference comparison (:mod:`engine.train.noref`): the noise left in flat
areas, the sharpness of edges and any colour shift, each beside bicubic's on
the same pixels, with the verdict in words.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

#: Colours of the verdict's first words, legible on the dark and light themes.
_TONE = {"better": "#3a9d5d", "worse": "#d0504a", "mixed": "#c98a1e"}
_ROWS = (
    ("Noise in flat areas", "lower is cleaner"),
    ("Edge sharpness", "higher is crisper"),
    ("Colour shift", "levels; under 2 is none"),
)


def _body(verdict: str) -> str:
    """The verdict without its opening, which the title already says."""
    lead = "Against bicubic upscaling on "
    if verdict.startswith(lead) and "): " in verdict:
        rest = verdict.split("): ", 1)[1]
        return rest[:1].upper() + rest[1:]
    return verdict


class TrainCheck(QWidget):
    """Shows one comparison (:meth:`show_check`) or why there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outcome = ""
        self.title = QLabel("<b>Against bicubic upscaling</b>")
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.figures = QWidget()
        grid = QGridLayout(self.figures)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        for col, head in enumerate(("", "new model", "bicubic", "change"), start=0):
            label = QLabel(f"<i>{head}</i>")
            label.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(label, 0, col)
        self.cells: list[list[QLabel]] = []
        for row, (name, hint) in enumerate(_ROWS, start=1):
            name_label = QLabel(name)
            name_label.setToolTip(hint)
            grid.addWidget(name_label, row, 0)
            cells = [QLabel() for _ in range(3)]
            for col, cell in enumerate(cells, start=1):
                cell.setAlignment(Qt.AlignmentFlag.AlignRight)
                cell.setToolTip(hint)
                grid.addWidget(cell, row, col)
            self.cells.append(cells)
        grid.setColumnStretch(0, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.verdict)
        layout.addWidget(self.figures)
        self.clear()

    def show_check(self, check: Any) -> None:
        """Show a :class:`engine.train.noref.NoRefCheck`."""
        self.outcome = str(check.outcome)
        where = "held back from training" if check.held_back else "trained on"
        self.title.setText(
            f"<b>Against bicubic upscaling</b> · {check.photo} ({where})"
        )
        tone = _TONE.get(self.outcome)
        head = self.outcome.capitalize()
        if tone is not None:
            head = f'<span style="color:{tone}">{head}</span>'
        self.verdict.setText(f"<b>{head}.</b> {_body(str(check.verdict))}")
        self._row(0, check.model_flat_noise, check.bicubic_flat_noise)
        self._row(1, check.model_edge_sharpness, check.bicubic_edge_sharpness)
        shift = self.cells[2]
        shift[0].setText(f"{check.colour_shift:.1f}")
        shift[1].setText("")
        shift[2].setText("")
        self.figures.show()

    def _row(self, row: int, model: float, bicubic: float) -> None:
        change = model / max(bicubic, 1e-3) - 1
        cells = self.cells[row]
        cells[0].setText(f"{model:.2f}")
        cells[1].setText(f"{bicubic:.2f}")
        cells[2].setText(f"{change:+.0%}")

    def show_note(self, text: str) -> None:
        """No comparison: say why instead."""
        self.outcome = ""
        self.title.setText("<b>Against bicubic upscaling</b>")
        self.verdict.setText(text)
        self.figures.hide()

    def clear(self) -> None:
        """Before a run: what will appear here."""
        self.show_note(
            "When the run ends, the new model is compared here with bicubic "
            "upscaling on one of your real photos."
        )


__all__ = ["TrainCheck"]
