"""``unsr models``: list, add, remove, inspect and import model files.

``unsr models list | add FILE... | remove ID | info ID | import-ncnn DIR | get ID...``
(``get`` lives in :mod:`engine.cli.models_get`).
Wire it into ``engine.cli`` with ``register(sub)``; every command sets
``func(args, out, err) -> exit code`` (0 fine, 1 some file failed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from engine import models, paths
from engine.cli import models_get
from engine.cli.command import Subparsers
from engine.cli.tables import table
from engine.models.errors import LibraryError, ModelError
from engine.models.library import Entry, human_bytes


def _row(e: Entry) -> tuple[str, ...]:
    info = e.info
    if info is not None:
        what = info.architecture
    elif e.kind == "unsr":
        what = f"unsr {e.recipe}" if e.recipe else "unsr"
    else:
        what = "?"
    return (
        e.id,
        what,
        f"x{e.scale}" if e.scale else "",
        info.purpose if info else ("SR" if e.kind == "unsr" and e.usable else ""),
        human_bytes(e.path.stat().st_size) if e.path.exists() else "",
        e.source,
        e.status,
    )


def run_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the library as a table (or JSON with ``--json``)."""
    try:
        found = models.entries()
    except OSError as exc:
        err.write(f"unsr: cannot read the models folder ({exc})\n")
        return 1
    if getattr(args, "json", False):
        out.write(json.dumps([e.facts() for e in found], indent=2) + "\n")
        return 0
    if not found:
        out.write(
            f"No models yet. Add one with `unsr models add FILE`, or drop "
            f".pth/.safetensors files into {paths.models_dir()}\n"
        )
        return 0
    rows: list[tuple[str, ...]] = [
        ("id", "architecture", "scale", "purpose", "size", "source", "status")
    ]
    rows += [_row(e) for e in found]
    table(rows, out)
    out.write(f"\nUser models folder: {paths.models_dir()}\n")
    return 0


def run_add(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Validate and copy each file; a bad file is reported and the rest go on."""
    failed = 0
    for file in args.files:
        try:
            entry = models.add(Path(file))
        except (ModelError, LibraryError, OSError) as exc:
            err.write(f"unsr: {exc}\n")
            failed += 1
            continue
        info = entry.info
        assert info is not None
        out.write(f"added {entry.id}: {info.architecture} x{info.scale}\n")
    return 1 if failed else 0


def run_remove(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Delete one model from the user folder."""
    try:
        path = models.remove(args.id)
    except LibraryError as exc:
        err.write(f"unsr: {exc}\n")
        return 1
    out.write(f"removed {path}\n")
    return 0


def run_info(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print everything known about one model."""
    try:
        entry = models.find(args.id)
    except LibraryError as exc:
        err.write(f"unsr: {exc}\n")
        return 1
    facts = entry.facts()
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        out.write(f"{key.ljust(width)}  {value}\n")
    return 0


def run_import_ncnn(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Convert every .param/.bin pair of a folder into the models folder."""
    from engine.models import ncnn

    folder = Path(args.folder)
    if not folder.is_dir():
        err.write(f"unsr: {folder}: not a folder\n")
        return 1
    results = ncnn.import_folder(folder)
    if not results:
        err.write(f"unsr: {folder}: no .param/.bin pairs found\n")
        return 1
    failed = 0
    for result in results:
        if result.entry is not None:
            out.write(f"imported {result.param.name} as {result.entry.id}\n")
        else:
            failed += 1
            err.write(f"unsr: {result.param.name}: {result.error}\n")
    return 1 if failed else 0


def run(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Dispatch ``unsr models ...``; return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    commands = {
        "list": run_list,
        "add": run_add,
        "remove": run_remove,
        "info": run_info,
        "import-ncnn": run_import_ncnn,
        "get": models_get.run,
    }
    return commands[args.models_command or "list"](args, out, err)


def register(sub: Subparsers) -> None:
    """Add ``models`` and its subcommands to an argparse subparsers object."""
    p = sub.add_parser(
        "models",
        help="list, add, remove and inspect model files",
        description="The models library: the user models folder and bundled models.",
    )
    cmds = p.add_subparsers(dest="models_command", metavar="ACTION")
    ls = cmds.add_parser("list", help="list every model file and its status")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    add = cmds.add_parser("add", help="check model files and copy them in")
    add.add_argument("files", nargs="+", metavar="FILE")
    rm = cmds.add_parser("remove", help="delete a model from the user folder")
    rm.add_argument("id", metavar="ID")
    info = cmds.add_parser("info", help="architecture, scale, sizes, precision")
    info.add_argument("id", metavar="ID")
    imp = cmds.add_parser(
        "import-ncnn",
        help="convert a folder of ncnn models (.param + .bin, as Upscayl ships)",
    )
    imp.add_argument("folder", metavar="DIR")
    models_get.add_parser(cmds)
    p.set_defaults(func=run)


__all__ = ["register", "run"]
