"""The run history: one SQLite row per run, plus one folder per run.

The database is ``unsr.sqlite`` in :func:`engine.paths.data_dir` (WAL journal, so
the app can read while the CLI or a worker writes); each run gets a folder
``runs/<id>/`` for its artefacts (output, kernel, loss log, previews, weights).

Design choices, and why:

* **Short-lived connections.** Every call opens and closes its own connection.
  sqlite3 objects must not cross threads, and the app reads on the GUI thread
  while a worker writes from a QThread; opening a local file costs well under a
  millisecond next to the seconds a run takes.
* **Crash safety.** WAL plus explicit transactions: a process killed mid-write
  leaves the last committed state, never a broken file.
* **Several writers.** ``busy_timeout`` makes a writer wait for another's lock
  instead of failing; writes take the lock up front (``BEGIN IMMEDIATE``).
* **Interrupted runs.** ``begin`` records the writer's pid (and, where the OS
  tells it, the process start time, so a recycled pid is not mistaken for the
  writer). Whenever the store is opened or listed, rows still "running" whose
  process is gone become "interrupted". A run recorded from another machine
  sharing the folder cannot be checked and is left alone.
* **Schema versions.** ``PRAGMA user_version`` counts the migrations applied;
  :data:`MIGRATIONS` is the ordered list, each applied in one transaction.
* **Every output is known.** A finished run records where its output went and
  the file's size, modification time and SHA-256, so :meth:`Store.wrote` can
  tell an output unsr wrote (and that nobody changed since) from a user's own
  file that merely has the same name.
* **Claims.** Two runs over the same files do each file once: a writer claims
  an output (a row with its pid) before working on it; a claim whose writer
  is gone is taken over.
* **Any file name.** Paths are stored losslessly as the bytes the OS uses
  (a name that is not valid UTF-8 is possible on Linux) next to a readable
  text form; :func:`readable` shows such names with backslash escapes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from engine import paths

Status = Literal["running", "done", "failed", "cancelled", "interrupted"]

#: Every status a run can have. "interrupted" is set by the store itself.
STATUSES: Final = ("running", "done", "failed", "cancelled", "interrupted")
#: Statuses ``finish`` accepts.
FINAL_STATUSES: Final = ("done", "failed", "cancelled")

#: How long a writer waits for another's lock before giving up, in ms.
BUSY_TIMEOUT_MS: Final = 30_000

_HASH_CHUNK: Final = 1 << 20


class StoreError(RuntimeError):
    """The run store cannot be used (newer schema, unreadable file)."""


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


# --- schema -----------------------------------------------------------------


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
        with _transaction(conn):
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
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
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
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is crash-safe in WAL mode (a power cut may lose the last commit).
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


# --- process liveness --------------------------------------------------------


def _process_started(pid: int) -> str | None:
    """Start time of ``pid`` as the OS reports it (Linux only), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after ')' are fixed.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    # os.kill(pid, 0) would terminate the process on Windows; ask the kernel.
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _writer_gone(pid: int | None, started: str | None) -> bool:
    if pid is None:
        return True  # a row from before pids were recorded cannot still run
    if not _pid_alive(pid):
        return True
    now = _process_started(pid)
    return started is not None and now is not None and now != started


def process_gone(pid: int) -> bool:
    """True when no process ``pid`` runs on this machine (for stale files)."""
    return not _pid_alive(pid)


# --- paths -------------------------------------------------------------------


def folder_unwritable(folder: Path) -> str | None:
    """Why no file can be made in ``folder`` (or its nearest existing parent).

    A real probe (create and remove a hidden file): permission bits, ACLs,
    read-only mounts and full disks all answer the same way.
    """
    probe = Path(os.path.abspath(folder))
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{readable(probe)} is not a folder"
    name = probe / f".unsr-probe-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except PermissionError:
        return "no permission to write there"
    except OSError as exc:
        if exc.errno == errno.EROFS:
            return "it is on a read-only disk"
        if exc.errno == errno.ENOSPC:
            return "the disk is full"
        return f"cannot write there ({exc.strerror or exc})"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def readable(path: str | os.PathLike[str]) -> str:
    """A path as text that prints anywhere: undecodable bytes escaped.

    A Linux file name need not be valid UTF-8; Python carries such bytes as
    lone surrogates, which a UTF-8 terminal or SQLite text column refuses.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _text(value: str | None) -> str | None:
    """Text safe for a SQLite TEXT column (error messages may hold paths)."""
    if value is None:
        return None
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _key(path: str | os.PathLike[str]) -> bytes:
    """The path as the OS spells it, links resolved: lossless and comparable."""
    return os.fsencode(os.path.realpath(path))


def _path_of(raw: bytes | None, text: str | None) -> Path | None:
    if raw is not None:
        return Path(os.fsdecode(bytes(raw)))
    return Path(text) if text is not None else None


# --- the store ---------------------------------------------------------------


@dataclass(frozen=True)
class FinishedRun:
    """A run that already ended elsewhere, to be recorded after the fact.

    A cluster's workers do the work and only the controlling process writes
    the history: it records what came back in batches
    (:meth:`Store.record_finished`).

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
        :meth:`Store.wrote` knows it from a later file of the same name.
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


def file_sha256(path: Path) -> str | None:
    """Hex SHA-256 of a file, read in chunks; None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _fingerprint(path: Path) -> tuple[int | None, int | None, str | None]:
    """(size, mtime in ns, SHA-256) of a file, or Nones when it is gone."""
    try:
        stat = path.stat()
    except OSError:
        return None, None, None
    return stat.st_size, stat.st_mtime_ns, file_sha256(path)


def _to_json(value: Mapping[str, Any] | None) -> str:
    # default=str: params may hold Paths, enums or tuples; a readable view is
    # what the history needs, not a perfect round trip of every type.
    return json.dumps(dict(value or {}), default=str, sort_keys=True)


class Store:
    """The run history.

    Parameters
    ----------
    path
        The SQLite file; ``data_dir()/unsr.sqlite`` when None. Run folders live
        in ``runs/`` next to it.

    Raises
    ------
    StoreError
        If the file is not a usable database or is from a newer unsr.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else paths.data_dir() / "unsr.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.runs_dir = self.path.parent / "runs"
        try:
            with self._connect() as conn:
                migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the run history {self.path}: {exc}") from exc
        self.mark_interrupted()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def begin(
        self,
        input_path: str | os.PathLike[str],
        method: str,
        scale: int,
        params: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Record a run that starts now and create its folder.

        Parameters
        ----------
        input_path
            The input image; hashed (streamed) so later runs can be matched to
            the same bytes even if the file moved.
        method, scale, params
            What is being run.

        Returns
        -------
        RunRecord
            With status "running" and an existing, empty ``folder``.
        """
        source = Path(input_path)
        sha = file_sha256(source)
        created = datetime.now(UTC).isoformat(timespec="microseconds")
        pid = os.getpid()
        with self._connect() as conn, _transaction(conn):
            cur = conn.execute(
                "INSERT INTO runs (created, input_path, input_raw, input_sha256,"
                " method, scale, params, status, pid, pid_started)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    created,
                    readable(source),
                    os.fsencode(source),
                    sha,
                    _text(method),
                    int(scale),
                    _to_json(params),
                    pid,
                    _process_started(pid),
                ),
            )
            run_id = int(cur.lastrowid or 0)
            folder = self._new_folder(run_id)
            conn.execute(
                "UPDATE runs SET folder = ? WHERE id = ?", (folder.name, run_id)
            )
        return self.get(run_id)

    def _new_folder(self, run_id: int) -> Path:
        # A folder of this name can exist if the database was deleted and made
        # again; never mix a new run's artefacts into an old run's folder.
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        name, n = str(run_id), 1
        while True:
            folder = self.runs_dir / name
            try:
                folder.mkdir()
            except FileExistsError:
                n += 1
                name = f"{run_id}-{n}"
                continue
            return folder

    def finish(
        self,
        run_id: int,
        status: str,
        output: str | os.PathLike[str] | None = None,
        metrics: Mapping[str, float] | None = None,
        duration_s: float | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """Record how a run ended and return the updated record.

        Raises
        ------
        ValueError
            If ``status`` is not one of :data:`FINAL_STATUSES`.
        KeyError
            If there is no run ``run_id``.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(
                f"a run ends as one of {', '.join(FINAL_STATUSES)}, not {status!r}"
            )
        size = mtime = sha = None
        if output is not None:
            output = os.path.realpath(output)
            size, mtime, sha = _fingerprint(Path(output))
        with self._connect() as conn, _transaction(conn):
            cur = conn.execute(
                "UPDATE runs SET status = ?, output = ?, output_raw = ?,"
                " output_size = ?, output_mtime_ns = ?, output_sha256 = ?,"
                " metrics = ?, duration_s = ?, error = ? WHERE id = ?",
                (
                    status,
                    None if output is None else readable(output),
                    None if output is None else os.fsencode(output),
                    size,
                    mtime,
                    sha,
                    _to_json({k: float(v) for k, v in (metrics or {}).items()}),
                    duration_s,
                    _text(error),
                    int(run_id),
                ),
            )
            if cur.rowcount == 0:
                raise KeyError(f"no run {run_id} in {self.path}")
        return self.get(run_id)

    def record_finished(self, finished: Sequence[FinishedRun]) -> list[int]:
        """Record runs that ended elsewhere, all in one transaction; return ids.

        One transaction per batch keeps a controller of thousands of files from
        paying a disk sync per file. Each run still gets its (empty) folder.

        Raises
        ------
        ValueError
            If a status is not one of :data:`FINAL_STATUSES`.
        """
        for run in finished:
            if run.status not in FINAL_STATUSES:
                raise ValueError(
                    f"a run ends as one of {', '.join(FINAL_STATUSES)}, "
                    f"not {run.status!r}"
                )
        created = datetime.now(UTC).isoformat(timespec="microseconds")
        pid = os.getpid()
        ids: list[int] = []
        with self._connect() as conn, _transaction(conn):
            for run in finished:
                output = None if run.output is None else os.path.realpath(run.output)
                size, mtime, sha = run.output_fingerprint or (None, None, None)
                cur = conn.execute(
                    "INSERT INTO runs (created, input_path, input_raw, input_sha256,"
                    " method, scale, params, output, output_raw, output_size,"
                    " output_mtime_ns, output_sha256, status, duration_s, error, pid)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        created,
                        readable(run.input_path),
                        os.fsencode(run.input_path),
                        run.input_sha256,
                        _text(run.method),
                        int(run.scale),
                        _to_json(run.params),
                        None if output is None else readable(output),
                        None if output is None else os.fsencode(output),
                        size,
                        mtime,
                        sha,
                        run.status,
                        run.duration_s,
                        _text(run.error),
                        pid,
                    ),
                )
                run_id = int(cur.lastrowid or 0)
                folder = self._new_folder(run_id)
                conn.execute(
                    "UPDATE runs SET folder = ? WHERE id = ?", (folder.name, run_id)
                )
                ids.append(run_id)
        return ids

    def get(self, run_id: int) -> RunRecord:
        """Return run ``run_id``.

        Raises
        ------
        KeyError
            If there is no such run.
        """
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM runs WHERE id = ?", (int(run_id),)
            ).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id} in {self.path}")
        return self._record(row)

    def runs(self, limit: int = 200) -> list[RunRecord]:
        """Return the newest ``limit`` runs, newest first."""
        self.mark_interrupted()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM runs ORDER BY created DESC, id DESC LIMIT ?",
                (int(limit),),
            ).fetchall()
        return [self._record(r) for r in rows]

    def delete(self, run_id: int) -> None:
        """Forget run ``run_id`` and remove its folder.

        Raises
        ------
        KeyError
            If there is no such run.
        """
        record = self.get(run_id)
        with self._connect() as conn, _transaction(conn):
            conn.execute("DELETE FROM runs WHERE id = ?", (record.id,))
        # Only ever remove a folder inside our runs dir, whatever the row says.
        if record.folder.parent == self.runs_dir and record.folder.is_dir():
            shutil.rmtree(record.folder, ignore_errors=True)

    def wrote(self, path: str | os.PathLike[str]) -> RunRecord | None:
        """The finished run that wrote ``path`` as it is now, or None.

        None when no run wrote that name, when the file is gone, or when it
        changed since (another size or content: someone else's file now).
        Runs recorded before outputs had fingerprints match on the name.
        """
        key = _key(path)
        try:
            stat = os.stat(path)
        except OSError:
            return None
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM runs WHERE status = 'done' AND (output_raw = ?"
                " OR (output_raw IS NULL AND output IN (?, ?))) ORDER BY id DESC",
                (key, readable(os.fsdecode(key)), readable(path)),
            ).fetchall()
        sha: str | None = None
        for row in rows:
            if row["output_size"] is None:
                return self._record(row)  # recorded before fingerprints
            if row["output_size"] != stat.st_size:
                continue
            if row["output_mtime_ns"] == stat.st_mtime_ns:
                return self._record(row)
            sha = sha or file_sha256(Path(path))
            if sha is not None and sha == row["output_sha256"]:
                return self._record(row)
        return None

    def claim(self, target: str | os.PathLike[str]) -> bool:
        """Claim ``target`` for this process; False if a live writer holds it.

        A claim whose process is gone (killed, crashed) is taken over. Release
        it with :meth:`release` once the output is written or given up.
        """
        key = _key(target)
        pid = os.getpid()
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._connect() as conn, _transaction(conn):
            row = conn.execute(
                "SELECT pid, pid_started FROM claims WHERE target = ?", (key,)
            ).fetchone()
            if row is not None and not _writer_gone(row["pid"], row["pid_started"]):
                return False
            conn.execute(
                "INSERT OR REPLACE INTO claims (target, pid, pid_started, created)"
                " VALUES (?, ?, ?, ?)",
                (key, pid, _process_started(pid), now),
            )
        return True

    def claimed(self, target: str | os.PathLike[str]) -> bool:
        """True while a live process (this one included) holds ``target``."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT pid, pid_started FROM claims WHERE target = ?", (_key(target),)
            ).fetchone()
        return row is not None and not _writer_gone(row["pid"], row["pid_started"])

    def release(self, target: str | os.PathLike[str]) -> None:
        """Drop this process's claim on ``target`` (nothing if it holds none)."""
        with self._connect() as conn, _transaction(conn):
            conn.execute(
                "DELETE FROM claims WHERE target = ? AND pid = ?",
                (_key(target), os.getpid()),
            )

    def check_writable(self) -> str | None:
        """Why runs cannot be recorded here, or None when they can.

        Checks once, before a batch: a file can be made in the history folder
        and in ``runs/``, and the database takes a write lock.
        """
        for folder in (self.path.parent, self.runs_dir):
            reason = folder_unwritable(folder)
            if reason is not None:
                return f"cannot record runs in {readable(folder)}: {reason}"
        try:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            return f"cannot write the run history {readable(self.path)}: {exc}"
        return None

    def mark_interrupted(self) -> list[int]:
        """Mark runs whose writer process is gone as "interrupted"; return ids."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, pid, pid_started FROM runs WHERE status = 'running'"
            ).fetchall()
            gone = [
                int(r["id"]) for r in rows if _writer_gone(r["pid"], r["pid_started"])
            ]
            if gone:
                with _transaction(conn):
                    conn.executemany(
                        "UPDATE runs SET status = 'interrupted',"
                        " error = COALESCE(error, 'the process running it ended')"
                        " WHERE id = ? AND status = 'running'",
                        [(i,) for i in gone],
                    )
            claims = conn.execute("SELECT target, pid, pid_started FROM claims")
            stale = [
                (r["target"], r["pid"])
                for r in claims.fetchall()
                if _writer_gone(r["pid"], r["pid_started"])
            ]
            if stale:
                with _transaction(conn):
                    conn.executemany(
                        "DELETE FROM claims WHERE target = ? AND pid = ?", stale
                    )
        return gone

    def _record(self, row: sqlite3.Row) -> RunRecord:
        metrics = {k: float(v) for k, v in json.loads(row["metrics"] or "{}").items()}
        duration = row["duration_s"]
        return RunRecord(
            id=int(row["id"]),
            created=datetime.fromisoformat(row["created"]),
            input_path=_path_of(row["input_raw"], row["input_path"]) or Path(),
            input_sha256=row["input_sha256"],
            method=row["method"],
            params=json.loads(row["params"] or "{}"),
            scale=int(row["scale"]),
            output=_path_of(row["output_raw"], row["output"]),
            status=row["status"],
            duration_s=None if duration is None else float(duration),
            metrics=metrics,
            error=row["error"],
            folder=self.runs_dir / (row["folder"] or str(row["id"])),
        )


__all__ = [
    "FINAL_STATUSES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATUSES",
    "FinishedRun",
    "RunRecord",
    "Status",
    "Store",
    "StoreError",
    "connect",
    "file_sha256",
    "folder_unwritable",
    "migrate",
    "process_gone",
    "readable",
]
