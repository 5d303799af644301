"""Planning a batch: which file goes where, and what could not be planned.

Inputs are files (taken as given) and folders (their image files; with
``recursive``, their sub-folders too, mirrored under the output folder).
Missing inputs and unreadable folders become problems that do not stop the
batch. Outputs never land on an input, and a folder's earlier results are not
taken for new inputs.

"Earlier results" are the files the run history knows unsr wrote (with this
method and scale), not files that merely look like it: a user's own
``a_bicubic_x2.png`` beside ``a.png`` is an input like any other, and the
output for ``a.png`` takes another name (``a_bicubic_x2-2.png``) rather than
go over it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.io import images
from engine.store import RunRecord, Store, StoreError

PathLike = str | os.PathLike[str]

#: Tells which run wrote a file as it is now (None: unsr did not write it).
Owner = Callable[[Path], RunRecord | None]
#: Tells whether a live unsr run is writing a file right now.
Claimed = Callable[[Path], bool]


@dataclass(frozen=True)
class Plan:
    """A batch, planned: what goes where, and what could not be planned.

    Attributes
    ----------
    items : tuple of (Path, Path)
        (input, output) pairs in processing order.
    problems : tuple of (Path, str)
        Inputs or folders that were skipped, with the reason.
    notes : tuple of (Path, str)
        Things a person should know that change nothing's fate (an output
        renamed around a file unsr did not write).
    """

    items: tuple[tuple[Path, Path], ...]
    problems: tuple[tuple[Path, str], ...]
    notes: tuple[tuple[Path, str], ...] = ()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_output_name(
    path: PathLike, method: str, scale: int, fmt: str | None = None
) -> str:
    """Return the output file name: ``photo.png`` -> ``photo_dualsr_x2.png``.

    Parameters
    ----------
    path
        The input file.
    method
        The method id (characters unsafe in file names become "-").
    scale
        The scale factor.
    fmt
        Output format; the input's own when it can be written, else PNG.
    """
    source = Path(path)
    if fmt is not None:
        suffix = images.SUFFIX_FOR[images.format_for(source, fmt)]
    elif source.suffix.lower() in images.FORMATS:
        suffix = source.suffix.lower()
    else:
        suffix = ".png"
    return f"{source.stem}_{_tag(method)}_x{scale}{suffix}"


def _tag(method: str) -> str:
    """The method id as it appears in output names (unsafe characters "-")."""
    return _UNSAFE.sub("-", method).strip("-") or "method"


def output_path(
    path: PathLike,
    out: PathLike | None,
    method: str,
    scale: int,
    fmt: str | None = None,
) -> Path:
    """Where the output of one file goes.

    ``out`` None puts it beside the input; an existing folder, or a path
    without an image suffix, is a folder; anything else is the file itself.
    """
    source = Path(path)
    name = default_output_name(source, method, scale, fmt)
    if out is None:
        return source.parent / name
    target = Path(out)
    if target.is_dir() or target.suffix.lower() not in images.FORMATS:
        return target / name
    return target


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in images.READABLE_SUFFIXES and not path.name.startswith(
        "."
    )


def _scan(
    folder: Path,
    recursive: bool,
    skip: Path | None,
    problems: list[tuple[Path, str]],
    visited: set[Path] | None = None,
) -> list[Path]:
    """Image files in ``folder`` (and below when recursive), sorted by path."""
    visited = set() if visited is None else visited
    real = folder.resolve()
    if real in visited:  # a symlink loop, or a folder reached twice
        return []
    visited.add(real)
    found: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            children = sorted(entries, key=lambda e: e.name)
    except PermissionError:
        problems.append((folder, "no permission to list this folder"))
        return found
    except OSError as exc:
        problems.append((folder, f"could not list this folder: {exc.strerror or exc}"))
        return found
    for entry in children:
        child = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            # Never descend into the output tree (it may sit inside the input).
            if recursive and not entry.name.startswith(".") and child.resolve() != skip:
                found.extend(_scan(child, recursive, skip, problems, visited))
        elif _is_image_name(child):
            found.append(child)
    return found


def _history(store: Store | None) -> tuple[Owner, Claimed]:
    """The run history's ``wrote`` and ``claimed``, or "knows nothing"."""
    try:
        history = store if store is not None else Store()
    except StoreError:
        return (lambda path: None), (lambda path: False)
    return history.wrote, history.claimed


def plan_outputs(
    inputs: Iterable[PathLike],
    out_dir: PathLike | None,
    *,
    method: str,
    scale: int,
    recursive: bool = False,
    fmt: str | None = None,
    store: Store | None = None,
    overwrite_any: bool = False,
) -> Plan:
    """Expand files and folders into (input, output) pairs.

    Parameters
    ----------
    inputs
        Files (taken as given, whatever their suffix) and folders (their image
        files; non-images are skipped quietly).
    out_dir
        Output folder; None writes beside each input. For one file input it
        may also be the output file itself (``-o big.png``).
    method, scale, fmt
        Used for the output names, see :func:`default_output_name`.
    recursive
        Descend into sub-folders; the output mirrors the folder tree.
    store
        The run history (the default store when None): files it knows unsr
        wrote, or that a live run is writing, are unsr's; others the user's.
    overwrite_any
        Plan outputs over files unsr did not write, instead of renaming.

    Returns
    -------
    Plan
        Missing inputs and unreadable folders are listed in ``problems``.
    """
    given = [Path(p) for p in inputs]
    out = Path(out_dir) if out_dir is not None else None
    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    scanned: set[Path] = set()
    explicit: set[Path] = set()
    single_file = len(given) == 1 and given[0].is_file()
    for source in given:
        if source.is_dir():
            skip = out.resolve() if out is not None else None
            for found in _scan(source, recursive, skip, problems):
                scanned.add(found)
                folder = (
                    found.parent
                    if out is None
                    else out / found.parent.relative_to(source)
                )
                pairs.append(
                    (found, folder / default_output_name(found, method, scale, fmt))
                )
        elif source.exists() or source.is_symlink():
            if single_file and out is not None:
                target = output_path(source, out, method, scale, fmt)
                if target != out / default_output_name(source, method, scale, fmt):
                    explicit.add(target)  # named by the person: never renamed
                pairs.append((source, target))
            else:
                folder = source.parent if out is None else out
                pairs.append(
                    (source, folder / default_output_name(source, method, scale, fmt))
                )
        elif source.parent.is_dir() and not os.access(source.parent, os.X_OK):
            problems.append((source, "no permission to open its folder"))
        else:
            problems.append((source, "file not found"))
    owner, claimed = _history(store)
    earlier = _EarlierOutputs(owner, claimed, method, scale)
    kept = _drop_repeats(pairs, scanned, earlier)
    notes: list[tuple[Path, str]] = []
    renamer = _Renamer(owner, claimed, explicit, overwrite_any, notes)
    return Plan(tuple(renamer.unique(kept)), tuple(problems), tuple(notes))


@dataclass(frozen=True)
class _EarlierOutputs:
    """Tells a file this method and scale wrote earlier from a user's file."""

    owner: Owner
    claimed: Claimed
    method: str
    scale: int

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, Path):
            return False
        if f"_{_tag(self.method)}_x{self.scale}" not in path.stem:
            return False  # unsr's output names always carry "_method_xN"
        if self.claimed(path):
            return True  # another run is writing it: an output, not an input
        record = self.owner(path)
        return (
            record is not None
            and record.method == self.method
            and record.scale == self.scale
        )


def _drop_repeats(
    pairs: list[tuple[Path, Path]], scanned: set[Path], earlier: _EarlierOutputs
) -> list[tuple[Path, Path]]:
    """Drop inputs given twice, and earlier results found in a scanned folder.

    Run twice on a folder with outputs beside the inputs, the second scan finds
    ``photo_bicubic_x2.png`` next to ``photo.png``: when the run history knows
    unsr wrote it with this method and scale, it is an earlier result, not a
    new input. A user's file of that name is an input like any other.
    """
    seen: set[str] = set()
    kept = []
    for source, target in pairs:
        key = os.path.realpath(source)
        if key in seen or (source in scanned and source in earlier):
            continue
        seen.add(key)
        kept.append((source, target))
    return kept


@dataclass(frozen=True)
class _Renamer:
    """Gives outputs distinct names, never an input's nor a user's file's."""

    owner: Owner
    claimed: Claimed
    explicit: set[Path]
    overwrite_any: bool
    notes: list[tuple[Path, str]]

    def _foreign(self, path: Path) -> bool:
        """An existing file (or link) that unsr did not write nor is writing."""
        if self.overwrite_any or not (path.exists() or path.is_symlink()):
            return False
        return self.owner(path) is None and not self.claimed(path)

    def unique(self, pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
        """Rename outputs that clash, land on an input or on a user's file.

        Two inputs with one output name (photo.jpg and photo.png to PNG), an
        output on one of the inputs, and an output over a file unsr did not
        write (a note says so) get a number; an output named by the person is
        kept.
        """
        seen: set[str] = {os.path.realpath(source) for source, _ in pairs}
        result = []
        for source, target in pairs:
            candidate, n = target, 1
            while os.path.realpath(candidate) in seen or (
                target not in self.explicit and self._foreign(candidate)
            ):
                n += 1
                candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
            if candidate != target and self._foreign(target):
                self.notes.append(
                    (
                        target,
                        f"{target.name} was not written by unsr: left alone, "
                        f"writing {candidate.name} instead",
                    )
                )
            seen.add(os.path.realpath(candidate))
            result.append((source, candidate))
        return result


__all__ = [
    "Claimed",
    "Owner",
    "Plan",
    "default_output_name",
    "output_path",
    "plan_outputs",
]
