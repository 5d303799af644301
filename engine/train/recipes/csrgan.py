"""(d) Si, "Real-world-like Single Image SR Training": CSR-GAN.

Three stages, not joint: (1) an LR CycleGAN between bicubic LR and real LR;
(2) the frozen G translates the bicubic LR of every HR photo once (kept in
memory); (3) SRResNet on those (G(x_bic), y) pairs with MSE, then SRGAN (MSE +
1e-3 vanilla GAN, + VGG when cached). Inference: G_SR(x).

``bicubic_only=True`` skips stages 1-2 and runs the same stage 3 on plain
bicubic pairs: the baseline the method must beat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.nets.discriminators import VGGStyleD
from engine.nets.sr import SRNet, SRNetSpec
from engine.train.data import Batch
from engine.train.degrade import CleanOp, clean_lr
from engine.train.gradients import set_requires_grad
from engine.train.losses import GANLoss, Perceptual, dihedral, pixel, vgg_features
from engine.train.recipes.cycle import (
    PAPER_CYCLE,
    CycleGANPart,
    CycleSpec,
    make_real,
)
from engine.train.recipes.recipe import Recipe, Session, TrainConfig, first, scalar
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler


@dataclass(frozen=True)
class CSRGANConfig(TrainConfig):
    """Settings of CSR-GAN (defaults: CPU profile).

    Attributes
    ----------
    cycle : CycleSpec
        Stage 1.
    sr : SRNetSpec
        The SRResNet generator.
    d_ndf : int
        Width of the SRGAN discriminator.
    w_adv, w_percep : float
        SRGAN's adversarial (vanilla GAN) and VGG weights; the MSE weight is 1.
    lr_sr : float
        Adam rate of the generator and its discriminator.
    stage1, stage3a : float
        Run fractions at which the CycleGAN and the SRResNet stages end.
    mix_bicubic : float
        Share of plain bicubic pairs in stage 3 (the report's suggestion).
    bicubic_only : bool
        Skip stages 1-2: the same SR pipeline on bicubic pairs (the baseline).
    """

    clean_op: CleanOp = "bicubic"
    cycle: CycleSpec = field(default_factory=CycleSpec)
    sr: SRNetSpec = field(default_factory=lambda: SRNetSpec("srresnet", nf=32, nb=6))
    d_ndf: int = 32
    w_adv: float = 1e-3
    w_percep: float = 1.0
    lr_sr: float = 2e-4
    stage1: float = 0.35
    stage3a: float = 0.65
    mix_bicubic: float = 0.0
    bicubic_only: bool = False


class CSRGANSession(Session):
    """One run of CSR-GAN (or its bicubic-pairs baseline)."""

    def build(self) -> None:
        """CycleGAN part (unless bicubic-only), SRResNet and the SRGAN D."""
        c: CSRGANConfig = self.config
        if not c.bicubic_only:
            self.cyc = CycleGANPart(self, c.cycle)
        self.add_net("SR", SRNet(c.sr, self.scale))
        self.add_net("D_SR", VGGStyleD(3, c.d_ndf, c.lr_patch * self.scale))
        self.add_optim("SR", ("SR",), c.lr_sr, (0.9, 0.999))
        self.add_optim("D_SR", ("D_SR",), c.lr_sr, (0.9, 0.999))
        # SRGAN halves its rate half-way through its own stage.
        self.lr_policy = LRPolicy(milestones=((self._s3a + 1) / 2,))
        self.gan = GANLoss("vanilla")
        feats = vgg_features() if c.w_percep > 0 else None
        self.percep = Perceptual(feats).to(self.device) if feats is not None else None
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    @property
    def _s1(self) -> float:
        return 0.0 if self.config.bicubic_only else self.config.stage1

    @property
    def _s3a(self) -> float:
        c: CSRGANConfig = self.config
        if not c.bicubic_only:
            return float(c.stage3a)
        # Keep SRResNet:SRGAN in the same proportion as the full pipeline.
        return (c.stage3a - c.stage1) / (1 - c.stage1)

    def schedule(self) -> PhaseScheduler:
        """Stage 1 (CycleGAN), 3a (SRResNet, MSE), 3b (SRGAN)."""
        phases: tuple[Phase, ...] = (
            Phase("srresnet", self._s3a, ("SR",)),
            Phase("srgan", 1.0, ("D_SR", "SR")),
        )
        if not self.config.bicubic_only:
            phases = (Phase("cycle", self._s1, ("D_cyc", "GF")), *phases)
        return PhaseScheduler(phases)

    def on_phase(self, phase: Phase) -> None:
        """Stage 2: translate every HR photo's bicubic LR once, when stage 3 starts."""
        if phase.name == "cycle" or self.pairs is not None or self.data is None:
            return
        c: CSRGANConfig = self.config
        s = self.scale
        self.pairs = []
        with torch.no_grad():
            for photo in self.data.hr:
                _, h, w = photo.pixels.shape
                hr = photo.pixels[:, : h // s * s, : w // s * s]
                bic = clean_lr(hr[None].to(self.device), s, c.clean_op)
                lr = (
                    bic
                    if c.bicubic_only
                    else make_real(self.nets["G"], bic, self.g).clamp(0, 1)
                )
                self.pairs.append((lr[0].cpu(), bic[0].cpu(), hr))

    def _stage3_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        c: CSRGANConfig = self.config
        assert self.pairs is not None
        p, s, g = c.lr_patch, self.scale, self.g
        lrs, hrs = [], []
        for _ in range(c.batch):
            lr, bic, hr = self.pairs[
                int(torch.randint(0, len(self.pairs), (1,), generator=g))
            ]
            if c.mix_bicubic > 0 and float(torch.rand(1, generator=g)) < c.mix_bicubic:
                lr = bic
            i = int(torch.randint(0, lr.shape[1] - p + 1, (1,), generator=g))
            j = int(torch.randint(0, lr.shape[2] - p + 1, (1,), generator=g))
            k = int(torch.randint(0, 8, (1,), generator=g))
            lrs.append(dihedral(lr[:, i : i + p, j : j + p], k))
            hrs.append(dihedral(hr[:, i * s : (i + p) * s, j * s : (j + p) * s], k))
        return torch.stack(lrs).to(self.device), torch.stack(hrs).to(self.device)

    def train_step(self, batch: Batch, phase: Phase, frac: float) -> dict[str, float]:
        """A CycleGAN step, an SRResNet step, or an SRGAN step."""
        c: CSRGANConfig = self.config
        n = self.nets
        if phase.name == "cycle":
            logs, fake_y = self.cyc.d_step(batch, batch.y_down)
            total, g_logs = self.cyc.g_losses(batch, batch.y_down, fake_y)
            self.backward_step(total, "GF")
            return {**logs, **g_logs}
        if self.pairs is None:
            self.on_phase(phase)
        lr, hr = self._stage3_batch()
        sr = n["SR"](lr)
        mse = pixel(sr, hr, "mse")
        if phase.name == "srresnet":
            self.backward_step(mse, "SR")
            return {"sr_mse": scalar(mse)}
        set_requires_grad([n["D_SR"]], True)
        d = self.gan(n["D_SR"](hr), True) + self.gan(n["D_SR"](sr.detach()), False)
        self.backward_step(d, "D_SR")
        set_requires_grad([n["D_SR"]], False)
        adv = self.gan(n["D_SR"](sr), True)
        loss = mse + c.w_adv * adv
        if self.percep is not None:
            loss = loss + c.w_percep * self.percep(sr, hr)
        self.backward_step(loss, "SR")
        return {"sr_mse": scalar(mse), "D_SR": scalar(d), "sr_adv": scalar(adv)}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """The CycleGAN pools (the translated pairs are rebuilt on resume)."""
        return {} if self.config.bicubic_only else self.cyc.state()

    def load_extra_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore the pools."""
        if not self.config.bicubic_only:
            self.cyc.load(state)

    def previews(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Translated LR G(x_bic) and the SR of a real-LR patch."""
        out = {"real LR": first(batch.x[:1])}
        with torch.no_grad():
            if not self.config.bicubic_only:
                out["translated G(x_bic)"] = first(
                    make_real(self.nets["G"], batch.y_down[:1])
                )
            out["SR of real LR"] = first(self.nets["SR"](batch.x[:1]))
        return out


def build_inference(config: CSRGANConfig, scale: int) -> dict[str, nn.Module]:
    """Only the SRGAN generator."""
    return {"SR": SRNet(config.sr, scale)}


def infer(nets: Mapping[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """G_SR(x)."""
    out: torch.Tensor = nets["SR"](x)
    return out


PAPER = CSRGANConfig(
    batch=16,
    lr_patch=24,  # GT 96 at x4
    cycle=PAPER_CYCLE,
    sr=SRNetSpec("srresnet", nf=64, nb=16, global_skip=False),
    d_ndf=64,
    lr_sr=1e-4,
)

RECIPE = Recipe(
    name="csrgan",
    label="CSR-GAN (Si)",
    description=(
        "A frozen CycleGAN makes real-like LR from bicubic LR; SRResNet then "
        "SRGAN train on those pairs."
    ),
    profiles={"cpu": CSRGANConfig(), "paper": PAPER},
    config_type=CSRGANConfig,
    session=CSRGANSession,
    build_inference=build_inference,
    infer=infer,
    inference_path="G_SR(x)",
)

__all__ = ["PAPER", "RECIPE", "CSRGANConfig", "CSRGANSession"]
