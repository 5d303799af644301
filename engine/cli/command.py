"""What every ``unsr`` subcommand module provides, and the exit codes they share.

A subcommand module has one ``register(subparsers)`` that adds its parser and
sets ``func`` to a :data:`Handler`; :func:`engine.cli.main` calls
``args.func(args, sys.stdout, sys.stderr)``. Taking the streams as arguments
lets tests pass their own.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Protocol, TextIO, TypeAlias

#: Exit codes: all good, some file or comparison failed, bad usage, interrupted.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: argparse's ``add_subparsers()`` result, where a module adds its parser.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: What ``register`` sets as ``func``: (args, out, err) -> exit code.
Handler: TypeAlias = Callable[[argparse.Namespace, TextIO, TextIO], int]


class Command(Protocol):
    """A subcommand module, as :data:`engine.cli.COMMANDS` lists it."""

    def register(self, sub: Subparsers) -> None:
        """Add the subcommand's parser to ``sub`` and set its ``func``."""


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Handler",
    "Subparsers",
]
