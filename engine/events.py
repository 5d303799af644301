"""Events a job yields while it works.

Every long task in unsr is a generator (see :mod:`engine.jobs`). What it has to
say on the way, progress, losses, previews, the learned kernel, free-text
messages, travels as one of the frozen dataclasses below. The CLI prints them,
the app turns them into Qt signals, tests collect them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a job is.

    Attributes
    ----------
    step : int
        Units of work done so far (iterations, tiles, files).
    total : int
        Units of work in all; 0 when unknown.
    stage : str
        What is being done, in a few words ("fitting", "upscaling tiles").
    eta_s : float or None
        Estimated seconds left for this stage, None until there is a basis.
    """

    step: int
    total: int
    stage: str
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        """Return the fraction done in [0, 1] (0 when the total is unknown)."""
        return min(1.0, self.step / self.total) if self.total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Losses:
    """Named scalar losses at one training step."""

    step: int
    values: Mapping[str, float]


#: A region of an image: (x, y, width, height) in its pixels.
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True, eq=False)
class Preview:
    """An intermediate image: float32 (H, W, 3) in [0, 1].

    Attributes
    ----------
    step : int
        The training step it shows.
    image : ndarray
        The pixels.
    label : str
        What it is ("centre crop", "snapshot", a training sample's name).
    box : Box or None
        Where the preview belongs in the job's input image, in input pixels:
        ``image`` shows that region upscaled. None when it is not a part of
        the input (a training sample); a viewer must not guess a place for it.
    """

    step: int
    image: FloatArray
    label: str = "output"
    box: Box | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Kernel:
    """The current estimate of the degradation kernel, float32 (k, k), sums to ~1."""

    step: int
    kernel: FloatArray


@dataclass(frozen=True, slots=True)
class Message:
    """Free text for the log; ``level`` decides how loudly it is shown."""

    text: str
    level: Literal["info", "warning", "error"] = "info"
    data: Mapping[str, object] = field(default_factory=dict)


Event = Progress | Losses | Preview | Kernel | Message

__all__ = [
    "Box",
    "Event",
    "FloatArray",
    "Kernel",
    "Losses",
    "Message",
    "Preview",
    "Progress",
]
