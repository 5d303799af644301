"""One fit for a whole shoot, from the history: a run's DualSR fit applied to
photos the user picks, without fitting them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from tests.app.fakes import next_emission, run_async
from unsr_app.main_window import MainWindow
from unsr_app.requests import RunRow
from unsr_app.widgets.history_panel import HistoryPanel, has_fit


def _png(path: Path, rng: np.random.Generator, h: int = 56, w: int = 64) -> Path:
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _row(method: str, status: str, run_id: int = 1) -> RunRow:
    return RunRow(run_id, "now", Path("a.png"), None, method, 2, 1.0, status)


def test_only_finished_dualsr_runs_offer_their_fit(qtbot: QtBot) -> None:
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    runs = [
        _row("dualsr", "done", 1),
        _row("dualsr", "failed", 2),
        _row("bicubic", "done", 3),
    ]
    panel.set_runs(runs)
    assert [has_fit(r) for r in runs] == [True, False, False]
    applied: list[RunRow] = []
    panel.fit_applied.connect(applied.append)
    for i, usable in enumerate([True, False, False]):
        panel.tree.setCurrentItem(panel.tree.topLevelItem(i))
        assert panel.apply_action.isEnabled() is usable
        assert panel.apply_action in panel.tree.actions()  # the context menu
        panel.apply_action.trigger()  # a disabled action does nothing
    assert [r.id for r in applied] == [1]


def test_a_fit_from_the_history_upscales_chosen_photos_without_fitting(
    qtbot: QtBot,
    store: QSettings,
    loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine import jobs, pipeline
    from engine.methods import RunContext
    from engine.methods.dualsr import DUALSR, PAPER
    from engine.store import Store

    rng = np.random.default_rng(9)
    tiny = PAPER.with_(
        iters=2, lr_crop=24, up_width=8, up_depth=3, dn_width=8, d_width=8
    )
    # A finished DualSR fit in the history (a tiny one, by the real engine).
    db = Store()
    first = _png(tmp_path / "first.png", rng)
    fitted = db.begin(first, "dualsr", 2, {"profile": "fast"})
    rgb = np.asarray(Image.open(first), np.float32) / 255
    ctx = RunContext(run_dir=fitted.folder)
    jobs.run(pipeline.upscale(rgb, DUALSR, 2, tiny, ctx))
    db.finish(fitted.id, "done")
    shoot = [_png(tmp_path / f"shoot-{i}.png", rng) for i in range(2)]

    w = MainWindow(store, warm_up=False)
    qtbot.addWidget(w)
    with qtbot.waitSignals([w.methods_loaded, w.history_loaded], timeout=60_000):
        w.show()
    w.resize(960, 600)
    history = w.studio.history
    (row,) = history.runs()
    assert row.id == fitted.id and has_fit(row)
    history.tree.setCurrentItem(history.tree.topLevelItem(0))
    assert history.apply_action.isEnabled()
    asked: list[str] = []

    def choose(title: str) -> list[Path]:
        asked.append(title)
        return shoot

    monkeypatch.setattr(w, "choose_photos", choose)

    async def apply() -> tuple[int, int, bool]:
        loaded = next_emission(w.history_loaded, timeout=60)
        finished = next_emission(w.runner.batch_finished, timeout=60)
        history.apply_action.trigger()
        result = await finished
        await loaded
        return result  # type: ignore[return-value]

    assert run_async(loop, apply(), timeout=90) == (2, 0, False)
    assert asked == ["Photos to upscale with the fit of first.png"]
    runs = Store().runs()
    made = [r for r in runs if r.id != fitted.id]
    assert sorted(Path(r.input_path).name for r in made) == [p.name for p in shoot]
    for run in made:
        assert run.method == "dualsr" and run.status == "done"
        assert run.params["reuse"] == str(fitted.folder.resolve())
        with Image.open(run.output) as out:
            assert out.size == (128, 112)
    # Nothing was fitted: the reusing runs have no weights of their own.
    assert not any((r.folder / "weights.pt").exists() for r in made)
    qtbot.waitUntil(w.is_idle, timeout=30_000)
    w.close()
