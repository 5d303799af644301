"""DualSR's guard: the fit's own signals and the blend toward bicubic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import jobs, pipeline
from engine.events import Losses, Message
from engine.methods import RunContext
from engine.methods.dualsr import DUALSR, DualSRParams, guard, reuse, sampler
from tests.engine.dualsr_helpers import tiny

TINY = tiny(4)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gaussian(var: float, size: int = 13) -> np.ndarray:
    z = np.arange(size) - (size // 2 + 0.5)
    g = np.exp(-(z**2) / (2 * var))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def _scene(rng: np.random.Generator, n: int = 256) -> np.ndarray:
    """Edges at every scale: squares of random sizes and greys, as a photo has."""
    img = np.full((n, n), 0.5, np.float32)
    for _ in range(60):
        s = int(rng.integers(4, 60))
        y, x = rng.integers(0, n - s, size=2)
        img[y : y + s, x : x + s] = rng.random()
    return np.repeat(img[..., None], 3, axis=2)


def _degrade(hr: np.ndarray, k: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(hr).permute(2, 0, 1)[:, None]
    y = F.conv2d(x, torch.from_numpy(k)[None, None], stride=2)
    return y[:, 0].permute(1, 2, 0).numpy()


def test_kernel_width_is_zero_for_bicubic_and_the_variance_sum_for_a_gaussian() -> None:
    bic = guard.bicubic_kernel()
    assert bic.shape == (13, 13) and bic.sum() == pytest.approx(1.0)
    assert abs(guard.second_moment(bic)) < 1e-6  # Keys' cubic keeps quadratics
    assert guard.kernel_distance(bic) == pytest.approx(0.0, abs=1e-7)
    assert guard.second_moment(_gaussian(1.0)) == pytest.approx(2.0, rel=0.02)
    assert guard.second_moment(_gaussian(2.0)) == pytest.approx(4.0, rel=0.05)
    assert guard.kernel_distance(_gaussian(2.0)) > guard.kernel_distance(_gaussian(0.5))


def test_a_too_wide_kernel_makes_the_photo_look_blurrier_across_scales(
    rng: np.random.Generator,
) -> None:
    lr = _degrade(_scene(rng), _gaussian(1.0))
    right = guard.cross_scale(lr, _gaussian(1.0))
    wide = guard.cross_scale(lr, _gaussian(4.0))
    narrow = guard.cross_scale(lr, _gaussian(0.3))
    assert narrow > right > wide
    names = set(guard.signals(lr, _gaussian(1.0)))
    assert {"kernel_m2", "kernel_dist", "cross_scale"} <= names


def test_game_end_averages_the_last_logged_losses() -> None:
    recent = [{"gan": 0.2, "disc": 0.3}, {"gan": 0.4, "disc": 0.1}]
    assert guard.game_end(recent) == pytest.approx({"gan_end": 0.3, "disc_end": 0.2})
    assert all(np.isnan(v) for v in guard.game_end([]).values())


def test_blend_weight_ramps_from_the_floor_to_one() -> None:
    on = TINY.with_(
        guard="blend",
        guard_signal="kernel_m2",
        guard_range=(1.0, 3.0),
        guard_floor=0.4,
    )
    off = on.with_(guard="off")

    def weight(value: float, params: DualSRParams = on) -> float:
        return guard.blend_weight({"kernel_m2": value, "cross_scale": 0.0}, params)

    assert weight(0.2, off) == 1.0
    assert weight(0.2) == pytest.approx(0.4)
    assert weight(2.0) == pytest.approx(0.7)
    assert weight(9.0) == 1.0
    assert weight(float("nan")) == 1.0  # an undefined signal leaves the fit alone
    assert guard.blend_weight({"cross_scale": 0.5}, on) == 1.0  # nor a missing one


def test_blend_weight_may_fall_as_the_signal_rises() -> None:
    on = TINY.with_(
        guard="blend",
        guard_signal="learned_over_spectral",
        guard_range=(2.0, 1.0),
        guard_floor=0.0,
    )
    assert guard.blend_weight({"learned_over_spectral": 3.0}, on) == 0.0
    assert guard.blend_weight({"learned_over_spectral": 1.5}, on) == 0.5
    assert guard.blend_weight({"learned_over_spectral": 0.5}, on) == 1.0
    said = guard.verdict({"learned_over_spectral": 3.0}, 0.0, on)
    assert "learned over spectral 3.00" in said and said.endswith("is bicubic")


def test_the_spectral_width_grows_with_the_photo_s_blur(
    rng: np.random.Generator,
) -> None:
    hr = _scene(rng, 512)
    sharp = guard.spectral_width(_degrade(hr, _gaussian(0.5)))
    blurred = guard.spectral_width(_degrade(hr, _gaussian(3.0)))
    assert blurred > sharp + 2.0  # the true widths differ by 5 px^2
    assert np.isnan(guard.spectral_width(np.zeros((40, 40, 3), np.float32)))
    sig = guard.signals(_degrade(hr, _gaussian(3.0)), _gaussian(3.0))
    assert sig["learned_over_spectral"] == pytest.approx(
        sig["kernel_m2"] / sig["spectral_m2"]
    )


def test_blended_net_is_bicubic_plus_a_share_of_the_net(
    rng: np.random.Generator,
) -> None:
    x = torch.from_numpy(rng.random((1, 3, 10, 12)).astype(np.float32))

    def net(t: torch.Tensor) -> torch.Tensor:
        return torch.ones(1, 3, 20, 24)

    bic = sampler.imresize(x[0].permute(1, 2, 0).numpy(), 20, 24)
    bic_t = torch.from_numpy(bic).permute(2, 0, 1)[None]
    zero = guard.Blended(net, 0.0)(x)  # type: ignore[arg-type]
    assert zero.shape == (1, 3, 20, 24)
    torch.testing.assert_close(zero, bic_t, atol=1e-5, rtol=0)
    part = guard.Blended(net, 0.25)(x)  # type: ignore[arg-type]
    torch.testing.assert_close(part, bic_t + 0.25 * (1 - bic_t), atol=1e-5, rtol=0)


def test_a_guarded_fit_blends_saves_its_weight_and_reuse_keeps_it(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    photo = rng.random((56, 64, 3)).astype(np.float32)
    # Any width a 4-iteration fit learns is below 100 px^2: the floor applies.
    guarded = TINY.with_(
        guard="blend",
        guard_signal="kernel_m2",
        guard_range=(100.0, 200.0),
        guard_floor=0.3,
    )
    ctx = RunContext(run_dir=tmp_path / "fit")
    events: list[object] = []
    result = jobs.run(pipeline.upscale(photo, DUALSR, 2, guarded, ctx), events.append)
    (fit,) = result.fitted.passes
    assert fit.blend == pytest.approx(0.3)
    said = [e.text for e in events if isinstance(e, Message)]
    assert any("70% bicubic" in t and "kernel m2" in t for t in said), said
    assert isinstance(fit.upsampler, guard.Blended)
    assert set(fit.signals) >= {"kernel_m2", "cross_scale", "gan_end", "disc_end"}
    assert 0.0 <= fit.signals["gan_end"] <= 1.0  # an LSGAN loss on sigmoid outputs
    status = json.loads((tmp_path / "fit" / "status.json").read_text())
    assert status["blend"] == pytest.approx(0.3)
    plain = jobs.run(pipeline.upscale(photo, DUALSR, 2, TINY)).fitted.passes[0]
    assert plain.blend == 1.0 and not isinstance(plain.upsampler, guard.Blended)
    params = reuse.params_reusing(tmp_path / "fit", 2, TINY)
    again = jobs.run(pipeline.upscale(photo, DUALSR, 2, params))
    np.testing.assert_allclose(again.rgb, result.rgb, atol=1e-6)


def test_the_guard_stops_a_fit_it_will_not_use_and_the_output_is_bicubic(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    photo = rng.random((56, 64, 3)).astype(np.float32)
    # Any width an 8-iteration fit learns is far below 100 px^2: past the
    # floor's end by more than the margin at the half-way look.
    doomed = tiny(8).with_(
        guard="blend",
        guard_signal="kernel_m2",
        guard_range=(100.0, 200.0),
        guard_stop_at=0.5,
        guard_stop_margin=10.0,
    )
    events: list[object] = []
    ctx = RunContext(run_dir=tmp_path / "fit")
    result = jobs.run(pipeline.upscale(photo, DUALSR, 2, doomed, ctx), events.append)
    (fit,) = result.fitted.passes
    assert fit.iters_done == 4 and fit.stopped_early and fit.blend == 0.0
    said = [e.text for e in events if isinstance(e, Message)]
    assert any("at iteration 4 the kernel m2" in t for t in said), said
    bicubic = jobs.run(pipeline.upscale(photo, DUALSR, 2, doomed.with_(iters=1)))
    np.testing.assert_allclose(result.rgb, bicubic.rgb, atol=1e-5)
    status = json.loads((tmp_path / "fit" / "status.json").read_text())
    assert status["iterations"] == 4 and status["stopped_early"]
    # The loss log and the live losses end where the fit did.
    rows = (tmp_path / "fit" / "losses.csv").read_text().splitlines()
    assert rows[-1].split(",")[0] == "4"
    assert [e.step for e in events if isinstance(e, Losses)][-1] == 4
    # Within the margin the fit runs to the end and the blend decides.
    near = doomed.with_(guard_range=(5.0, 200.0), guard_stop_margin=1000.0)
    kept = jobs.run(pipeline.upscale(photo, DUALSR, 2, near)).fitted.passes[0]
    assert kept.iters_done == 8 and not kept.stopped_early


@pytest.mark.parametrize(
    ("value", "start", "full", "stops"),
    [
        (0.80, 0.95, 1.05, True),  # cross-scale: low is the floor's side
        (0.90, 0.95, 1.05, False),  # within the 0.1 margin
        (float("nan"), 0.95, 1.05, False),
        (4.0, 2.0, 1.0, True),  # a range running down: high is the floor's side
        (2.05, 2.0, 1.0, False),
    ],
)
def test_the_guard_stops_only_past_the_floor_by_the_margin(
    value: float, start: float, full: float, stops: bool
) -> None:
    params = TINY.with_(
        iters=1400, guard="blend", guard_range=(start, full), guard_stop_at=0.5
    )
    assert guard.should_stop(value, params) is stops
    assert guard.stop_iteration(params) == 700
    assert guard.stop_iteration(params.with_(guard="off")) is None
    assert guard.stop_iteration(params.with_(guard_stop_at=0.0)) is None
