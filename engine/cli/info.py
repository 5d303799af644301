"""``unsr methods`` and ``unsr runs``: what can run, and what has run."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TextIO

from engine.methods.registry import available
from engine.store import Store, StoreError, readable


def table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Write ``rows`` (the first is the header) as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * width for width in widths) + "\n")


def scales_text(scales: Sequence[int]) -> str:
    """Return "x2 x3 x4", or "x1-x8" for a run of consecutive scales."""
    ordered = sorted(scales)
    consecutive = ordered == list(range(ordered[0], ordered[-1] + 1))
    if len(ordered) > 3 and consecutive:
        return f"x{ordered[0]}-x{ordered[-1]}"
    return " ".join(f"x{s}" for s in ordered)


def register_methods(sub: Any) -> None:
    """Add ``methods``."""
    p = sub.add_parser("methods", help="list the methods and their profiles")
    p.set_defaults(func=run_methods)


def run_methods(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
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
    return 0


def register_runs(sub: Any) -> None:
    """Add ``runs``."""
    p = sub.add_parser("runs", help="show the run history")
    p.add_argument("--limit", type=int, default=20, help="how many runs (newest first)")
    p.set_defaults(func=run_runs)


def run_runs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the newest runs from the store."""
    try:
        store = Store()
        records = store.runs(limit=max(1, args.limit))
    except StoreError as exc:
        err.write(f"unsr runs: {exc}\n")
        return 1
    if not records:
        out.write(f"no runs recorded yet (history: {store.path})\n")
        return 0
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
    return 0


__all__ = ["register_methods", "register_runs", "run_methods", "run_runs", "table"]
