"""Files in, files out: plan a batch, then read, upscale, write and record each file.

This is the layer the CLI and the app's queue share. :func:`plan_outputs` turns
the inputs a person gave (files and folders) into (input, output) pairs and a
list of problems (missing files, unreadable folders) that do not stop the
batch. :func:`process_file` is the job for one file; it records the run in the
store whatever the outcome (done, failed, cancelled).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import images, jobs
from engine.events import Message, Progress
from engine.images import ImageData, WriteError
from engine.jobs import Job
from engine.methods.base import RunContext
from engine.methods.registry import get as get_method
from engine.store import Store, StoreError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FileResult:
    """What :func:`process_file` returns.

    Attributes
    ----------
    input, output : Path
        The file read and the file written.
    run_id : int
        The run's id in the store.
    seconds : float
        Wall time from reading to the output being in place.
    method : str
        The method id.
    scale : int
        The scale factor.
    metrics : Mapping[str, float]
        Figures measured on the way (none yet for plain upscales).
    notes : tuple of str
        What the reader noticed (animated, CMYK, ...).
    """

    input: Path
    output: Path
    run_id: int
    seconds: float
    method: str
    scale: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


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
    """Give clashing outputs (photo.jpg and photo.png to PNG) distinct names."""
    seen: set[Path] = set()
    result = []
    for source, target in pairs:
        candidate, n = target, 1
        while candidate in seen:
            n += 1
            candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        seen.add(candidate)
        result.append((source, candidate))
    return result


def _params_record(params: Any, profile: str, ctx: RunContext) -> dict[str, Any]:
    record: dict[str, Any] = {"profile": profile}
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        record.update(dataclasses.asdict(params))
    record["device"] = str(ctx.device)
    record["tile"] = ctx.tile
    record["seed"] = ctx.seed
    return record


def upscale_image(
    image: ImageData,
    method: str,
    scale: int,
    *,
    profile: str | None = None,
    params: Any = None,
    context: RunContext | None = None,
) -> Job[ImageData]:
    """Upscale an :class:`ImageData`, keeping its alpha and metadata.

    Returns
    -------
    ImageData
        The upscaled pixels with the input's bit depth, gray flag, ICC, EXIF
        and source (so a later write still refuses to replace the input).
    """
    result = yield from jobs.upscale(
        image.rgb,
        method,
        scale,
        alpha=image.alpha,
        profile=profile,
        params=params,
        context=context,
    )
    return image.with_pixels(result.rgb, result.alpha)


def process_file(
    path: PathLike,
    out: PathLike | None,
    method: str,
    scale: int,
    *,
    profile: str | None = None,
    params: Any = None,
    context: RunContext | None = None,
    fmt: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    overwrite: bool = False,
    store: Store | None = None,
    max_pixels: int = images.DEFAULT_MAX_PIXELS,
) -> Job[FileResult]:
    """Read, upscale, write and record one file.

    Parameters
    ----------
    path
        The input image.
    out
        Output file or folder; beside the input when None (see
        :func:`output_path`).
    method, scale, profile, params, context
        As for :func:`engine.jobs.upscale`. The run's folder becomes the
        context's ``run_dir`` unless one is set.
    fmt, quality, bit_depth, overwrite
        As for :func:`engine.images.write`; the input is never written over.
    store
        The run history; the default store (under ``data_dir()``) when None.
    max_pixels
        Refuse larger inputs before decoding them.

    Returns
    -------
    FileResult
        Via ``StopIteration.value``.

    Raises
    ------
    ImageError
        The input cannot be read or the output cannot be written.
    MethodError
        Unknown method, unsupported scale or profile.

    Notes
    -----
    The run is recorded as "done", "failed" (with the reason) or "cancelled"
    (the generator was closed). Writes are atomic, so a failed or cancelled
    job leaves no output file.
    """
    source = Path(path)
    spec = get_method(method)
    spec.check_scale(scale)
    chosen = params if params is not None else spec.params_for(profile)
    target = output_path(source, out, spec.id, scale, fmt)
    images.format_for(target, fmt)  # an unknown format fails before any work
    if target.exists() and not overwrite:
        raise WriteError(
            target, "the file already exists (allow overwriting to replace it)"
        )
    store = store if store is not None else Store()
    ctx = context if context is not None else RunContext()
    record = store.begin(
        source,
        spec.id,
        scale,
        _params_record(chosen, profile or spec.default_profile, ctx),
    )
    if ctx.run_dir is None:
        ctx = dataclasses.replace(ctx, run_dir=record.folder)
    start = time.perf_counter()
    try:
        yield Progress(0, 0, f"reading {source.name}")
        image = images.read(source, max_pixels=max_pixels)
        for note in image.notes:
            yield Message(f"{source.name}: {note}", "warning")
        upscaled = yield from upscale_image(
            image, spec.id, scale, params=chosen, context=ctx
        )
        yield Progress(0, 0, f"writing {target.name}")
        written = images.write(
            upscaled,
            target,
            fmt=fmt,
            quality=quality,
            bit_depth=bit_depth,
            overwrite=overwrite,
            protect=(source,),
        )
    except (GeneratorExit, KeyboardInterrupt):
        _close_run(store, record.id, "cancelled", start, None)
        raise
    except BaseException as exc:
        _close_run(store, record.id, "failed", start, str(exc) or type(exc).__name__)
        raise
    seconds = time.perf_counter() - start
    store.finish(record.id, "done", output=written, duration_s=seconds)
    return FileResult(
        input=source,
        output=written,
        run_id=record.id,
        seconds=seconds,
        method=spec.id,
        scale=scale,
        notes=image.notes,
    )


def _close_run(
    store: Store, run_id: int, status: str, start: float, error: str | None
) -> None:
    # The job's own error is what the caller must see; a store hiccup here
    # only costs the history entry its final status.
    with contextlib.suppress(sqlite3.Error, StoreError, OSError):
        store.finish(
            run_id, status, duration_s=time.perf_counter() - start, error=error
        )


__all__ = [
    "FileResult",
    "Plan",
    "default_output_name",
    "output_path",
    "plan_outputs",
    "process_file",
    "upscale_image",
]
