"""The explicit registry of methods. No folder scanning, no import side effects.

Built-in methods are listed here by hand. Model files (spandrel-readable and
unsr's own trained checkpoints) become methods through the providers listed in
``_PROVIDERS``, each a function returning the methods it currently offers.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.methods import pretrained, resample, unpaired
from engine.methods.base import Method, MethodError
from engine.methods.dualsr import DUALSR

_BUILTIN: tuple[Method, ...] = (resample.BICUBIC, resample.LANCZOS, DUALSR)

#: Functions that list methods backed by files on disk (model libraries).
_PROVIDERS: tuple[Callable[[], tuple[Method, ...]], ...] = (
    pretrained.provide,
    unpaired.trained_methods,
)


def builtin() -> tuple[Method, ...]:
    """Return the methods that ship with the code, in display order."""
    return _BUILTIN


def available() -> tuple[Method, ...]:
    """Return every method usable now: built-ins, then model-backed ones."""
    methods = list(_BUILTIN)
    for provider in _PROVIDERS:
        try:
            methods.extend(provider())
        except Exception:  # an unreadable models folder must not hide the rest
            continue
    return tuple(methods)


def get(method_id: str) -> Method:
    """Return the method with id ``method_id``.

    Raises
    ------
    MethodError
        If no such method exists; the message lists the known ids.
    """
    for method in available():
        if method.id == method_id:
            return method
    known = ", ".join(m.id for m in available())
    raise MethodError(f"unknown method {method_id!r} (known: {known})")
