"""``unsr methods``: what can run, with its scales and profiles."""

from __future__ import annotations

import argparse
from typing import TextIO

from engine.cli.command import EXIT_OK, Subparsers
from engine.cli.tables import scales_text, table
from engine.methods.registry import available


def register(sub: Subparsers) -> None:
    """Add ``methods``."""
    p = sub.add_parser("methods", help="list the methods and their profiles")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the method table."""
    rows = [("id", "label", "scales", "profiles", "fit?", "description")]
    for m in available():
        rows.append(
            (
                m.id,
                m.label,
                scales_text(m.scales),
                ", ".join(m.profiles),
                "yes" if m.needs_fit else "no",
                m.description,
            )
        )
    table(rows, out)
    return EXIT_OK


__all__ = ["register", "run"]
