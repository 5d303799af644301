"""Plain-text tables for the listing commands (methods, runs, models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO


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


__all__ = ["scales_text", "table"]
