"""Super-resolution methods behind one registry."""

from engine.methods import resample
from engine.methods.base import (
    FitFn,
    Method,
    MethodError,
    RunContext,
    Upscaler,
    UpscalerFn,
)
from engine.methods.registry import available, builtin, get

__all__ = [
    "FitFn",
    "Method",
    "MethodError",
    "RunContext",
    "Upscaler",
    "UpscalerFn",
    "available",
    "builtin",
    "get",
    "resample",
]
