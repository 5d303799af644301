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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import pipeline
from engine.batch.plan import output_path
from engine.events import Message, Progress
from engine.io import images
from engine.io.images import ImageData, WriteError
from engine.jobs import Job
from engine.methods.base import Method, RunContext
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
    store: Store | None = None,
    max_pixels: int = images.DEFAULT_MAX_PIXELS,
    protect: Iterable[PathLike] = (),
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
    fmt, quality, bit_depth, overwrite
        As for :func:`engine.io.images.write`; the input is never written over.
    store
        The run history; the default store (under ``data_dir()``) when None.
    max_pixels
        Refuse larger inputs before decoding them.
    protect
        More files never to write over (the other inputs of a batch).

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
    spec = resolve(method)
    spec.check_scale(scale)
    chosen = params if params is not None else spec.params_for(profile)
    target = output_path(source, out, spec.id, scale, fmt)
    images.format_for(target, fmt)  # an unknown format fails before any work
    if target.exists() and not overwrite:
        raise WriteError(
            target, "the file already exists (allow overwriting to replace it)"
        )
    if not source.is_file():
        # Missing, a folder, or a pipe (hashing it for the store would block):
        # fail with the reader's reason before anything is recorded.
        images.read(source, max_pixels=max_pixels)
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
            image, spec, scale, params=chosen, context=ctx
        )
        yield Progress(0, 0, f"writing {target.name}")
        written = images.write(
            upscaled,
            target,
            fmt=fmt,
            quality=quality,
            bit_depth=bit_depth,
            overwrite=overwrite,
            protect=(source, *protect),
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
    "process_file",
    "resolve",
    "upscale_image",
]
