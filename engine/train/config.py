"""Recipe settings <-> plain values (for checkpoints and JSON sidecars)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(obj: Any) -> Any:
    """Turn a (nested) frozen dataclass into dicts, lists and scalars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_plain(v) for v in obj]
    return obj


def _coerce(tp: Any, value: Any) -> Any:
    if (
        dataclasses.is_dataclass(tp)
        and isinstance(tp, type)
        and isinstance(value, dict)
    ):
        return from_plain(tp, value)
    origin = typing.get_origin(tp)
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v) for v in value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            if dataclasses.is_dataclass(arg) or typing.get_origin(arg) is tuple:
                return _coerce(arg, value)
    return value


def from_plain(cls: type[T], values: dict[str, Any]) -> T:
    """Rebuild ``cls`` from :func:`to_plain` output; unknown keys are refused."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown settings for {cls.__name__}: {sorted(unknown)}")
    kwargs = {k: _coerce(hints[k], v) for k, v in values.items()}
    return cls(**kwargs)


__all__ = ["from_plain", "to_plain"]
