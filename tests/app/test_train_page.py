"""The Train page trains in a worker thread, plots losses and announces the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pytestqt.qtbot import QtBot

from unsr_app.widgets.train_page import TrainPage

torch.set_num_threads(1)


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    hr.mkdir()
    lr.mkdir()
    for i in range(2):
        for folder, size, tag in ((hr, 64, "h"), (lr, 32, "l")):
            small = rng.random((size // 8, size // 8, 3))
            img = Image.fromarray((small * 255).astype(np.uint8)).resize(
                (size, size), Image.Resampling.BICUBIC
            )
            img.save(folder / f"{tag}{i}.png")
    return lr, hr


def test_train_page_runs_a_job_and_reports_the_model(
    qtbot: QtBot, tmp_path: Path
) -> None:
    page = TrainPage()
    qtbot.addWidget(page)
    lr, hr = _folders(tmp_path)
    page.real_lr.setText(str(lr))
    page.hr.setText(str(hr))
    page.method.setCurrentIndex(page.method.findData("bicubic"))
    page.name.setText("page-test")
    with qtbot.waitSignal(page.model_trained, timeout=60_000) as saved:
        page.start(iterations=3)
        assert page.is_running() and not page.start_button.isEnabled()
    assert saved.args[0].endswith("page-test.unsr.pt") and Path(saved.args[0]).is_file()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=10_000)
    assert "sr_pixel" in page._curves  # every loss gets a curve
    assert page._previews  # the intermediate images are shown
    assert page.start_button.isEnabled()


def test_missing_folder_is_explained(qtbot: QtBot, tmp_path: Path) -> None:
    page = TrainPage()
    qtbot.addWidget(page)
    page.real_lr.setText(str(tmp_path / "nope"))
    page.hr.setText(str(tmp_path))
    page.start(iterations=1)
    assert not page.is_running()
    assert "does not exist" in page.status.text()
