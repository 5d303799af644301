"""The ``unsr`` command line: upscale, fit, methods, runs, eval, train, models.

Each subcommand is a module with one ``register(subparsers)`` that adds its
parser and sets ``func(args, out, err) -> exit code`` (see
:mod:`engine.cli.command`). Adding one is a one-line change to :data:`COMMANDS`;
a module is imported only when its command runs.

Exit codes: 0 all good, 1 some file or comparison failed, 2 bad usage, 130
interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from engine.cli.command import EXIT_INTERRUPTED, Command, Handler, Subparsers


@dataclass(frozen=True)
class LazyCommand:
    """A subcommand module, imported only when its command runs.

    ``unsr --help`` and ``unsr methods`` must not wait for what ``unsr
    upscale`` or ``unsr train`` import (torch, the training stack): the top
    parser lists every command from this table's names and help lines, and
    only the chosen command's module builds its parser.

    Attributes
    ----------
    name : str
        The subcommand.
    module : str
        The module with its ``register(subparsers)``.
    help : str
        The line ``unsr --help`` shows; the module's parser has the same
        (a test checks).
    """

    name: str
    module: str
    help: str

    def load(self) -> Command:
        """Import the module."""
        module: Command = importlib.import_module(self.module)
        return module

    def register(self, sub: Subparsers) -> None:
        """Add the module's full parser (imports it)."""
        self.load().register(sub)

    def stub(self, sub: Subparsers) -> None:
        """Add a parser that only names the command, for the top-level help."""
        sub.add_parser(self.name, help=self.help)


#: The subcommands, in the order ``unsr --help`` lists them.
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("upscale", "engine.cli.upscale", "upscale images and folders"),
    LazyCommand(
        "fit",
        "engine.cli.fit",
        "learn one photo's degradation and upscale it (DualSR)",
    ),
    LazyCommand("methods", "engine.cli.methods", "list the methods and their profiles"),
    LazyCommand("runs", "engine.cli.runs", "show the run history"),
    LazyCommand(
        "eval", "engine.cli.eval", "compare an upscaled image with a reference"
    ),
    LazyCommand(
        "train",
        "engine.cli.train",
        "train an unpaired SR method from real LR photos and clean HR photos",
    ),
    LazyCommand(
        "models", "engine.cli.models", "list, add, remove and inspect model files"
    ),
)


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` asks for (its first word that is not an option)."""
    names = {c.name for c in COMMANDS}
    for word in argv:
        if not word.startswith("-"):
            return word if word in names else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Return the parser: every command's when ``argv`` is None, else the one it runs.

    With ``argv`` only the chosen command's module is imported; the others
    are listed by name and help line.
    """
    parser = argparse.ArgumentParser(
        prog="unsr", description="Real-world image super-resolution."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = None if argv is None else _chosen(argv)
    for command in COMMANDS:
        if argv is None or command.name == chosen:
            command.register(sub)
        else:
            command.stub(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``unsr`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    func: Handler = args.func
    try:
        return func(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        sys.stderr.write("unsr: interrupted\n")
        return EXIT_INTERRUPTED
