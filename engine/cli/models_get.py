"""``unsr models get``: list the catalogue, download and install models from it.

``unsr models get ID...`` fetches each model from its sources, checks every
SHA-256 and installs it into the models folder (ncnn models are converted);
``--list`` prints the catalogue, one model a line, id first; ``--recommended``
gets the one general photo model a fresh install should have; ``--refresh``
first fetches OpenModelDB's index, so its models can be listed and got too.
A failure is one line on stderr and the other ids go on; an interrupted
download keeps its partial file and resumes on the next run.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from engine import jobs, paths
from engine.cli.command import Subparsers
from engine.cli.progress import FileProgress
from engine.models.catalogue import Catalogue, Entry
from engine.models.library import human_bytes


def add_parser(cmds: Subparsers) -> None:
    """Add ``get`` to the ``unsr models`` subparsers."""
    p = cmds.add_parser(
        "get",
        help="download, verify and install models from the catalogue",
        description="Download models from unsr's catalogue (checked against "
        "their SHA-256, then installed into the models folder; ncnn models "
        "are converted). Partial downloads resume on the next run.",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="catalogue ids to get")
    p.add_argument(
        "--list",
        action="store_true",
        help="print the catalogue, one model a line, id first",
    )
    p.add_argument(
        "--recommended",
        action="store_true",
        help="get the catalogue's recommended general photo model (small, fast)",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="first fetch OpenModelDB's index (hundreds of community models)",
    )


def status(entry: Entry) -> str:
    """Return "installed", "available" or "not offered: <why>"."""
    from engine.models.get import installed_path

    if installed_path(entry) is not None:
        return "installed"
    if entry.offered:
        return "available"
    return f"not offered: {entry.unavailable or 'no source'}"


def list_lines(catalogue: Catalogue) -> list[str]:
    """The catalogue as aligned lines: id, scale, purpose, size, licence, status."""
    rows = [
        (
            e.id,
            f"x{e.scale}",
            e.purpose,
            human_bytes(e.size) if e.size else "?",
            e.licence,
            status(e),
            e.name,
        )
        for e in catalogue.entries
    ]
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True))
        + "  "
        + r[-1]
        for r in rows
    ]


def _refresh(err: TextIO) -> bool:
    from engine.models import openmodeldb
    from engine.models.fetch import FetchError

    bar = FileProgress(err)
    try:
        entries = jobs.run(openmodeldb.refresh(), bar.on_event)
    except FetchError as exc:
        bar.clear()
        err.write(f"unsr models get: cannot refresh the OpenModelDB index: {exc}\n")
        return False
    bar.clear()
    offered = sum(e.offered for e in entries)
    err.write(
        f"OpenModelDB: {len(entries)} models listed, {offered} of them offered "
        "(the rest name why)\n"
    )
    return True


def _get_one(entry: Entry, prefix: str, out: TextIO, err: TextIO) -> bool:
    from engine.models.get import GetError, get

    bar = FileProgress(err, prefix)
    try:
        outcome = jobs.run(get(entry), bar.on_event)
    except GetError as exc:
        bar.clear()
        err.write(f"unsr: {exc}\n")
        return False
    bar.clear()
    if outcome.already:
        out.write(f"{entry.id}: already installed as {outcome.library_id}\n")
    else:
        out.write(f"installed {entry.id} as {outcome.library_id} ({outcome.path})\n")
    return True


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Refresh, list or get; 0 when all went well, 1 if anything failed."""
    from engine.models import openmodeldb

    ok = _refresh(err) if args.refresh else True
    catalogue = openmodeldb.full_catalogue()
    if args.list:
        for line in list_lines(catalogue):
            out.write(line + "\n")
        return 0 if ok else 1
    ids = list(args.ids)
    recommended = catalogue.recommended()
    if args.recommended and recommended is not None:
        ids.append(recommended.id)
    if not ids:
        if args.refresh:
            return 0 if ok else 1
        err.write("unsr models get: name a model ID (see `unsr models get --list`)\n")
        return 2
    failed = 0
    for n, model_id in enumerate(ids, 1):
        try:
            entry = catalogue.find(model_id)
        except KeyError as exc:
            err.write(f"unsr: {exc.args[0]}\n")
            failed += 1
            continue
        prefix = f"[{n}/{len(ids)}]" if len(ids) > 1 else ""
        try:
            failed += not _get_one(entry, prefix, out, err)
        except KeyboardInterrupt:
            err.write(
                "unsr models get: cancelled; nothing was installed, and the "
                "partial download resumes next time\n"
            )
            return 130
    if not failed:
        out.write(f"Models folder: {paths.models_dir()}\n")
    return 1 if failed or not ok else 0


__all__ = ["add_parser", "list_lines", "run", "status"]
