"""The small values that travel between the controller and the workers.

Everything here is a frozen dataclass of plain values (paths, numbers, the
method's frozen params), so Ray pickles it cheaply: a task carries one
:class:`Item` and the shared :class:`WorkSpec`, and comes back with one
:class:`FileOutcome` of a few hundred bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.io.types import DEFAULT_MAX_PIXELS

Schedule = Literal["auto", "tasks", "actors"]
Outcome = Literal["done", "failed", "skipped"]


class ClusterError(RuntimeError):
    """The batch cannot run on the cluster; the message says what to do.

    Ray missing, a cluster that cannot be reached, a node that cannot see the
    files or runs other versions.
    """


@dataclass(frozen=True)
class ClusterOptions:
    """How a batch runs on Ray.

    Attributes
    ----------
    address : str
        "local" starts a private Ray on this machine, bound to 127.0.0.1;
        "auto" joins the cluster this machine is part of (``ray start``,
        ``ray job submit``); "HOST:PORT" joins that cluster's head.
    cpus_per_job : float
        CPU cores each file's job reserves; also its torch/OpenCV threads.
    gpus_per_job : float
        GPUs each job reserves (fractions share a GPU); 0 runs on CPUs.
    schedule : str
        "tasks": one task per image, largest first (how fits run);
        "actors": one long-lived worker per slot that loads the method once
        and streams files through it (how pretrained models run); "auto"
        picks tasks for methods that fit each image, actors otherwise.
    in_flight_per_slot : int
        Files handed to a slot ahead of time, so it never waits for the
        controller between two files.
    retries : int
        How often a file lost with its worker (a node that died, a crashed
        process) is tried again before it counts as failed.
    flush_every, flush_seconds : int, float
        The controller writes the run history in one transaction per this
        many results, or this often, whichever comes first.
    local_cpus : int or None
        CPUs of a "local" cluster; all of this machine's when None.
    """

    address: str = "local"
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    schedule: Schedule = "auto"
    in_flight_per_slot: int = 2
    retries: int = 3
    flush_every: int = 64
    flush_seconds: float = 2.0
    local_cpus: int | None = None

    @property
    def threads(self) -> int:
        """Threads a job may use (torch intra-op, OpenCV): its reserved cores."""
        return max(1, int(self.cpus_per_job))


@dataclass(frozen=True)
class Batch:
    """Who runs a batch: claims name it so a retried task knows its own work.

    Attributes
    ----------
    id : str
        Random, unique per run of the controller.
    host : str
        The controlling machine's name.
    pid : int
        The controlling process.
    pid_started : str or None
        Its start time as the OS reports it (tells a recycled pid apart).
    """

    id: str
    host: str
    pid: int
    pid_started: str | None = None


@dataclass(frozen=True)
class MethodRef:
    """A method as a worker can rebuild it, with its weights shipped once.

    Attributes
    ----------
    id : str
        The method id on the controller (used in names and the history).
    kind : str
        "builtin", "pretrained" or "trained".
    file : str or None
        The model file on the controller; a worker that sees the same path
        with the same SHA-256 (a shared folder) reads it from there.
    sha256 : str or None
        The model file's digest, checked wherever the file is read.
    payload : object
        A Ray object reference to the file's bytes (put once in the object
        store), fetched by a node only when it cannot see ``file``.
    """

    id: str
    kind: str
    file: str | None = None
    sha256: str | None = None
    payload: Any = None


@dataclass(frozen=True)
class WorkSpec:
    """What every file of a batch is done with; shipped once per task/actor.

    Attributes mirror :func:`engine.batch.process_file`; ``threads`` is the
    number of cores the job reserved.
    """

    method: MethodRef
    scale: int
    params: Any
    batch: Batch
    fmt: str | None = None
    quality: int = 95
    bit_depth: int | None = None
    overwrite: bool = False
    device: str = "auto"
    tile: int | None = None
    memory_mb: int = 768
    seed: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    threads: int = 1


@dataclass(frozen=True)
class Item:
    """One file of the batch: its place in the plan, input and output."""

    index: int
    source: Path
    target: Path


@dataclass(frozen=True)
class FileOutcome:
    """What a worker sends back for one file; a bad file is data, not an error.

    Attributes
    ----------
    index : int
        The item's place in the plan (duplicates of a retried task share it).
    input, output : Path
        The file read and the file written (or that would have been).
    status : str
        "done", "failed" (``error`` says why) or "skipped" (another run holds
        or wrote the output).
    seconds : float
        Wall time on the worker.
    notes : tuple of str
        Warnings on the way (animated input, CMYK, resized model output).
    error : str or None
        The reason, for "failed" and "skipped".
    sha256 : str or None
        The input's digest, for the history.
    host, node : str
        The machine's name and the Ray node id (first 8 hex digits).
    resumed : bool
        True when an earlier attempt of this batch had claimed the file and
        was lost (a task retried after its node died, a slot that died).
    repeat : bool
        True when that earlier attempt had already written the output: done,
        counted once, not written again.
    superseded : bool
        True when the attempt was given up and another one took the file
        over: not counted (the other attempt's outcome is).
    written : tuple of (int, int, str) or None
        The output's size, mtime (ns) and SHA-256 as the worker wrote it, so
        the history knows the file unsr wrote from a later one of that name.
    """

    index: int
    input: Path
    output: Path
    status: Outcome
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    error: str | None = None
    sha256: str | None = None
    host: str = ""
    node: str = ""
    resumed: bool = False
    repeat: bool = False
    superseded: bool = False
    written: tuple[int, int, str] | None = None


__all__ = [
    "Batch",
    "ClusterError",
    "ClusterOptions",
    "FileOutcome",
    "Item",
    "MethodRef",
    "Outcome",
    "Schedule",
    "WorkSpec",
]
