"""Every recipe trains a few steps with finite losses and obeys its detach rules."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from engine.events import Losses, Message, Preview
from engine.jobs import run
from engine.train.recipes import RECIPES
from engine.train.recipes.recipe import Session
from engine.train.trainer import RunSpec, resolve_config, train
from tests.engine.unpaired_helpers import tiny, tiny_data

# Which nets may hold a gradient when each optimiser steps (section 7 of the spec).
EXPECTED: dict[str, dict[str, set[str]]] = {
    "bicubic": {"SR": {"SR"}},
    "maeda": {"D": {"D_X", "D_Yd", "D_Xup"}, "G": {"G_XY", "G_YX"}, "U": {"U"}},
    "da": {"D": {"D_f", "D_t", "D_SR"}, "G": {"SR", "G_t"}},
    "cyclesr": {"D_cyc": {"D_X", "D_Y"}, "GF": {"G", "F"}, "SR": {"SR"}},
    "cyclesrgan": {
        "D_cyc": {"D_X", "D_Y"},
        "GF": {"G", "F"},
        "SR": {"SR"},
        "D_HR": {"D_HR"},
    },
    "estimated": {"SR": {"SR"}},
    "csrgan": {
        "D_cyc": {"D_X", "D_Y"},
        "GF": {"G", "F"},
        "SR": {"SR"},
        "D_SR": {"D_SR"},
    },
}


def test_every_recipe_has_cpu_and_paper_profiles() -> None:
    assert set(EXPECTED) == set(RECIPES)
    for recipe in RECIPES.values():
        assert {"cpu", "paper"} <= set(recipe.profiles)
        for cfg in recipe.profiles.values():
            with pytest.raises(AttributeError):
                cfg.batch = 1  # frozen


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_trains_with_finite_losses(name: str) -> None:
    events: list[object] = []
    spec = RunSpec(name, iterations=6, overrides=tiny(name), preview_every_s=0)
    result = run(train(spec, tiny_data()), events.append)
    losses = [e for e in events if isinstance(e, Losses)]
    assert result.steps == 6 and result.completed
    assert [e.step for e in losses] == list(range(1, 7))
    for e in losses:
        assert e.values and all(math.isfinite(v) for v in e.values.values())
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and all(
        p.image.ndim == 3 and p.image.shape[2] == 3 for p in previews
    )
    # Six steps reach every phase of every recipe, and each is announced.
    announced = [e.text.split(":")[0] for e in events if isinstance(e, Message)]
    config = resolve_config(spec)
    session = RECIPES[name].session(
        config, 2, None, torch.device("cpu"), torch.Generator()
    )
    names = [p.name for p in session.schedule().phases]
    assert [a[len("phase ") :] for a in announced if a.startswith("phase ")] == names


def _record_grads(session: Session) -> Callable[[], dict[str, list[set[str]]]]:
    """Record, at every optimiser step, which nets hold a non-zero gradient."""
    seen: dict[str, list[set[str]]] = {}
    original = session.step_optim

    def hooked(opt: str) -> None:
        reached = {
            n
            for n, net in session.nets.items()
            if any(
                p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters()
            )
        }
        seen.setdefault(opt, []).append(reached)
        original(opt)

    session.step_optim = hooked  # type: ignore[method-assign]
    return lambda: seen


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_gradients_reach_only_the_nets_each_optimiser_owns(name: str) -> None:
    recipe = RECIPES[name]
    data = tiny_data()
    spec = RunSpec(name, iterations=6, overrides=tiny(name))
    config = resolve_config(spec)
    g = torch.Generator().manual_seed(0)
    session = recipe.session(config, 2, data, torch.device("cpu"), g)
    seen = _record_grads(session)
    sched = session.schedule()
    for step in range(6):
        frac = step / 6
        phase = sched.at(frac)
        session.on_phase(phase)
        session.train_step(data.sample(2, g), phase, frac)
    got = seen()
    assert set(got) == set(EXPECTED[name]), "every optimiser steps at least once"
    for opt, reached in got.items():
        for r in reached:
            assert r == EXPECTED[name][opt], f"{opt} step saw gradients in {r}"


def test_cyclesr_sr_loss_flows_through_the_frozen_sr_into_g() -> None:
    data = tiny_data()
    after = []
    for w in (0.0, 1000.0):
        spec = RunSpec("cyclesr", overrides=tiny("cyclesr", w_through=w))
        config = resolve_config(spec)
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        session = RECIPES["cyclesr"].session(config, 2, data, torch.device("cpu"), g)
        sr_before = [p.clone() for p in session.nets["SR"].parameters()]
        phase = session.schedule().at(0.99)
        assert phase.name == "joint"
        seen = _record_grads(session)
        session.train_step(data.sample(2, g), phase, 0.99)
        assert seen()["GF"][0] == {"G", "F"}  # SR frozen during the G step
        after.append([p.detach().clone() for p in session.nets["G"].parameters()])
        # The SR net did train in its own step.
        assert any(
            not torch.equal(a, b)
            for a, b in zip(sr_before, session.nets["SR"].parameters(), strict=True)
        )
    assert any(not torch.equal(a, b) for a, b in zip(*after, strict=True))


def test_maeda_u_learns_from_the_pseudo_clean_lr_only() -> None:
    data = tiny_data()
    spec = RunSpec("maeda", overrides=tiny("maeda"))
    g = torch.Generator().manual_seed(0)
    session = RECIPES["maeda"].session(
        resolve_config(spec), 2, data, torch.device("cpu"), g
    )
    seen = _record_grads(session)
    session.train_step(data.sample(2, g), session.schedule().at(0.0), 0.0)
    # The translators' step must not touch U (HR-side term updates G only).
    assert seen()["G"] == [{"G_XY", "G_YX"}]
    assert seen()["U"] == [{"U"}]


def test_maeda_trains_only_u_once_the_game_is_frozen() -> None:
    data = tiny_data()
    spec = RunSpec("maeda", overrides=tiny("maeda", joint_until=0.5))
    g = torch.Generator().manual_seed(0)
    session = RECIPES["maeda"].session(
        resolve_config(spec), 2, data, torch.device("cpu"), g
    )
    phase = session.schedule().at(0.75)
    assert phase.name == "sr-pseudo"
    before = {
        k: [p.detach().clone() for p in net.parameters()]
        for k, net in session.nets.items()
    }
    session.train_step(data.sample(2, g), phase, 0.75)
    changed = {
        k
        for k, net in session.nets.items()
        if any(
            not torch.equal(a, b)
            for a, b in zip(before[k], net.parameters(), strict=True)
        )
    }
    assert changed == {"U"}


def _cycle_session(**cycle: object) -> tuple[Session, torch.Generator]:
    data = tiny_data()
    over = tiny("cyclesr")
    over["cycle"] = {**over["cycle"], **cycle}
    g = torch.Generator().manual_seed(0)
    session = RECIPES["cyclesr"].session(
        resolve_config(RunSpec("cyclesr", overrides=over)),
        2,
        data,
        torch.device("cpu"),
        g,
    )
    return session, g


def test_cycle_g_with_noise_learns_to_use_its_noise_map() -> None:
    session, g = _cycle_session(noise=True)
    data = session.data
    assert data is not None
    phase = session.schedule().at(0.0)
    for _ in range(3):
        session.train_step(data.sample(2, g), phase, 0.0)
    x = data.sample(2, g).y_down
    z1, z2 = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    with torch.no_grad():
        a, b = session.nets["G"](x, z1), session.nets["G"](x, z2)
    assert (a - b).abs().max() > 1e-5


def test_low_band_real_terms_ignore_the_noise_a_clean_photo_cannot_hold() -> None:
    session, _ = _cycle_session(real_low_sigma=1.5)
    full, _ = _cycle_session()
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(1, 3, 1, 1, generator=gen).expand(1, 3, 32, 32).contiguous()
    noisy = real + 0.05 * torch.randn(1, 3, 32, 32, generator=gen)
    low = session.cyc._vs_real(noisy, real)  # type: ignore[attr-defined]
    plain = full.cyc._vs_real(noisy, real)  # type: ignore[attr-defined]
    # A sigma-1.5 blur keeps about a fifth of white noise's spread.
    assert float(low) < 0.4 * float(plain)
