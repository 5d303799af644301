"""Settings every recipe shares, and small helpers for previews."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.train.degrade import CleanOp


@dataclass(frozen=True)
class TrainConfig:
    """Data settings shared by every recipe.

    Attributes
    ----------
    batch : int
        Patches per step.
    lr_patch : int
        LR patch edge in pixels (a multiple of 4).
    clean_op : str
        How the clean LR is made from HR: "gauss_bicubic" (Maeda's y_down) or
        "bicubic" (antialiased, the x_bic of the synthetic-pair literature).
    """

    batch: int = 8
    lr_patch: int = 32
    clean_op: CleanOp = "gauss_bicubic"


def first(t: torch.Tensor) -> torch.Tensor:
    """The first image of a batch, detached, clamped, on the CPU."""
    return t[0].detach().float().clamp(0, 1).cpu()


def scalar(t: torch.Tensor) -> float:
    """A loss as a plain float for the log (detached first)."""
    return float(t.detach())


__all__ = ["TrainConfig", "first", "scalar"]
