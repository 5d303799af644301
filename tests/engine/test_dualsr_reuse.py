"""One fit for a whole shoot: a saved DualSR fit applied to other photos."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import jobs, pipeline
from engine.events import Losses, Message, Progress
from engine.methods import MethodError, RunContext
from engine.methods.dualsr import DUALSR, DualSRParams, reuse
from engine.methods.dualsr.method import DualSRFit, upscaler
from engine.store import Store
from tests.engine.dualsr_helpers import tiny

TINY = tiny(3, channels_last=False)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _photo(rng: np.random.Generator, h: int = 56, w: int = 64) -> np.ndarray:
    return rng.random((h, w, 3)).astype(np.float32)


def _fit(
    rgb: np.ndarray, scale: int, folder: Path, params: DualSRParams = TINY
) -> tuple[pipeline.UpscaleResult, list[object]]:
    events: list[object] = []
    job = pipeline.upscale(rgb, DUALSR, scale, params, RunContext(run_dir=folder))
    return jobs.run(job, events.append), events


def _apply(
    fitted: DualSRFit, rgb: np.ndarray, scale: int, params: DualSRParams = TINY
) -> np.ndarray:
    """The fitted networks run on ``rgb`` directly, without any saving."""
    ctx = RunContext()
    up = jobs.run(upscaler(rgb, scale, params, ctx, fitted))
    return jobs.run(pipeline.infer(up, rgb, scale, ctx))


@pytest.mark.parametrize(("scale", "at_lr"), [(2, False), (4, False), (2, True)])
def test_reusing_a_fit_skips_fitting_and_applies_the_same_networks(
    rng: np.random.Generator, tmp_path: Path, scale: int, at_lr: bool
) -> None:
    first, other = _photo(rng), _photo(rng, 40, 48)
    # A reused fit is run with the caller's settings: the upsampler's body
    # (on the LR or the x2 pixels) must come from the saved weights alone.
    fitted, _ = _fit(first, scale, tmp_path / "fit", TINY.with_(up_at_lr=at_lr))
    saved = torch.load(tmp_path / "fit" / "weights.pt", weights_only=True)["g_up"]
    last = max(
        (k for k in saved if k.endswith(".weight")), key=lambda k: int(k.split(".")[1])
    )
    assert saved[last].shape[0] == (12 if at_lr else 3)
    params = reuse.params_reusing(tmp_path / "fit", scale, TINY)
    events: list[object] = []
    ctx = RunContext(run_dir=tmp_path / "reuse")
    job = pipeline.upscale(other, DUALSR, scale, params, ctx)
    result = jobs.run(job, events.append)
    assert result.rgb.shape == (scale * 40, scale * 48, 3)
    np.testing.assert_allclose(
        result.rgb, np.clip(_apply(fitted.fitted, other, scale), 0, 1), atol=1e-6
    )
    assert not [e for e in events if isinstance(e, Losses)]
    stages = {e.stage for e in events if isinstance(e, Progress)}
    assert not any(s.startswith("fitting") for s in stages)
    assert any(isinstance(e, Message) and "saved fit" in e.text for e in events)
    note = json.loads((tmp_path / "reuse" / reuse.REUSED_JSON).read_text())
    assert note["folder"] == str((tmp_path / "fit").resolve())
    kernel = np.load(tmp_path / "reuse" / "kernel.npy")
    np.testing.assert_allclose(kernel, fitted.fitted.kernel, atol=1e-6)
    assert (tmp_path / "reuse" / "fit_params.json").is_file()


def test_an_x4_fit_serves_x4_only_and_an_x2_fit_x2_only(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    photo = _photo(rng)
    _fit(photo, 4, tmp_path / "x4")
    assert reuse.find(tmp_path / "x4").bicubic == 2
    with pytest.raises(MethodError, match=r"x4 fit; it cannot upscale x2.*bicubic x2"):
        reuse.params_reusing(tmp_path / "x4", 2, TINY)
    _fit(photo, 2, tmp_path / "x2")
    with pytest.raises(MethodError, match="x2 fit; it cannot upscale x4"):
        reuse.params_reusing(tmp_path / "x2", 4, TINY)
    # Even when the params name the folder directly, the method refuses them.
    direct = TINY.with_(reuse=str(tmp_path / "x2"))
    with pytest.raises(MethodError, match="cannot upscale x4"):
        jobs.run(pipeline.upscale(photo, DUALSR, 4, direct))
    direct = TINY.with_(reuse=str(tmp_path / "x4"))
    with pytest.raises(MethodError, match="cannot upscale x2"):
        jobs.run(pipeline.upscale(photo, DUALSR, 2, direct))


def test_x4_runs_of_two_x2_fits_still_serve_x4_and_x2(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    """Run folders with ``pass1/`` and ``pass2/`` (x4 as two x2 fits) stay usable."""
    photo = _photo(rng)
    fitted, _ = _fit(photo, 2, tmp_path / "x2")
    old = tmp_path / "old"
    for folder in ("pass1", "pass2"):
        (old / folder).mkdir(parents=True)
        for name in ("weights.pt", "params.json"):
            (old / folder / name).write_bytes((tmp_path / "x2" / name).read_bytes())
    [one] = fitted.fitted.passes
    for scale, twice in ((4, DualSRFit((one, one))), (2, DualSRFit((one,)))):
        params = reuse.params_reusing(old, scale, TINY)
        out = jobs.run(pipeline.upscale(photo, DUALSR, scale, params)).rgb
        want = np.clip(_apply(twice, photo, scale), 0, 1)
        np.testing.assert_allclose(out, want, atol=1e-6)


def test_runs_are_found_by_id_and_bad_references_are_refused(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    store = Store(tmp_path / "db" / "unsr.sqlite")
    fit_run = store.begin(tmp_path / "a.png", "dualsr", 2)
    _fit(_photo(rng), 2, fit_run.folder)
    saved = reuse.find(str(fit_run.id), store)
    assert saved.folder == fit_run.folder.resolve() and saved.scale == 2
    assert saved.run_id == fit_run.id
    with pytest.raises(MethodError, match="no run 999"):
        reuse.find("999", store)
    other = store.begin(tmp_path / "b.png", "bicubic", 2)
    with pytest.raises(MethodError, match="used bicubic, not DualSR"):
        reuse.find(other.id, store)
    failed = store.begin(tmp_path / "c.png", "dualsr", 2)
    store.finish(failed.id, "failed", error="boom")
    with pytest.raises(MethodError, match=r"no saved DualSR fit.*failed"):
        reuse.find(failed.id, store)
    with pytest.raises(MethodError, match="not a run folder"):
        reuse.find(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MethodError, match="no saved DualSR fit"):
        reuse.find(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "weights.pt").write_bytes(b"not a torch file")
    junk = TINY.with_(reuse=str(tmp_path / "junk"))
    with pytest.raises(MethodError, match="cannot read the saved fit"):
        jobs.run(pipeline.upscale(_photo(rng), DUALSR, 2, junk))
    # A note of the fit's input that names no known bicubic is refused too.
    (tmp_path / "junk" / "input.json").write_text('{"bicubic": 3}')
    with pytest.raises(MethodError, match=r"input\.json names a bicubic x3"):
        reuse.find(tmp_path / "junk")
