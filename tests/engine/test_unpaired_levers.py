"""The levers of the seed methods: warm start, EMA, CycleSR's noise trigger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from engine.events import Losses, Message
from engine.jobs import run
from engine.train import checkpoint
from engine.train.noise_trigger import NoiseTrigger
from engine.train.recipes import RECIPES
from engine.train.trainer import RunSpec, load_inference, resolve_config, train
from engine.train.warm_start import warm_start
from tests.engine.unpaired_helpers import tiny, tiny_data


def _spec(name: str, iterations: int = 6, **extra: Any) -> RunSpec:
    return RunSpec(
        name, iterations=iterations, overrides=tiny(name, **extra), preview_every_s=1e9
    )


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bicubic-pairs baseline with the tiny SR net every tiny recipe uses."""
    out = tmp_path_factory.mktemp("baseline") / "bicubic.unsr.pt"
    run(train(_spec("bicubic", 3), tiny_data(), out))
    return out


def _baseline_sr(path: Path, x: torch.Tensor) -> torch.Tensor:
    nets, infer, _ = load_inference(path)
    with torch.no_grad():
        return infer(nets, x)


@pytest.mark.parametrize(("name", "net"), [("maeda", "U"), ("cyclesr", "SR")])
def test_warm_start_gives_the_baselines_output(
    baseline: Path, name: str, net: str
) -> None:
    spec = _spec(name, sr_init=str(baseline))
    session = RECIPES[name].session(
        resolve_config(spec), 2, None, torch.device("cpu"), torch.Generator()
    )
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        before = session.nets[net](x)
    assert not torch.allclose(before, _baseline_sr(baseline, x))
    log = warm_start(session, baseline)
    assert "bicubic.unsr.pt" in log[0].text
    # Maeda's y_down is not the baseline's antialiased bicubic: said so.
    warnings = [m.text for m in log if m.level == "warning"]
    assert len(warnings) == (name == "maeda")
    assert all(
        "'bicubic' LR and this method makes 'gauss_bicubic'" in w for w in warnings
    )
    with torch.no_grad():
        assert torch.equal(session.nets[net](x), _baseline_sr(baseline, x))


def test_trainer_warm_starts_maeda_and_infers_through_the_baseline(
    baseline: Path, tmp_path: Path
) -> None:
    # With the generators' rate at 0, the first (and only) step leaves U and the
    # identity-initialised G_XY as they started: inference is the baseline's SR.
    out = tmp_path / "m.unsr.pt"
    events: list[object] = []
    spec = _spec("maeda", 1, sr_init=str(baseline), lr=0.0)
    run(train(spec, tiny_data(), out), events.append)
    texts = [e.text for e in events if isinstance(e, Message)]
    assert any("U starts from the bicubic-pairs baseline" in t for t in texts)
    nets, infer, _ = load_inference(out)
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        assert torch.equal(nets["G_XY"](x), x)  # the translator starts at identity
        assert torch.equal(infer(nets, x), _baseline_sr(baseline, x))


def test_warm_start_refuses_another_net_naming_the_difference(
    baseline: Path, tmp_path: Path
) -> None:
    wider = _spec("maeda", sr={"nf": 12, "nb": 1}, sr_init=str(baseline))
    with pytest.raises(checkpoint.CheckpointError, match=r"nf 12 here, 8 there"):
        run(train(wider, tiny_data()))
    # DA splits the same SR net into E and G_SR: a different network.
    da = _spec("da", sr_init=str(baseline))
    with pytest.raises(checkpoint.CheckpointError, match=r"split 1 here, 0 there"):
        run(train(da, tiny_data()))


def test_warm_start_refuses_what_is_not_a_baseline(
    baseline: Path, tmp_path: Path
) -> None:
    maeda = tmp_path / "maeda.unsr.pt"
    run(train(_spec("maeda", 1), tiny_data(), maeda))
    with pytest.raises(checkpoint.CheckpointError, match="not by a bicubic-pairs"):
        run(train(_spec("cyclesr", sr_init=str(maeda)), tiny_data()))
    x4 = tmp_path / "x4.unsr.pt"
    checkpoint.save(x4, {**checkpoint.load(baseline), "scale": 4})
    with pytest.raises(checkpoint.CheckpointError, match="an x4 SR net"):
        run(train(_spec("cyclesr", sr_init=str(x4)), tiny_data()))
    missing = tmp_path / "nothing.unsr.pt"
    with pytest.raises(checkpoint.CheckpointError, match=r"nothing\.unsr\.pt"):
        run(train(_spec("cyclesr", sr_init=str(missing)), tiny_data()))


def test_ema_weights_differ_from_the_live_ones_and_inference_uses_them(
    tmp_path: Path,
) -> None:
    out = tmp_path / "m.unsr.pt"
    run(train(_spec("cyclesr", 8, ema=0.9), tiny_data(), out))
    state = checkpoint.load(out)
    live, shipped = state["train"]["nets"]["SR"], state["inference"]["SR"]
    average = state["train"]["ema"]["nets"]["SR"]
    assert state["train"]["ema"]["updates"] == 8
    assert all(torch.equal(shipped[k], average[k]) for k in shipped)
    assert any(not torch.equal(shipped[k], live[k]) for k in shipped)
    nets, infer, _ = load_inference(out)
    x = torch.rand(1, 3, 12, 16)
    live_net = RECIPES["cyclesr"].build_inference(resolve_config(_spec("cyclesr")), 2)
    live_net["SR"].load_state_dict(live)
    with torch.no_grad():
        assert not torch.allclose(infer(nets, x), live_net["SR"].eval()(x))


def test_without_ema_the_live_weights_are_shipped(tmp_path: Path) -> None:
    out = tmp_path / "m.unsr.pt"
    run(train(_spec("cyclesr", 2), tiny_data(), out))
    state = checkpoint.load(out)
    assert "ema" not in state["train"]
    live, shipped = state["train"]["nets"]["SR"], state["inference"]["SR"]
    assert all(torch.equal(shipped[k], live[k]) for k in shipped)


def test_resume_with_ema_and_trigger_continues_identically(tmp_path: Path) -> None:
    spec = _spec("cyclesr", 8, ema=0.9, joint_after_noise=1.2)
    full = tmp_path / "full.unsr.pt"
    run(train(spec, tiny_data(), full))
    part = tmp_path / "part.unsr.pt"
    job = train(spec, tiny_data(), part)
    for event in job:
        if isinstance(event, Losses) and event.step == 5:
            break
    job.close()
    assert checkpoint.load(part)["train"]["ema"]["updates"] == 5
    run(train(spec, tiny_data(), part, resume=part))
    a, b = (checkpoint.load(p) for p in (full, part))
    for group in ("inference", ("train", "nets"), ("train", "ema", "nets")):
        ga, gb = a, b
        for key in (group,) if isinstance(group, str) else group:
            ga, gb = ga[key], gb[key]
        for net in ga:
            for key in ga[net]:
                assert torch.equal(ga[net][key], gb[net][key]), f"{group} {net}.{key}"
    ta, tb = a["train"]["extra"]["trigger"], b["train"]["extra"]["trigger"]
    assert torch.equal(ta, tb) and ta[2] > 0  # it observed batches, identically


def test_resume_with_ema_refuses_a_run_saved_without_it(tmp_path: Path) -> None:
    out = tmp_path / "m.unsr.pt"
    run(train(_spec("cyclesr", 2), tiny_data(), out))
    with pytest.raises(checkpoint.CheckpointError, match="ema"):
        run(train(_spec("cyclesr", 4, ema=0.9), tiny_data(), resume=out))


def _smooth(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(8, 3, 6, 6, generator=g)
    return torch.nn.functional.interpolate(small, size=(32, 32), mode="bicubic")


def test_trigger_fires_when_the_output_gains_noise() -> None:
    noisy, same, blurred = NoiseTrigger(1.2), NoiseTrigger(1.2), NoiseTrigger(1.2)
    g = torch.Generator().manual_seed(0)
    for step in range(12):
        x = _smooth(step) * 0.8 + 0.1 + 0.005 * torch.randn(8, 3, 32, 32, generator=g)
        noisy.observe(x + 0.02 * torch.randn(x.shape, generator=g), x)
        same.observe(x.clone(), x)
        blurred.observe(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), x)
        if step < 9:  # one batch, or nine, never decide
            assert not noisy.fired
    assert noisy.fired and noisy.running > 1.3
    assert not same.fired and same.running == pytest.approx(1.0)
    assert not blurred.fired and blurred.running < 1


def _joint_steps(ratio: float) -> tuple[list[dict[str, float]], list[str]]:
    losses: list[dict[str, float]] = []
    notes: list[str] = []

    def on(e: object) -> None:
        if isinstance(e, Losses):
            losses.append(dict(e.values))
        elif isinstance(e, Message):
            notes.append(e.text)

    run(train(_spec("cyclesr", 20, joint_after_noise=ratio), tiny_data()), on)
    return losses, notes


@pytest.mark.timeout(300)  # two 20-step CycleSR runs, slow on a busy machine
def test_cyclesr_joint_phase_waits_for_noise() -> None:
    # G starts as the identity, so its output has exactly its input's high
    # band (ratio 1): a 1.2 threshold keeps waiting, a 0.5 one fires.
    waiting, notes = _joint_steps(1.2)
    assert not any("sr_through_G" in step for step in waiting)
    assert waiting[0]["G_highband_ratio"] == pytest.approx(1.0)
    assert any("waits until G adds noise" in n for n in notes)
    assert "sr_mse" in waiting[-1]  # the SR net goes on learning bicubic pairs
    fired, notes = _joint_steps(0.5)
    assert "sr_through_G" in fired[-1]
    assert any("the joint training begins" in n for n in notes)


@pytest.mark.parametrize(
    ("name", "nets"),
    [("maeda", ("G_XY", "G_YX")), ("cyclesr", ("G", "F")), ("csrgan", ("G", "F"))],
)
def test_cpu_profiles_start_the_translators_at_identity(
    name: str, nets: tuple[str, ...]
) -> None:
    config = resolve_config(RunSpec(name))  # the real cpu profile, not the tiny one
    session = RECIPES[name].session(
        config, 2, None, torch.device("cpu"), torch.Generator()
    )
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        for net in nets:
            module = session.nets[net]
            if getattr(module, "noise_ch", 0):
                out = module(x, torch.randn(1, 1, 4, 4))
            else:
                out = module(x)
            assert torch.equal(out, x), net
