"""Which run wrote a file: an output unsr wrote versus a user's file of that name.

A finished run records where its output went and the file's size,
modification time and SHA-256; a file of the same name that differs is
someone else's now.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from engine.store.files import file_sha256, path_key, readable


def candidates(
    conn: sqlite3.Connection, path: str | os.PathLike[str]
) -> list[sqlite3.Row]:
    """The finished runs whose output had the name ``path``, newest first."""
    key = path_key(path)
    return conn.execute(
        "SELECT * FROM runs WHERE status = 'done' AND (output_raw = ?"
        " OR (output_raw IS NULL AND output IN (?, ?))) ORDER BY id DESC",
        (key, readable(os.fsdecode(key)), readable(path)),
    ).fetchall()


def still_written_by(
    rows: Sequence[sqlite3.Row], path: str | os.PathLike[str]
) -> sqlite3.Row | None:
    """The one of ``rows`` whose output ``path`` still is, or None.

    None when the file is gone or changed since (another size or content).
    Runs recorded before outputs had fingerprints match on the name.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return None
    sha: str | None = None
    for row in rows:
        if row["output_size"] is None:
            return row  # recorded before fingerprints
        if row["output_size"] != stat.st_size:
            continue
        if row["output_mtime_ns"] == stat.st_mtime_ns:
            return row
        # Same size, touched since: the content decides (hashed once).
        sha = sha or file_sha256(Path(path))
        if sha is not None and sha == row["output_sha256"]:
            return row
    return None
