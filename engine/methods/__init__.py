"""Super-resolution methods behind one registry."""

from engine.methods import resample
from engine.methods.base import Method, MethodError, RunContext, RunFn
from engine.methods.registry import available, builtin, get

__all__ = [
    "Method",
    "MethodError",
    "RunContext",
    "RunFn",
    "available",
    "builtin",
    "get",
    "resample",
]
