"""A training-time probe that tells when a translator has started to add noise.

CycleSR trains its SR net on G(x_bic), the translator's "real-like" version of
a bicubic LR patch. While G adds no noise, those pairs are bicubic pairs with
G's drift on top, and training through them only loses to the plain baseline
(docs/benchmarks.md, "Unpaired methods"). The probe compares the high band of
G's output with that of its input, the same picture, so texture cancels out
and what is left is what G added: the mechanism figure the benchmark reports
(:func:`engine.train.degrade.highpass_sigma`), computed per batch.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from engine.nets.discriminators import HighPass


@lru_cache(maxsize=4)
def _highpass(sigma: float) -> HighPass:
    return HighPass(sigma)


def band_mad(t: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Robust spread (1.4826 x MAD) of each image's high band, (B,) for (B, C, H, W).

    The high band is the image minus its Gaussian blur of ``sigma`` px; the
    spread is taken per channel and averaged over channels.
    """
    r = _highpass(sigma).to(t.device)(t.detach().float()).flatten(2)
    med = r.median(2, keepdim=True).values
    mad = (r - med).abs().median(2).values
    out: torch.Tensor = 1.4826 * mad.mean(1)
    return out


class NoiseTrigger:
    """Fires once G(x) has clearly more high band than x, and stays fired.

    Parameters
    ----------
    ratio
        The running ratio of the high-band spread of G(x) to that of x above
        which the trigger fires (1.2: G adds a fifth more fine detail).
    momentum
        Weight of the past in the running ratio (smooths batch-to-batch noise).
    min_batches
        Batches observed before it may fire, so one odd batch cannot.
    """

    def __init__(
        self, ratio: float, momentum: float = 0.9, min_batches: int = 10
    ) -> None:
        self.ratio, self.momentum, self.min_batches = ratio, momentum, min_batches
        self.running = 0.0
        self.seen = 0
        self.fired = False

    def observe(self, out: torch.Tensor, inp: torch.Tensor) -> float:
        """Feed one batch of G's outputs and inputs; return the running ratio."""
        with torch.no_grad():
            value = float(band_mad(out).mean() / band_mad(inp).mean().clamp_min(1e-8))
        m = self.momentum if self.seen else 0.0
        self.running = m * self.running + (1 - m) * value
        self.seen += 1
        if self.seen >= self.min_batches and self.running > self.ratio:
            self.fired = True
        return self.running

    def state(self) -> torch.Tensor:
        """(fired, running, seen) as one tensor, for a checkpoint's extra state."""
        return torch.tensor(
            [float(self.fired), self.running, float(self.seen)], dtype=torch.float64
        )

    def load(self, state: torch.Tensor) -> None:
        """Restore :meth:`state`."""
        fired, running, seen = (float(v) for v in state)
        self.fired, self.running, self.seen = bool(fired), running, int(seen)


__all__ = ["NoiseTrigger", "band_mad"]
