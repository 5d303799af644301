"""KernelGAN's lambda learner and DualSR's learning-rate steps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LambdaLearner:
    """Weights of the kernel priors over the fit (mutable state).

    Phase 1: the bicubic prior (``lb``) holds G_DN near bicubic until the
    bicubic loss has stayed under 0.4 for a few iterations. Phase 2: every
    ``every`` iterations ``lb`` drops 100x down to 5e-6; when it first falls
    below 5e-3, the centre and sparsity priors switch on.
    """

    every: int = 200
    lb: float = 5.0
    lc: float = 0.0
    ls: float = 0.0
    counter: int = 0
    similar: bool = False
    constraints_in: bool = False

    def update(self, it: int, bic_loss: float) -> None:
        """Advance after iteration ``it`` (1-based count of iterations done)."""
        if not self.similar:
            if bic_loss < 0.4:
                if self.counter >= 2:
                    self.similar = True
                else:
                    self.counter += 1
            else:
                self.counter = 0
        elif it % self.every == 0 and self.lb > 5e-6:
            self.lb = max(self.lb / 100.0, 5e-6)
            if not self.constraints_in and self.lb < 5e-3:
                self.lc, self.ls = 1.0, 5.0
                self.constraints_in = True


def lr_factors(it: int, step: int, dn_decay: float) -> tuple[float, float]:
    """Learning-rate multipliers (G_UP, G_DN and D) after ``it`` iterations.

    G_UP halves every ``step`` iterations; G_DN and D divide by ``dn_decay``,
    three times at most (at 1, 2 and 3 times ``step``, as at 750/1500/2250).
    """
    n_up = it // step
    n_dn = min(it // step, 3)
    return 0.5**n_up, dn_decay**-n_dn


__all__ = ["LambdaLearner", "lr_factors"]
