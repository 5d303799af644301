"""The ``unsr`` command line: upscale, fit, methods, runs, eval, train, models.

Each subcommand lives in its own module with a ``register(subparsers)`` that
adds its parser and sets ``func(args, out, err) -> exit code`` (or
``handler(args) -> exit code`` for modules that use sys.stdout/stderr). Adding one is a
one-line change to :data:`COMMANDS`.

Exit codes: 0 all good, 1 some file or comparison failed, 2 bad usage, 130
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from engine.cli import eval as cli_eval
from engine.cli import fit as cli_fit
from engine.cli import info as cli_info
from engine.cli import models as cli_models
from engine.cli import train as cli_train
from engine.cli import upscale as cli_upscale

#: The subcommands, in the order ``unsr --help`` lists them.
COMMANDS: tuple[Callable[[Any], object], ...] = (
    cli_upscale.register,
    cli_fit.register,
    cli_info.register_methods,
    cli_info.register_runs,
    cli_eval.register,
    cli_train.add_parser,
    cli_models.register,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="unsr", description="Real-world image super-resolution."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``unsr`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if hasattr(args, "func"):
            func: Callable[[argparse.Namespace, Any, Any], int] = args.func
            return func(args, sys.stdout, sys.stderr)
        # Modules that write to sys.stdout/stderr themselves set ``handler``.
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except KeyboardInterrupt:
        sys.stderr.write("unsr: interrupted\n")
        return 130
