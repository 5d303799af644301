"""(a) Maeda, "Unpaired Image Super-Resolution using Pseudo-Supervision" (CVPR 2020).

A correction net G_XY maps real LR to clean LR; a degradation net G_YX maps
clean LR plus noise to real-looking LR. The SR net U learns, with a plain pixel
loss, from the pseudo-clean y_down° = G_XY(G_YX(y_down, z)) paired with y, so at
test time it sees the same kind of input, G_XY(x). Inference: U(G_XY(x)).

Detach rules (tested): U is frozen while the translators learn from the
HR-side discriminator; U learns from y_down°.detach(); the Ds see detached fakes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from engine.nets.discriminators import PatchD, PatchSpec
from engine.nets.sr import SRNet, SRNetSpec
from engine.nets.translator import LRTranslator, TranslatorSpec, draw_noise
from engine.train.data import Batch
from engine.train.gradients import set_requires_grad
from engine.train.losses import GANLoss, geo_ensemble, lowpass_l1, pixel
from engine.train.recipes.recipe import Recipe, Session, TrainConfig, first, scalar
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler


@dataclass(frozen=True)
class MaedaConfig(TrainConfig):
    """Settings of Maeda's method (defaults are the CPU profile).

    Attributes
    ----------
    g_xy, g_yx : TranslatorSpec
        Correction (real -> clean) and degradation (clean + z -> real) nets.
    sr : SRNetSpec
        U.
    d_lr : PatchSpec
        D_X and D_Y_down.
    d_hr_strides : str
        How D_X_up adapts ``d_lr`` to HR: "prepend" log2(s) stride-2 convs
        (CPU profile) or "replace" the first log2(s) strides by 2 (paper).
    w_cyc, w_idt, w_geo, gamma : float
        Weights of the one-sided cycle, identity, geometric-ensemble and
        HR-side adversarial terms.
    w_low : float
        Weight of the low-band L1 that keeps both translators' output colour
        and brightness at their input's (:func:`~engine.train.losses.lowpass_l1`;
        not in the paper, whose full-band Ds see colour themselves).
    low_sigma : float
        Gaussian sigma (LR px) of that low band.
    geo_transforms : int
        8 averages all dihedral transforms (paper); fewer samples that many
        random non-identity ones per step (much cheaper).
    lr : float
        Adam rate of the translators and U.
    lr_d : float or None
        Adam rate of the discriminators (None: ``lr``).
    milestones : tuple of float
        Run fractions at which every rate halves.
    joint_until : float
        Run fraction after which the translators and Ds are frozen and only U
        trains, on pseudo-clean LR from the frozen translators (1.0: joint to
        the end, as in the paper).
    """

    g_xy: TranslatorSpec = field(
        default_factory=lambda: TranslatorSpec(nf=32, nb=3, ng=2, body="rcan")
    )
    g_yx: TranslatorSpec = field(
        default_factory=lambda: TranslatorSpec(nf=32, nb=3, k=5)
    )
    sr: SRNetSpec = field(default_factory=SRNetSpec)
    # High-pass Ds and a faster D rate: in 6-minute trials the degradation
    # net learnt visible, z-dependent noise only with them (docs/benchmarks.md).
    d_lr: PatchSpec = field(
        default_factory=lambda: PatchSpec(ndf=32, strides=(2, 1, 1), highpass=1.0)
    )
    d_hr_strides: Literal["prepend", "replace"] = "prepend"
    w_cyc: float = 1.0
    w_idt: float = 2.0
    w_geo: float = 1.0
    gamma: float = 0.1
    w_low: float = 0.0
    low_sigma: float = 2.0
    geo_transforms: int = 1
    lr: float = 2e-4
    lr_d: float | None = 5e-4
    milestones: tuple[float, ...] = (0.6, 0.85)
    # A CPU budget gives the adversarial game ~1000 steps: it learns the camera's
    # noise, then oscillates. Freezing it half way lets U train ~5x faster on one
    # consistent pseudo-clean distribution (docs/benchmarks.md, Maeda trials).
    joint_until: float = 0.5


def _hr_spec(c: MaedaConfig, scale: int) -> PatchSpec:
    n = round(math.log2(scale))
    if c.d_hr_strides == "prepend":
        strides = (2,) * n + c.d_lr.strides
    else:
        strides = (2,) * n + c.d_lr.strides[n:]
    return replace(c.d_lr, strides=strides)


class MaedaSession(Session):
    """One run of Maeda's method."""

    sr_net = "U"

    def build(self) -> None:
        """Three generators, three Ds, three Adams (G pair, Ds, U)."""
        c: MaedaConfig = self.config
        self.add_net("G_XY", LRTranslator(c.g_xy))
        self.add_net("G_YX", LRTranslator(c.g_yx, noise_ch=1))
        self.add_net("U", SRNet(c.sr, self.scale))
        self.add_net("D_X", PatchD(c.d_lr))
        self.add_net("D_Yd", PatchD(c.d_lr))
        self.add_net("D_Xup", PatchD(_hr_spec(c, self.scale)))
        self.add_optim("G", ("G_XY", "G_YX"), c.lr, (0.5, 0.999))
        lr_d = c.lr if c.lr_d is None else c.lr_d
        self.add_optim("D", ("D_X", "D_Yd", "D_Xup"), lr_d, (0.5, 0.999))
        self.add_optim("U", ("U",), c.lr, (0.9, 0.999))
        self.lr_policy = LRPolicy(c.milestones)
        self.gan = GANLoss("lsgan")

    def schedule(self) -> PhaseScheduler:
        """Joint (Ds, translators and U every step), then U alone if configured."""
        c: MaedaConfig = self.config
        if c.joint_until >= 1.0:
            return PhaseScheduler((Phase("joint", 1.0, ("D", "G", "U")),))
        return PhaseScheduler(
            (
                Phase("joint", c.joint_until, ("D", "G", "U")),
                Phase("sr-pseudo", 1.0, ("U",)),
            )
        )

    def _z(self, batch: Batch) -> torch.Tensor:
        """G_YX's noise map: the batch's quarter-size one, or a per-pixel draw."""
        spec = self.config.g_yx
        if spec.noise_scale == 4:
            return batch.z
        return draw_noise(spec, batch.y_down, self.g)

    def _u_only(self, batch: Batch) -> dict[str, float]:
        """U on pseudo-clean LR from the frozen translators."""
        n = self.nets
        frozen = [n["G_XY"], n["G_YX"]]
        for net in frozen:  # eval: batch-norm statistics stay as the game left them
            net.eval()
        with torch.no_grad():
            pseudo = n["G_XY"](n["G_YX"](batch.y_down, self._z(batch)))
        for net in frozen:
            net.train()
        u_loss = pixel(n["U"](pseudo), batch.y)
        self.backward_step(u_loss, "U")
        return {"U_pixel": scalar(u_loss)}

    def _geo_ks(self) -> list[int]:
        n = self.config.geo_transforms
        if n >= 8:
            return list(range(8))
        return [1 + int(torch.randint(0, 7, (1,), generator=self.g)) for _ in range(n)]

    def train_step(self, batch: Batch, phase: Phase, frac: float) -> dict[str, float]:
        """Ds, then the translators jointly, then U on the detached pseudo-clean LR."""
        if phase.name == "sr-pseudo":
            return self._u_only(batch)
        c: MaedaConfig = self.config
        n = self.nets
        x, y, yd, z = batch.x, batch.y, batch.y_down, self._z(batch)
        ds = [n["D_X"], n["D_Yd"], n["D_Xup"]]
        # Forward with U frozen: the HR-side term must move only the translators.
        set_requires_grad([n["U"]], False)
        fake_x = n["G_YX"](yd, z)
        pseudo = n["G_XY"](fake_x)
        clean_x = n["G_XY"](x)
        sr_real = n["U"](clean_x)
        sr_pseudo = n["U"](pseudo)

        # 1. Discriminators, on detached inputs.
        set_requires_grad(ds, True)
        d_x = 0.5 * (
            self.gan(n["D_X"](x), True) + self.gan(n["D_X"](fake_x.detach()), False)
        )
        d_y = 0.5 * (
            self.gan(n["D_Yd"](yd), True) + self.gan(n["D_Yd"](clean_x.detach()), False)
        )
        d_up = 0.5 * (
            self.gan(n["D_Xup"](sr_real.detach()), True)
            + self.gan(n["D_Xup"](sr_pseudo.detach()), False)
        )
        self.backward_step(d_x + d_y + d_up, "D")

        # 2. Translators, jointly, with the Ds frozen.
        set_requires_grad(ds, False)
        adv_x = self.gan(n["D_X"](fake_x), True)
        adv_y = self.gan(n["D_Yd"](clean_x), True)
        adv_up = self.gan(n["D_Xup"](sr_pseudo), True)
        cyc = pixel(pseudo, yd)
        idt = pixel(n["G_XY"](yd), yd)
        geo = geo_ensemble(n["G_XY"], x, clean_x, self._geo_ks())
        low = (
            lowpass_l1(clean_x, x, c.low_sigma) + lowpass_l1(fake_x, yd, c.low_sigma)
            if c.w_low
            else torch.zeros((), device=x.device)
        )
        g_total = (
            adv_x
            + adv_y
            + c.gamma * adv_up
            + c.w_cyc * cyc
            + c.w_idt * idt
            + c.w_geo * geo
            + c.w_low * low
        )
        self.backward_step(g_total, "G")

        # 3. U on the pseudo-clean LR, detached from the translators.
        set_requires_grad([n["U"]], True)
        u_loss = pixel(n["U"](pseudo.detach()), y)
        self.backward_step(u_loss, "U")
        return {
            "D_X": scalar(d_x),
            "D_Yd": scalar(d_y),
            "D_Xup": scalar(d_up),
            "adv_X": scalar(adv_x),
            "adv_Yd": scalar(adv_y),
            "adv_Xup": scalar(adv_up),
            "cycle": scalar(cyc),
            "identity": scalar(idt),
            "geo": scalar(geo),
            "low_band": scalar(low),
            "U_pixel": scalar(u_loss),
        }

    def previews(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Corrected real LR, real-like clean LR, and the pseudo-clean LR."""
        n = self.nets
        with torch.no_grad():
            x, yd, z = batch.x[:1], batch.y_down[:1], self._z(batch)[:1]
            fake = n["G_YX"](yd, z)
            return {
                "real LR x": first(x),
                "corrected G_XY(x)": first(n["G_XY"](x)),
                "real-like G_YX(y_down, z)": first(fake),
                "pseudo-clean y_down°": first(n["G_XY"](fake)),
            }


def build_inference(config: MaedaConfig, scale: int) -> dict[str, nn.Module]:
    """G_XY and U."""
    return {"G_XY": LRTranslator(config.g_xy), "U": SRNet(config.sr, scale)}


def infer(nets: Mapping[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """U(G_XY(x))."""
    out: torch.Tensor = nets["U"](nets["G_XY"](x))
    return out


PAPER = MaedaConfig(
    batch=16,
    lr_patch=32,
    g_xy=TranslatorSpec(
        nf=64, nb=10, ng=5, body="rcan", zero_tail=False, global_skip=False
    ),
    g_yx=TranslatorSpec(
        nf=64, nb=6, k=5, norm="batch", zero_tail=False, global_skip=False
    ),
    sr=SRNetSpec("rcan", nf=64, nb=20, ng=5, global_skip=False),
    d_lr=PatchSpec(ndf=64, strides=(1, 1, 1, 1), padding=0),
    d_hr_strides="replace",
    geo_transforms=8,
    lr=1e-4,
    lr_d=None,
    # yoon28: halve at 100k, 180k, 240k, 280k of 300k iterations.
    milestones=(1 / 3, 0.6, 0.8, 14 / 15),
    joint_until=1.0,
)

RECIPE = Recipe(
    name="maeda",
    label="Pseudo-supervision (Maeda 2020)",
    description=(
        "Cleans real LR with a learned correction net, then upscales with an SR "
        "net trained on pseudo-clean LR."
    ),
    profiles={"cpu": MaedaConfig(), "paper": PAPER},
    config_type=MaedaConfig,
    session=MaedaSession,
    build_inference=build_inference,
    infer=infer,
    inference_path="U(G_XY(x))",
)

__all__ = ["PAPER", "RECIPE", "MaedaConfig", "MaedaSession"]
