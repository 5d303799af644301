"""(c) Han, Chen et al., CycleSR / CycleSRGAN (CVPRW 2020).

An LR CycleGAN translates bicubic LR to real-like LR; G(x_bic) paired with y
trains the SR net (the indirect supervised path). Training is joint: the SR
loss also flows through the frozen SR net into G, so G learns degradations
that help SR. Inference: SR(x); the translator is not used at test time.

Phases (fractions of the run): A "cycle" (CycleGAN only), B "sr-bicubic" (SR
warm start on bicubic pairs), C "joint". CycleSRGAN adds an HR discriminator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from engine.nets.discriminators import PatchD, PatchSpec
from engine.nets.sr import SRNet, SRNetSpec
from engine.train.data import Batch
from engine.train.degrade import CleanOp
from engine.train.gradients import set_requires_grad
from engine.train.losses import GANLoss, Perceptual, pixel, vgg_features
from engine.train.noise_trigger import NoiseTrigger
from engine.train.recipes.cycle import (
    PAPER_CYCLE,
    CycleGANPart,
    CycleSpec,
    make_real,
)
from engine.train.recipes.recipe import Recipe, Session, TrainConfig, first, scalar
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler


@dataclass(frozen=True)
class CycleSRConfig(TrainConfig):
    """Settings of CycleSR (defaults: CPU profile).

    Attributes
    ----------
    cycle : CycleSpec
        The LR CycleGAN.
    sr : SRNetSpec
        The SR net.
    w_through : float
        Weight of MSE(SR(G(x_bic)), y) in the G update (SR frozen, not detached).
    w_sr : float
        Weight of MSE(SR(G(x_bic).detach()), y) in the SR update.
    lr_sr : float
        Adam rate of the SR net.
    phase_a, phase_b : float
        Fractions of the run for the CycleGAN-only and the bicubic warm-start phases.
    decay_from : float
        Every rate falls linearly to 0 from this fraction on.
    clip : float
        Gradient-norm clip for every net.
    gan : bool
        CycleSRGAN: add an HR discriminator (and VGG if cached) on the SR branch.
    d_hr : PatchSpec
        The HR discriminator of CycleSRGAN.
    w_sr_adv, w_sr_percep : float
        CycleSRGAN's adversarial and perceptual weights (relative to the MSE x w_sr).
    joint_after_noise : float
        When > 0, the joint phase waits until G adds noise: until the running
        ratio of the high-band spread of G(x_bic) to that of x_bic exceeds this
        value (:class:`~engine.train.noise_trigger.NoiseTrigger`). Until then
        the CycleGAN keeps training alone and the SR net keeps training on
        bicubic pairs, so a G that never learns the camera leaves a bicubic-
        pairs SR net rather than one trained on G's drift. 0 starts the joint
        phase at its fraction of the run (the paper).
    """

    clean_op: CleanOp = "bicubic"
    cycle: CycleSpec = field(default_factory=CycleSpec)
    sr: SRNetSpec = field(default_factory=SRNetSpec)
    w_through: float = 1000.0
    w_sr: float = 1000.0
    lr_sr: float = 1e-4
    phase_a: float = 0.25
    phase_b: float = 0.10
    decay_from: float = 0.7
    clip: float = 50.0
    gan: bool = False
    d_hr: PatchSpec = field(
        default_factory=lambda: PatchSpec(ndf=32, strides=(2, 2, 1, 1))
    )
    w_sr_adv: float = 0.05
    w_sr_percep: float = 1.0
    joint_after_noise: float = 0.0


class CycleSRSession(Session):
    """One run of CycleSR or CycleSRGAN."""

    def build(self) -> None:
        """CycleGAN part, SR net, and (GAN variant) an HR discriminator."""
        c: CycleSRConfig = self.config
        self.cyc = CycleGANPart(self, c.cycle)
        self.add_net("SR", SRNet(c.sr, self.scale))
        self.add_optim("SR", ("SR",), c.lr_sr, (0.5, 0.999))
        self.percep = None
        if c.gan:
            self.add_net("D_HR", PatchD(c.d_hr))
            self.add_optim("D_HR", ("D_HR",), c.cycle.lr, (0.5, 0.999))
            feats = vgg_features()
            self.percep = (
                Perceptual(feats).to(self.device) if feats is not None else None
            )
        self.lr_policy = LRPolicy(decay_from=c.decay_from)
        self.clip_norm = c.clip
        self.gan = GANLoss("lsgan")
        # The SR net as phase B left it (bicubic pairs only), kept for the
        # mechanism check: the joint phase must beat its own warm start.
        self.phase_b_sr: dict[str, torch.Tensor] = {}
        self.trigger = (
            NoiseTrigger(c.joint_after_noise) if c.joint_after_noise > 0 else None
        )

    @property
    def _g_adds_noise(self) -> bool:
        return self.trigger is None or self.trigger.fired

    def _snapshot(self) -> None:
        state = self.nets["SR"].state_dict()
        self.phase_b_sr = {k: v.detach().clone() for k, v in state.items()}

    def on_phase(self, phase: Phase) -> None:
        """Snapshot the SR net when the joint training begins (once per run)."""
        if phase.name != "joint" or self.phase_b_sr:
            return
        if self._g_adds_noise:
            self._snapshot()
        elif self.trigger is not None:
            self.notes.append(
                "the joint phase waits until G adds noise (high band of G(x_bic) "
                f"{self.trigger.running:.2f}x that of x_bic, needs "
                f"{self.trigger.ratio:.2f}x); meanwhile the SR net trains on "
                "bicubic pairs"
            )

    def _observe(
        self, fake_y: torch.Tensor, x_bic: torch.Tensor, phase: Phase
    ) -> dict[str, float]:
        """Feed the trigger; start the joint training when it fires in "joint"."""
        if self.trigger is None:
            return {}
        ratio = self.trigger.observe(fake_y, x_bic)
        if phase.name == "joint" and self.trigger.fired and not self.phase_b_sr:
            self._snapshot()
            self.notes.append(
                f"G adds noise (high band of G(x_bic) {ratio:.2f}x that of x_bic): "
                "the joint training begins"
            )
        return {"G_highband_ratio": ratio}

    def schedule(self) -> PhaseScheduler:
        """A: cycle only; B: SR on bicubic pairs; C: joint."""
        c: CycleSRConfig = self.config
        sr = ("SR", "D_HR") if c.gan else ("SR",)
        return PhaseScheduler(
            (
                Phase("cycle", c.phase_a, ("D_cyc", "GF")),
                Phase("sr-bicubic", c.phase_a + c.phase_b, ("SR",)),
                Phase("joint", 1.0, ("D_cyc", "GF", *sr)),
            )
        )

    def _sr_update(self, lr: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        c: CycleSRConfig = self.config
        n = self.nets
        sr = n["SR"](lr)
        mse = pixel(sr, y, "mse")
        loss = c.w_sr * mse
        out = {"sr_mse": scalar(mse)}
        if c.gan:
            set_requires_grad([n["D_HR"]], True)
            d = 0.5 * (
                self.gan(n["D_HR"](y), True) + self.gan(n["D_HR"](sr.detach()), False)
            )
            self.backward_step(d, "D_HR")
            set_requires_grad([n["D_HR"]], False)
            adv = self.gan(n["D_HR"](sr), True)
            loss = loss + c.w_sr_adv * adv
            out.update({"D_HR": scalar(d), "sr_adv": scalar(adv)})
            if self.percep is not None:
                loss = loss + c.w_sr_percep * self.percep(sr, y)
        self.backward_step(loss, "SR")
        return out

    def train_step(self, batch: Batch, phase: Phase, frac: float) -> dict[str, float]:
        """Per phase: CycleGAN step; SR on bicubic; or D -> G,F (+SR term) -> SR."""
        c: CycleSRConfig = self.config
        n = self.nets
        x_bic, y = batch.y_down, batch.y
        if phase.name == "sr-bicubic":
            return self._sr_update(x_bic, y)
        logs, fake_y = self.cyc.d_step(batch, x_bic)
        g_total, g_logs = self.cyc.g_losses(batch, x_bic, fake_y)
        logs.update(g_logs)
        logs.update(self._observe(fake_y, x_bic, phase))
        if phase.name == "joint" and not self._g_adds_noise:
            # Waiting for G: phases A and B go on side by side.
            self.backward_step(g_total, "GF")
            logs.update(self._sr_update(x_bic, y))
            return logs
        if phase.name == "joint":
            # SR frozen but not detached: its loss shapes G's degradations.
            set_requires_grad([n["SR"]], False)
            through = pixel(n["SR"](fake_y), y, "mse")
            g_total = g_total + c.w_through * through
            logs["sr_through_G"] = scalar(through)
        self.backward_step(g_total, "GF")
        set_requires_grad([n["SR"]], True)
        if phase.name == "joint":
            logs.update(self._sr_update(fake_y.detach(), y))
        return logs

    def extra_state(self) -> dict[str, torch.Tensor]:
        """The image pools, the phase-B snapshot of the SR net, the trigger."""
        snap = {PHASE_B + k: v for k, v in self.phase_b_sr.items()}
        out = {**self.cyc.state(), **snap}
        if self.trigger is not None:
            out["trigger"] = self.trigger.state()
        return out

    def load_extra_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore the image pools, the phase-B snapshot and the trigger."""
        self.cyc.load(state)
        self.phase_b_sr = phase_b_snapshot(state)
        if self.trigger is not None and "trigger" in state:
            self.trigger.load(state["trigger"])

    def previews(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Translated LR G(x_bic) and the SR of a real-LR patch."""
        with torch.no_grad():
            return {
                "bicubic LR x_bic": first(batch.y_down[:1]),
                "translated G(x_bic)": first(
                    make_real(self.nets["G"], batch.y_down[:1])
                ),
                "real LR": first(batch.x[:1]),
                "SR of real LR": first(self.nets["SR"](batch.x[:1])),
            }


#: Key prefix of the phase-B SR snapshot in a checkpoint's extra state.
PHASE_B = "phase_b.SR."


def phase_b_snapshot(extra: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The SR net's state at the end of phase B, from a checkpoint's extra state.

    Empty when the run never reached the joint phase.
    """
    n = len(PHASE_B)
    return {k[n:]: v for k, v in extra.items() if k.startswith(PHASE_B)}


def build_inference(config: CycleSRConfig, scale: int) -> dict[str, nn.Module]:
    """Only the SR net."""
    return {"SR": SRNet(config.sr, scale)}


def infer(nets: Mapping[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """SR(x)."""
    out: torch.Tensor = nets["SR"](x)
    return out


PAPER = CycleSRConfig(
    batch=64,
    lr_patch=120,
    cycle=PAPER_CYCLE,
    sr=SRNetSpec("vdsr", nf=64, nb=20, global_skip=False),
    # Vega: epochs 1-5 CycleGAN, epoch 6 SR warm start, of 200; decay after 100.
    phase_a=5 / 200,
    phase_b=1 / 200,
    decay_from=0.5,
)

RECIPE = Recipe(
    name="cyclesr",
    label="CycleSR (Han 2020)",
    description=(
        "Learns real-like LR from bicubic LR with a CycleGAN and trains the SR "
        "net jointly through it."
    ),
    profiles={"cpu": CycleSRConfig(), "paper": PAPER},
    config_type=CycleSRConfig,
    session=CycleSRSession,
    build_inference=build_inference,
    infer=infer,
    inference_path="SR(x)",
)

GAN_RECIPE = Recipe(
    name="cyclesrgan",
    label="CycleSRGAN (Han 2020)",
    description="CycleSR plus an adversarial (and, if cached, VGG) loss on the SR.",
    profiles={
        "cpu": CycleSRConfig(gan=True),
        "paper": replace(PAPER, gan=True),
    },
    config_type=CycleSRConfig,
    session=CycleSRSession,
    build_inference=build_inference,
    infer=infer,
    inference_path="SR(x)",
)

__all__ = [
    "GAN_RECIPE",
    "PAPER",
    "PHASE_B",
    "RECIPE",
    "CycleSRConfig",
    "CycleSRSession",
    "phase_b_snapshot",
]
