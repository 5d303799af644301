"""DualSR: zero-shot dual learning for real-world super-resolution.

The fit and its networks (and torch) load on first use of ``fit_x2``,
``FitResult`` or ``InputTooSmallError``: listing the method does not need them.
"""

from typing import TYPE_CHECKING, Any

from engine.methods.dualsr.method import DUALSR
from engine.methods.dualsr.params import FAST, PAPER, PROFILES, DualSRParams

if TYPE_CHECKING:
    from engine.methods.dualsr.fit import FitResult, InputTooSmallError, fit_x2

_LAZY = ("FitResult", "InputTooSmallError", "fit_x2")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from engine.methods.dualsr import fit

        return getattr(fit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
