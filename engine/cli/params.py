"""Command-line options derived from a frozen params dataclass, and back.

A method's settings live in one place, its params dataclass: the field's type
gives the option's parser, the numpy docstring's description of the field its
help. :func:`add_options` turns fields into ``--field-name`` options (``--x`` /
``--no-x`` for booleans); :func:`chosen` reads back the ones given, and
:func:`apply` puts them on a profile with ``dataclasses.replace``. For a method
chosen at run time, :func:`parse_assignments` reads ``FIELD=VALUE`` texts
(``unsr upscale --set iters=800``) against the method's dataclass and names the
field in every error.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

P = TypeVar("P")

#: The prefix of the argparse ``dest`` of a derived option.
DEST_PREFIX = "param_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ParamError(ValueError):
    """A command-line setting does not fit the params dataclass."""


def field_help(cls: type) -> dict[str, str]:
    """Each field's description from the numpy docstring's Attributes section.

    ``lr_up, lr_dn : float`` describes both fields; the description is joined
    into one line.
    """
    doc = inspect.cleandoc(cls.__doc__ or "")
    match = re.search(r"^Attributes\n-+\n(.*?)(?=^\S+\n-+\n|\Z)", doc, re.M | re.S)
    if match is None:
        return {}
    helps: dict[str, str] = {}
    names: list[str] = []
    for line in match.group(1).splitlines():
        if line and not line[0].isspace():
            names = [n.strip() for n in line.split(":")[0].split(",")]
            for name in names:
                helps[name] = ""
        elif line.strip():
            for name in names:
                helps[name] = f"{helps[name]} {line.strip()}".strip()
    return helps


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false, not {text!r}")


def _choice(options: tuple[Any, ...]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        for option in options:
            if str(option) == text:
                return option
        known = ", ".join(str(o) for o in options)
        raise ValueError(f"expected one of {known}, not {text!r}")

    return parse


def converter(tp: Any) -> Callable[[str], Any] | None:
    """A parser of text into ``tp``, or None when the type has no text form.

    Handles int, float, bool, str, Literal choices and ``X | None`` ("none").
    """
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return _choice(typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = converter(args[0]) if len(args) == 1 else None
        if inner is None:
            return None
        optional = inner

        def parse(text: str) -> Any:
            return None if text.strip().lower() == "none" else optional(text)

        return parse
    if tp is bool:
        return _parse_bool
    if tp in (int, float):
        return _number(tp)
    if tp is str:
        return str
    return None


def _number(kind: type[int] | type[float]) -> Callable[[str], Any]:
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"expected {what}, not {text!r}") from None

    return parse


def _fields(cls: type) -> dict[str, Any]:
    """Field name -> resolved type (annotations may be strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def option_name(field: str) -> str:
    """``lr_crop`` -> ``--lr-crop``."""
    return "--" + field.replace("_", "-")


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    exclude: Iterable[str] = (),
    parsers: Mapping[str, Callable[[str], Any]] | None = None,
    profiles: Mapping[str, Any] | None = None,
) -> list[str]:
    """Add one option per field of ``cls``; return the fields added.

    Options default to None (the profile's value stands); ``parsers`` replaces
    a field's parser (e.g. one that refuses zero); the help ends with each of
    ``profiles``' values. Fields whose type has no text form are left out.
    """
    helps = field_help(cls)
    custom = dict(parsers or {})
    skip = set(exclude)
    added: list[str] = []
    for name, tp in _fields(cls).items():
        parse = custom.get(name) or converter(tp)
        if name in skip or parse is None:
            continue
        dest = DEST_PREFIX + name
        text = _with_values(helps.get(name, ""), name, profiles or {})
        text = text.replace("%", "%%")  # argparse formats help with %
        if tp is bool:
            parser.add_argument(
                option_name(name),
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text,
            )
        else:
            parser.add_argument(
                option_name(name),
                dest=dest,
                type=_argparse_type(name, parse),
                default=None,
                metavar=name.upper(),
                help=text,
            )
        added.append(name)
    return added


def _with_values(text: str, name: str, profiles: Mapping[str, Any]) -> str:
    """``text`` and the profiles' values: "[fast 1400, paper 3000]"."""
    values = {label: getattr(params, name) for label, params in profiles.items()}
    if not values:
        return text
    if len(set(map(repr, values.values()))) == 1:
        shown = f"[{next(iter(values.values()))}]"
    else:
        shown = "[" + ", ".join(f"{k} {v}" for k, v in values.items()) + "]"
    return f"{text} {shown}".strip()


def _argparse_type(name: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the option's type in its errors
    return convert


def chosen(args: argparse.Namespace, fields: Iterable[str]) -> dict[str, Any]:
    """The derived options given on the command line, by field name."""
    values = {name: getattr(args, DEST_PREFIX + name, None) for name in fields}
    return {name: value for name, value in values.items() if value is not None}


def apply(params: P, changes: Mapping[str, Any]) -> P:
    """``params`` with ``changes`` (field name -> value) applied."""
    if not changes:
        return params
    assert dataclasses.is_dataclass(params) and not isinstance(params, type)
    known = {f.name for f in dataclasses.fields(params)}
    for name in changes:
        if name not in known:
            raise ParamError(f"unknown setting {name!r} ({_settings(type(params))})")
    return typing.cast(P, dataclasses.replace(params, **changes))


def _settings(cls: type) -> str:
    fields = [
        f"{name}: {_type_text(tp)}"
        for name, tp in _fields(cls).items()
        if converter(tp) is not None
    ]
    return "its settings are " + ", ".join(fields) if fields else "it has none"


def _type_text(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_text(a) for a in typing.get_args(tp))
    return "none" if tp is type(None) else getattr(tp, "__name__", str(tp))


def parse_assignments(texts: Sequence[str], cls: type) -> dict[str, Any]:
    """``["iters=800", "ema=0.999"]`` -> typed values, checked against ``cls``.

    Raises
    ------
    ParamError
        A text without "=", a field ``cls`` does not have (the message lists
        the ones it has), or a value its type refuses; the message names the
        field.
    """
    fields = _fields(cls)
    values: dict[str, Any] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ParamError(f"--set takes FIELD=VALUE, not {text!r}")
        if name not in fields:
            raise ParamError(f"unknown setting {name!r} ({_settings(cls)})")
        parse = converter(fields[name])
        if parse is None:
            raise ParamError(f"{name} cannot be set from the command line")
        try:
            values[name] = parse(raw.strip())
        except ValueError as exc:
            raise ParamError(f"{name}: {exc}") from None
    return values


__all__ = [
    "DEST_PREFIX",
    "ParamError",
    "add_options",
    "apply",
    "chosen",
    "converter",
    "field_help",
    "option_name",
    "parse_assignments",
]
