"""The run history: one SQLite row per run, plus one folder per run."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine import paths
from engine.store import claims, outputs
from engine.store.files import (
    file_sha256,
    fingerprint,
    folder_unwritable,
    path_key,
    readable,
    sqlite_text,
)
from engine.store.processes import process_started, writer_gone
from engine.store.records import (
    FinishedRun,
    RunRecord,
    check_final,
    record_of,
    to_json,
)
from engine.store.schema import StoreError, migrate, opened, transaction


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


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

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return opened(self.path)

    # -- writing runs --------------------------------------------------------
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
        pid = os.getpid()
        with self._connect() as conn, transaction(conn):
            cur = conn.execute(
                "INSERT INTO runs (created, input_path, input_raw, input_sha256,"
                " method, scale, params, status, pid, pid_started)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    _now(),
                    readable(source),
                    os.fsencode(source),
                    sha,
                    sqlite_text(method),
                    int(scale),
                    to_json(params),
                    pid,
                    process_started(pid),
                ),
            )
            run_id = self._give_folder(conn, int(cur.lastrowid or 0))
        return self.get(run_id)

    def _give_folder(self, conn: sqlite3.Connection, run_id: int) -> int:
        """Make run ``run_id``'s folder and note its name in the row."""
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
            break
        conn.execute("UPDATE runs SET folder = ? WHERE id = ?", (folder.name, run_id))
        return run_id

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
        check_final(status)
        size = mtime = sha = None
        if output is not None:
            output = os.path.realpath(output)
            size, mtime, sha = fingerprint(Path(output))
        with self._connect() as conn, transaction(conn):
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
                    to_json({k: float(v) for k, v in (metrics or {}).items()}),
                    duration_s,
                    sqlite_text(error),
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
            check_final(run.status)
        created, pid = _now(), os.getpid()
        with self._connect() as conn, transaction(conn):
            return [
                self._give_folder(conn, self._insert_ended(conn, run, created, pid))
                for run in finished
            ]

    @staticmethod
    def _insert_ended(
        conn: sqlite3.Connection, run: FinishedRun, created: str, pid: int
    ) -> int:
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
                sqlite_text(run.method),
                int(run.scale),
                to_json(run.params),
                None if output is None else readable(output),
                None if output is None else os.fsencode(output),
                size,
                mtime,
                sha,
                run.status,
                run.duration_s,
                sqlite_text(run.error),
                pid,
            ),
        )
        return int(cur.lastrowid or 0)

    # -- reading runs --------------------------------------------------------
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
        return record_of(row, self.runs_dir)

    def runs(self, limit: int = 200) -> list[RunRecord]:
        """Return the newest ``limit`` runs, newest first."""
        self.mark_interrupted()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM runs ORDER BY created DESC, id DESC LIMIT ?",
                (int(limit),),
            ).fetchall()
        return [record_of(r, self.runs_dir) for r in rows]

    def delete(self, run_id: int) -> None:
        """Forget run ``run_id`` and remove its folder.

        Raises
        ------
        KeyError
            If there is no such run.
        """
        record = self.get(run_id)
        with self._connect() as conn, transaction(conn):
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
        with self._connect() as conn:
            rows = outputs.candidates(conn, path)
        row = outputs.still_written_by(rows, path)  # may hash: no connection held
        return None if row is None else record_of(row, self.runs_dir)

    # -- claims --------------------------------------------------------------
    def claim(self, target: str | os.PathLike[str]) -> bool:
        """Claim ``target`` for this process; False if a live writer holds it.

        A claim whose process is gone (killed, crashed) is taken over. Release
        it with :meth:`release` once the output is written or given up.
        """
        with self._connect() as conn:
            return claims.claim(conn, path_key(target))

    def claimed(self, target: str | os.PathLike[str]) -> bool:
        """True while a live process (this one included) holds ``target``."""
        with self._connect() as conn:
            return claims.held(conn, path_key(target))

    def release(self, target: str | os.PathLike[str]) -> None:
        """Drop this process's claim on ``target`` (nothing if it holds none)."""
        with self._connect() as conn:
            claims.release(conn, path_key(target))

    # -- upkeep --------------------------------------------------------------
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
        """Mark runs whose writer process is gone as "interrupted"; return ids.

        Claims of gone writers are dropped at the same time.
        """
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, pid, pid_started FROM runs WHERE status = 'running'"
            ).fetchall()
            gone = [
                int(r["id"]) for r in rows if writer_gone(r["pid"], r["pid_started"])
            ]
            if gone:
                with transaction(conn):
                    conn.executemany(
                        "UPDATE runs SET status = 'interrupted',"
                        " error = COALESCE(error, 'the process running it ended')"
                        " WHERE id = ? AND status = 'running'",
                        [(i,) for i in gone],
                    )
            claims.drop_stale(conn)
        return gone
