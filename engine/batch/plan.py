"""Planning a batch: which file goes where, and what could not be planned.

Inputs are files (taken as given) and folders (their image files; with
``recursive``, their sub-folders too, mirrored under the output folder).
Missing inputs and unreadable folders become problems that do not stop the
batch. Outputs never land on an input, and a folder's earlier results are not
taken for new inputs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.io import images

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Plan:
    """A batch, planned: what goes where, and what could not be planned.

    Attributes
    ----------
    items : tuple of (Path, Path)
        (input, output) pairs in processing order.
    problems : tuple of (Path, str)
        Inputs or folders that were skipped, with the reason.
    """

    items: tuple[tuple[Path, Path], ...]
    problems: tuple[tuple[Path, str], ...]


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
    tag = _UNSAFE.sub("-", method).strip("-") or "method"
    return f"{source.stem}_{tag}_x{scale}{suffix}"


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


def plan_outputs(
    inputs: Iterable[PathLike],
    out_dir: PathLike | None,
    *,
    method: str,
    scale: int,
    recursive: bool = False,
    fmt: str | None = None,
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
                pairs.append((source, output_path(source, out, method, scale, fmt)))
            else:
                folder = source.parent if out is None else out
                pairs.append(
                    (source, folder / default_output_name(source, method, scale, fmt))
                )
        elif source.parent.is_dir() and not os.access(source.parent, os.X_OK):
            problems.append((source, "no permission to open its folder"))
        else:
            problems.append((source, "file not found"))
    return Plan(tuple(_unique(_drop_repeats(pairs, scanned))), tuple(problems))


def _drop_repeats(
    pairs: list[tuple[Path, Path]], scanned: set[Path]
) -> list[tuple[Path, Path]]:
    """Drop inputs given twice, and earlier results found in a scanned folder.

    Run twice on a folder with outputs beside the inputs, the second scan finds
    ``photo_bicubic_x2.png`` next to ``photo.png``: it is this plan's own output
    for ``photo.png``, not a new input.
    """
    outputs = {target for _, target in pairs}
    seen: set[str] = set()
    kept = []
    for source, target in pairs:
        key = os.path.realpath(source)
        if key in seen or (source in scanned and source in outputs):
            continue
        seen.add(key)
        kept.append((source, target))
    return kept


def _unique(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Give clashing outputs distinct names (photo.jpg and photo.png to PNG).

    An output that would land on one of the inputs is renamed as well, so a
    batch never writes over its own inputs, with or without overwriting.
    """
    seen: set[str] = {os.path.realpath(source) for source, _ in pairs}
    result = []
    for source, target in pairs:
        candidate, n = target, 1
        while os.path.realpath(candidate) in seen:
            n += 1
            candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        seen.add(os.path.realpath(candidate))
        result.append((source, candidate))
    return result


__all__ = ["Plan", "default_output_name", "output_path", "plan_outputs"]
