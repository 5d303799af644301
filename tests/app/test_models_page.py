"""The Models page: table, add/remove/import, drops, and no escaping errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine import models, paths
from tests import model_factory as mf
from tests import ncnn_export as nx
from unsr_app.pages.models import ModelsPage


@pytest.fixture(autouse=True)
def _no_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bundled demo checkpoints would fill the "empty" library.
    empty = tmp_path / "no-bundled-models"
    empty.mkdir()
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: empty)


@pytest.fixture
def page(qtbot) -> ModelsPage:  # type: ignore[no-untyped-def]
    models.clear_cache()
    widget = ModelsPage()
    qtbot.addWidget(widget)
    widget.show()  # the first show lists the models, in a worker
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=30_000)
    return widget


def _settle(page: ModelsPage, qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=30_000)


def _rows(page: ModelsPage) -> list[list[str]]:
    tree = page.tree
    return [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
        for i in range(tree.topLevelItemCount())
    ]


def test_listing_waits_until_shown_and_runs_in_a_worker(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = ModelsPage()
    qtbot.addWidget(widget)
    assert "when this page is shown" in widget.details.text()
    assert not widget.is_busy()
    widget.show()  # returns at once: the listing runs in a worker
    assert widget.is_busy() and "Listing the models" in widget.details.text()
    _settle(widget, qtbot)
    assert "No models yet" in widget.details.text()


def test_empty_page_explains_what_to_do(page: ModelsPage) -> None:
    assert _rows(page) == []
    assert "No models yet" in page.details.text()
    assert not page.remove_button.isEnabled()
    assert str(paths.models_dir()) in page.folder.text()


def test_add_button_adds_good_files_and_explains_bad_ones(
    page: ModelsPage,
    qtbot,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    good = mf.save(mf.compact(scale=2), tmp_path / "2x-small.safetensors")
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x00" * 10)
    page.pick_files = lambda: [str(good), str(bad)]
    with qtbot.waitSignal(page.models_changed, timeout=5000):
        qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    _settle(page, qtbot)
    (row,) = _rows(page)
    assert row[:4] == ["2x-small", "RealESRGAN Compact", "x2", "SR"]
    assert row[5:] == ["user", "ready"]
    assert "Added 2x-small." in page.message.text()
    assert "broken.pth" in page.message.text()
    assert page.message.property("error") is True
    assert not page.remove_button.isEnabled()  # nothing selected yet
    page.tree.setCurrentItem(page.tree.topLevelItem(0))
    assert page.remove_button.isEnabled()
    assert "architecture" in page.details.text()
    assert "&lt;" not in page.details.text()  # escaped once, not twice
    assert page.selected_id() == "model:2x-small"


def test_remove_asks_first_and_deletes(
    page: ModelsPage,
    qtbot,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    page.add_files([mf.save(mf.compact(), tmp_path / "c.pth")])
    _settle(page, qtbot)
    page.tree.setCurrentItem(page.tree.topLevelItem(0))
    page.confirm_remove = lambda _id: False
    assert not page.remove_selected()
    assert (paths.models_dir() / "c.pth").exists()
    page.confirm_remove = lambda _id: True
    with qtbot.waitSignal(page.models_changed, timeout=5000):
        assert page.remove_selected()
    _settle(page, qtbot)
    assert _rows(page) == []
    assert not (paths.models_dir() / "c.pth").exists()


def test_import_ncnn_folder_and_drops(
    page: ModelsPage,
    qtbot,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    ncnn_dir = tmp_path / "upscayl-models"
    ncnn_dir.mkdir()
    nx.export_compact(mf.compact(scale=4), ncnn_dir, "realesr-animevideov3-x4")
    model = mf.save(mf.rrdb(scale=4), tmp_path / "4x-rrdb.pth")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(model)), QUrl.fromLocalFile(str(ncnn_dir))])
    event = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    page.dropEvent(event)
    assert page.is_busy()  # the file and the folder wait their turn in a worker
    _settle(page, qtbot)
    names = sorted(row[0] for row in _rows(page))
    assert names == ["4x-rrdb", "realesr-animevideov3-x4"]
    page.import_folder(tmp_path / "empty-dir-missing")
    _settle(page, qtbot)
    assert "no .param/.bin pairs" in page.message.text()


def test_engine_failures_never_escape(
    page: ModelsPage,
    qtbot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    def boom(*_a: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(models, "add", boom)
    monkeypatch.setattr(models, "entries", boom)
    page.add_files([tmp_path / "x.pth"])
    _settle(page, qtbot)
    assert "disk on fire" in page.message.text()
    page.message.clear()
    page.refresh()
    _settle(page, qtbot)
    assert "Could not list the models" in page.message.text()
    assert "disk on fire" in page.message.text()
    assert page.remove_selected() is False


def test_a_refused_file_shows_its_reason_in_its_row(
    page: ModelsPage,
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    folder = paths.models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "half.pth").write_bytes(b"PK\x03\x04 the rest is missing")
    page.refresh()
    _settle(page, qtbot)
    (row,) = _rows(page)
    assert row[0] == "half"
    assert "cut short" in row[6] and "method" not in row[6]


def test_several_failures_are_separate_lines_and_a_twin_is_no_copy(
    page: ModelsPage,
    qtbot,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    noise = []
    for i, name in enumerate(("a.pth", "b.safetensors", "c.ckpt")):
        path = tmp_path / name
        path.write_bytes(np.random.default_rng(i).bytes(4096))
        noise.append(path)
    good = mf.save(mf.compact(scale=2), tmp_path / "2x-good.safetensors")
    twin = tmp_path / "same bytes, other name.safetensors"
    twin.write_bytes(good.read_bytes())
    page.add_files([*noise, good, twin])
    _settle(page, qtbot)
    lines = page.message.text().splitlines()
    failures = [line for line in lines if "not a model file" in line]
    assert len(failures) == 3
    for path, line in zip(noise, failures, strict=True):
        assert path.name in line and "Python objects" not in line
    assert page.message.property("error") is True
    _settle(page, qtbot)
    assert [row[0] for row in _rows(page)] == ["2x-good"]
    assert [p.name for p in paths.models_dir().iterdir()] == ["2x-good.safetensors"]


def test_bundled_demo_checkpoints_show_their_scale(
    page: ModelsPage,
    qtbot,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    shipped = Path(__file__).resolve().parents[2] / "resources" / "models"
    demos = sorted(shipped.glob("demo-*.unsr.pt"))
    assert demos, "the demo checkpoints ship in resources/models"
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: shipped)
    models.clear_cache()
    page.refresh()
    _settle(page, qtbot)
    rows = {row[0]: row for row in _rows(page)}
    for demo in demos:
        (row,) = [r for name, r in rows.items() if demo.name.split(".")[0] in name]
        # The file names say x2; the page must show the scale the file holds.
        assert row[2] == "x2", row
