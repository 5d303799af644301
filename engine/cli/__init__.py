"""The ``unsr`` command line: upscale, fit, methods, runs, eval, train, models.

Each subcommand is a module with one ``register(subparsers)`` that adds its
parser and sets ``func(args, out, err) -> exit code`` (see
:mod:`engine.cli.command`). Adding one is a one-line change to :data:`COMMANDS`.

Exit codes: 0 all good, 1 some file or comparison failed, 2 bad usage, 130
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.cli import eval as cli_eval
from engine.cli import fit as cli_fit
from engine.cli import methods as cli_methods
from engine.cli import models as cli_models
from engine.cli import runs as cli_runs
from engine.cli import train as cli_train
from engine.cli import upscale as cli_upscale
from engine.cli.command import EXIT_INTERRUPTED, Command, Handler

#: The subcommand modules, in the order ``unsr --help`` lists them.
COMMANDS: tuple[Command, ...] = (
    cli_upscale,
    cli_fit,
    cli_methods,
    cli_runs,
    cli_eval,
    cli_train,
    cli_models,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="unsr", description="Real-world image super-resolution."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``unsr`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    func: Handler = args.func
    try:
        return func(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        sys.stderr.write("unsr: interrupted\n")
        return EXIT_INTERRUPTED
