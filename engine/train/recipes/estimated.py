"""Estimated degradation: measure the camera, then train on pairs made like it.

After Ji, Cao, Tai, Wang, Li, Huang, "Real-World Super-Resolution via Kernel
Estimation and Noise Injection" (CVPRW 2020, winner of both NTIRE 2020
real-world SR tracks). No adversarial game learns the camera: its blur kernels
are measured on the real photos, its noise is cut from their flat regions and
its JPEG tables are read from their files (:mod:`engine.train.pools`,
:mod:`engine.train.jpeg`). Each step degrades clean HR crops with a random
kernel, real noise and the camera's JPEG, and the SR network learns to undo
that, supervised. The pools keep being refreshed while the SR network trains.

Kernels come from the photos' spectra across scales in the CPU profile
(:mod:`engine.train.kernel_spectrum`: instant, and measured to recover known
kernels where short KernelGAN fits did not) and from KernelGAN fits of
DualSR's G_DN in the paper profile, as Ji et al. did
(:mod:`engine.train.kernel_fit`). With KernelGAN a run starts with a "kernels"
phase (fits only), then "sr"; its two small nets are per process, so in a
multi-process run every rank fits kernels of its own (they are not wrapped for
DDP) and only the SR network's gradients are shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.nets.discriminators import PatchD, PatchSpec
from engine.nets.sr import SRNet, SRNetSpec
from engine.train import jpeg, kernel_spectrum
from engine.train.data import Batch
from engine.train.degrade import CleanOp
from engine.train.gradients import set_requires_grad
from engine.train.kernel_fit import KernelFit, KernelSpec, crop_for
from engine.train.kernel_spectrum import SpectrumSpec
from engine.train.losses import (
    Perceptual,
    PixelKind,
    pixel,
    relativistic_d,
    relativistic_g,
    vgg_features,
)
from engine.train.noise_pool import (
    NoiseCut,
    NoisePool,
    NoiseSpec,
    camera_floor,
    flat_patches,
)
from engine.train.pools import KernelPool
from engine.train.pools import synthesise as make_lr
from engine.train.previews import kernel_tiles, mosaic, noise_tiles, side_by_side
from engine.train.recipes.recipe import Recipe, Session, TrainConfig, first, scalar
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler


@dataclass(frozen=True)
class EstimatedConfig(TrainConfig):
    """Settings of the estimated-degradation method (defaults: CPU profile).

    Attributes
    ----------
    sr : SRNetSpec
        The SR network; the CPU profile uses the bicubic-pairs baseline's, so
        the comparison isolates the degradation.
    loss : str
        Pixel loss.
    w_pixel, w_percep, w_adv : float
        Weights of the pixel, VGG perceptual (when its weights are on disk) and
        relativistic adversarial losses; the CPU profile is pixel only.
    d : PatchSpec
        The patch discriminator on HR crops (only when ``w_adv`` > 0).
    lr : float
        Adam rate of the SR network (and of D), multiplied by 0.5 at
        ``milestones``.
    milestones : tuple of float
        Run fractions at which the rate halves.
    kernel : KernelSpec
        How kernels are measured (spectrum or KernelGAN) and pooled.
    spectrum : SpectrumSpec
        The spectrum estimator's settings.
    noise : NoiseSpec
        How noise patches are cut and pooled.
    jpeg : bool
        Compress the training LR with the real photos' JPEG tables where they
        are JPEG files.
    """

    clean_op: CleanOp = "bicubic"
    sr: SRNetSpec = field(default_factory=SRNetSpec)
    loss: PixelKind = "l1"
    w_pixel: float = 1.0
    w_percep: float = 0.0
    w_adv: float = 0.0
    d: PatchSpec = field(default_factory=lambda: PatchSpec(64, (2, 2, 2, 1)))
    lr: float = 2e-4
    milestones: tuple[float, ...] = (0.6, 0.85)
    kernel: KernelSpec = field(default_factory=KernelSpec)
    spectrum: SpectrumSpec = field(default_factory=SpectrumSpec)
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    jpeg: bool = True


class EstimatedSession(Session):
    """One run: kernel fits and noise harvests, then SR on synthesised pairs."""

    def build(self) -> None:
        """The SR net (first, so it starts like the baseline's), D, the fit."""
        c: EstimatedConfig = self.config
        self.add_net("SR", SRNet(c.sr, self.scale))
        self.add_optim("SR", ("SR",), c.lr, (0.9, 0.999))
        if c.w_adv > 0:
            self.add_net("D", PatchD(c.d))
            self.add_optim("D", ("D",), c.lr, (0.9, 0.999))
        self.lr_policy = LRPolicy(c.milestones)
        feats = vgg_features() if c.w_percep > 0 else None
        self.percep = Perceptual(feats).to(self.device) if feats is not None else None
        self.fit: KernelFit | None = None
        if c.kernel.estimator == "kernelgan":
            self.fit = KernelFit(c.kernel, self.device)
            # Registered without the DDP wrap: each rank fits kernels of its own.
            self.nets["K_G"], self.nets["K_D"] = self.fit.g_dn, self.fit.d
            self.add_optim("K_G", ("K_G",), c.kernel.lr, (0.5, 0.999))
            self.add_optim("K_D", ("K_D",), c.kernel.lr, (0.5, 0.999))
        self.kernels = KernelPool(c.kernel.pool)
        self.noise = NoisePool(c.noise)
        self.settings: tuple[jpeg.JpegSetting, ...] = ()
        self.order = torch.empty(0, dtype=torch.long)
        self.steps = 0
        self._started = False  # the first harvest is done (or restored)
        self._read = False  # the photos' JPEG settings and tiles (per process)
        self._tiles: list[torch.Tensor] = []
        self._floor: float | None = None  # the camera's noise floor
        self._camera_cov: torch.Tensor | None = None  # its kernel, all photos

    # -- the camera -------------------------------------------------------
    def _fittable(self) -> list[int]:
        if self.data is None or self.config.kernel.estimator != "kernelgan":
            return []
        return [
            i
            for i, p in enumerate(self.data.real_lr)
            if crop_for(p.pixels, self.config.kernel)
        ]

    def _prepare(self) -> None:
        """Read the photos once per process; on a fresh run, fill the pools."""
        if self.data is None:
            return
        c: EstimatedConfig = self.config
        if not self._read:
            self._read = True
            photos = self.data.real_lr
            if c.jpeg:
                found = {jpeg.read_setting(p.path) for p in photos}
                self.settings = tuple(
                    sorted(
                        (s for s in found if s),
                        key=lambda s: (s.quality, s.subsampling, s.tables),
                    )
                )
            if c.kernel.estimator == "spectrum":
                spec = c.spectrum
                self._tiles = [
                    kernel_spectrum.textured_tiles(p.pixels, spec) for p in photos
                ]
                self._camera_cov = kernel_spectrum.measure(self._tiles, spec)
            self._floor = camera_floor([p.pixels for p in photos], c.noise)
        if self._started:
            return
        self._started = True
        cuts = [
            flat_patches(p.pixels, c.noise, floor=self._floor)
            for p in self.data.real_lr
        ]
        patches = torch.cat([cut.patches for cut in cuts])
        levels = torch.cat([cut.levels for cut in cuts])
        # Shuffled, so a pool smaller than the harvest holds every photo's noise.
        mix = torch.randperm(len(patches), generator=self.g)
        looked = sum(cut.looked_at for cut in cuts)
        self.noise.add(NoiseCut(patches[mix], levels[mix], looked))
        fittable = torch.tensor(self._fittable(), dtype=torch.long)
        self.order = fittable[torch.randperm(len(fittable), generator=self.g)]
        if self._camera_cov is not None:
            # The camera's kernel from every photo, then the variation of subsets.
            self.kernels.add(kernel_spectrum.gaussian(self._camera_cov))
            for _ in range(c.kernel.pool - 1):
                self._spectrum_kernel()
        self.notes.extend(self._describe())

    def _describe(self) -> list[str]:
        """What was measured on the photos, in words for the log."""
        c: EstimatedConfig = self.config
        out = []
        if self._camera_cov is not None:
            sy, sx = (float(v) ** 0.5 for v in torch.diagonal(self._camera_cov))
            out.append(
                f"camera blur from the photos' spectra: about {sy:.2f} x {sx:.2f} "
                f"px (HR); {len(self.kernels.kernels)} kernels in the pool"
            )
        elif c.kernel.estimator == "spectrum":
            out.append("no photo is big enough to measure the blur: bicubic kernel")
        pool = self.noise
        spread = float(pool.patches.std()) * 255 if len(pool.patches) else 0.0
        out.append(
            f"camera noise: {pool.found} flat patches of {pool.seen} looked at "
            f"(spread {spread:.1f}/255)"
        )
        if self.settings:
            q = ", ".join(str(s.quality) for s in self.settings)
            out.append(f"camera JPEG: the photos' tables (IJG quality about {q})")
        elif not c.jpeg:
            out.append("JPEG is off in the settings: no JPEG in the training pairs")
        else:
            out.append("the photos are not JPEG files: no JPEG in the training pairs")
        return out

    def _spectrum_kernel(self) -> None:
        """A kernel measured on a random subset of the photos, into the pool.

        A fit far from the camera's (see :func:`kernel_spectrum.plausible`) is
        left out.
        """
        if self._camera_cov is None:
            return
        n = len(self._tiles)
        k = max(1, round(self.config.spectrum.subset * n))
        pick = torch.randperm(n, generator=self.g)[:k].tolist()
        cov = kernel_spectrum.measure(
            [self._tiles[i] for i in pick], self.config.spectrum
        )
        if cov is not None and kernel_spectrum.plausible(cov, self._camera_cov):
            self.kernels.add(kernel_spectrum.gaussian(cov))

    def _refresh_noise(self) -> None:
        """Harvest one photo on a grid shifted at random, into the pool."""
        assert self.data is not None
        photos = self.data.real_lr
        i = int(torch.randint(0, len(photos), (1,), generator=self.g))
        p = self.config.noise.patch
        off = torch.randint(0, p, (2,), generator=self.g).tolist()
        offset = (off[0], off[1])
        cut = flat_patches(photos[i].pixels, self.config.noise, offset, self._floor)
        self.noise.add(cut)

    def _fit_iteration(self) -> dict[str, float]:
        """One KernelGAN iteration; a finished fit's kernel joins the pool."""
        fit = self.fit
        if fit is None or len(self.order) == 0 or self.data is None:
            return {}
        if fit.it == 0:
            fit.reset(self.g)
            for name in ("K_G", "K_D"):
                self.optims[name].state.clear()
        index = int(self.order[fit.fits % len(self.order)])
        x, y = fit.crops(index, self.data.real_lr[index].pixels, self.g)
        for name, f in (("K_G", 1.0), ("K_D", fit.spec.d_lr_factor)):
            for group in self.optims[name].param_groups:
                group["lr"] = fit.rate() * f
        g_loss, fake, reg = fit.g_loss(y)
        self.backward_step(g_loss, "K_G")
        d_loss = fit.d_loss(x, fake)
        self.backward_step(d_loss, "K_D")
        fit.it += 1
        if fit.it >= fit.spec.iters:
            self.kernels.add(fit.kernel())
            fit.fits, fit.it = fit.fits + 1, 0
        return {
            "k_gan": scalar(g_loss) - fit.spec.w_reg * reg,
            "k_prior": reg,
            "k_disc": scalar(d_loss),
        }

    # -- the recipe's part ------------------------------------------------
    def schedule(self) -> PhaseScheduler:
        """KernelGAN fits alone, then SR; only SR for spectrum kernels (instant)."""
        c: EstimatedConfig = self.config
        sr = Phase("sr", 1.0, ("SR", "D") if c.w_adv > 0 else ("SR",))
        kernelgan = c.kernel.estimator == "kernelgan"
        if not kernelgan or (self.data is not None and not self._fittable()):
            return PhaseScheduler((sr,))
        return PhaseScheduler((Phase("kernels", c.kernel.phase, ("K_G", "K_D")), sr))

    def train_step(self, batch: Batch, phase: Phase, frac: float) -> dict[str, float]:
        """Fit iterations only; or an SR step, refreshing the pools now and then."""
        c: EstimatedConfig = self.config
        self._prepare()
        self.steps += 1
        if phase.name == "kernels":
            out: dict[str, float] = {}
            for _ in range(c.kernel.warm_iters):
                out = self._fit_iteration()
            return out
        logs: dict[str, float] = {}
        if c.kernel.refresh_every and self.steps % c.kernel.refresh_every == 0:
            if c.kernel.estimator == "kernelgan":
                logs = self._fit_iteration()
            else:
                self._spectrum_kernel()
        if c.noise.refresh_every and self.steps % c.noise.refresh_every == 0:
            self._refresh_noise()
        lr = make_lr(
            batch.y, self.kernels, self.noise, self.settings, self.scale, self.g
        ).to(self.device)
        return {**self._sr_step(lr, batch.y.to(self.device)), **logs}

    def _sr_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """Pixel (+ perceptual, + relativistic GAN) loss on one synthesised batch."""
        c: EstimatedConfig = self.config
        n = self.nets
        sr = n["SR"](lr)
        pix = pixel(sr, hr, c.loss)
        logs = {"sr_pixel": scalar(pix)}
        loss = c.w_pixel * pix
        if self.percep is not None:
            loss = loss + c.w_percep * self.percep(sr, hr)
        if c.w_adv > 0:
            set_requires_grad([n["D"]], False)
            adv = relativistic_g(n["D"](hr), n["D"](sr))
            set_requires_grad([n["D"]], True)
            loss = loss + c.w_adv * adv
            logs["sr_adv"] = scalar(adv)
        self.backward_step(loss, "SR")
        if c.w_adv > 0:
            d = relativistic_d(n["D"](hr), n["D"](sr.detach()))
            self.backward_step(d, "D")
            logs["D"] = scalar(d)
        return logs

    def previews(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The kernel pool, noise patches, a synthesised LR beside a real one, SR."""
        # A generator of its own: previews come on a timer, and must not move
        # the run's draws (a resumed run replays them exactly).
        g = torch.Generator().manual_seed(self.steps)
        out: dict[str, torch.Tensor] = {}
        ks = self.kernels.kernels
        if len(ks):
            out[f"estimated kernels ({len(ks)} in the pool)"] = mosaic(
                kernel_tiles(ks[:16]), zoom=6
            )
        if len(self.noise.patches):
            pick = torch.randperm(len(self.noise.patches), generator=g)[:16]
            label = (
                f"noise patches ({len(self.noise.patches)} in the pool; "
                f"{self.noise.found} of {self.noise.seen} patches were flat)"
            )
            out[label] = mosaic(noise_tiles(self.noise.patches[pick]), zoom=4)
        fake = make_lr(
            batch.y[:1], self.kernels, self.noise, self.settings, self.scale, g
        )
        out["synthesised LR | real LR"] = side_by_side(first(fake), first(batch.x[:1]))
        with torch.no_grad():
            out["SR of real LR"] = first(self.nets["SR"](batch.x[:1]))
        return out

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Both pools, the fit's progress and the fit order."""
        return {
            **{f"kernels.{k}": v for k, v in self.kernels.state().items()},
            **{f"noise.{k}": v for k, v in self.noise.state().items()},
            "order": self.order.clone(),
            "progress": torch.tensor(
                [
                    self.fit.fits if self.fit else 0,
                    self.fit.it if self.fit else 0,
                    self.steps,
                    int(self._started),
                ]
            ),
        }

    def load_extra_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore :meth:`extra_state`."""
        self.kernels.load(
            {k[8:]: v for k, v in state.items() if k.startswith("kernels.")}
        )
        self.noise.load({k[6:]: v for k, v in state.items() if k.startswith("noise.")})
        self.order = state["order"].clone()
        fits, it, steps, started = (int(v) for v in state["progress"])
        if self.fit is not None:
            self.fit.fits, self.fit.it = fits, it
        self.steps = steps
        self._started = bool(started)


def build_inference(config: EstimatedConfig, scale: int) -> dict[str, nn.Module]:
    """Only the SR network."""
    return {"SR": SRNet(config.sr, scale)}


def infer(nets: Mapping[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """SR(x)."""
    out: torch.Tensor = nets["SR"](x)
    return out


#: Ji et al.'s training: an ESRGAN generator, L1 0.01 + perceptual 1 +
#: relativistic GAN 0.005 with a patch discriminator; KernelGAN's own fit.
PAPER = EstimatedConfig(
    batch=16,
    lr_patch=32,
    sr=SRNetSpec("rrdb", nf=64, nb=23, global_skip=False),
    w_pixel=0.01,
    w_percep=1.0,
    w_adv=0.005,
    lr=1e-4,
    milestones=(0.125, 0.25, 0.5, 0.75),
    kernel=KernelSpec(
        estimator="kernelgan",
        iters=3000,
        d_width=64,
        d_blocks=5,
        pool=64,
        phase=0.02,
        warm_iters=16,
        refresh_every=4,
    ),
    noise=NoiseSpec(patch=32, capacity=4096),
)

RECIPE = Recipe(
    name="estimated",
    label="Estimated degradation (Ji et al.)",
    description=(
        "Measures the camera's blur kernels, noise and JPEG on its photos, then "
        "trains the SR network on clean photos degraded the same way."
    ),
    profiles={"cpu": EstimatedConfig(), "paper": PAPER},
    config_type=EstimatedConfig,
    session=EstimatedSession,
    build_inference=build_inference,
    infer=infer,
    inference_path="SR(x)",
)

__all__ = ["PAPER", "RECIPE", "EstimatedConfig", "EstimatedSession"]
