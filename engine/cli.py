"""The ``unsr`` command line: ``unsr upscale | methods | runs | eval``.

Each subcommand lives in its own module with a ``register(subparsers)`` that
adds its parser and sets ``func(args, out, err) -> exit code``. Adding one is a
one-line change to :data:`COMMANDS`.

Exit codes: 0 all good, 1 some file or comparison failed, 2 bad usage, 130
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from engine import cli_eval, cli_fit, cli_info, cli_upscale

#: The subcommands, in the order ``unsr --help`` lists them.
COMMANDS: tuple[Callable[[Any], None], ...] = (
    cli_upscale.register,
    cli_fit.register,
    cli_info.register_methods,
    cli_info.register_runs,
    cli_eval.register,
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
    func: Callable[[argparse.Namespace, Any, Any], int] = args.func
    try:
        return func(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        sys.stderr.write("unsr: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
