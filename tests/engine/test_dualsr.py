"""DualSR: the exact G_DN shortcut, the sampler, the losses and the fit job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import jobs, pipeline
from engine.events import Kernel, Losses, Message, Preview, Progress
from engine.methods import MethodError, RunContext, get
from engine.methods.dualsr import (
    DUALSR,
    PAPER,
    DualSRParams,
    InputTooSmallError,
    fit_x2,
    losses,
    sampler,
)
from engine.nets.dualsr import GDn, GUp

TINY = PAPER.with_(
    iters=40,
    lr_crop=32,
    min_lr_crop=24,
    up_width=16,
    up_depth=4,
    dn_width=16,
    d_width=16,
    lr_step=20,
    lambda_update_every=10,
    losses_every=1,
    kernel_every_s=0.0,
    preview_every_s=0.0,
    border_cut=0,
    bicubic_prior_sums_channels=False,
    channels_last=False,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and on a busy machine two OpenMP
    threads waiting on each other made these tests ~20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fit(
    lr: np.ndarray, params: DualSRParams, ctx: RunContext | None = None
) -> jobs.Job[pipeline.UpscaleResult]:
    """Fit and upscale x2 through the pipeline, as every caller does."""
    return pipeline.upscale(lr, DUALSR, 2, params, ctx or RunContext(device="cpu"))


def _blurred_photo(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """Smooth shapes plus texture, blurred and halved: a little real LR image."""
    yy, xx = np.mgrid[0 : 2 * size, 0 : 2 * size].astype(np.float32) / (2 * size)
    img = np.stack([xx, yy, 0.5 + 0.4 * np.sin(12 * xx + 7 * yy)], axis=2)
    img[40:120, 60:150] = [0.9, 0.3, 0.1]
    img += rng.normal(0, 0.08, img.shape).astype(np.float32) * (xx[..., None] > 0.5)
    x = torch.from_numpy(np.clip(img, 0, 1)).permute(2, 0, 1)[:, None]
    g = torch.exp(-(torch.arange(-3.0, 4.0) ** 2) / 3.0)
    k = torch.outer(g, g) / torch.outer(g, g).sum()
    y = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), k[None, None])[:, :, ::2, ::2]
    return y[:, 0].permute(1, 2, 0).numpy().astype(np.float32)


@pytest.mark.parametrize(
    "edge",
    [40, 41],  # even: the polyphase stride-1 form; odd: the strided correlation
)
def test_composed_kernel_equals_the_deep_chain(edge: int) -> None:
    torch.manual_seed(0)
    net = GDn(width=16)
    x = torch.rand(2, 3, edge, edge)
    deep = net(x, deep=True)
    grads_deep = torch.autograd.grad((deep * deep).sum(), list(net.parameters()))
    fast = net(x)
    grads_fast = torch.autograd.grad((fast * fast).sum(), list(net.parameters()))
    side = (edge - 13) // 2 + 1
    assert fast.shape == deep.shape == (2, 3, side, side)
    assert torch.allclose(fast, deep, rtol=1e-5, atol=1e-6 * deep.abs().max().item())
    for a, b in zip(grads_deep, grads_fast, strict=True):
        assert (a - b).norm() <= 1e-5 * a.norm()
    assert net.composed_kernel().shape == (13, 13)


def test_sampler_favours_textured_regions(rng: np.random.Generator) -> None:
    img = np.full((128, 256, 3), 0.5, np.float32)
    img[:, 128:] += rng.normal(0, 0.2, (128, 128, 3)).astype(np.float32)
    prob = sampler.probability_map(sampler.gradient_map(img), 32)
    assert prob.sum() == pytest.approx(1.0)
    corners = sampler.top_lefts(prob, 32, 500, np.random.default_rng(0))
    centres = corners[:, 1] + 16
    assert (centres > 128).mean() > 0.9
    assert (corners % 2 == 0).all()
    assert (corners[:, 0] <= 128 - 32).all() and (corners[:, 1] <= 256 - 32).all()


def test_matlab_resize_keeps_constants_and_halves() -> None:
    img = np.full((20, 30, 3), 0.25, np.float32)
    small = sampler.imresize(img, 10, 15)
    assert small.shape == (10, 15, 3)
    np.testing.assert_allclose(small, 0.25, atol=1e-6)


def test_interpolation_mask_is_one_on_flat_and_zero_on_edges() -> None:
    b = torch.zeros(1, 3, 16, 16)
    b[..., 8:] = 1.0
    m = losses.sobel_mask(b)
    assert m.shape == b.shape
    assert torch.all(m[..., 4:12, 2:5] == 1.0)  # flat, away from borders
    assert torch.all(m[..., 4:12, 7:9] == 0.0)  # the strong step edge


def test_kernel_priors_reward_a_centred_unit_kernel() -> None:
    mask = losses.penalty_mask(13)
    assert mask[2:11, 2:11].abs().sum() == 0 and mask[0, 0] > 5.0
    good = torch.zeros(13, 13)
    good[6:8, 6:8] = 0.25  # centre of mass (6.5, 6.5)
    off = torch.zeros(13, 13)
    off[0, 0] = 2.0
    t_good, t_off = losses.kernel_terms(good, mask), losses.kernel_terms(off, mask)
    assert t_good["sum"] == 0 and t_good["bound"] == 0 and t_good["cent"] < 1e-10
    assert t_off["sum"] > 0.5 and t_off["bound"] > 0 and t_off["cent"] > 10


def test_bicubic_prior_target_quirk_is_three_times_brighter() -> None:
    y = torch.full((1, 3, 32, 32), 0.2)
    fixed = losses.bicubic_target(y, 10, sum_channels=False)
    quirk = losses.bicubic_target(y, 10, sum_channels=True)
    assert torch.allclose(fixed, torch.full_like(fixed, 0.2), atol=1e-5)
    assert torch.allclose(quirk, 3 * fixed, atol=1e-5)


def test_fit_losses_fall_and_kernel_sums_to_one(rng: np.random.Generator) -> None:
    lr = _blurred_photo(rng)
    events: list[object] = []
    result = jobs.run(_fit(lr, TINY.with_(iters=60)), events.append)
    logged = [e for e in events if isinstance(e, Losses)]
    assert len(logged) == 60
    for e in logged:
        assert all(np.isfinite(v) for v in e.values.values())
    cyc = [e.values["cycle_fwd"] + e.values["cycle_bwd"] for e in logged]
    assert np.mean(cyc[-10:]) < 0.7 * np.mean(cyc[:5])
    assert abs(float(result.fitted.kernel.sum()) - 1.0) < 0.15
    assert result.rgb.shape == (2 * lr.shape[0], 2 * lr.shape[1], 3)


def test_seeded_fit_is_deterministic(rng: np.random.Generator) -> None:
    lr = _blurred_photo(rng, 64)
    p = TINY.with_(iters=6)
    a = jobs.run(_fit(lr, p, RunContext(device="cpu", seed=3)))
    b = jobs.run(_fit(lr, p, RunContext(device="cpu", seed=3)))
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.fitted.kernel, b.fitted.kernel)


def test_events_arrive_in_order(rng: np.random.Generator) -> None:
    lr = _blurred_photo(rng, 64)
    events: list[object] = []
    jobs.run(_fit(lr, TINY.with_(iters=8, losses_every=2)), events.append)
    fit_steps = [
        e.step for e in events if isinstance(e, Progress) and e.stage == "fitting"
    ]
    # Each step reports twice: between its G and D halves, and after it.
    assert list(dict.fromkeys(fit_steps)) == list(range(9))
    assert [e.step for e in events if isinstance(e, Losses)] == [2, 4, 6, 8]
    kernels = [e for e in events if isinstance(e, Kernel)]
    assert kernels and kernels[-1].kernel.shape == (13, 13)
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[0].image.ndim == 3
    # The final tiled pass comes after the last iteration.
    last_fit = max(i for i, e in enumerate(events) if isinstance(e, Losses))
    tiles = [
        i
        for i, e in enumerate(events)
        if isinstance(e, Progress) and e.stage != "fitting"
    ]
    assert tiles and min(tiles) > last_fit


def test_run_folder_holds_artefacts(rng: np.random.Generator, tmp_path: Path) -> None:
    lr = _blurred_photo(rng, 64)
    jobs.run(_fit(lr, TINY.with_(iters=4), RunContext(run_dir=tmp_path)))
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "done"
    assert np.load(tmp_path / "kernel.npy").shape == (13, 13)
    assert (tmp_path / "kernel.png").stat().st_size > 0
    rows = (tmp_path / "losses.csv").read_text().splitlines()
    assert rows[0].startswith("step,gan,") and len(rows) == 5
    assert json.loads((tmp_path / "params.json").read_text())["iters"] == 4
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert set(weights) == {"g_up", "g_dn", "guard"}
    assert float(weights["guard"]["blend"]) == 1.0  # no guard: the fit alone


def test_cancelling_mid_fit_marks_the_folder(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    lr = _blurred_photo(rng, 64)
    job = fit_x2(lr, TINY.with_(iters=50), RunContext(), run_dir=tmp_path)
    for event in job:
        if isinstance(event, Progress) and event.step == 3:
            break
    job.close()
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "cancelled"
    assert not (tmp_path / "weights.pt").exists()
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_small_images_adapt_or_are_refused(rng: np.random.Generator) -> None:
    lr = _blurred_photo(rng, 48)[:50, :56]
    events: list[object] = []
    result = jobs.run(
        fit_x2(lr, TINY.with_(iters=2, lr_crop=64), RunContext()), events.append
    )
    assert result.lr_crop == 24
    assert any(isinstance(e, Message) and "24px" in e.text for e in events)
    with pytest.raises(InputTooSmallError, match="at least 48x48"):
        jobs.run(fit_x2(lr[:40], TINY.with_(iters=2), RunContext()))


def test_method_scales_grey_and_refusals(rng: np.random.Generator) -> None:
    method = get("dualsr")
    assert method.needs_fit and method.scales == (2, 4)
    assert method.default_profile == "fast"
    assert isinstance(method.params_for("paper"), DualSRParams)
    with pytest.raises(MethodError, match="x3"):
        method.check_scale(3)
    grey = _blurred_photo(rng, 48)[..., :1]
    out = jobs.run(pipeline.upscale(grey, method, 4, TINY.with_(iters=2))).rgb
    assert out.shape == (4 * grey.shape[0], 4 * grey.shape[1], 3)
    np.testing.assert_allclose(out[..., 0], out[..., 2])
    with pytest.raises(MethodError, match="x3"):
        jobs.run(pipeline.upscale(grey, method, 3, TINY))


def test_x4_is_one_fit_on_the_photos_bicubic_x2(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    from engine.methods.dualsr.method import bicubic_first

    lr = _blurred_photo(rng, 64)
    events: list[object] = []
    ctx = RunContext(device="cpu", run_dir=tmp_path)
    job = pipeline.upscale(lr, DUALSR, 4, TINY.with_(iters=4), ctx)
    result = jobs.run(job, events.append)
    [fitted] = result.fitted.passes
    assert result.fitted.bicubic == 2 and fitted.iters_done == 4
    # The fit learnt from the bicubic x2: its output, applied to that, is x4.
    mid = bicubic_first(lr)
    assert mid.shape == (128, 128, 3) and mid.min() >= 0.0 and mid.max() <= 1.0
    with torch.inference_mode():
        x = torch.from_numpy(mid).permute(2, 0, 1)[None]
        want = fitted.upsampler(x).float()[0].clamp(0, 1).permute(1, 2, 0).numpy()
    assert result.rgb.shape == (256, 256, 3)
    np.testing.assert_allclose(result.rgb, want, atol=1e-5)
    # One fit, one folder: the note says what it learnt from.
    assert json.loads((tmp_path / "input.json").read_text())["bicubic"] == 2
    assert (tmp_path / "weights.pt").is_file() and not (tmp_path / "pass1").exists()
    assert any(isinstance(e, Message) and "bicubic x2 first" in e.text for e in events)


def test_an_upsampler_whose_body_runs_at_lr_adds_its_phases_to_bilinear() -> None:
    torch.manual_seed(0)
    net = GUp(width=8, depth=3, at_lr=True)
    x = torch.rand(1, 3, 10, 12)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    out = net(x)
    assert out.shape == (1, 3, 20, 24)
    # The body's 12 channels are the four x2 phases of R, G and B.
    phases = net.body(x)
    torch.testing.assert_close((out - bilinear)[0, :, 1::2, 0::2], phases[0, 2::4])
    last = net.body[-1]
    assert isinstance(last, torch.nn.Conv2d)
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    torch.testing.assert_close(net(x), bilinear)
