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


def refusal(method_id: str) -> str | None:
    """Why a model file that ``method_id`` names is not a method, or None.

    A file in the models folder that unsr cannot use (corrupt, not an
    upscaler, an unknown recipe) is listed by ``unsr models list`` with its
    reason; asked for by its id, it gets the same reason, not "unknown".
    """
    from engine import models

    try:
        entries = models.entries()
    except Exception:  # an unreadable folder: the caller says "unknown"
        return None
    wanted = {method_id, f"model:{method_id}"}
    for entry in entries:
        reason = entry.refusal
        if entry.id in wanted and reason is not None:
            return (
                f"{method_id} is the model file {entry.path.name}, which unsr "
                f"cannot use: {reason}"
            )
    return None


def get(method_id: str) -> Method:
    """Return the method with id ``method_id``.

    Raises
    ------
    MethodError
        If no such method exists: why, when a model file has that id, else
        the list of known ids.
    """
    methods = available()
    for method in methods:
        if method.id == method_id:
            return method
    reason = refusal(method_id)
    if reason is not None:
        raise MethodError(reason)
    known = ", ".join(m.id for m in methods)
    raise MethodError(f"unknown method {method_id!r} (known: {known})")
