"""A DualSR fit as the studio drives it: placed previews, prompt Stop, stop and keep.

The studio's live view places each Preview at its box; Stop closes the job at
its next yield, so a step must yield between its two halves; "stop and keep"
sets the context's ``finish_early`` and gets the result learnt so far.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from engine import jobs, pipeline
from engine.events import Message, Preview, Progress
from engine.methods.base import RunContext
from engine.methods.dualsr import DUALSR, PAPER, fit_x2
from engine.methods.dualsr import fit as fit_module

TINY = PAPER.with_(
    iters=30,
    lr_crop=32,
    min_lr_crop=24,
    up_width=8,
    up_depth=3,
    dn_width=8,
    d_width=8,
    lr_step=20,
    lambda_update_every=10,
    losses_every=1,
    kernel_every_s=1e9,
    preview_every_s=0.0,
    border_cut=0,
    bicubic_prior_sums_channels=False,
    channels_last=False,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.random((h, w, 3)).astype(np.float32)


def test_previews_carry_their_place_in_the_input(rng: np.random.Generator) -> None:
    rgb = _photo(rng, 121, 150)  # odd height: the preview's crop ignores the trim
    events: list[object] = []
    jobs.run(fit_x2(rgb, TINY.with_(iters=3), RunContext()), events.append)
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews
    # The centre 96 px of the (even-trimmed) 120x150 photo, upscaled x2.
    assert {p.box for p in previews} == {(27.0, 12.0, 96.0, 96.0)}
    assert all(p.image.shape == (192, 192, 3) for p in previews)
    crop, box = fit_module._preview_input(rgb, torch.device("cpu"))
    x, y, w, h = (int(v) for v in box)
    np.testing.assert_array_equal(
        crop[0].permute(1, 2, 0).numpy(), rgb[y : y + h, x : x + w]
    )


def test_an_x4_fit_places_its_previews_in_the_photo(
    rng: np.random.Generator,
) -> None:
    rgb = _photo(rng, 100, 120)
    events: list[object] = []
    jobs.run(
        pipeline.upscale(rgb, DUALSR, 4, TINY.with_(iters=2), RunContext()),
        events.append,
    )
    boxes = {e.box for e in events if isinstance(e, Preview)}
    # The fit learns from the 240x200 bicubic x2; its centre 96 px, halved.
    assert boxes == {(36.0, 26.0, 48.0, 48.0)}


def test_a_step_yields_between_its_g_and_d_halves(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace: list[str] = []
    g_step, d_step = fit_module._Nets.g_step, fit_module._Nets.d_step

    def traced_g(self: object, *args: object) -> object:
        trace.append("G")
        return g_step(self, *args)  # type: ignore[arg-type]

    def traced_d(self: object, *args: object) -> object:
        trace.append("D")
        return d_step(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fit_module._Nets, "g_step", traced_g)
    monkeypatch.setattr(fit_module._Nets, "d_step", traced_d)
    job = fit_x2(_photo(rng, 80, 80), TINY.with_(iters=4), RunContext())
    jobs.run(job, lambda _e: trace.append("yield"))
    steps = "".join(t[0] for t in trace)
    assert steps.count("G") == 4
    # Every G step is followed by a yield before its D step (Stop waits for
    # one half of a step at most, never a whole one).
    assert "GD" not in steps and steps.count("Gy") == 4


def test_stop_and_keep_upscales_with_what_the_fit_has_learnt(
    rng: np.random.Generator,
) -> None:
    rgb = _photo(rng, 80, 72)
    flag = threading.Event()
    events: list[object] = []
    ctx = RunContext(device="cpu", finish_early=flag)

    def watch(event: object) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.stage == "fitting" and event.step >= 5:
            flag.set()

    result = jobs.run(pipeline.upscale(rgb, DUALSR, 2, TINY, ctx), watch)
    [fitted] = result.fitted.passes
    assert 5 <= fitted.iters_done < TINY.iters and fitted.stopped_early
    assert result.rgb.shape == (160, 144, 3)
    assert any(isinstance(e, Message) and "so far" in e.text for e in events)


def test_stop_and_keep_in_an_x4_run_upscales_x4_with_the_fit_so_far(
    rng: np.random.Generator,
) -> None:
    rgb = _photo(rng, 64, 64)
    flag = threading.Event()
    ctx = RunContext(device="cpu", finish_early=flag)
    events: list[object] = []

    def watch(event: object) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.stage == "fitting" and event.step >= 3:
            flag.set()

    result = jobs.run(pipeline.upscale(rgb, DUALSR, 4, TINY, ctx), watch)
    [fitted] = result.fitted.passes
    assert 3 <= fitted.iters_done < TINY.iters and fitted.stopped_early
    assert result.fitted.bicubic == 2
    assert result.rgb.shape == (256, 256, 3)  # the network is x4 itself
    assert not any(isinstance(e, Message) and "resized" in e.text for e in events)
