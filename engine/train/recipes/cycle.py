"""The LR CycleGAN shared by CycleSR (c) and CSR-GAN (d).

Domain X is clean (bicubic) LR, domain Y is real LR. G: X -> Y makes real-like
LR, F: Y -> X the reverse. LSGAN, cycle L1 both ways, identity L1, image pools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from engine.nets.cyclegan import ResnetGenerator
from engine.nets.discriminators import PatchD, PatchSpec
from engine.nets.translator import LRTranslator, TranslatorSpec, draw_noise
from engine.train.data import Batch
from engine.train.gradients import set_requires_grad
from engine.train.image_pool import ImagePool
from engine.train.losses import GANLoss, lowpass_l1, pixel
from engine.train.recipes.recipe import Session, scalar


@dataclass(frozen=True)
class CycleSpec:
    """The CycleGAN part of a recipe.

    Attributes
    ----------
    translator : TranslatorSpec
        G and F when ``resnet_blocks`` is 0 (the CPU default: starts as identity).
    resnet_ngf, resnet_blocks : int
        Use the faithful CycleGAN ResnetGenerator when ``resnet_blocks > 0``.
    d : PatchSpec
        D_X and D_Y.
    w_cyc : float
        Cycle weight (both directions).
    w_idt : float
        Identity weight (CycleGAN's 0.5 x 10).
    pool : int
        Image-pool size for the D inputs.
    lr : float
        Adam rate of G, F and the Ds (beta1 0.5).
    noise : bool
        G (clean -> real) also takes a noise map z, like Maeda's G_YX
        (LRTranslator only), so it can make noise instead of hiding it.
    real_low_sigma : float
        When > 0, the terms that compare G's output with a real photo (the
        real -> clean -> real cycle and G's identity) compare only the
        Gaussian low bands (sigma in LR px). Not in the paper: a real photo's
        noise cannot be rebuilt from its clean version, and asking for it
        teaches G to make none.
    w_low : float
        Weight of a low-band L1 that holds G's and F's output colour and
        brightness to their input's (:func:`~engine.train.losses.lowpass_l1`,
        Maeda's ``w_low``). Not in the paper: with high-pass Ds nothing else
        stops the translators from tinting, which the SR net then learns to
        undo on photos that have no tint (docs/benchmarks.md).
    low_sigma : float
        Gaussian sigma (LR px) of that low band.
    """

    translator: TranslatorSpec = field(
        default_factory=lambda: TranslatorSpec(nf=32, nb=4)
    )
    resnet_ngf: int = 64
    resnet_blocks: int = 0
    d: PatchSpec = field(
        default_factory=lambda: PatchSpec(ndf=32, strides=(2, 2, 1), highpass=1.0)
    )
    w_cyc: float = 10.0
    w_idt: float = 5.0
    pool: int = 50
    lr: float = 2e-4
    noise: bool = False
    real_low_sigma: float = 0.0
    w_low: float = 0.0
    low_sigma: float = 2.0


PAPER_CYCLE = CycleSpec(
    resnet_ngf=64,
    resnet_blocks=9,
    d=PatchSpec(ndf=64, strides=(2, 2, 2, 1), norm="instance"),
)


def translator(spec: CycleSpec, noise: bool = False) -> torch.nn.Module:
    """G or F as the spec says; ``noise`` gives the LRTranslator a z input."""
    if spec.resnet_blocks > 0:
        return ResnetGenerator(spec.resnet_ngf, spec.resnet_blocks)
    return LRTranslator(spec.translator, noise_ch=1 if noise else 0)


def make_real(
    g: torch.nn.Module, x: torch.Tensor, gen: torch.Generator | None = None
) -> torch.Tensor:
    """G(x), drawing G's noise map when it takes one (previews, probes)."""
    inner = getattr(g, "module", g)  # unwrap DistributedDataParallel
    if isinstance(inner, LRTranslator) and inner.noise_ch:
        out: torch.Tensor = g(x, draw_noise(inner.spec, x, gen))
        return out
    out = g(x)
    return out


class CycleGANPart:
    """Adds G, F, D_X, D_Y and their optimisers to ``session`` and steps them."""

    def __init__(self, session: Session, spec: CycleSpec) -> None:
        self.s, self.spec = session, spec
        session.add_net("G", translator(spec, spec.noise))
        session.add_net("F", translator(spec))
        session.add_net("D_X", PatchD(spec.d))
        session.add_net("D_Y", PatchD(spec.d))
        session.add_optim("GF", ("G", "F"), spec.lr, (0.5, 0.999))
        session.add_optim("D_cyc", ("D_X", "D_Y"), spec.lr, (0.5, 0.999))
        self.pool_x, self.pool_y = ImagePool(spec.pool), ImagePool(spec.pool)
        self.gan = GANLoss("lsgan")

    def d_step(
        self, batch: Batch, x_bic: torch.Tensor
    ) -> tuple[dict[str, float], torch.Tensor]:
        """Update D_X and D_Y on pooled, detached fakes; return losses and G(x_bic).

        G(x_bic) keeps its graph, so :meth:`g_losses` (and CycleSR's SR term)
        can reuse it.
        """
        n = self.s.nets
        real_y = batch.x
        ds = [n["D_X"], n["D_Y"]]
        fake_y = self.g(x_bic, batch)
        with torch.no_grad():
            fake_x = n["F"](real_y)
        set_requires_grad(ds, True)
        py = self.pool_y.query(fake_y.detach(), self.s.g)
        px = self.pool_x.query(fake_x, self.s.g)
        d_y = 0.5 * (self.gan(n["D_Y"](real_y), True) + self.gan(n["D_Y"](py), False))
        d_x = 0.5 * (self.gan(n["D_X"](x_bic), True) + self.gan(n["D_X"](px), False))
        self.s.backward_step(d_x + d_y, "D_cyc")
        return {"D_X": scalar(d_x), "D_Y": scalar(d_y)}, fake_y

    def g_losses(
        self, batch: Batch, x_bic: torch.Tensor, fake_y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The G/F objective (Ds frozen); the caller adds terms and steps "GF"."""
        n, sp = self.s.nets, self.spec
        real_y = batch.x
        set_requires_grad([n["D_X"], n["D_Y"]], False)
        fake_x = n["F"](real_y)
        adv = self.gan(n["D_Y"](fake_y), True) + self.gan(n["D_X"](fake_x), True)
        cyc = pixel(n["F"](fake_y), x_bic) + self._vs_real(
            self.g(fake_x, batch), real_y
        )
        idt = self._vs_real(self.g(real_y, batch), real_y) + pixel(n["F"](x_bic), x_bic)
        total = adv + sp.w_cyc * cyc + sp.w_idt * idt
        logs = {"adv_GF": scalar(adv), "cycle": scalar(cyc), "identity": scalar(idt)}
        if sp.w_low:
            low = lowpass_l1(fake_y, x_bic, sp.low_sigma) + lowpass_l1(
                fake_x, real_y, sp.low_sigma
            )
            total = total + sp.w_low * low
            logs["low_band"] = scalar(low)
        return total, logs

    def g(self, x: torch.Tensor, batch: Batch) -> torch.Tensor:
        """G(x), with the batch's noise map when G takes one."""
        if self.spec.noise:
            t = self.spec.translator
            z = batch.z if t.noise_scale == 4 else draw_noise(t, x, self.s.g)
            out: torch.Tensor = self.s.nets["G"](x, z)
            return out
        out = self.s.nets["G"](x)
        return out

    def _vs_real(self, out: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if self.spec.real_low_sigma > 0:
            return lowpass_l1(out, real, self.spec.real_low_sigma)
        return pixel(out, real)

    def state(self) -> dict[str, torch.Tensor]:
        """The pools, for checkpoints."""
        return {"pool_x": self.pool_x.state(), "pool_y": self.pool_y.state()}

    def load(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore :meth:`state`."""
        if "pool_x" in state:
            self.pool_x.load(state["pool_x"])
            self.pool_y.load(state["pool_y"])


__all__ = ["PAPER_CYCLE", "CycleGANPart", "CycleSpec", "make_real", "translator"]
