"""One DualSR fit (x2) as a job: train on the image's own crops, then upscale it.

The loop follows the DualSR authors' code: KernelGAN's crop sampler, one joint
step of both generators, then one of the discriminator, with the bicubic and
kernel priors; what the fast profile changes is switched by fields of
:class:`DualSRParams`.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine import device as devices
from engine.events import Box, Event, FloatArray, Kernel, Losses, Message, Preview
from engine.jobs import Clock, Job
from engine.methods.base import RunContext
from engine.methods.dualsr import artefacts, guard, losses, sampler
from engine.methods.dualsr.params import DualSRParams
from engine.methods.dualsr.schedule import LambdaLearner, lr_factors
from engine.nets.dualsr import DDn, GDn, GUp
from engine.tiling import TilingNeeds

#: Names of the losses reported in Losses events and the CSV log.
LOSS_NAMES = ("gan", "cycle_fwd", "cycle_bwd", "interp", "kernel_reg", "disc")

#: Edge of the LR region shown in Preview events (kept small: previews are free).
PREVIEW_CROP = 96


class InputTooSmallError(ValueError):
    """The image cannot hold even the smallest crops DualSR trains on."""


@dataclass(frozen=True, eq=False)
class FitResult:
    """What one x2 fit learned.

    Attributes
    ----------
    upsampler : nn.Module
        G_UP (its weight average when the profile keeps one), in eval mode.
    kernel : ndarray
        The learned blur kernel (13, 13), composed from G_DN.
    iters_done, lr_crop : int
        Iterations run and the LR crop edge trained on.
    stopped_early : bool
        True when the plateau rule or a finish-early request (stop and keep,
        :attr:`RunContext.finish_early`) ended the fit.
    device : torch.device
        Where the upsampler lives.
    channels_last : bool
        The upsampler's memory layout.
    signals : Mapping[str, float]
        The guard's signals (:func:`engine.methods.dualsr.guard.signals`), when
        the params ask for a guard.
    blend : float
        The fit's weight in the output (1 unless the guard toned it down).
    """

    upsampler: nn.Module
    kernel: FloatArray
    iters_done: int
    lr_crop: int
    stopped_early: bool
    device: torch.device
    channels_last: bool = False
    signals: Mapping[str, float] = dataclasses.field(default_factory=dict)
    blend: float = 1.0


def crop_size(h: int, w: int, params: DualSRParams) -> int:
    """The LR crop edge for an image of (h, w): the profile's, or smaller.

    HR crops are twice the LR crop and must fit in the image.

    Raises
    ------
    InputTooSmallError
        When even ``params.min_lr_crop`` does not fit.
    """
    fit = min(params.lr_crop, min(h, w) // 2)
    fit -= fit % 2
    if fit < params.min_lr_crop:
        need = 2 * params.min_lr_crop
        raise InputTooSmallError(
            f"the image is {w}x{h} pixels; DualSR needs at least {need}x{need} "
            f"(it learns from {need}px crops of the image itself)"
        )
    return fit


class _Ema:
    """Exponential moving average of a module's weights."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(module).requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for avg, cur in zip(self.model.parameters(), module.parameters(), strict=True):
            avg.lerp_(cur, 1.0 - self.decay)


class _Plateau:
    """Stops when a smoothed loss has not improved for ``patience`` iterations."""

    def __init__(self, patience: int, min_iters: int, smooth: float = 0.98):
        self.patience, self.min_iters, self.smooth = patience, min_iters, smooth
        self.avg: float | None = None
        self.best = math.inf
        self.best_it = 0

    def stop(self, it: int, value: float) -> bool:
        self.avg = (
            value
            if self.avg is None
            else self.smooth * self.avg + (1 - self.smooth) * value
        )
        # A new best must beat the old one by a hair, else noise keeps it alive.
        if self.avg < self.best * 0.999:
            self.best, self.best_it = self.avg, it
        return it >= self.min_iters and it - self.best_it >= self.patience


def _to_image(t: torch.Tensor) -> FloatArray:
    out: FloatArray = t[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(out)


def _to_tensor(
    rgb: FloatArray, dev: torch.device, fmt: torch.memory_format
) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    return t.to(dev).contiguous(memory_format=fmt)


class _Nets:
    """The three networks of a fit, their optimisers and the schedules."""

    def __init__(self, params: DualSRParams, dev: torch.device, crop: int):
        self.p = params
        self.dev = dev
        self.fmt = (
            torch.channels_last if params.channels_last else torch.contiguous_format
        )
        self.g_up = GUp(params.up_width, params.up_depth, params.up_at_lr).to(dev)
        self.g_up = self.g_up.to(memory_format=self.fmt)
        self.g_dn = GDn(params.dn_width).to(dev)
        self.d_dn = DDn(params.d_width, paper_init=params.d_paper_init).to(dev)
        self.d_dn = self.d_dn.to(memory_format=self.fmt)
        # One fused kernel per optimiser step instead of a dozen small ops per
        # tensor: the same update, measurably cheaper for these small nets.
        fused = dev.type != "mps"
        adam = functools.partial(torch.optim.Adam, betas=(0.5, 0.999), fused=fused)
        self.opt_up = adam(self.g_up.parameters(), params.lr_up)
        self.opt_dn = adam(self.g_dn.parameters(), params.lr_dn)
        self.opt_d = adam(self.d_dn.parameters(), params.lr_d)
        self.learner = LambdaLearner(every=params.lambda_update_every)
        self.bound_mask = losses.penalty_mask(self.g_dn.kernel_size).to(dev)
        self.ema = _Ema(self.g_up, params.ema) if params.ema > 0 else None
        self.up_mat = sampler.bicubic_up2_matrix(crop).to(dev)
        self.out_lr = crop - 6  # G_DN's output edge for a 2c crop; D's real crops

    @property
    def shown(self) -> nn.Module:
        """The upsampler to show and keep: the weight average when there is one."""
        return self.ema.model if self.ema is not None else self.g_up

    def amp(self) -> contextlib.AbstractContextManager[None]:
        return devices.autocast(self.dev, self.p.bf16)

    def critic_amp(self) -> contextlib.AbstractContextManager[None]:
        return devices.autocast(self.dev, self.p.bf16 and self.p.critic_bf16)

    def dn(self, x: torch.Tensor) -> torch.Tensor:
        # G_DN stays in float32: its kernel feeds the priors and is tiny anyway.
        out: torch.Tensor = self.g_dn(x.float(), deep=self.p.deep_dn)
        return out

    def g_step(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One step of G_UP and G_DN from one summed loss, D frozen.

        Returns the loss terms, the composed kernel and G_DN(y) for the D step.
        """
        p, fmt, out_lr = self.p, self.fmt, self.out_lr
        b = torch.matmul(torch.matmul(self.up_mat, x), self.up_mat.t())
        self.d_dn.requires_grad_(False)
        with self.amp():
            fake_hr = self.g_up(x)
        rec_lr = self.dn(fake_hr)
        fake_lr = self.dn(y)
        with self.amp():
            rec_hr = self.g_up(fake_lr.to(memory_format=fmt))
        with self.critic_amp():
            gan = losses.lsgan(self.d_dn(fake_lr.to(memory_format=fmt)).float(), True)
        cyc_f = (rec_lr - losses.center_crop(x, out_lr)).abs().mean()
        cyc_b = (rec_hr.float() - losses.center_crop(y, 2 * out_lr)).abs().mean()
        interp = losses.masked_interp(fake_hr.float(), b, p.mask_mean_over_mask)
        k = self.g_dn.composed_kernel()
        target = losses.bicubic_target(y, out_lr, p.bicubic_prior_sums_channels)
        bic = ((fake_lr - target) ** 2).mean()
        terms = losses.kernel_terms(k, self.bound_mask)
        lrn = self.learner
        reg = (
            lrn.lb * bic
            + 0.5 * terms["sum"]
            + 0.5 * terms["bound"]
            + lrn.lc * terms["cent"]
            + lrn.ls * terms["sparse"]
        )
        total = (
            gan
            + p.lambda_cycle * (cyc_f + cyc_b)
            + p.lambda_interp * interp
            + p.lambda_reg * reg
        )
        self.opt_up.zero_grad(set_to_none=True)
        self.opt_dn.zero_grad(set_to_none=True)
        total.backward()
        self.opt_up.step()
        self.opt_dn.step()
        named = {
            "gan": gan,
            "cycle_fwd": cyc_f,
            "cycle_bwd": cyc_b,
            "interp": interp,
            "kernel_reg": reg,
            "bicubic_prior": bic,
        }
        return named, k, fake_lr

    def d_step(self, x: torch.Tensor, fake_lr: torch.Tensor) -> torch.Tensor:
        """One step of the discriminator on real crops and G_DN's output."""
        self.d_dn.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.critic_amp():
            real = self.d_dn(losses.center_crop(x, self.out_lr))
            fake = self.d_dn(fake_lr.detach().to(memory_format=self.fmt))
        d_loss = 0.5 * (
            losses.lsgan(real.float(), True) + losses.lsgan(fake.float(), False)
        )
        d_loss.backward()  # type: ignore[no-untyped-call]
        self.opt_d.step()
        return d_loss

    def after_step(self, done: int, bic: torch.Tensor) -> None:
        """Weight average, the lambda learner and the learning-rate schedule."""
        p = self.p
        if self.ema is not None:
            self.ema.update(self.g_up)
        # Reading a loss waits for the device (a GPU stalls every iteration);
        # the learner needs the bicubic loss only until its first phase ends.
        self.learner.update(done, math.nan if self.learner.similar else bic.item())
        f_up, f_dn = lr_factors(done, p.lr_step, p.dn_lr_decay)
        for group in self.opt_up.param_groups:
            group["lr"] = p.lr_up * f_up
        for opt, base in ((self.opt_dn, p.lr_dn), (self.opt_d, p.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * f_dn


def _preview_input(rgb: FloatArray, dev: torch.device) -> tuple[torch.Tensor, Box]:
    """The centre crop of the photo that Preview events show upscaled, and its box.

    The box is in the photo's pixels (``prepare`` without a border cut only
    trims the last row or column), so a viewer places the preview exactly.
    """
    lr = sampler.prepare(rgb, 0, keep=0)
    h, w = lr.shape[:2]
    pc = min(PREVIEW_CROP, h, w)
    py, px = (h - pc) // 2, (w - pc) // 2
    crop = np.ascontiguousarray(lr[py : py + pc, px : px + pc])
    box = (float(px), float(py), float(pc), float(pc))
    return torch.from_numpy(crop).permute(2, 0, 1)[None].to(dev), box


def _start_folder(
    run_dir: Path | None, params: DualSRParams, crop: int, seed: int
) -> None:
    if run_dir is None:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    artefacts.write_status(run_dir, "running")
    artefacts.write_json(
        run_dir / artefacts.PARAMS_JSON,
        {**dataclasses.asdict(params), "lr_crop_used": crop, "seed_used": seed},
    )


def _cycle(named: dict[str, torch.Tensor]) -> float:
    return (named["cycle_fwd"] + named["cycle_bwd"]).item()


def _loss_values(
    named: dict[str, torch.Tensor], d_loss: torch.Tensor
) -> dict[str, float]:
    values = {name: named[name].item() for name in LOSS_NAMES if name in named}
    values["disc"] = d_loss.item()
    return values


def fit_x2(
    rgb: FloatArray,
    params: DualSRParams,
    ctx: RunContext,
    run_dir: Path | None = None,
    stage: str = "fitting",
    snapshots: tuple[int, ...] = (),
) -> Job[FitResult]:
    """Fit DualSR's x2 upsampler on ``rgb`` (float32 (H, W, 3) in [0, 1]).

    Parameters
    ----------
    rgb
        The photo; it is its own training data.
    params
        The fit's settings (a profile or a variant).
    ctx
        Device and seed.
    run_dir
        Where artefacts go (kernel, losses, params, weights, status); nothing is
        written when None.
    stage
        The Progress stage name (x4 runs two fits).
    snapshots
        Iterations after which the whole image is upscaled and yielded as a
        Preview labelled "snapshot" (for benchmarks tracing quality over a fit).

    Returns
    -------
    FitResult
        Via ``StopIteration.value``: the upsampler, ready for the tiled pass.
    """
    dev = devices.pick(str(ctx.device))
    seed = ctx.seed if params.seed is None else params.seed
    devices.seed_all(seed)
    c = crop_size(rgb.shape[0], rgb.shape[1], params)
    img = sampler.prepare(rgb, params.border_cut, keep=2 * c)
    c = crop_size(img.shape[0], img.shape[1], params)
    if c != params.lr_crop:
        yield Message(
            f"small image: training on {c}px LR crops instead of {params.lr_crop}px",
            "warning",
        )
    # On a GPU the image moves there once; crops are then cut on the device.
    plan = sampler.plan(img, c, params.iters * params.batch, seed).on(dev)
    nets = _Nets(params, dev, c)
    _start_folder(run_dir, params, c, seed)  # makes the folder the log goes in
    reports = _Reports(rgb, nets, run_dir, stage, snapshots)
    plateau = _Plateau(params.patience, params.min_iters)
    guard_at = guard.stop_iteration(params)
    stopped_early = False
    it = 0
    try:
        yield reports.clock.progress(0)
        for it in range(params.iters):
            x, y = plan.batch(it, params.batch)
            x = x.to(dev).contiguous(memory_format=nets.fmt)
            y = y.to(dev).contiguous(memory_format=nets.fmt)
            named, k, fake_lr = nets.g_step(x, y)
            # A cancellation point between the two halves of a step: on a
            # slow machine one half takes seconds, and Stop must not wait.
            yield reports.clock.progress(it)
            if ctx.finishing():
                it -= 1  # this iteration's D step never ran
                break
            d_loss = nets.d_step(x, fake_lr)
            done = it + 1
            nets.after_step(done, named["bicubic_prior"])
            yield from reports.after_step(done, named, d_loss, k)
            why = _why_stop(rgb, k, named, reports, plateau, guard_at, done)
            if why:
                stopped_early = True
                yield Message(why)
                if not reports.logs_losses(done):  # the log ends where the fit did
                    yield reports.losses(done, named, d_loss)
                    yield reports.clock.progress(done)  # shown with those losses
                break
            if ctx.finishing():
                break
        if ctx.finishing():
            stopped_early = True
            yield Message(
                f"stopped at iteration {it + 1}: upscaling with what the fit "
                "has learnt so far"
            )
        result = _finish(nets, it + 1, c, stopped_early, run_dir, reports)
        yield Kernel(result.iters_done, result.kernel)
        if result.blend < 1.0:
            yield Message(guard.verdict(result.signals, result.blend, params))
        return result
    except GeneratorExit:
        if run_dir is not None:
            artefacts.write_status(run_dir, "cancelled", iterations=it)
        raise
    except BaseException as exc:
        if run_dir is not None:
            artefacts.write_status(run_dir, "failed", error=str(exc))
        raise
    finally:
        reports.log.close()


def _why_stop(
    rgb: FloatArray,
    k: torch.Tensor,
    named: dict[str, torch.Tensor],
    reports: _Reports,
    plateau: _Plateau,
    guard_at: int | None,
    done: int,
) -> str:
    """Why the fit ends after iteration ``done`` (for the log), or "" to go on.

    The plateau rule (``early_stop``) and the guard's half-way look at its
    signal on the kernel so far.
    """
    params = reports.nets.p
    if params.early_stop and plateau.stop(done, _cycle(named)):
        return f"losses plateaued: stopping at iteration {done}"
    if done == guard_at:
        kernel = k.detach().float().cpu().numpy()
        value = guard.signal(params.guard_signal, rgb, kernel, list(reports.recent))
        if guard.should_stop(value, params):
            return guard.stop_verdict(value, done, params)
    return ""


class _Reports:
    """What a fit tells while it runs: losses, progress, kernel and previews.

    Losses every ``losses_every`` iterations (also to the run folder's log),
    Progress every step (the clock keeps it to a few a second), the Kernel and
    a Preview of the centre crop on their own intervals, and a whole-image
    Preview after each iteration listed in ``snapshots``.
    """

    def __init__(
        self,
        rgb: FloatArray,
        nets: _Nets,
        run_dir: Path | None,
        stage: str,
        snapshots: tuple[int, ...],
    ) -> None:
        p = nets.p
        self.rgb, self.nets, self.snapshots = rgb, nets, snapshots
        self.preview_in, self.preview_box = _preview_input(rgb, nets.dev)
        self.log = artefacts.LossLog(run_dir, LOSS_NAMES)
        #: The last logged losses (the guard reads how the game ended).
        self.recent: collections.deque[dict[str, float]] = collections.deque(maxlen=10)
        self.clock = Clock(p.iters, stage)
        self.kernel_clock = Clock(0, "", every_s=p.kernel_every_s)
        self.preview_clock = Clock(0, "", every_s=p.preview_every_s)
        self.preview_clock.due()  # the first preview after one interval, not at 0

    def logs_losses(self, done: int) -> bool:
        """True when iteration ``done``'s losses are logged in the normal run."""
        p = self.nets.p
        return done % p.losses_every == 0 or done == p.iters

    def losses(
        self, done: int, named: dict[str, torch.Tensor], d_loss: torch.Tensor
    ) -> Losses:
        """Log iteration ``done``'s losses and return their event.

        Raises
        ------
        FloatingPointError
            When a loss is not finite (the fit diverged).
        """
        values = _loss_values(named, d_loss)
        if not all(math.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"DualSR diverged at iteration {done}: {values}")
        self.log.add(done, values)
        self.recent.append(values)
        return Losses(done, values)

    def after_step(
        self,
        done: int,
        named: dict[str, torch.Tensor],
        d_loss: torch.Tensor,
        k: torch.Tensor,
    ) -> Iterator[Event]:
        """The events due after iteration ``done``.

        Raises
        ------
        FloatingPointError
            When a reported loss is not finite (the fit diverged).
        """
        nets = self.nets
        if self.logs_losses(done):
            yield self.losses(done, named, d_loss)
        yield self.clock.progress(done)
        if self.kernel_clock.due():
            yield Kernel(done, k.detach().float().cpu().numpy())
        if self.preview_clock.due():
            with torch.inference_mode(), nets.amp():
                shown = nets.shown(self.preview_in)
            yield Preview(done, _to_image(shown), "centre crop", self.preview_box)
        if done in self.snapshots:
            with torch.inference_mode():
                full = nets.shown(_to_tensor(self.rgb, nets.dev, nets.fmt))
            whole = (0.0, 0.0, float(self.rgb.shape[1]), float(self.rgb.shape[0]))
            yield Preview(done, _to_image(full), "snapshot", whole)


def _finish(
    nets: _Nets,
    iters_done: int,
    crop: int,
    stopped_early: bool,
    run_dir: Path | None,
    reports: _Reports,
) -> FitResult:
    """The fit's result, guarded if asked; weights and kernel in the run folder."""
    kernel = nets.g_dn.composed_kernel().detach().float().cpu().numpy()
    final = nets.shown
    final.eval()
    signals = {}
    if nets.p.guard != "off":
        # The whole photo, as the guard's benchmark scores it.
        signals = guard.signals(reports.rgb, kernel, list(reports.recent))
    blend = guard.blend_weight(signals, nets.p)
    if run_dir is not None:
        artefacts.write_kernel(run_dir, kernel)
        states = {"g_up": final.state_dict(), "g_dn": nets.g_dn.state_dict()}
        artefacts.write_weights(run_dir, states, blend=blend)
        artefacts.write_status(
            run_dir,
            "done",
            iterations=iters_done,
            stopped_early=stopped_early,
            blend=blend,
            signals=signals,
        )
    return FitResult(
        upsampler=guard.Blended(final, blend) if blend < 1.0 else final,
        kernel=kernel,
        iters_done=iters_done,
        lr_crop=crop,
        stopped_early=stopped_early,
        device=nets.dev,
        channels_last=nets.p.channels_last,
        signals=signals,
        blend=blend,
    )


def needs(params: DualSRParams, passes: int = 1) -> TilingNeeds:
    """What the upsampler asks of the tiled pass.

    About four live ``up_width``-channel float32 maps at output resolution; the
    overlap grows with the passes because a composed x4 sees further.
    """
    return TilingNeeds(
        overlap=16 + 8 * (passes - 1),
        bytes_per_out_pixel=params.up_width * 4 * 4,
        channels_last=params.channels_last,
        bf16=params.bf16,
    )


__all__ = [
    "LOSS_NAMES",
    "FitResult",
    "InputTooSmallError",
    "crop_size",
    "fit_x2",
    "needs",
]
