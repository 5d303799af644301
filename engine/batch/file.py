"""One file's job: read, upscale through the pipeline, write and record.

:func:`process_file` records the run in the store whatever the outcome (done,
failed, cancelled).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import pipeline
from engine.batch.plan import output_path
from engine.events import Message, Progress
from engine.io import images
from engine.io.images import ImageData, WriteError
from engine.io.save import same_file
from engine.io.types import EXISTS_REASON
from engine.jobs import Job
from engine.methods.base import Method, RunContext
from engine.methods.registry import get as get_method
from engine.store import Store, StoreError, readable

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
    method: Method | str,
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
    spec = resolve(method)
    chosen = params if params is not None else spec.params_for(profile)
    result = yield from pipeline.upscale(image, spec, scale, chosen, context)
    return image.with_pixels(result.rgb, result.alpha)


def resolve(method: Method | str) -> Method:
    """The method itself, or the registry's method of that id (looked up once)."""
    return method if isinstance(method, Method) else get_method(method)


class OutputTakenError(WriteError):
    """The output needs no work here: unsr wrote it already, or is writing it.

    ``reason`` says which: an earlier run wrote it (and nobody changed it
    since), or another live run holds its claim or has just written it. A
    batch counts these files as skipped, not failed.
    """


@dataclass(frozen=True, eq=False)
class _Job:
    """One file's job, checked and resolved, before anything is recorded."""

    source: Path
    target: Path
    spec: Method
    scale: int
    params: Any
    profile: str
    context: RunContext
    store: Store


def _prepare(
    path: PathLike,
    out: PathLike | None,
    method: Method | str,
    scale: int,
    profile: str | None,
    params: Any,
    context: RunContext | None,
    fmt: str | None,
    store: Store | None,
    max_pixels: int,
) -> _Job:
    """Resolve and check everything that can fail before any work or record."""
    source = Path(path)
    spec = resolve(method)
    spec.check_scale(scale)
    chosen = params if params is not None else spec.params_for(profile)
    target = output_path(source, out, spec.id, scale, fmt)
    images.format_for(target, fmt)  # an unknown format fails before any work
    if not source.is_file():
        # Missing, a folder, or a pipe (hashing it for the store would block):
        # fail with the reader's reason before anything is recorded.
        images.read(source, max_pixels=max_pixels)
    return _Job(
        source, target, spec, scale, chosen, profile or spec.default_profile,
        context if context is not None else RunContext(),
        store if store is not None else Store(),
    )  # fmt: skip


def _check_target(
    job: _Job, overwrite: bool, overwrite_any: bool, protect: Iterable[PathLike]
) -> None:
    """Refuse an existing output unless it may be replaced; say whose it is."""
    target = job.target
    if not (target.exists() or target.is_symlink()):
        return
    if any(same_file(target, Path(p)) for p in (job.source, *protect)):
        raise WriteError(target, "refusing to write over an input image")
    record = job.store.wrote(target)
    if record is not None and not (overwrite or overwrite_any):
        raise OutputTakenError(target, f"already written by unsr (run {record.id})")
    if record is None and not overwrite_any:
        raise WriteError(
            target,
            "a file unsr did not write already has this name; it is left alone "
            "(allow replacing any file to write over it)",
        )


def _claim(
    job: _Job, overwrite: bool, overwrite_any: bool, protect: Iterable[PathLike]
) -> None:
    """Claim the output for this process, then check what is there.

    The claim comes first: a file another run is writing exists before that
    run records it, and only its claim tells it from a user's file.

    Raises
    ------
    OutputTakenError
        Another live run holds the claim, or unsr wrote the file already.
    WriteError
        The name belongs to an input, or to a file unsr did not write.
    """
    if not job.store.claim(job.target):
        raise OutputTakenError(job.target, "another unsr run is writing it")
    try:
        _check_target(job, overwrite, overwrite_any, protect)
    except BaseException:
        job.store.release(job.target)
        raise


def _upscale_and_write(
    job: _Job,
    fmt: str | None,
    quality: int,
    bit_depth: int | None,
    replace: bool,
    max_pixels: int,
    protect: Iterable[PathLike],
    image: ImageData | None = None,
) -> Job[tuple[Path, tuple[str, ...]]]:
    """Read (unless given), upscale and write; return the output and notes."""
    source, target = job.source, job.target
    # Event text is shown as is: names that are not UTF-8 get escapes.
    source_name, target_name = readable(source.name), readable(target.name)
    if image is None:
        yield Progress(0, 0, f"reading {source_name}")
        image = images.read(source, max_pixels=max_pixels)
    for note in image.notes:
        yield Message(f"{source_name}: {note}", "warning")
    upscaled = yield from upscale_image(
        image, job.spec, job.scale, params=job.params, context=job.context
    )
    for loss in images.losses(upscaled, target, fmt=fmt, bit_depth=bit_depth):
        yield Message(f"{target_name}: {loss}", "warning")
    yield Progress(0, 0, f"writing {target_name}")
    try:
        written = images.write(
            upscaled, target, fmt=fmt, quality=quality, bit_depth=bit_depth,
            overwrite=replace, protect=(source, *protect),
        )  # fmt: skip
    except WriteError as exc:
        if exc.reason == EXISTS_REASON and job.store.wrote(target) is not None:
            # A run that claims nothing (another history folder) got there first.
            raise OutputTakenError(
                target, "written by another unsr run meanwhile"
            ) from None
        raise
    return written, image.notes


def _recorded(
    job: _Job, work: Callable[[_Job], Job[tuple[Path, tuple[str, ...]]]]
) -> Job[FileResult]:
    """Run ``work`` as one recorded run: done, failed (why) or cancelled.

    The run's folder becomes the context's ``run_dir`` unless one is set.
    """
    record = job.store.begin(
        job.source, job.spec.id, job.scale,
        _params_record(job.params, job.profile, job.context),
    )  # fmt: skip
    if job.context.run_dir is None:
        context = dataclasses.replace(job.context, run_dir=record.folder)
        job = dataclasses.replace(job, context=context)
    start = time.perf_counter()
    try:
        written, notes = yield from work(job)
    except (GeneratorExit, KeyboardInterrupt):
        _close_run(job.store, record.id, "cancelled", start, None)
        raise
    except BaseException as exc:
        _close_run(
            job.store, record.id, "failed", start, str(exc) or type(exc).__name__
        )
        raise
    seconds = time.perf_counter() - start
    job.store.finish(record.id, "done", output=written, duration_s=seconds)
    return FileResult(
        input=job.source, output=written, run_id=record.id, seconds=seconds,
        method=job.spec.id, scale=job.scale, notes=notes,
    )  # fmt: skip


def process_file(
    path: PathLike,
    out: PathLike | None,
    method: Method | str,
    scale: int,
    *,
    profile: str | None = None,
    params: Any = None,
    context: RunContext | None = None,
    fmt: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    overwrite: bool = False,
    overwrite_any: bool = False,
    store: Store | None = None,
    max_pixels: int = images.DEFAULT_MAX_PIXELS,
    protect: Iterable[PathLike] = (),
    image: ImageData | None = None,
) -> Job[FileResult]:
    """Read, upscale, write and record one file.

    Parameters
    ----------
    path
        The input image.
    out
        Output file or folder; beside the input when None (see
        :func:`output_path`).
    method
        The method, resolved once per batch (or its id, resolved here).
    scale, profile, params, context
        As for :func:`engine.pipeline.upscale`. The run's folder becomes the
        context's ``run_dir`` unless one is set.
    fmt, quality, bit_depth
        As for :func:`engine.io.images.write`; the input is never written over.
    overwrite
        Replace an output unsr wrote earlier (the run history knows it and
        nobody changed it since).
    overwrite_any
        Replace whatever file has the output's name, even one unsr did not
        write. Without it such a file is never touched.
    store
        The run history; the default store (under ``data_dir()``) when None.
    max_pixels
        Refuse larger inputs before decoding them.
    protect
        More files never to write over (the other inputs of a batch).
    image
        ``path`` already read by the caller (the app shows it before the run),
        so the file is decoded once.

    Returns
    -------
    FileResult
        Via ``StopIteration.value``.

    Raises
    ------
    OutputTakenError
        Nothing to do: unsr wrote the output already, or another live run is
        writing it (a batch counts it as skipped).
    ImageError
        The input cannot be read or the output cannot be written.
    MethodError
        Unknown method, unsupported scale or profile.

    Notes
    -----
    The output is claimed in the run history before any work, so two runs over
    the same files do each one once. The run is recorded as "done", "failed"
    (with the reason) or "cancelled" (the generator was closed). Writes are
    atomic, so a failed or cancelled job leaves no output file.
    """
    job = _prepare(
        path, out, method, scale, profile, params, context, fmt, store, max_pixels
    )
    protect = list(protect)
    _claim(job, overwrite, overwrite_any, protect)
    try:
        return (
            yield from _recorded(
                job,
                lambda ready: _upscale_and_write(
                    ready, fmt, quality, bit_depth, overwrite or overwrite_any,
                    max_pixels, protect, image,
                ),
            )
        )  # fmt: skip
    finally:
        job.store.release(job.target)


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
    "OutputTakenError",
    "process_file",
    "resolve",
    "upscale_image",
]
