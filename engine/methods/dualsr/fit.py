"""One DualSR fit (x2) as a job: train on the image's own crops, then upscale it.

The loop follows the authors' code (specs/dualsr.md, sections 3 to 6); what the
fast profile changes is switched by fields of :class:`DualSRParams`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine import device as devices
from engine import tiling
from engine.events import FloatArray, Kernel, Losses, Message, Preview
from engine.jobs import Clock, Job
from engine.methods.base import RunContext
from engine.methods.dualsr import artefacts, losses, sampler
from engine.methods.dualsr.params import DualSRParams
from engine.methods.dualsr.schedule import LambdaLearner, lr_factors
from engine.nets.dualsr import DDn, GDn, GUp

#: Names of the losses reported in Losses events and the CSV log.
LOSS_NAMES = ("gan", "cycle_fwd", "cycle_bwd", "interp", "kernel_reg", "disc")

#: Edge of the LR region shown in Preview events (kept small: previews are free).
PREVIEW_CROP = 96


class InputTooSmallError(ValueError):
    """The image cannot hold even the smallest crops DualSR trains on."""


@dataclass(frozen=True)
class FitResult:
    """A fit's output and what it learned."""

    rgb: FloatArray
    kernel: FloatArray
    iters_done: int
    lr_crop: int
    stopped_early: bool


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


def fit_x2(
    rgb: FloatArray,
    params: DualSRParams,
    ctx: RunContext,
    run_dir: Path | None = None,
    stage: str = "fitting",
    snapshots: tuple[int, ...] = (),
) -> Job[FitResult]:
    """Fit DualSR on ``rgb`` (float32 (H, W, 3) in [0, 1]) and upscale it x2.

    Parameters
    ----------
    rgb
        The photo; it is its own training data.
    params
        The fit's settings (a profile or a variant).
    ctx
        Device, seed, memory budget for the final pass.
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
        Via ``StopIteration.value``.
    """
    dev = devices.pick(str(ctx.device))
    seed = ctx.seed if params.seed is None else params.seed
    devices.seed_all(seed)
    h0, w0 = rgb.shape[:2]
    c = crop_size(h0, w0, params)
    img = sampler.prepare(rgb, params.border_cut, keep=2 * c)
    c = crop_size(img.shape[0], img.shape[1], params)
    if c != params.lr_crop:
        yield Message(
            f"small image: training on {c}px LR crops instead of {params.lr_crop}px",
            "warning",
        )
    plan = sampler.plan(img, c, params.iters * params.batch, seed)
    up_mat = sampler.bicubic_up2_matrix(c).to(dev)

    g_up = GUp(params.up_width, params.up_depth).to(dev)
    g_dn = GDn(params.dn_width).to(dev)
    d_dn = DDn(params.d_width, paper_init=params.d_paper_init).to(dev)
    fmt = torch.channels_last if params.channels_last else torch.contiguous_format
    g_up = g_up.to(memory_format=fmt)
    d_dn = d_dn.to(memory_format=fmt)
    opt_up = torch.optim.Adam(g_up.parameters(), params.lr_up, betas=(0.5, 0.999))
    opt_dn = torch.optim.Adam(g_dn.parameters(), params.lr_dn, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d_dn.parameters(), params.lr_d, betas=(0.5, 0.999))
    learner = LambdaLearner(every=params.lambda_update_every)
    bound_mask = losses.penalty_mask(g_dn.kernel_size).to(dev)
    ema = _Ema(g_up, params.ema) if params.ema > 0 else None
    plateau = _Plateau(params.patience, params.min_iters)

    def amp() -> contextlib.AbstractContextManager[None]:
        return devices.autocast(dev, params.bf16)

    def dn(x: torch.Tensor) -> torch.Tensor:
        # G_DN stays in float32: its kernel feeds the priors and is tiny anyway.
        out: torch.Tensor = g_dn(x.float(), deep=params.deep_dn)
        return out

    out_lr = c - 6  # G_DN's output edge for a 2c crop; also D's real-crop edge
    preview_lr = sampler.prepare(rgb, 0, keep=0)
    ph, pw = preview_lr.shape[:2]
    pc = min(PREVIEW_CROP, ph, pw)
    py, px = (ph - pc) // 2, (pw - pc) // 2
    preview_in = (
        torch.from_numpy(np.ascontiguousarray(preview_lr[py : py + pc, px : px + pc]))
        .permute(2, 0, 1)[None]
        .to(dev)
    )

    log = artefacts.LossLog(run_dir, LOSS_NAMES)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        artefacts.write_status(run_dir, "running")
        artefacts.write_json(
            run_dir / artefacts.PARAMS_JSON,
            {**dataclasses.asdict(params), "lr_crop_used": c, "seed_used": seed},
        )
    clock = Clock(params.iters, stage)
    kernel_clock = Clock(0, "", every_s=params.kernel_every_s)
    preview_clock = Clock(0, "", every_s=params.preview_every_s)
    preview_clock.due()  # the first preview after one interval, not at step 0
    stopped_early = False
    it = 0
    finished = False
    try:
        yield clock.progress(0)
        for it in range(params.iters):
            x, y = plan.batch(it, params.batch)
            x = x.to(dev).contiguous(memory_format=fmt)
            y = y.to(dev).contiguous(memory_format=fmt)
            b = torch.matmul(torch.matmul(up_mat, x), up_mat.t())

            # --- G step: G_UP and G_DN from one summed loss, D frozen.
            d_dn.requires_grad_(False)
            with amp():
                fake_hr = g_up(x)
            rec_lr = dn(fake_hr)
            fake_lr = dn(y)
            with amp():
                rec_hr = g_up(fake_lr.to(memory_format=fmt))
                gan = losses.lsgan(d_dn(fake_lr.to(memory_format=fmt)).float(), True)
            cyc_f = (rec_lr - losses.center_crop(x, out_lr)).abs().mean()
            cyc_b = (rec_hr.float() - losses.center_crop(y, 2 * out_lr)).abs().mean()
            interp = losses.masked_interp(
                fake_hr.float(), b, params.mask_mean_over_mask
            )
            k = g_dn.composed_kernel()
            bic = (
                (
                    fake_lr
                    - losses.bicubic_target(
                        y, out_lr, params.bicubic_prior_sums_channels
                    )
                )
                ** 2
            ).mean()
            terms = losses.kernel_terms(k, bound_mask)
            reg = (
                learner.lb * bic
                + 0.5 * terms["sum"]
                + 0.5 * terms["bound"]
                + learner.lc * terms["cent"]
                + learner.ls * terms["sparse"]
            )
            total = (
                gan
                + params.lambda_cycle * (cyc_f + cyc_b)
                + params.lambda_interp * interp
                + params.lambda_reg * reg
            )
            opt_up.zero_grad(set_to_none=True)
            opt_dn.zero_grad(set_to_none=True)
            total.backward()
            opt_up.step()
            opt_dn.step()

            # --- D step.
            d_dn.requires_grad_(True)
            opt_d.zero_grad(set_to_none=True)
            with amp():
                real = d_dn(losses.center_crop(x, out_lr))
                fake = d_dn(fake_lr.detach().to(memory_format=fmt))
            d_loss = 0.5 * (
                losses.lsgan(real.float(), True) + losses.lsgan(fake.float(), False)
            )
            d_loss.backward()  # type: ignore[no-untyped-call]
            opt_d.step()

            done = it + 1
            if ema is not None:
                ema.update(g_up)
            learner.update(done, bic.item())
            f_up, f_dn = lr_factors(done, params.lr_step, params.dn_lr_decay)
            for group in opt_up.param_groups:
                group["lr"] = params.lr_up * f_up
            for opt, base in ((opt_dn, params.lr_dn), (opt_d, params.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = base * f_dn

            if done % params.losses_every == 0 or done == params.iters:
                values = {
                    "gan": gan.item(),
                    "cycle_fwd": cyc_f.item(),
                    "cycle_bwd": cyc_b.item(),
                    "interp": interp.item(),
                    "kernel_reg": reg.item(),
                    "disc": d_loss.item(),
                }
                if not all(math.isfinite(v) for v in values.values()):
                    raise FloatingPointError(
                        f"DualSR diverged at iteration {done}: {values}"
                    )
                log.add(done, values)
                yield Losses(done, values)
            yield clock.progress(done)
            if kernel_clock.due():
                yield Kernel(done, k.detach().float().cpu().numpy())
            if preview_clock.due():
                with torch.inference_mode(), amp():
                    shown = (ema.model if ema else g_up)(preview_in)
                yield Preview(done, _to_image(shown), "centre crop")
            if done in snapshots:
                with torch.inference_mode():
                    full = (ema.model if ema else g_up)(_to_tensor(rgb, dev, fmt))
                yield Preview(done, _to_image(full), "snapshot")
            if params.early_stop and plateau.stop(done, (cyc_f + cyc_b).item()):
                stopped_early = True
                yield Message(f"losses plateaued: stopping at iteration {done}")
                break

        iters_done = it + 1
        kernel = g_dn.composed_kernel().detach().float().cpu().numpy()
        yield Kernel(iters_done, kernel)
        final = ema.model if ema is not None else g_up
        final.eval()

        def upscale(t: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                out: torch.Tensor = final(t)
                return out.float()

        out = yield from tiling.upscale_array(
            upscale,
            rgb,
            2,
            device=dev,
            tile=ctx.tile,
            memory_mb=ctx.memory_mb,
            # ~4 live width-channel float32 maps at output resolution.
            bytes_per_out_pixel=params.up_width * 4 * 4,
            channels_last=params.channels_last,
            bf16=params.bf16,
        )
        result = FitResult(
            rgb=out,
            kernel=kernel,
            iters_done=iters_done,
            lr_crop=c,
            stopped_early=stopped_early,
        )
        if run_dir is not None:
            artefacts.write_kernel(run_dir, kernel)
            artefacts.write_weights(
                run_dir, {"g_up": final.state_dict(), "g_dn": g_dn.state_dict()}
            )
            artefacts.write_status(
                run_dir, "done", iterations=iters_done, stopped_early=stopped_early
            )
        finished = True
        return result
    except GeneratorExit:
        if run_dir is not None:
            artefacts.write_status(run_dir, "cancelled", iterations=it)
        raise
    except BaseException as exc:
        if run_dir is not None and not finished:
            artefacts.write_status(run_dir, "failed", error=str(exc))
        raise
    finally:
        log.close()


__all__ = ["LOSS_NAMES", "FitResult", "InputTooSmallError", "crop_size", "fit_x2"]
