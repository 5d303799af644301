"""The run history's database: connections, transactions and the migrations.

``PRAGMA user_version`` counts the migrations applied; :data:`MIGRATIONS` is
the ordered list, each applied in one transaction with its version bump.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

#: How long a writer waits for another's lock before giving up, in ms.
BUSY_TIMEOUT_MS: Final = 30_000


class StoreError(RuntimeError):
    """The run store cannot be used (newer schema, unreadable file)."""


def _v1_runs_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created TEXT NOT NULL,
            input_path TEXT NOT NULL,
            input_sha256 TEXT,
            method TEXT NOT NULL,
            scale INTEGER NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            output TEXT,
            status TEXT NOT NULL,
            duration_s REAL,
            metrics TEXT NOT NULL DEFAULT '{}',
            error TEXT
        )
        """
    )
    conn.execute("CREATE INDEX runs_created ON runs (created)")


def _v2_owner_and_folder(conn: sqlite3.Connection) -> None:
    # Who is writing a running row (to spot dead writers) and the folder name
    # (usually the id; different if a stale folder of that name existed).
    conn.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    conn.execute("ALTER TABLE runs ADD COLUMN pid_started TEXT")
    conn.execute("ALTER TABLE runs ADD COLUMN folder TEXT")
    conn.execute("CREATE INDEX runs_status ON runs (status)")


def _v3_raw_paths_outputs_claims(conn: sqlite3.Connection) -> None:
    # Lossless paths (bytes as the OS gives them), the output's fingerprint
    # (to know a file unsr wrote from a user's file of the same name), and
    # claims (so two runs over the same files do each one once).
    conn.execute("ALTER TABLE runs ADD COLUMN input_raw BLOB")
    conn.execute("ALTER TABLE runs ADD COLUMN output_raw BLOB")
    conn.execute("ALTER TABLE runs ADD COLUMN output_size INTEGER")
    conn.execute("ALTER TABLE runs ADD COLUMN output_mtime_ns INTEGER")
    conn.execute("ALTER TABLE runs ADD COLUMN output_sha256 TEXT")
    conn.execute("CREATE INDEX runs_output_raw ON runs (output_raw)")
    conn.execute("CREATE INDEX runs_output ON runs (output)")
    conn.execute(
        """
        CREATE TABLE claims (
            target BLOB PRIMARY KEY,
            pid INTEGER NOT NULL,
            pid_started TEXT,
            created TEXT NOT NULL
        )
        """
    )


#: Ordered migrations; ``user_version`` N means the first N were applied.
MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (
    _v1_runs_table,
    _v2_owner_and_folder,
    _v3_raw_paths_outputs_claims,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Apply the pending migrations up to version ``upto``; return the version.

    Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with
    the version bump, so a crash leaves the database at a whole version, and a
    second process migrating at the same time waits and then finds no work.

    Raises
    ------
    StoreError
        If the database was made by a newer unsr.
    """
    version = _user_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the run history has schema version {version}, newer than this "
            f"unsr understands ({SCHEMA_VERSION}); update unsr"
        )
    while version < upto:
        with transaction(conn):
            version = _user_version(conn)  # re-read under the lock
            if version >= upto:
                break
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
    return version


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that takes the lock up front (``BEGIN IMMEDIATE``).

    Taking it at once, not at the first write, means a second writer waits
    for the whole transaction instead of failing halfway through it.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with WAL and a busy timeout."""
    # isolation_level=None: the module issues no hidden BEGINs; we do our own.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _to_wal(conn)
        # NORMAL is crash-safe in WAL mode (a power cut may lose the last commit).
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


def _to_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode (kept in the file once set), retrying.

    Switching needs an exclusive lock. When two connections switch a new file
    at once, both hold a shared lock and want the exclusive one; SQLite breaks
    that deadlock by answering "database is locked" to one of them at once,
    without the busy timeout's wait (3 processes opening a fresh history
    together failed in 35 of 100 tries). So the switch is retried until the
    timeout; on a file in WAL already it is a no-op.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.1)


@contextlib.contextmanager
def opened(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection to ``path``, closed on leaving.

    sqlite3 objects must not cross threads (the app reads on the GUI thread
    while a worker writes), and opening a local file costs far less than a
    millisecond next to the seconds a run takes.
    """
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()
