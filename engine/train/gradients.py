"""Gradients during training: freezing nets and clipping the joint norm."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
    """Freeze (False) or unfreeze (True) every parameter of ``nets``."""
    for net in nets:
        net.requires_grad_(flag)


def clip(nets: Iterable[nn.Module], max_norm: float | None) -> None:
    """Clip the joint gradient norm of ``nets`` (no-op when ``max_norm`` is None)."""
    if max_norm is None:
        return
    params = [p for net in nets for p in net.parameters() if p.grad is not None]
    if params:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


__all__ = ["clip", "set_requires_grad"]
