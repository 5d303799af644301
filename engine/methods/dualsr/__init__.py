"""DualSR: zero-shot dual learning for real-world super-resolution."""

from engine.methods.dualsr.fit import FitResult, InputTooSmallError, fit_x2
from engine.methods.dualsr.method import DUALSR
from engine.methods.dualsr.params import FAST, PAPER, PROFILES, DualSRParams

__all__ = [
    "DUALSR",
    "FAST",
    "PAPER",
    "PROFILES",
    "DualSRParams",
    "FitResult",
    "InputTooSmallError",
    "fit_x2",
]
