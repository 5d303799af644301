"""The loss plot: a legend beside the curves, not over them; colours that read
in both themes; a toggle per loss."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from unsr_app import theme
from unsr_app.widgets.loss_plot import LossPlot

NAMES = ("gan", "cycle_fwd", "cycle_bwd", "interp", "kernel_reg", "disc")


def _luminance(c: QColor) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def _contrast(a: QColor, b: QColor) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture
def plot(qtbot: QtBot, qapp: QApplication) -> Iterator[LossPlot]:
    p = LossPlot()
    qtbot.addWidget(p)
    p.resize(300, 320)
    p.show()
    for step in range(1, 30):
        p.add(step, {n: 1.0 / (step + i) for i, n in enumerate(NAMES)})
    qtbot.waitUntil(lambda: len(p.toggles) == len(NAMES), timeout=3000)
    yield p
    theme.apply(qapp, "system")


def test_the_legend_is_under_the_curves_not_over_them(
    qtbot: QtBot, plot: LossPlot
) -> None:
    assert plot.plot.plotItem.legend is None  # nothing drawn inside the plot
    qtbot.waitUntil(lambda: plot._legend.isVisible(), timeout=3000)
    assert plot._legend.geometry().top() >= plot.plot.geometry().bottom()
    assert [b.text() for b in plot.toggles.values()] == list(NAMES)


@pytest.mark.parametrize("name", ["light", "dark"])
def test_every_curve_reads_in_both_themes(
    qtbot: QtBot, qapp: QApplication, plot: LossPlot, name: str
) -> None:
    theme.apply(qapp, name)
    qtbot.waitUntil(
        lambda: (
            plot.plot.backgroundBrush().color()
            == plot.palette().color(plot.palette().ColorRole.Base)
        ),
        timeout=3000,
    )
    background = plot.plot.backgroundBrush().color()
    colours = [QColor(plot.colour_of(n)) for n in NAMES]
    for n, colour in zip(NAMES, colours, strict=True):
        assert _contrast(colour, background) >= 3.0, (n, colour.name(), name)
    assert len({c.name() for c in colours}) == len(NAMES)


def test_each_loss_can_be_hidden_and_shown(plot: LossPlot) -> None:
    box = plot.toggles["disc"]
    box.click()
    assert not plot.is_shown("disc") and plot.is_shown("gan")
    box.click()
    assert plot.is_shown("disc")
    plot.set_shown("gan", False)
    assert box.isChecked() and not plot.toggles["gan"].isChecked()
    assert not plot.is_shown("gan")
    plot.clear()
    assert plot.toggles == {}
