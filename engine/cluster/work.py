"""One file on a worker: claim, read, method, atomic write, a small result.

This is :func:`engine.batch.process_file` without the run history (only the
controller writes that). Whatever is wrong with the file comes back as a
:class:`~engine.cluster.spec.FileOutcome` with the reason, never as an
exception, so Ray retries only what is not the file's fault: a worker process
or a node that died.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine import batch, jobs
from engine.cluster import claims, cleanup
from engine.cluster.spec import FileOutcome, Item, Outcome, WorkSpec
from engine.events import Event, Message
from engine.io import images
from engine.io.images import WriteError
from engine.io.types import EXISTS_REASON
from engine.methods.base import Method, RunContext
from engine.store import file_sha256


def set_threads(threads: int) -> None:
    """Pin torch's and OpenCV's thread pools to the cores the job reserved.

    Without this every worker process would start one thread per core of the
    machine, and N workers on N cores would run N*N threads.
    """
    import cv2

    from engine import device

    device.configure_threads(threads)
    cv2.setNumThreads(threads)


def fingerprint(path: Path) -> tuple[int, int, str] | None:
    """(size, mtime in ns, SHA-256) of a file just written; None if it is gone."""
    try:
        stat = path.stat()
    except OSError:
        return None
    sha = file_sha256(path)
    return None if sha is None else (stat.st_size, stat.st_mtime_ns, sha)


class TakenOverError(RuntimeError):
    """Another attempt of the batch took this file over (this one was given up)."""


def _upscale(
    item: Item, spec: WorkSpec, method: Method, notes: list[str], attempt: str
) -> None:
    """Read, upscale and write. Raises on a bad file, or when taken over."""
    image = images.read(item.source, max_pixels=spec.max_pixels)
    notes.extend(image.notes)
    context = RunContext(
        device=spec.device,
        tile=spec.tile,
        memory_mb=spec.memory_mb,
        run_dir=None,
        seed=spec.seed,
    )

    def keep_warnings(event: Event) -> None:
        if isinstance(event, Message) and event.level != "info":
            notes.append(event.text)

    job = batch.upscale_image(
        image, method, spec.scale, params=spec.params, context=context
    )
    upscaled = jobs.run(job, keep_warnings)
    notes.extend(
        f"{item.target.name}: {loss}"
        for loss in images.losses(
            upscaled, item.target, fmt=spec.fmt, bit_depth=spec.bit_depth
        )
    )
    if not claims.holds(item.target, spec.batch, attempt):
        raise TakenOverError(item.target)
    images.write(
        upscaled,
        item.target,
        fmt=spec.fmt,
        quality=spec.quality,
        bit_depth=spec.bit_depth,
        overwrite=spec.overwrite,
        protect=(item.source,),
    )


def run_file(item: Item, spec: WorkSpec, method: Method) -> FileOutcome:
    """Do one file of the batch; the outcome says done, failed or skipped.

    The claim (:mod:`engine.cluster.claims`) makes a retried task that finds
    its own batch's output count it as done without writing it again, and
    makes a file another run holds a skip, not a second piece of work.
    """
    start = time.perf_counter()
    resumed = False  # an earlier attempt of this batch held the claim
    attempt = claims.new_attempt()

    def outcome(
        status: Outcome,
        error: str | None = None,
        notes: tuple[str, ...] = (),
        sha256: str | None = None,
        repeat: bool = False,
        written: tuple[int, int, str] | None = None,
        superseded: bool = False,
    ) -> FileOutcome:
        return FileOutcome(
            item.index,
            item.source,
            item.target,
            status,
            seconds=time.perf_counter() - start,
            notes=notes,
            error=error,
            sha256=sha256,
            resumed=resumed,
            repeat=repeat,
            written=written,
            superseded=superseded,
        )

    try:
        holder, resumed = claims.take(item.target, spec.batch, attempt)
    except OSError as exc:
        return outcome("failed", batch.failure_reason(exc, item.source))
    if holder is not None:
        return outcome("skipped", f"{holder.describe()} is working on it")
    if resumed:  # the earlier attempt may have died mid-write
        cleanup.remove_parts(item.target)
    if not spec.overwrite and item.target.exists():
        if resumed:  # an earlier attempt of this batch wrote it
            return outcome("done", repeat=True, written=fingerprint(item.target))
        claims.release(item.target, spec.batch, attempt)
        return outcome("skipped", "another run wrote the output after planning")
    notes: list[str] = []
    # Hashed like the local loop's history: before reading, damaged files too
    # (a folder or a pipe is not hashed; the reader says what it is).
    sha = file_sha256(item.source) if item.source.is_file() else None
    try:
        _upscale(item, spec, method, notes, attempt)
    except TakenOverError:
        # Ray gave this attempt up and another one holds the file: its result
        # counts, this one writes nothing and leaves the claim alone.
        return outcome(
            "skipped", "taken over by another attempt of this batch", superseded=True
        )
    except WriteError as exc:
        if exc.reason == EXISTS_REASON and claims.holds(
            item.target, spec.batch, attempt
        ):
            # A given-up attempt of this batch wrote it just before: done once.
            return outcome("done", repeat=True, written=fingerprint(item.target))
        claims.release(item.target, spec.batch, attempt)
        return outcome(
            "failed", batch.failure_reason(exc, item.source), tuple(notes), sha
        )
    except Exception as exc:
        claims.release(item.target, spec.batch, attempt)
        return outcome(
            "failed", batch.failure_reason(exc, item.source), tuple(notes), sha
        )
    except BaseException:  # cancelled: leave no claim behind
        claims.release(item.target, spec.batch, attempt)
        raise
    return outcome(
        "done", notes=tuple(notes), sha256=sha, written=fingerprint(item.target)
    )


__all__ = ["fingerprint", "run_file", "set_threads"]
