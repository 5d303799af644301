"""The Get models dialog: the table, intents, and real downloads from 127.0.0.1."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from engine import paths
from engine.models import catalogue, get
from tests import model_factory as mf
from tests.http_fixture import Served, serve
from unsr_app.pages import model_downloads
from unsr_app.pages.models import ModelsPage
from unsr_app.requests import CatalogueRow
from unsr_app.widgets.get_models_dialog import GetModelsDialog, size_text

ROWS = [
    CatalogueRow("fast-x4", "Fast x4", 4, "photo", "BSD-3-Clause", 2_400_000, False,
                 recommended=True, facts={"architecture": "Compact"}),
    CatalogueRow("big-x4", "Big x4", 4, "photo", "Apache-2.0", 33_500_000, False),
    CatalogueRow("have-x2", "Have x2", 2, "anime", "MIT", 1_300_000, True),
    CatalogueRow("odd-x2", "Odd x2", 2, "general", "unknown", 0, False,
                 unavailable="spandrel cannot load the sr-res-net architecture"),
]  # fmt: skip


def _dialog(qtbot: QtBot) -> GetModelsDialog:
    dialog = GetModelsDialog()
    qtbot.addWidget(dialog)
    dialog.set_rows(ROWS)
    dialog.show()
    return dialog


def _shown(dialog: GetModelsDialog) -> list[str]:
    table = dialog.table
    items = [table.topLevelItem(i) for i in range(table.topLevelItemCount())]
    return [i.text(0) for i in items if i is not None and not i.isHidden()]


def test_the_table_shows_what_can_be_got(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    assert _shown(dialog) == ["Fast x4  ★ recommended", "Big x4", "Have x2"]
    first = dialog.table.topLevelItem(0)
    assert first is not None
    assert [first.text(c) for c in range(6)] == [
        "Fast x4  ★ recommended", "x4", "photo", "2.4 MB", "BSD-3-Clause", "",
    ]  # fmt: skip
    dialog.show_all.setChecked(True)
    assert "Odd x2" in _shown(dialog)
    dialog.search.setText("anime")
    assert _shown(dialog) == ["Have x2"]
    assert dialog.status.text() == "3 models offered, 4 listed"


def test_download_asks_for_the_selected_models_not_yet_installed(
    qtbot: QtBot,
) -> None:
    dialog = _dialog(qtbot)
    assert not dialog.download_button.isEnabled()
    dialog.select(["fast-x4", "big-x4", "have-x2"])
    assert dialog.download_button.text() == "Download 2"
    assert "2 models" not in dialog.details.text()  # three selected
    with qtbot.waitSignal(dialog.download_requested) as wanted:
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert wanted.args == [("fast-x4", "big-x4")]
    dialog.select(["fast-x4"])
    assert "Compact" in dialog.details.text()
    dialog.set_running(True)
    assert not dialog.download_button.isEnabled() and dialog.cancel_button.isEnabled()
    with qtbot.waitSignal(dialog.cancel_requested):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)


def test_progress_shows_bytes_and_eta(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    dialog.set_running(True)
    dialog.show_progress(1_200_000, 2_400_000, "downloading fast-x4", 21.0)
    assert dialog.progress.value() == 500
    assert dialog.status.text() == "downloading fast-x4: 1.2 MB of 2.4 MB  ETA 0:21"
    assert size_text(0) == "?"


# --- the dialog driven by its controller, downloading from a local server ----


@pytest.fixture
def weights(tmp_path: Path) -> bytes:
    path = tmp_path / "w.pth"
    # Big enough (about 150 KB) that a paced download is still running when cancelled.
    return mf.save(mf.compact(scale=2, nf=32, nc=4, seed=5), path).read_bytes()


@pytest.fixture
def served(weights: bytes) -> Iterator[tuple[str, Served]]:
    state = Served(files={"/w.pth": weights})
    with serve(state) as base:
        yield base, state


def _catalogue(base: str, weights: bytes) -> catalogue.Catalogue:
    model: dict[str, Any] = {
        "id": "tiny-x2",
        "name": "Tiny x2",
        "architecture": "Compact",
        "scale": 2,
        "purpose": "photo",
        "licence": "MIT",
        "licence_source": "tests",
        "format": "pytorch",
        "files": [
            {
                "name": "tiny-x2.pth",
                "size": len(weights),
                "sha256": hashlib.sha256(weights).hexdigest(),
            }
        ],
        "sources": [{"kind": "url", "members": {"tiny-x2.pth": f"{base}/w.pth"}}],
    }
    return catalogue.parse({"format": 1, "models": [model]})


@pytest.fixture
def page(
    qtbot: QtBot,
    served: tuple[str, Served],
    weights: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> ModelsPage:
    base, _ = served
    cat = _catalogue(base, weights)
    monkeypatch.setattr(model_downloads, "_catalogue", lambda: cat)
    widget = ModelsPage()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=30_000)
    return widget


def _open(page: ModelsPage, qtbot: QtBot) -> GetModelsDialog:
    qtbot.mouseClick(page.get_button, Qt.MouseButton.LeftButton)
    dialog = page.downloads.dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: bool(dialog.rows()), timeout=30_000)
    return dialog


def test_get_models_installs_into_the_library(qtbot: QtBot, page: ModelsPage) -> None:
    dialog = _open(page, qtbot)
    assert [r.id for r in dialog.rows()] == ["tiny-x2"]
    dialog.select(["tiny-x2"])
    with qtbot.waitSignal(page.models_changed, timeout=30_000):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.downloads.is_busy(), timeout=30_000)
    qtbot.waitUntil(lambda: dialog.rows()[0].installed, timeout=30_000)
    assert dialog.message.text() == "Installed tiny-x2."
    assert (paths.models_dir() / "tiny-x2.pth").is_file()
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=30_000)
    tree = page.tree
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    assert "tiny-x2" in [i.text(0) for i in items if i is not None]


def test_cancel_stops_the_download_and_installs_nothing(
    qtbot: QtBot, page: ModelsPage, served: tuple[str, Served]
) -> None:
    _, state = served
    state.pace = 0.05  # a slow link: 8 KB every 50 ms
    dialog = _open(page, qtbot)
    dialog.select(["tiny-x2"])
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.maximum() == 1000, timeout=30_000)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.downloads.is_busy(), timeout=30_000)
    assert dialog.message.text().startswith("Cancelled: nothing was installed")
    assert list(paths.models_dir().glob("tiny-x2*")) == []
    assert len(list(get.downloads_dir().glob("*.part"))) == 1
