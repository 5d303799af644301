"""(b) Wang et al., "Unsupervised Real-World SR: A Domain Adaptation Perspective".

ICCV 2021.

Source domain: synthetic pairs (x_s = clean_lr(y_s), y_s). Target domain: real LR
x_t. A shared encoder E (the head of an SRNet) must make both LR domains look
alike to a feature discriminator D_f; G_SR (the rest of the SRNet) decodes to HR;
G_t decodes features to target-style LR, which gives a pseudo pair
(G_t(E(x_s)), y_s) for the cycle term. Inference: G_SR(E(x)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.nets.discriminators import PatchD, PatchSpec
from engine.nets.sr import SRNet, SRNetSpec
from engine.nets.translator import LRTranslator, TranslatorSpec
from engine.train.data import Batch
from engine.train.degrade import CleanOp
from engine.train.gradients import set_requires_grad
from engine.train.losses import GANLoss, Perceptual, pixel, vgg_features
from engine.train.recipes.recipe import Recipe, Session, TrainConfig, first, scalar
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler


@dataclass(frozen=True)
class DAConfig(TrainConfig):
    """Settings of the domain-adaptation method (defaults: CPU profile).

    Attributes
    ----------
    sr : SRNetSpec
        The SR net; its first ``split`` blocks (and head) are E, the rest G_SR.
    g_t : TranslatorSpec
        The target-style LR decoder (features -> LR image).
    d_f, d_t, d_sr : PatchSpec
        Feature, target-LR and HR discriminators.
    w_align, w_rec, w_res, w_sty, w_idt, w_cyc : float
        Loss weights (see the spec, section 2).
    w_inner_adv : float
        Weight of the D_SR term inside the reconstruction and cycle losses.
    w_percep : float
        VGG perceptual weight inside them (0 when VGG19 weights are absent).
    idt_detach : bool
        Detach E(x_s) as the identity target (USR_DA does not).
    n_gen : int
        Generator updates per iteration.
    lr : float
        Adam rate, halved at ``milestones``.
    amsgrad : bool
        Use AMSGrad (USR_DA does).
    """

    clean_op: CleanOp = "bicubic"
    sr: SRNetSpec = field(default_factory=lambda: SRNetSpec(nf=32, nb=6, split=2))
    g_t: TranslatorSpec = field(
        default_factory=lambda: TranslatorSpec(
            nf=32, nb=2, zero_tail=False, global_skip=False
        )
    )
    d_f: PatchSpec = field(default_factory=lambda: PatchSpec(ndf=32, strides=(1, 1, 1)))
    d_t: PatchSpec = field(
        default_factory=lambda: PatchSpec(ndf=32, strides=(2, 1, 1), highpass=1.0)
    )
    d_sr: PatchSpec = field(
        default_factory=lambda: PatchSpec(ndf=32, strides=(2, 2, 1, 1))
    )
    w_align: float = 0.01
    w_rec: float = 1.0
    w_res: float = 1.0
    w_sty: float = 0.01
    w_idt: float = 0.01
    w_cyc: float = 1.0
    w_inner_adv: float = 0.005
    w_percep: float = 0.0
    idt_detach: bool = False
    n_gen: int = 1
    lr: float = 2e-4
    amsgrad: bool = False
    milestones: tuple[float, ...] = (0.6, 0.85)


class DASession(Session):
    """One run of the domain-adaptation method."""

    def build(self) -> None:
        """SRNet (E + G_SR), G_t, three Ds; one Adam for generators, one for Ds."""
        c: DAConfig = self.config
        self.add_net("SR", SRNet(c.sr, self.scale))
        self.add_net("G_t", LRTranslator(c.g_t, in_ch=c.sr.nf, out_ch=3))
        self.add_net("D_f", PatchD(c.d_f, in_ch=c.sr.nf))
        self.add_net("D_t", PatchD(c.d_t))
        self.add_net("D_SR", PatchD(c.d_sr))
        self.add_optim("G", ("SR", "G_t"), c.lr, (0.9, 0.99), c.amsgrad)
        self.add_optim("D", ("D_f", "D_t", "D_SR"), c.lr, (0.9, 0.99), c.amsgrad)
        self.lr_policy = LRPolicy(c.milestones)
        self.gan = GANLoss("lsgan")
        feats = vgg_features() if c.w_percep > 0 else None
        self.percep = Perceptual(feats).to(self.device) if feats is not None else None

    @property
    def _sr(self) -> SRNet:
        net = self.nets["SR"]
        inner = getattr(net, "module", net)  # unwrap DistributedDataParallel
        assert isinstance(inner, SRNet)
        return inner

    def schedule(self) -> PhaseScheduler:
        """One phase: Ds then generators every step."""
        return PhaseScheduler((Phase("joint", 1.0, ("D", "G")),))

    def _sr_terms(self, sr: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c: DAConfig = self.config
        loss = pixel(sr, y) + c.w_inner_adv * self.gan(self.nets["D_SR"](sr), True)
        if self.percep is not None:
            loss = loss + c.w_percep * self.percep(sr, y)
        return loss

    def train_step(self, batch: Batch, phase: Phase, frac: float) -> dict[str, float]:
        """D_f / D_t / D_SR, then E + G_SR + G_t (``n_gen`` times)."""
        c: DAConfig = self.config
        n, sr = self.nets, self._sr
        x_s, y_s, x_t = batch.y_down, batch.y, batch.x
        ds = [n["D_f"], n["D_t"], n["D_SR"]]
        with torch.no_grad():
            f_s, f_t = sr.encode(x_s), sr.encode(x_t)
            x_st = n["G_t"](f_s)
            sr_s = sr.decode(f_s, x_s)
            sr_st = n["SR"](x_st)
        set_requires_grad(ds, True)
        d_f = 0.5 * (self.gan(n["D_f"](f_s), True) + self.gan(n["D_f"](f_t), False))
        d_t = 0.5 * (self.gan(n["D_t"](x_t), True) + self.gan(n["D_t"](x_st), False))
        d_sr = 0.5 * self.gan(n["D_SR"](y_s), True) + 0.25 * (
            self.gan(n["D_SR"](sr_s), False) + self.gan(n["D_SR"](sr_st), False)
        )
        self.backward_step(d_f + d_t + d_sr, "D")
        d_f_s, d_f_t = scalar(n["D_f"](f_s).mean()), scalar(n["D_f"](f_t).mean())

        set_requires_grad(ds, False)
        for _ in range(c.n_gen):
            f_s, f_t = sr.encode(x_s), sr.encode(x_t)
            align = self.gan(n["D_f"](f_s), True, target=0.5) + self.gan(
                n["D_f"](f_t), False, target=0.5
            )
            rec = self._sr_terms(sr.decode(f_s, x_s), y_s)
            res = pixel(n["G_t"](f_t), x_t)
            x_st = n["G_t"](f_s)
            sty = self.gan(n["D_t"](x_st), True)
            target = f_s.detach() if c.idt_detach else f_s
            idt = pixel(sr.encode(x_st), target)
            cyc = self._sr_terms(n["SR"](x_st), y_s)
            total = (
                c.w_align * align
                + c.w_rec * rec
                + c.w_res * res
                + c.w_sty * sty
                + c.w_idt * idt
                + c.w_cyc * cyc
            )
            self.backward_step(total, "G")
        return {
            "D_f": scalar(d_f),
            "D_t": scalar(d_t),
            "D_SR": scalar(d_sr),
            "D_f(source)": d_f_s,
            "D_f(target)": d_f_t,
            "align": scalar(align),
            "rec": scalar(rec),
            "res": scalar(res),
            "style": scalar(sty),
            "idt": scalar(idt),
            "cycle": scalar(cyc),
        }

    def previews(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Target-style LR G_t(E(x_s)) next to the real and source LR."""
        with torch.no_grad():
            x_s = batch.y_down[:1]
            return {
                "source LR x_s": first(x_s),
                "target-style G_t(E(x_s))": first(
                    self.nets["G_t"](self._sr.encode(x_s))
                ),
                "real LR x_t": first(batch.x[:1]),
                "SR of real LR": first(self.nets["SR"](batch.x[:1])),
            }


def build_inference(config: DAConfig, scale: int) -> dict[str, nn.Module]:
    """E and G_SR, which are one SRNet."""
    return {"SR": SRNet(config.sr, scale)}


def infer(nets: Mapping[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """G_SR(E(x))."""
    out: torch.Tensor = nets["SR"](x)
    return out


PAPER = DAConfig(
    batch=8,
    lr_patch=128,
    sr=SRNetSpec("rrdb", nf=64, nb=23, split=0, global_skip=False),
    g_t=TranslatorSpec(nf=64, nb=10, zero_tail=False, global_skip=False),
    d_f=PatchSpec(ndf=64, strides=(1, 1, 1)),
    d_t=PatchSpec(ndf=64, strides=(2, 2, 1)),
    d_sr=PatchSpec(ndf=64, strides=(2, 2, 2, 1)),
    w_inner_adv=0.01,
    w_percep=0.01,
    n_gen=2,
    lr=1e-4,
    amsgrad=True,
    # Halve at 250k/350k/450k/550k of an assumed 600k iterations.
    milestones=(250 / 600, 350 / 600, 450 / 600, 550 / 600),
)

RECIPE = Recipe(
    name="da",
    label="Domain adaptation (Wang 2021)",
    description=(
        "Aligns real and synthetic LR in feature space and trains on "
        "target-style LR made from clean photos."
    ),
    profiles={"cpu": DAConfig(), "paper": PAPER},
    config_type=DAConfig,
    session=DASession,
    build_inference=build_inference,
    infer=infer,
    inference_path="G_SR(E(x))",
)

__all__ = ["PAPER", "RECIPE", "DAConfig", "DASession"]
