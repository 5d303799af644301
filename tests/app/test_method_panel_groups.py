"""The method list says which methods are fast, which fit per image, which are demos."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from unsr_app.requests import MethodInfo, RunRequest
from unsr_app.widgets.method_panel import MethodPanel, tag

METHODS = [
    MethodInfo("bicubic", "Bicubic", "d", (2, 3, 4), ("default",), needs_fit=False),
    MethodInfo("dualsr", "DualSR", "d", (2, 4), ("fast", "paper"), needs_fit=True),
    MethodInfo(
        "model:x4", "Tiny (x4)", "d", (2, 3, 4), ("default",), False,
        kind="pretrained", native_scale=4,
    ),
    MethodInfo(
        "trained-demo", "demo", "d", (2,), ("default",), False,
        kind="trained", native_scale=2, demo=True,
    ),
]  # fmt: skip


def _panel(qtbot: QtBot) -> MethodPanel:
    panel = MethodPanel()
    qtbot.addWidget(panel)
    panel.set_request(RunRequest(method="bicubic", scale=3))
    panel.set_methods(METHODS)
    return panel


def test_methods_are_grouped_under_headers_that_cannot_be_picked(qtbot: QtBot) -> None:
    panel = _panel(qtbot)
    combo = panel.method
    texts = [combo.itemText(i).strip() for i in range(combo.count())]
    assert texts == [
        "Pretrained models (seconds)",
        "Tiny (x4)",
        "Learns from each image (minutes)",
        "DualSR",
        "Interpolation (instant)",
        "Bicubic",
        "Demos",
        "demo",
    ]
    header = combo.model().item(0)  # type: ignore[attr-defined]
    assert not header.isEnabled() and not header.isSelectable()
    assert combo.currentData() == "bicubic" and panel.request().scale == 3
    assert panel.tag.text().startswith("Fast: classic interpolation")


def test_a_model_starts_at_its_native_scale_and_tags_say_what_it_is(
    qtbot: QtBot,
) -> None:
    panel = _panel(qtbot)
    panel.method.setCurrentIndex(panel.method.findData("model:x4"))
    assert panel.request().scale == 4
    assert panel.tag.text() == "Fast: a pretrained network, x4 natively"
    panel.scale.setCurrentIndex(panel.scale.findData(2))
    assert panel.request().scale == 2  # another scale, picked explicitly
    panel.method.setCurrentIndex(panel.method.findData("dualsr"))
    assert panel.tag.text().startswith("Fits per image")
    assert panel.request().scale == 2
    panel.method.setCurrentIndex(panel.method.findData("trained-demo"))
    assert panel.tag.text().startswith("Demo:")


def test_tag_words() -> None:
    assert tag(METHODS[1]) == "Fits per image: learns this photo first"
