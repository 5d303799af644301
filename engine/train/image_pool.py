"""CycleGAN's image pool: a history of generated images for the discriminator."""

from __future__ import annotations

import torch


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


__all__ = ["ImagePool"]
