"""What a training recipe is: its settings, its per-run ``Session``, its record.

A recipe is data (its profiles, frozen dataclasses built on :class:`TrainConfig`)
plus a ``Session`` subclass that owns one run's nets and optimisers and knows how
to take one training step, listed together in a :class:`Recipe`. Recipes never
loop, time or save: :mod:`engine.train.trainer` does that for all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.train.data import Batch, UnpairedData
from engine.train.degrade import CleanOp
from engine.train.gradients import clip
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler

Wrap = Callable[[nn.Module], nn.Module]


@dataclass(frozen=True)
class TrainConfig:
    """Data settings shared by every recipe (each recipe's settings extend it).

    Attributes
    ----------
    batch : int
        Patches per step.
    lr_patch : int
        LR patch edge in pixels (a multiple of 4).
    clean_op : str
        How the clean LR is made from HR: "gauss_bicubic" (Maeda's y_down) or
        "bicubic" (antialiased, the x_bic of the synthetic-pair literature).
    sr_init : str
        A checkpoint of a bicubic-pairs baseline (``unsr train bicubic``, or
        CSR-GAN's ``bicubic_only`` run) whose SR net starts this run's SR net
        (:mod:`engine.train.warm_start`); "" starts from random weights (the
        papers). Not applied on resume: the resumed weights already hold it.
    ema : float
        Decay of an exponential moving average of the nets inference uses
        (:mod:`engine.train.ema`), which checkpoints then ship for inference;
        0 ships the live weights (the papers).
    """

    batch: int = 8
    lr_patch: int = 32
    clean_op: CleanOp = "gauss_bicubic"
    sr_init: str = ""
    ema: float = 0.0


def first(t: torch.Tensor) -> torch.Tensor:
    """The first image of a batch, detached, clamped, on the CPU (for previews)."""
    return t[0].detach().float().clamp(0, 1).cpu()


def scalar(t: torch.Tensor) -> float:
    """A loss as a plain float for the log (detached first)."""
    return float(t.detach())


class Session(ABC):
    """One training run of a recipe.

    Parameters
    ----------
    config
        The recipe's frozen settings.
    scale
        SR factor.
    data
        Training data (the CSR-GAN session reads whole photos from it).
    device
        Where the nets live.
    g
        The run's random generator (CPU); every random draw uses it so a
        resumed run replays exactly.
    wrap
        Applied to each net after it is built (DistributedDataParallel in
        multi-process runs; the identity otherwise).
    """

    #: Optimiser name -> the net names it updates.
    groups: dict[str, tuple[str, ...]]
    #: The net a bicubic-pairs baseline's SR net can start (``sr_init``).
    sr_net: str = "SR"

    def __init__(
        self,
        config: Any,
        scale: int,
        data: UnpairedData | None,
        device: torch.device,
        g: torch.Generator,
        wrap: Wrap | None = None,
    ) -> None:
        self.config, self.scale, self.data = config, scale, data
        self.device, self.g = device, g
        self._wrap: Wrap = wrap or (lambda m: m)
        self.nets: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}
        self.groups = {}
        self.base_lr: dict[str, float] = {}
        self.lr_policy = LRPolicy()
        self.clip_norm: float | None = None
        # Plain sentences for the log (a phase that waits for a trigger, say);
        # the trainer turns each into a Message after the step that wrote it.
        self.notes: list[str] = []
        self.build()

    # -- building ---------------------------------------------------------
    def add_net(self, name: str, net: nn.Module) -> nn.Module:
        """Register ``net`` (moved to the device and wrapped) under ``name``."""
        wrapped = self._wrap(net.to(self.device))
        self.nets[name] = wrapped
        return wrapped

    def add_optim(
        self,
        name: str,
        nets: tuple[str, ...],
        lr: float,
        betas: tuple[float, float],
        amsgrad: bool = False,
    ) -> None:
        """One Adam for ``nets`` with its own learning rate and betas."""
        params = [p for n in nets for p in self.nets[n].parameters()]
        self.optims[name] = torch.optim.Adam(
            params, lr=lr, betas=betas, amsgrad=amsgrad
        )
        self.groups[name] = nets
        self.base_lr[name] = lr

    # -- stepping ---------------------------------------------------------
    def set_lr(self, frac: float) -> None:
        """Apply the learning-rate policy at run fraction ``frac``."""
        f = self.lr_policy.factor(frac)
        for name, opt in self.optims.items():
            for group in opt.param_groups:
                group["lr"] = self.base_lr[name] * f

    def zero_grads(self) -> None:
        """Drop every gradient, so each backward starts clean.

        Doing this before every backward (not just per optimiser) keeps the
        detach rules testable: at an optimiser's step, the nets holding a
        gradient are exactly those the last backward reached.
        """
        for net in self.nets.values():
            net.zero_grad(set_to_none=True)

    def step_optim(self, name: str) -> None:
        """Clip (if configured) and step optimiser ``name``."""
        clip([self.nets[n] for n in self.groups[name]], self.clip_norm)
        self.optims[name].step()

    def backward_step(self, loss: torch.Tensor, optim: str) -> None:
        """Zero grads -> backward -> step, the unit every recipe uses."""
        self.zero_grads()
        loss.backward()  # type: ignore[no-untyped-call]
        self.step_optim(optim)

    # -- the recipe's part ------------------------------------------------
    @abstractmethod
    def build(self) -> None:
        """Make the nets (``add_net``) and optimisers (``add_optim``)."""

    @abstractmethod
    def schedule(self) -> PhaseScheduler:
        """The phases of a run."""

    @abstractmethod
    def train_step(self, batch: Batch, phase: Phase, frac: float) -> dict[str, float]:
        """One iteration; return the losses to log (plain floats)."""

    @abstractmethod
    def previews(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Intermediate images to show, label -> (3, H, W) in [0, 1]."""

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Non-parameter state a resumed run needs (image pools)."""
        return {}

    def load_extra_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore :meth:`extra_state`."""
        return None

    def on_phase(self, phase: Phase) -> None:
        """Called when a phase begins (CSR-GAN translates its data here)."""
        return None


InferFn = Callable[[Mapping[str, nn.Module], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Recipe:
    """A training method: its profiles, its session and its inference path.

    Attributes
    ----------
    name : str
        Stable id ("maeda", "da", "cyclesr", "cyclesrgan", "csrgan", "bicubic").
    label : str
        Human name.
    description : str
        One line: what it does.
    profiles : Mapping[str, Any]
        "cpu" and "paper" settings (frozen dataclasses of ``config_type``).
    config_type : type
        The settings dataclass.
    session : type
        The Session subclass.
    build_inference : callable
        (config, scale) -> the nets inference needs, by name, untrained.
    infer : callable
        (nets, x) -> SR, e.g. U(G_XY(x)) for Maeda.
    inference_path : str
        The inference path in words, shown in the app.
    """

    name: str
    label: str
    description: str
    profiles: Mapping[str, Any]
    config_type: type
    session: type[Session]
    build_inference: Callable[[Any, int], dict[str, nn.Module]]
    infer: InferFn
    inference_path: str


__all__ = ["InferFn", "Recipe", "Session", "TrainConfig", "Wrap", "first", "scalar"]
