"""Phases and learning-rate policies, all as fractions of the run.

A CPU run is budgeted in wall-clock time, so its number of steps is unknown in
advance; every milestone is therefore a fraction of the run (time for budgeted
runs, iterations for counted ones), and the same recipe works for both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    """One phase of a run.

    Attributes
    ----------
    name : str
        What the recipe does in it ("cycle", "sr-bicubic", "joint").
    until : float
        Fraction of the run at which the phase ends.
    trains : tuple of str
        The optimisers that step in this phase (for the log and the app).
    """

    name: str
    until: float
    trains: tuple[str, ...]


class PhaseScheduler:
    """Picks the phase for a fraction of the run."""

    def __init__(self, phases: tuple[Phase, ...]) -> None:
        if not phases or phases[-1].until < 1.0:
            raise ValueError("the last phase must run to the end (until=1.0)")
        if any(b.until < a.until for a, b in itertools.pairwise(phases)):
            raise ValueError("phases must be in order")
        self.phases = phases

    def at(self, frac: float) -> Phase:
        """The phase active at ``frac`` in [0, 1]."""
        for phase in self.phases:
            if frac < phase.until:
                return phase
        return self.phases[-1]

    def start_of(self, name: str) -> float:
        """The fraction at which phase ``name`` starts."""
        start = 0.0
        for phase in self.phases:
            if phase.name == name:
                return start
            start = phase.until
        raise KeyError(name)


@dataclass(frozen=True)
class LRPolicy:
    """A learning-rate factor as a function of the run fraction.

    Attributes
    ----------
    milestones : tuple of float
        Fractions at which the rate is multiplied by ``gamma`` (MultiStep).
    gamma : float
        The MultiStep factor.
    decay_from : float or None
        From this fraction on, the rate falls linearly to 0 at the end
        (CycleGAN's "N constant + M linear").
    """

    milestones: tuple[float, ...] = ()
    gamma: float = 0.5
    decay_from: float | None = None

    def factor(self, frac: float, start: float = 0.0) -> float:
        """The factor at ``frac``; ``start`` is where the optimiser began training."""
        f = 1.0
        for m in self.milestones:
            if frac >= m:
                f *= self.gamma
        if self.decay_from is not None and frac > self.decay_from:
            f *= max(0.0, (1.0 - frac) / (1.0 - self.decay_from))
        return f


__all__ = ["LRPolicy", "Phase", "PhaseScheduler"]
