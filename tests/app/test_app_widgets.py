"""Queue, loss plot, kernel view, history, settings."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from pytestqt.qtbot import QtBot

from unsr_app import settings
from unsr_app.requests import RunRequest, RunRow
from unsr_app.widgets import HistoryPanel, KernelView, LossPlot, QueuePanel


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(path)
    return path


def _drop(widget: QueuePanel, mime: QMimeData) -> None:
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    # Qt routes Drop events only during a real drag; call the handler.
    widget.dropEvent(event)
    assert event.isAccepted()


def test_a_drop_asks_for_its_paths_and_add_items_fills_the_queue(
    qtbot: QtBot, tmp_path: Path
) -> None:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    single = _png(tmp_path / "single.png")
    folder = tmp_path / "shoot"
    nested = _png(folder / "a.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(single)), QUrl.fromLocalFile(str(folder))])
    # The widget only states the intent: the window expands folders.
    with qtbot.waitSignal(panel.paths_given) as asked:
        _drop(panel, mime)
    assert asked.args[0] == [single, folder]
    assert panel.items() == []
    thumb = QImage(4, 4, QImage.Format.Format_RGB888)
    thumb.fill(Qt.GlobalColor.blue)
    with qtbot.waitSignal(panel.items_added) as blocker:
        panel.add_items([(single, None), (nested, folder)], [thumb, QImage()])
    items = panel.items()
    assert [i.path for i in items] == [single, nested]
    assert blocker.args[0] == items
    assert items[0].root is None and items[1].root == folder
    assert all(i.status == "queued" for i in items)
    assert panel.list.item(0).icon().isNull() is False  # the thumbnail
    # The same files again add nothing.
    assert panel.add_items([(single, None), (nested, folder)]) == []
    assert len(panel.items()) == 2


def test_a_pasted_image_is_asked_to_be_saved(qtbot: QtBot) -> None:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    mime = QMimeData()
    image = QImage(7, 5, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.red)
    mime.setImageData(image)
    with qtbot.waitSignal(panel.image_pasted) as asked:
        panel.add_from_mime(mime)
    (pasted,) = asked.args
    assert pasted.size() == image.size()  # the window saves it in a worker


def test_save_pasted_job_writes_a_new_png_each_time(tmp_path: Path) -> None:
    from engine import jobs
    from unsr_app.job_factories import save_pasted_job

    image = QImage(7, 5, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.red)
    first = jobs.run(save_pasted_job(image, tmp_path / "pasted"))
    second = jobs.run(save_pasted_job(image, tmp_path / "pasted"))
    assert first != second and first.parent == second.parent == tmp_path / "pasted"
    assert QImage(str(second)).size() == image.size()
    assert sorted(p.name for p in first.parent.iterdir()) == sorted(
        [first.name, second.name]
    )  # no temporary file left


def test_loss_plot_receives_points(qtbot: QtBot) -> None:
    plot = LossPlot()
    qtbot.addWidget(plot)
    for step in range(1, 6):
        plot.add(step, {"cycle": 1.0 / step, "gan": 0.0, "bad": float("nan")})
    assert plot.names() == ["cycle", "gan"]
    assert plot.point_count("cycle") == 5
    qtbot.waitUntil(lambda: "cycle" in plot._curves, timeout=2000)
    xs, ys = plot._curves["cycle"].getData()
    assert list(xs) == [1, 2, 3, 4, 5] and ys[-1] == 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot.set_log(True)  # zeros leave a gap, no log10 warning
    plot.clear()
    assert plot.names() == [] and not plot._curves


def test_kernel_view_shows_the_kernel(qtbot: QtBot) -> None:
    view = KernelView()
    qtbot.addWidget(view)
    k = np.zeros((9, 9), np.float32)
    k[4, 4] = 1.0
    view.set_kernel(k, step=120)
    assert view.heat.image is not None and view.heat.image.width() == 9
    assert "9×9" in view.caption.text() and "120" in view.caption.text()
    # The peak is the brightest tap.
    assert QImage(view.heat.image).pixelColor(4, 4).lightness() > 200
    view.clear()
    assert view.heat.image is None


def test_history_lists_runs_and_opens_one(qtbot: QtBot, tmp_path: Path) -> None:
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    run = RunRow(
        id=1,
        when="2026-11-22 03:00",
        input=tmp_path / "in.png",
        output=tmp_path / "out.png",
        method="dualsr",
        scale=2,
        seconds=12.5,
        status="done",
        metrics={"PSNR": 30.1},
    )
    panel.set_runs([run])
    assert panel.runs() == [run]
    row = panel.tree.topLevelItem(0)
    assert row is not None and row.text(0) == "in.png\ndualsr ×2"
    assert row.text(1) == "done\n12.5 s" and row.text(2) == "30.10 dB"
    panel.tree.setCurrentItem(row)
    with qtbot.waitSignal(panel.run_opened) as blocker:
        panel._open(row)
    assert blocker.args == [run]
    panel.set_runs(None)
    assert "could not be read" in panel.note.text()


def test_settings_round_trip(store: object) -> None:
    saved = settings.StudioSettings(
        request=RunRequest("lanczos", 4, "paper", Path("/tmp/out"), "webp", 80),
        theme="dark",
        geometry=b"\x01\x02geo",
        window_state=b"\x00splits",
    )
    settings.save(store, saved)  # type: ignore[arg-type]
    assert settings.load(store) == saved  # type: ignore[arg-type]


def test_settings_survive_nonsense(store: object) -> None:
    store.setValue("run/scale", "many")  # type: ignore[attr-defined]
    store.setValue("run/format", "gif")  # type: ignore[attr-defined]
    store.setValue("view/theme", "neon")  # type: ignore[attr-defined]
    loaded = settings.load(store)  # type: ignore[arg-type]
    assert loaded.request.scale == 2 and loaded.request.fmt == "png"
    assert loaded.theme == "system"


def test_a_long_method_description_gets_all_its_lines(qtbot: QtBot) -> None:
    from unsr_app.requests import MethodInfo
    from unsr_app.widgets.method_panel import MethodPanel

    panel = MethodPanel()
    qtbot.addWidget(panel)
    panel.resize(340, 400)
    panel.show()
    long = "A trained network applied as U(G_XY(x)). Benchmark: " + "words " * 40
    panel.set_methods(
        [MethodInfo("m", "model", long, (2,), ("default",), needs_fit=False)]
    )
    qtbot.waitExposed(panel)
    label = panel.description
    lines = label.minimumHeight() / label.fontMetrics().lineSpacing()
    # The text wraps to several lines at this width; every one must fit.
    assert lines >= 3
    assert label.height() >= label.heightForWidth(label.width())
