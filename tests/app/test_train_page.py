"""The Train page trains in a worker thread, plots losses and announces the model."""

from __future__ import annotations

from pathlib import Path

import torch
from pytestqt.qtbot import QtBot

from engine import paths
from tests.train_data import unpaired_folders
from unsr_app import worker
from unsr_app.pages.train import TrainPage

torch.set_num_threads(1)


_folders = unpaired_folders


def _page(qtbot: QtBot) -> TrainPage:
    page = TrainPage()
    qtbot.addWidget(page)
    assert not page.start_button.isEnabled()  # nothing is known before the look-up
    page.show()  # the first show looks the recipes up in a worker
    qtbot.waitUntil(page.start_button.isEnabled, timeout=30_000)
    return page


def test_recipes_are_looked_up_when_first_shown(qtbot: QtBot) -> None:
    page = _page(qtbot)
    ids = [page.method.itemData(i) for i in range(page.method.count())]
    assert "bicubic" in ids and "maeda" in ids
    assert not page.is_busy()


def test_train_page_runs_a_job_and_reports_the_model(
    qtbot: QtBot, tmp_path: Path
) -> None:
    page = _page(qtbot)
    lr, hr = _folders(tmp_path)
    page.real_lr.setText(str(lr))
    page.hr.setText(str(hr))
    page.method.setCurrentIndex(page.method.findData("bicubic"))
    page.name.setText("page-test")
    with qtbot.waitSignal(page.model_trained, timeout=60_000) as saved:
        page.start(iterations=3)
        assert page.is_running() and not page.start_button.isEnabled()
        assert worker.live_threads()  # the job runs in the app's worker thread
    out = Path(saved.args[0])
    assert out == paths.models_dir() / "page-test.unsr.pt" and out.is_file()
    # model_trained comes once the thread has ended: the page is idle again.
    assert not page.is_running() and not worker.live_threads()
    assert page.losses.point_count("sr_pixel") == 3  # every loss gets a curve
    assert page._previews  # the intermediate images are shown
    assert page.start_button.isEnabled() and "Done: 3 steps" in page.status.text()


def test_stop_saves_the_model_so_far(qtbot: QtBot, tmp_path: Path) -> None:
    page = _page(qtbot)
    lr, hr = _folders(tmp_path)
    page.real_lr.setText(str(lr))
    page.hr.setText(str(hr))
    page.method.setCurrentIndex(page.method.findData("bicubic"))
    with qtbot.waitSignal(page.model_trained, timeout=60_000) as saved:
        page.start(iterations=100_000)
        qtbot.waitUntil(lambda: page.losses.point_count("sr_pixel") > 0, timeout=30_000)
        page.stop_button.click()
    assert Path(saved.args[0]).name == "bicubic-x2.unsr.pt"
    assert "Stopped. Saved" in page.status.text()
    assert not page.is_running() and page.progress.format() == "stopped"


def test_missing_folder_is_explained(qtbot: QtBot, tmp_path: Path) -> None:
    page = _page(qtbot)
    page.real_lr.setText(str(tmp_path / "nope"))
    page.hr.setText(str(tmp_path))
    page.start(iterations=1)
    assert not page.is_running()
    assert "does not exist" in page.status.text()


def test_closing_mid_training_stops_and_waits_for_the_thread(
    qtbot: QtBot, tmp_path: Path
) -> None:
    page = _page(qtbot)
    lr, hr = _folders(tmp_path)
    page.real_lr.setText(str(lr))
    page.hr.setText(str(hr))
    page.method.setCurrentIndex(page.method.findData("bicubic"))
    page.start(iterations=100_000)
    qtbot.waitUntil(lambda: page.losses.point_count("sr_pixel") > 0, timeout=30_000)
    page.close()  # the window closing: no event loop turn after this
    assert not worker.live_threads()
    assert (paths.models_dir() / "bicubic-x2.unsr.pt").is_file()  # saved on close
