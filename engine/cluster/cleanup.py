"""Before a batch: remove what earlier runs left behind in the output folders.

Two kinds of leftovers, both hidden files beside an output that unsr's own
naming marks as its own:

* part files (``.NAME.unsr-<pid>-xxxxxxxx.part``) of a writer killed
  mid-write. The local loop removes those whose pid is gone
  (:func:`engine.batch.remove_stale_parts`), but on a cluster the pid may be
  a live writer's on another machine. The atomic writer writes a part in one
  go and renames it within seconds, so here a part of one of this batch's
  outputs is stale when untouched for :data:`PART_AGE_S`.
* claim files (:mod:`engine.cluster.claims`) whose controller ended.

Each folder is listed once (not one stat per file), which matters on a
network share with thousands of outputs.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.cluster import claims
from engine.io.save import part_owner

#: A part file older than this has no live writer (seconds).
PART_AGE_S = 600.0
#: An unreadable claim older than this is not one being written right now.
CLAIM_AGE_S = 60.0

#: Part names from before they carried the writer's pid.
_OLD_PART = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.part$")


def part_target(name: str) -> str | None:
    """The output name an unsr part file belongs to; None for other files."""
    if part_owner(name) is not None:  # .NAME.unsr-<pid>-<hex>.part
        return name[1:].rsplit(".unsr-", 1)[0]
    old = _OLD_PART.match(name)
    return old["name"] if old else None


@dataclass(frozen=True)
class Leftovers:
    """What :func:`sweep` found.

    Attributes
    ----------
    removed : tuple of Path
        Stale part and claim files, now gone.
    held : dict
        Outputs claimed by a run that may still be working: output -> who.
    """

    removed: tuple[Path, ...]
    held: dict[Path, str]


def _by_folder(targets: Iterable[Path]) -> dict[Path, set[str]]:
    folders: dict[Path, set[str]] = defaultdict(set)
    for target in targets:
        folders[target.parent].add(target.name)
    return folders


def _old(path: Path, age_s: float, now: float) -> bool:
    try:
        return now - path.stat().st_mtime >= age_s
    except OSError:
        return False


def _sweep_folder(
    folder: Path,
    names: set[str],
    host: str,
    now: float,
    removed: list[Path],
    held: dict[Path, str],
) -> None:
    try:
        with os.scandir(folder) as entries:
            hidden = [Path(e.path) for e in entries if e.name.startswith(".")]
    except OSError:  # not there yet, or unreadable: the node check reports it
        return
    for path in hidden:
        part = part_target(path.name)
        if part is not None:
            if part in names and _old(path, PART_AGE_S, now):
                _unlink(path, removed)
            continue
        if not claims.is_claim(path.name):
            continue
        target = folder / path.name[1 : -len(claims.SUFFIX)]
        if target.name not in names:
            continue
        holder = claims.read(path)
        if holder is None and not _old(path, CLAIM_AGE_S, now):
            held[target] = "another run (its claim is being written)"
        elif claims.stale(holder, host):
            _unlink(path, removed)
        elif holder is not None:
            held[target] = holder.describe()


def _unlink(path: Path, removed: list[Path]) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
        removed.append(path)


def remove_parts(target: Path) -> list[Path]:
    """Remove every unsr part file of ``target``, whatever its age.

    For a file whose earlier attempt in this batch died mid-write (its worker
    or node was lost): the batch's claim says no one else writes it.
    """
    removed: list[Path] = []
    try:
        with os.scandir(target.parent) as entries:
            parts = [
                Path(e.path) for e in entries if part_target(e.name) == target.name
            ]
    except OSError:
        return removed
    for path in parts:
        _unlink(path, removed)
    return removed


def sweep(targets: Iterable[Path], host: str) -> Leftovers:
    """Remove stale part and claim files of ``targets``; list live claims.

    Parameters
    ----------
    targets
        The batch's outputs.
    host
        This machine's name (claims of controllers here can be checked).
    """
    removed: list[Path] = []
    held: dict[Path, str] = {}
    now = time.time()
    for folder, names in _by_folder(targets).items():
        _sweep_folder(folder, names, host, now, removed, held)
    return Leftovers(tuple(removed), held)


__all__ = [
    "CLAIM_AGE_S",
    "PART_AGE_S",
    "Leftovers",
    "part_target",
    "remove_parts",
    "sweep",
]
