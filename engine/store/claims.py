"""Claims: two runs over the same files do each file once.

A writer claims an output (a row with its pid) before working on it and
releases it once the output is written or given up; a claim whose writer is
gone (killed, crashed) is taken over.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

from engine.store.processes import process_started, writer_gone
from engine.store.schema import transaction


def claim(conn: sqlite3.Connection, key: bytes) -> bool:
    """Claim ``key`` for this process; False if a live writer holds it."""
    pid = os.getpid()
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    with transaction(conn):
        row = conn.execute(
            "SELECT pid, pid_started FROM claims WHERE target = ?", (key,)
        ).fetchone()
        if row is not None and not writer_gone(row["pid"], row["pid_started"]):
            return False
        conn.execute(
            "INSERT OR REPLACE INTO claims (target, pid, pid_started, created)"
            " VALUES (?, ?, ?, ?)",
            (key, pid, process_started(pid), now),
        )
    return True


def held(conn: sqlite3.Connection, key: bytes) -> bool:
    """True while a live process (this one included) holds ``key``."""
    row = conn.execute(
        "SELECT pid, pid_started FROM claims WHERE target = ?", (key,)
    ).fetchone()
    return row is not None and not writer_gone(row["pid"], row["pid_started"])


def release(conn: sqlite3.Connection, key: bytes) -> None:
    """Drop this process's claim on ``key`` (nothing if it holds none)."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM claims WHERE target = ? AND pid = ?", (key, os.getpid())
        )


def drop_stale(conn: sqlite3.Connection) -> int:
    """Remove the claims whose writers are gone; return how many."""
    claims = conn.execute("SELECT target, pid, pid_started FROM claims")
    stale = [
        (r["target"], r["pid"])
        for r in claims.fetchall()
        if writer_gone(r["pid"], r["pid_started"])
    ]
    if stale:
        with transaction(conn):
            conn.executemany("DELETE FROM claims WHERE target = ? AND pid = ?", stale)
    return len(stale)
