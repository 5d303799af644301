"""What the history holds about a run, and how a row becomes a record."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from engine.store.files import stored_path

Status = Literal["running", "done", "failed", "cancelled", "interrupted"]

#: Every status a run can have. "interrupted" is set by the store itself.
STATUSES: Final = ("running", "done", "failed", "cancelled", "interrupted")
#: Statuses ``finish`` accepts.
FINAL_STATUSES: Final = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class RunRecord:
    """One run as recorded in the store.

    Attributes
    ----------
    id : int
        Row id; stable, never reused within one database.
    created : datetime
        When the run began (UTC, timezone-aware).
    input_path : Path
        The input file as given.
    input_sha256 : str or None
        Hex digest of the input's bytes; None when it could not be read.
    method : str
        The method id.
    params : dict
        The parameters the method ran with (JSON-serialisable view).
    scale : int
        The scale factor.
    output : Path or None
        Where the result was written, once it was.
    status : str
        One of :data:`STATUSES`.
    duration_s : float or None
        Wall time of the run, when finished.
    metrics : dict
        Named figures (PSNR, SSIM, ...) when measured.
    error : str or None
        Why a run failed.
    folder : Path
        The run's artefact folder.
    """

    id: int
    created: datetime
    input_path: Path
    input_sha256: str | None
    method: str
    params: dict[str, Any]
    scale: int
    output: Path | None
    status: Status
    duration_s: float | None
    metrics: dict[str, float]
    error: str | None
    folder: Path


@dataclass(frozen=True)
class FinishedRun:
    """A run that already ended elsewhere, to be recorded after the fact.

    A cluster's workers do the work and only the controlling process writes
    the history: it records what came back in batches
    (:meth:`engine.store.Store.record_finished`).

    Attributes
    ----------
    input_path : Path
        The input file as given.
    input_sha256 : str or None
        Hex digest of the input's bytes, as the worker read them.
    method, scale, params
        What was run.
    status : str
        One of :data:`FINAL_STATUSES`.
    output : Path or None
        The file written, for a "done" run.
    duration_s : float or None
        The worker's wall time for the file.
    error : str or None
        Why the run failed.
    output_fingerprint : tuple of (int, int, str) or None
        The output's size, mtime (ns) and SHA-256 as the worker wrote it, so
        :meth:`engine.store.Store.wrote` knows it from a later file of the
        same name.
    """

    input_path: Path
    input_sha256: str | None
    method: str
    scale: int
    params: Mapping[str, Any]
    status: str
    output: Path | None = None
    duration_s: float | None = None
    error: str | None = None
    output_fingerprint: tuple[int, int, str] | None = None


def check_final(status: str) -> None:
    """Refuse a status a run cannot end with.

    Raises
    ------
    ValueError
        If ``status`` is not one of :data:`FINAL_STATUSES`.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(
            f"a run ends as one of {', '.join(FINAL_STATUSES)}, not {status!r}"
        )


def to_json(value: Mapping[str, Any] | None) -> str:
    """A mapping as the JSON text a row keeps (params, metrics)."""
    # default=str: params may hold Paths, enums or tuples; a readable view is
    # what the history needs, not a perfect round trip of every type.
    return json.dumps(dict(value or {}), default=str, sort_keys=True)


def record_of(row: sqlite3.Row, runs_dir: Path) -> RunRecord:
    """The record of one ``runs`` row; its folder lies in ``runs_dir``."""
    metrics = {k: float(v) for k, v in json.loads(row["metrics"] or "{}").items()}
    duration = row["duration_s"]
    return RunRecord(
        id=int(row["id"]),
        created=datetime.fromisoformat(row["created"]),
        input_path=stored_path(row["input_raw"], row["input_path"]) or Path(),
        input_sha256=row["input_sha256"],
        method=row["method"],
        params=json.loads(row["params"] or "{}"),
        scale=int(row["scale"]),
        output=stored_path(row["output_raw"], row["output"]),
        status=row["status"],
        duration_s=None if duration is None else float(duration),
        metrics=metrics,
        error=row["error"],
        folder=runs_dir / (row["folder"] or str(row["id"])),
    )
