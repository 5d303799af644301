"""The one training loop every recipe runs in, as a job.

It samples batches, asks the recipe's session for one step, and reports
Losses every step, Progress a few times a second and Previews now and then. A
run ends after an iteration count or a wall-clock budget; phases and learning
rates follow the fraction of the run done. Checkpoints are written atomically
every few minutes, at the end, and when the job is cancelled, so any run can
be resumed.

Around the recipe's steps it adds what every recipe shares: a warm start of the
SR net from a bicubic-pairs baseline (``sr_init``), an average of the nets
inference uses (``ema``), and at the end a no-reference comparison with bicubic
on a real photo (:mod:`engine.train.noref`), logged and kept in the checkpoint.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine import device as devices
from engine.events import Losses, Message, Preview, Progress
from engine.jobs import Job
from engine.train import checkpoint, distributed
from engine.train.config import from_plain, to_plain
from engine.train.data import Batch, Photo, UnpairedData, load_unpaired
from engine.train.ema import EMA
from engine.train.noref import NoRefCheck, compare_with_bicubic
from engine.train.recipes import get as get_recipe
from engine.train.recipes.recipe import Session, Wrap
from engine.train.warm_start import warm_start


@dataclass(frozen=True)
class RunSpec:
    """What to train and for how long.

    Attributes
    ----------
    recipe : str
        Recipe id ("maeda", "da", "cyclesr", "cyclesrgan", "csrgan", "bicubic").
    profile : str
        "cpu" or "paper".
    scale : int
        SR factor.
    budget_s : float or None
        Wall-clock budget in seconds (takes precedence when both are given).
    iterations : int or None
        Iteration count; phases and rates follow it exactly (reproducible).
    seed : int
        Seed of the run's generator (data, noise, pools).
    device : str
        "auto", "cpu", "cuda", ...
    checkpoint_every_s : float
        Seconds between periodic checkpoints (when an output path is given).
    preview_every_s : float
        Seconds between previews.
    info : Mapping[str, str]
        Free facts stored in the checkpoint (training data, command).
    overrides : Mapping[str, Any]
        Settings replacing the profile's (plain values, as in ``to_plain``).
    holdout : bool
        Keep the last real-LR photo (by name) out of training, for the
        end-of-training comparison with bicubic; only when there are two or
        more (with one, the comparison uses it and says it was trained on).
    """

    recipe: str
    profile: str = "cpu"
    scale: int = 2
    budget_s: float | None = None
    iterations: int | None = None
    seed: int = 0
    device: str = "cpu"
    checkpoint_every_s: float = 120.0
    preview_every_s: float = 15.0
    info: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    holdout: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What a training job returns.

    ``check`` is the end-of-training comparison with bicubic on a real photo
    (None when it could not be made; the log says why).
    """

    path: Path | None
    steps: int
    elapsed_s: float
    losses: Mapping[str, float]
    completed: bool
    check: NoRefCheck | None = None


def resolve_config(spec: RunSpec) -> Any:
    """The recipe's profile with ``spec.overrides`` applied."""
    recipe = get_recipe(spec.recipe)
    if spec.profile not in recipe.profiles:
        raise ValueError(
            f"{recipe.label} has no profile {spec.profile!r} "
            f"(it has: {', '.join(recipe.profiles)})"
        )
    plain = to_plain(recipe.profiles[spec.profile])
    plain.update(spec.overrides)
    return from_plain(recipe.config_type, plain)


def _unwrap(net: nn.Module) -> nn.Module:
    inner = getattr(net, "module", net)
    assert isinstance(inner, nn.Module)
    return inner


def _image(t: torch.Tensor) -> np.ndarray[Any, np.dtype[np.float32]]:
    out: np.ndarray[Any, np.dtype[np.float32]] = np.ascontiguousarray(
        t.permute(1, 2, 0).numpy(), np.float32
    )
    return out


def inference_weights(
    spec: RunSpec, config: Any, session: Session, ema: EMA | None
) -> dict[str, dict[str, torch.Tensor]]:
    """The state dicts inference uses: the average's when there is one."""
    if ema is not None:
        return ema.shadow
    names = get_recipe(spec.recipe).build_inference(config, spec.scale).keys()
    return {n: _unwrap(session.nets[n]).state_dict() for n in names}


def checkpoint_content(
    spec: RunSpec,
    config: Any,
    session: Session,
    step: int,
    elapsed: float,
    train: bool,
    ema: EMA | None = None,
    info: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything a checkpoint holds (see :mod:`engine.train.checkpoint`).

    ``info`` adds facts learnt during the run (the end-of-training check).
    """
    content: dict[str, Any] = {
        "recipe": spec.recipe,
        "scale": spec.scale,
        "config": to_plain(config),
        "info": {
            **dict(spec.info),
            "profile": spec.profile,
            "steps": str(step),
            "seconds": f"{elapsed:.0f}",
            "saved": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **dict(info or {}),
        },
        "inference": inference_weights(spec, config, session, ema),
    }
    if train:
        content["train"] = {
            "nets": {k: _unwrap(v).state_dict() for k, v in session.nets.items()},
            "optims": {k: v.state_dict() for k, v in session.optims.items()},
            "extra": session.extra_state(),
            "rng": session.g.get_state(),
            "step": step,
            "elapsed_s": elapsed,
            "budget_s": spec.budget_s,
            "iterations": spec.iterations,
        }
        if ema is not None:
            content["train"]["ema"] = ema.state()
    return content


@dataclass
class _Position:
    """Where a run stands: steps taken, seconds spent, and when it ends."""

    budget: float | None
    iterations: int | None
    step: int = 0
    elapsed: float = 0.0

    def fraction(self) -> float:
        """The part of the run done; phases and learning rates follow it."""
        if self.budget is not None:
            return self.elapsed / self.budget
        assert self.iterations is not None
        return self.step / self.iterations

    def progress(self, stage: str) -> Progress:
        """Seconds of the budget, or steps of the count, with the time left."""
        if self.budget is not None:
            eta = max(0.0, self.budget - self.elapsed)
            return Progress(int(self.elapsed), int(self.budget), stage, eta)
        assert self.iterations is not None
        rate = self.elapsed / max(1, self.step)
        return Progress(
            self.step, self.iterations, stage, rate * (self.iterations - self.step)
        )


def _session(
    spec: RunSpec, config: Any, data: UnpairedData, wrap: Wrap | None, rank: int
) -> Session:
    """The recipe's session on the run's device, seeded for this rank."""
    dev = devices.pick(spec.device)
    g = torch.Generator().manual_seed(spec.seed * 1000 + rank)
    torch.manual_seed(spec.seed)  # the same initial weights on every rank
    recipe = get_recipe(spec.recipe)
    return recipe.session(config, spec.scale, data, dev, g, wrap)


def _restore(
    session: Session, spec: RunSpec, resume: Path, pos: _Position, ema: EMA | None
) -> None:
    """Load nets, optimisers, pools, the average and the generator; move ``pos``.

    The checkpoint's budget and iteration count apply unless ``spec`` gives
    new ones.
    """
    state = checkpoint.load(resume)
    if state.get("recipe") != spec.recipe or "train" not in state:
        raise checkpoint.CheckpointError(
            f"{resume}: not a resumable {spec.recipe} checkpoint"
        )
    tr = state["train"]
    for name, net in session.nets.items():
        _unwrap(net).load_state_dict(tr["nets"][name])
    for name, opt in session.optims.items():
        opt.load_state_dict(tr["optims"][name])
    session.load_extra_state(tr["extra"])
    if ema is not None:
        if "ema" not in tr:
            raise checkpoint.CheckpointError(
                f"{resume}: saved without an average of the weights (ema); resume "
                "it with ema 0"
            )
        ema.load(tr["ema"])
    session.g.set_state(tr["rng"])
    pos.step, pos.elapsed = int(tr["step"]), float(tr["elapsed_s"])
    if pos.budget is None and pos.iterations is None:
        pos.budget, pos.iterations = tr["budget_s"], tr["iterations"]


def _previews(session: Session, batch: Batch, step: int) -> list[Preview]:
    """The session's preview images, made in eval mode.

    Eval mode, so previews do not move BatchNorm statistics.
    """
    for net in session.nets.values():
        net.eval()
    shots = session.previews(batch)
    for net in session.nets.values():
        net.train()
    return [Preview(step, _image(img), label) for label, img in shots.items()]


def _steps(
    spec: RunSpec,
    config: Any,
    session: Session,
    data: UnpairedData,
    pos: _Position,
    rank: int,
    save: Callable[[], None],
    ema: EMA | None = None,
) -> Job[dict[str, float]]:
    """Train until the run's fraction reaches 1; return the last losses.

    ``pos`` is kept current after every step, so the caller can save a
    checkpoint of where the run stands whenever this job ends.
    """
    sched = session.schedule()
    phase = None
    losses: dict[str, float] = {}
    start = time.perf_counter() - pos.elapsed
    last_progress = last_preview = last_ckpt = -float("inf")
    while True:
        pos.elapsed = time.perf_counter() - start
        if pos.budget is not None:
            # Every rank of a multi-process run decides on the same figure, so
            # all take the same phases and stop after the same step.
            pos.elapsed = distributed.agreed_seconds(pos.elapsed)
        frac = pos.fraction()
        if frac >= 1.0:
            return losses
        current = sched.at(frac)
        if current is not phase:
            phase = current
            session.on_phase(phase)
            yield Message(f"phase {phase.name}: training {', '.join(phase.trains)}")
        session.set_lr(frac)
        batch = data.sample(config.batch, session.g)
        if session.device.type != "cpu":
            batch = batch.to(session.device)
        losses = session.train_step(batch, phase, frac)
        if ema is not None:
            ema.update({n: _unwrap(session.nets[n]) for n in ema.shadow})
        pos.step += 1
        pos.elapsed = time.perf_counter() - start
        yield Losses(pos.step, losses)
        while session.notes:
            yield Message(session.notes.pop(0))
        now = time.perf_counter()
        if now - last_progress >= 0.2:
            last_progress = now
            yield pos.progress(phase.name)
        if rank == 0 and now - last_preview >= spec.preview_every_s:
            last_preview = now
            yield from _previews(session, batch, pos.step)
        if now - last_ckpt >= spec.checkpoint_every_s:
            if last_ckpt > -float("inf"):
                save()
            last_ckpt = now


def train(
    spec: RunSpec,
    data: UnpairedData,
    out: Path | None = None,
    *,
    resume: Path | None = None,
    wrap: Wrap | None = None,
    rank: int = 0,
) -> Job[TrainResult]:
    """Train ``spec.recipe`` on ``data``; yield events; return a TrainResult.

    Parameters
    ----------
    spec
        The run.
    data
        Training data (its scale and patch must match the config's).
    out
        Checkpoint path (``*.unsr.pt``); None keeps the result in memory only.
    resume
        A checkpoint with training state to continue from. Its iteration count
        and budget are used unless ``spec`` gives new ones.
    wrap
        Applied to every net (DistributedDataParallel for multi-process runs).
    rank
        Process rank; only rank 0 writes checkpoints and previews, and each
        rank draws different batches.
    """
    if spec.budget_s is None and spec.iterations is None and resume is None:
        raise ValueError("give a wall-clock budget or an iteration count")
    config = resolve_config(spec)
    data, photo, held = _hold_out(data, spec.holdout)
    session = _session(spec, config, data, wrap, rank)
    pos = _Position(spec.budget_s, spec.iterations)
    if resume is None and config.sr_init:
        yield from warm_start(session, Path(config.sr_init))
    ema = _make_ema(spec, config, session)
    if resume is not None:
        _restore(session, spec, resume, pos, ema)
        yield Message(
            f"resumed {resume.name} at step {pos.step} ({pos.elapsed:.0f} s in)"
        )
    if pos.budget is None and pos.iterations is None:
        raise ValueError("the checkpoint has neither a budget nor an iteration count")
    for net in session.nets.values():
        net.train()
    facts: dict[str, str] = {}

    def save() -> None:
        if out is not None and rank == 0 and pos.step > 0:
            content = checkpoint_content(
                spec, config, session, pos.step, pos.elapsed, True, ema, facts
            )
            checkpoint.save(out, content)

    check = None
    try:
        kept = f", {photo.path.name} held back" if held else ""
        yield Message(
            f"training {get_recipe(spec.recipe).label} ({spec.profile} profile, "
            f"x{spec.scale}) on {len(data.hr)} HR and {len(data.real_lr)} "
            f"real-LR photos{kept}"
        )
        losses = yield from _steps(spec, config, session, data, pos, rank, save, ema)
        if rank == 0:
            check = yield from _end_check(spec, config, session, ema, photo, held)
            facts.update(check.as_info() if check is not None else {})
    finally:
        # Also on cancel: a stopped run can be resumed from where it stood.
        save()
    if out is not None and rank == 0:
        yield Message(f"saved {out}")
    return TrainResult(out, pos.step, pos.elapsed, losses, True, check)


def _hold_out(data: UnpairedData, holdout: bool) -> tuple[UnpairedData, Photo, bool]:
    """Split off the photo for the end-of-training check.

    Returns the training data, that photo (the last real-LR one, by name) and
    whether it was kept out of training.
    """
    photo = data.real_lr[-1]
    if not holdout or len(data.real_lr) < 2:
        return data, photo, False
    rest = UnpairedData(
        data.hr, data.real_lr[:-1], data.scale, data.lr_patch, data.clean_op
    )
    return rest, photo, True


def _make_ema(spec: RunSpec, config: Any, session: Session) -> EMA | None:
    """An average of the nets inference uses, when the config asks for one."""
    if not config.ema:
        return None
    names = get_recipe(spec.recipe).build_inference(config, spec.scale).keys()
    return EMA({n: _unwrap(session.nets[n]) for n in names}, config.ema)


def _end_check(
    spec: RunSpec,
    config: Any,
    session: Session,
    ema: EMA | None,
    photo: Photo,
    held: bool,
) -> Job[NoRefCheck | None]:
    """Compare the trained model (as inference will run it) with bicubic."""
    recipe = get_recipe(spec.recipe)
    nets = recipe.build_inference(config, spec.scale)
    weights = inference_weights(spec, config, session, ema)
    for name, net in nets.items():
        net.load_state_dict(weights[name])
        net.to(session.device).eval()
    yield Message(f"comparing the model with bicubic upscaling on {photo.path.name}")
    try:
        check = compare_with_bicubic(
            lambda t: recipe.infer(nets, t.to(session.device)),
            photo.pixels,
            spec.scale,
            photo.path.name,
            held,
        )
    except (ValueError, RuntimeError) as err:
        yield Message(f"no comparison with bicubic: {err}", "warning")
        return None
    yield Message(f"{check.verdict} ({check.figures()})", data=check.as_info())
    return check


def train_folders(
    spec: RunSpec,
    real_lr_dir: Path,
    hr_dir: Path,
    out: Path | None = None,
    *,
    resume: Path | None = None,
    wrap: Wrap | None = None,
    rank: int = 0,
) -> Job[TrainResult]:
    """Read the two folders (skipping bad files with a message), then :func:`train`."""
    config = resolve_config(spec)
    yield Message(f"reading {real_lr_dir} (real LR) and {hr_dir} (HR)")
    data, skipped = load_unpaired(
        real_lr_dir, hr_dir, spec.scale, config.lr_patch, config.clean_op
    )
    for reason in skipped:
        yield Message(f"skipped {reason}", "warning")
    return (yield from train(spec, data, out, resume=resume, wrap=wrap, rank=rank))


def load_inference(
    path: Path,
) -> tuple[
    dict[str, nn.Module],
    Callable[[Mapping[str, nn.Module], torch.Tensor], torch.Tensor],
    dict[str, Any],
]:
    """Build a checkpoint's inference nets (eval mode): nets, infer fn, header."""
    state = checkpoint.load(path)
    recipe = get_recipe(str(state["recipe"]))
    config: Any = from_plain(recipe.config_type, state["config"])
    nets = recipe.build_inference(config, int(state["scale"]))
    for name, net in nets.items():
        net.load_state_dict(state["inference"][name])
        net.eval()
    header = {k: v for k, v in state.items() if k not in ("inference", "train")}
    return nets, recipe.infer, header


__all__ = [
    "RunSpec",
    "TrainResult",
    "checkpoint_content",
    "load_inference",
    "resolve_config",
    "train",
    "train_folders",
]
