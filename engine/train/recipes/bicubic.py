"""The baseline every unpaired method must beat: an SR net on bicubic pairs.

It trains the same SRNet the methods use on (clean_lr(y), y) only, so the
comparison isolates what each method adds on top of synthetic pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.nets.sr import SRNet, SRNetSpec
from engine.train.data import Batch
from engine.train.degrade import CleanOp
from engine.train.losses import PixelKind, pixel
from engine.train.recipes.recipe import Recipe, Session, TrainConfig, first, scalar
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler


@dataclass(frozen=True)
class BicubicConfig(TrainConfig):
    """Settings of the bicubic-pairs baseline.

    Attributes
    ----------
    sr : SRNetSpec
        The SR network.
    loss : str
        Pixel loss ("l1" like EDSR, "mse" like SRResNet).
    lr : float
        Adam learning rate, halved at ``milestones``.
    milestones : tuple of float
        Run fractions at which the rate halves.
    """

    clean_op: CleanOp = "bicubic"
    sr: SRNetSpec = field(default_factory=SRNetSpec)
    loss: PixelKind = "l1"
    lr: float = 2e-4
    milestones: tuple[float, ...] = (0.6, 0.85)


class BicubicSession(Session):
    """Trains SR on (clean LR, HR) pairs."""

    def build(self) -> None:
        """One SRNet and its Adam."""
        c: BicubicConfig = self.config
        self.add_net("SR", SRNet(c.sr, self.scale))
        self.add_optim("SR", ("SR",), c.lr, (0.9, 0.999))
        self.lr_policy = LRPolicy(c.milestones)

    def schedule(self) -> PhaseScheduler:
        """One phase: supervised SR."""
        return PhaseScheduler((Phase("sr-bicubic", 1.0, ("SR",)),))

    def train_step(self, batch: Batch, phase: Phase, frac: float) -> dict[str, float]:
        """Pixel loss on the synthetic pair."""
        loss = pixel(self.nets["SR"](batch.y_down), batch.y, self.config.loss)
        self.backward_step(loss, "SR")
        return {"sr_pixel": scalar(loss)}

    def previews(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The SR of a real-LR patch."""
        with torch.no_grad():
            return {"SR of real LR": first(self.nets["SR"](batch.x[:1]))}


def build_inference(config: BicubicConfig, scale: int) -> dict[str, nn.Module]:
    """The nets inference needs."""
    return {"SR": SRNet(config.sr, scale)}


def infer(nets: Mapping[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """SR(x)."""
    out: torch.Tensor = nets["SR"](x)
    return out


RECIPE = Recipe(
    name="bicubic",
    label="SR on bicubic pairs (baseline)",
    description="The same SR network trained only on bicubic-downscaled HR photos.",
    profiles={
        "cpu": BicubicConfig(),
        "paper": BicubicConfig(
            batch=16,
            lr_patch=48,
            sr=SRNetSpec("edsr", nf=64, nb=16, global_skip=False),
            lr=1e-4,
        ),
    },
    config_type=BicubicConfig,
    session=BicubicSession,
    build_inference=build_inference,
    infer=infer,
    inference_path="SR(x)",
)

__all__ = ["RECIPE", "BicubicConfig", "BicubicSession"]
