"""Training helpers: freezing nets, the image pool, gradient clipping."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
    """Freeze (False) or unfreeze (True) every parameter of ``nets``."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def clip(nets: Iterable[nn.Module], max_norm: float | None) -> None:
    """Clip the joint gradient norm of ``nets`` (no-op when ``max_norm`` is None)."""
    if max_norm is None:
        return
    params = [p for net in nets for p in net.parameters() if p.grad is not None]
    if params:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


class ImagePool:
    """CycleGAN's history of generated images, fed to the discriminator.

    Each new image either goes straight to D or, with probability 1/2 once the
    pool is full, replaces a stored one that goes to D instead, so D does not
    forget older generator modes. Draws come from the run's generator, so a
    resumed run replays them exactly.
    """

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Return a batch for D, updating the pool."""
        if self.size == 0:
            return batch
        out = []
        for img in batch.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(1, generator=g)) < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=g))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def state(self) -> torch.Tensor:
        """The stored images as one tensor (for checkpoints)."""
        return torch.stack(self.images) if self.images else torch.empty(0)

    def load(self, state: torch.Tensor) -> None:
        """Restore from :meth:`state`."""
        self.images = [t.clone() for t in state] if state.numel() else []


__all__ = ["ImagePool", "clip", "set_requires_grad"]
