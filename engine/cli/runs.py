"""``unsr runs``: the run history, newest first."""

from __future__ import annotations

import argparse
from typing import TextIO

from engine.cli.command import EXIT_FAILED, EXIT_OK, Subparsers
from engine.cli.tables import table
from engine.store import Store, StoreError, readable


def register(sub: Subparsers) -> None:
    """Add ``runs``."""
    p = sub.add_parser("runs", help="show the run history")
    p.add_argument("--limit", type=int, default=20, help="how many runs (newest first)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the newest runs from the store."""
    try:
        store = Store()
        records = store.runs(limit=max(1, args.limit))
    except StoreError as exc:
        err.write(f"unsr runs: {exc}\n")
        return EXIT_FAILED
    if not records:
        out.write(f"no runs recorded yet (history: {store.path})\n")
        return EXIT_OK
    rows = [("id", "when", "status", "method", "scale", "seconds", "input", "output")]
    for r in records:
        rows.append(
            (
                str(r.id),
                r.created.astimezone().strftime("%Y-%m-%d %H:%M"),
                r.status,
                r.method,
                f"x{r.scale}",
                "" if r.duration_s is None else f"{r.duration_s:.1f}",
                readable(r.input_path.name),
                "" if r.output is None else readable(r.output),
            )
        )
    table(rows, out)
    return EXIT_OK


__all__ = ["register", "run"]
