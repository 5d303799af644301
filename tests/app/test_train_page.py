"""The Train page trains in a worker thread, plots losses and announces the model;
it says what to expect before a run and compares the model with bicubic after."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import torch
from pytestqt.qtbot import QtBot

from engine import paths
from tests.train_data import unpaired_folders
from unsr_app import worker
from unsr_app.pages.train import TrainPage
from unsr_app.requests import TrainRequest

torch.set_num_threads(1)


_folders = unpaired_folders


def _page(qtbot: QtBot, **jobs: Any) -> TrainPage:
    page = TrainPage(**jobs)
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
    assert page.previews.cells  # the intermediate images are shown
    assert page.start_button.isEnabled() and "Done: 3 steps" in page.status.text()
    # The comparison with bicubic on the real photo kept out of training.
    assert page.check.outcome in ("better", "worse", "mixed", "no clear difference")
    assert "l1.png (held back from training)" in page.check.title.text()
    assert "flat areas" in page.check.verdict.text().lower()
    assert page.check.figures.isVisibleTo(page)


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
    assert "Stopped before the end" in page.check.verdict.text()
    assert not page.check.figures.isVisibleTo(page)


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


def test_the_method_for_a_camera_is_offered_first_and_advised(qtbot: QtBot) -> None:
    page = _page(qtbot)
    assert page.method.currentData() == "estimated"
    text = page.advice.text()
    assert "Recommended for photos from one camera" in text
    assert "30 min" in text and "held back from training" in text
    page.method.setCurrentIndex(page.method.findData("maeda"))
    assert "Experimental" in page.advice.text()
    assert "none of the four adversarial methods beats bicubic" in page.advice.text()
    page.method.setCurrentIndex(page.method.findData("bicubic"))
    assert "baseline" in page.advice.text()
    page.budget.setValue(20)
    assert "20 min" in page.advice.text() and "30 min" not in page.advice.text()
    page.profile.setCurrentIndex(page.profile.findData("paper"))
    assert "hours on a GPU" in page.advice.text()


def _check(outcome: str) -> Any:
    from engine.train.noref import NoRefCheck

    return NoRefCheck(
        photo="IMG_0042.JPG",
        held_back=True,
        size=(192, 128),
        model_flat_noise=1.0,
        bicubic_flat_noise=2.0,
        model_edge_sharpness=11.0,
        bicubic_edge_sharpness=10.0,
        colour_shift=0.5,
        outcome=outcome,  # type: ignore[arg-type]
        verdict="Against bicubic upscaling on IMG_0042.JPG (held back): fine.",
    )


def _finished(check: Any, requests: list[TrainRequest]) -> Any:
    from engine.train.trainer import TrainResult

    def job(request: TrainRequest) -> Generator[Any, None, Any]:
        requests.append(request)
        yield from ()
        request.output.parent.mkdir(parents=True, exist_ok=True)
        request.output.write_bytes(b"a model")
        return TrainResult(request.output, 7, 60.0, {}, True, check)

    return job


def test_the_comparison_is_shown_with_its_figures(qtbot: QtBot, tmp_path: Path) -> None:
    requests: list[TrainRequest] = []
    page = _page(qtbot, train_job=_finished(_check("better"), requests))
    lr, hr = _folders(tmp_path)
    page.real_lr.setText(str(lr))
    page.hr.setText(str(hr))
    assert "compared here with bicubic" in page.check.verdict.text()
    with qtbot.waitSignal(page.model_trained, timeout=30_000):
        page.start()
    assert requests[0].holdout and requests[0].recipe == "estimated"
    assert page.check.outcome == "better"
    assert "IMG_0042.JPG (held back from training)" in page.check.title.text()
    # The outcome in colour, then the verdict without the title's words.
    assert page.check.verdict.text().startswith("<b><span")
    assert page.check.verdict.text().endswith("</b> Fine.")
    noise, sharp, colour = ([c.text() for c in row] for row in page.check.cells)
    assert noise == ["1.00", "2.00", "-50%"]
    assert sharp == ["11.00", "10.00", "+10%"]
    assert colour[0] == "0.5"


def test_a_run_without_a_comparison_says_why(qtbot: QtBot, tmp_path: Path) -> None:
    page = _page(qtbot, train_job=_finished(None, []))
    lr, hr = _folders(tmp_path)
    page.real_lr.setText(str(lr))
    page.hr.setText(str(hr))
    with qtbot.waitSignal(page.model_trained, timeout=30_000):
        page.start()
    assert page.check.outcome == ""
    assert page.check.verdict.text().startswith("No comparison with bicubic")
    assert not page.check.figures.isVisibleTo(page)


def test_previews_share_the_width_and_elide_long_captions(qtbot: QtBot) -> None:
    from PySide6.QtGui import QColor, QImage

    from unsr_app.widgets.preview_strip import FULL, PreviewStrip

    strip = PreviewStrip()
    qtbot.addWidget(strip)
    strip.resize(500, 10)
    strip.show()
    image = QImage(64, 64, QImage.Format.Format_RGB888)
    image.fill(QColor("gray"))
    long = "noise patches (1024 in the pool; 1089 of 3231 patches were flat)"
    for label in ("kernels", long, "synthesised LR | real LR", "SR of real LR"):
        strip.show_image(label, image)
    qtbot.waitUntil(lambda: strip.cells["kernels"].isVisible())
    # Four cells in 500 px: smaller than full size, and all inside the strip.
    assert strip.side() < FULL
    for cell in strip.cells.values():
        assert cell.width() == strip.side()
        assert cell.geometry().right() < strip.width()
    caption = strip.captions[long]
    assert caption.text() != long and caption.toolTip() == long
    strip.resize(1000, strip.height())
    qtbot.waitUntil(lambda: strip.cells["kernels"].width() == FULL)
    strip.clear()
    assert not strip.cells and strip.height() == 0
