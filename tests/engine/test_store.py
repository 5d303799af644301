from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine import store as store_mod
from engine.store import SCHEMA_VERSION, Store, StoreError

ROOT = Path(__file__).resolve().parents[2]


def _input(tmp_path: Path, data: bytes = b"not really a png") -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    return path


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_default_location_is_the_data_dir(tmp_path: Path) -> None:
    s = Store()
    assert s.path == Path(os.environ["UNSR_DATA_DIR"]) / "unsr.sqlite"
    assert s.path.exists()


def test_round_trip(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)  # > one hash chunk, so streaming is exercised
    src = _input(tmp_path, data)
    s = Store(tmp_path / "db.sqlite")
    rec = s.begin(src, "dualsr", 2, {"iters": 3000, "out": Path("x")})
    assert rec.status == "running"
    assert rec.input_sha256 == hashlib.sha256(data).hexdigest()
    assert rec.folder.is_dir() and not any(rec.folder.iterdir())
    assert rec.folder.parent == tmp_path / "runs"
    assert rec.params == {"iters": 3000, "out": "x"}
    assert rec.created.tzinfo is not None

    out = tmp_path / "photo_dualsr_x2.png"
    done = s.finish(
        rec.id, "done", output=out, metrics={"psnr": 31.5}, duration_s=12.25
    )
    assert done.status == "done"
    assert done.output == out
    assert done.metrics == {"psnr": 31.5}
    assert done.duration_s == 12.25

    again = Store(tmp_path / "db.sqlite").get(rec.id)
    assert again == done


def test_runs_newest_first_with_limit(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    src = _input(tmp_path)
    ids = [s.begin(src, "bicubic", 2, {}).id for _ in range(5)]
    listed = s.runs(limit=3)
    assert [r.id for r in listed] == ids[::-1][:3]
    assert len({r.folder for r in s.runs()}) == 5


def test_finish_rejects_unknown_status_and_run(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    rec = s.begin(_input(tmp_path), "bicubic", 2, {})
    with pytest.raises(ValueError, match="not 'finished'"):
        s.finish(rec.id, "finished")
    with pytest.raises(KeyError):
        s.finish(rec.id + 100, "done")
    with pytest.raises(KeyError):
        s.get(rec.id + 100)


def test_failed_run_keeps_error(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    rec = s.begin(_input(tmp_path), "dualsr", 4, {})
    failed = s.finish(rec.id, "failed", error="out of memory", duration_s=1.0)
    assert (failed.status, failed.error, failed.output) == (
        "failed",
        "out of memory",
        None,
    )


def test_unreadable_input_has_no_hash(tmp_path: Path) -> None:
    rec = Store(tmp_path / "db.sqlite").begin(tmp_path / "gone.png", "x", 2, {})
    assert rec.input_sha256 is None


def test_delete_removes_row_and_folder(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    rec = s.begin(_input(tmp_path), "bicubic", 2, {})
    (rec.folder / "kernel.npy").write_bytes(b"k")
    keep = s.begin(_input(tmp_path), "bicubic", 2, {})
    s.delete(rec.id)
    assert not rec.folder.exists()
    assert keep.folder.exists()
    with pytest.raises(KeyError):
        s.get(rec.id)


def test_stale_folder_is_not_reused(tmp_path: Path) -> None:
    # The database was deleted but the run folders were not: run 1 is new.
    stale = tmp_path / "runs" / "1"
    stale.mkdir(parents=True)
    (stale / "old.png").write_bytes(b"old")
    rec = Store(tmp_path / "db.sqlite").begin(_input(tmp_path), "bicubic", 2, {})
    assert rec.id == 1
    assert rec.folder != stale and rec.folder.is_dir()
    assert (stale / "old.png").exists()


def test_migrates_from_version_0_and_1(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    conn = store_mod.connect(db)
    assert store_mod.migrate(conn, upto=0) == 0
    assert store_mod.migrate(conn, upto=1) == 1
    # A run written by a version-1 unsr: no pid, no folder column yet.
    conn.execute(
        "INSERT INTO runs (created, input_path, method, scale, status)"
        " VALUES ('2025-01-01T00:00:00+00:00', 'a.png', 'bicubic', 2, 'done')"
    )
    conn.execute(
        "INSERT INTO runs (created, input_path, method, scale, status)"
        " VALUES ('2025-01-02T00:00:00+00:00', 'b.png', 'dualsr', 2, 'running')"
    )
    conn.close()

    s = Store(db)
    with store_mod.connect(db) as check:
        version = check.execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
    old = {r.input_path.name: r for r in s.runs()}
    assert old["a.png"].status == "done"
    assert old["a.png"].folder == tmp_path / "runs" / "1"
    # Nobody can still be running a run recorded before pids were.
    assert old["b.png"].status == "interrupted"


def test_fresh_database_reaches_latest_version(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    Store(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db)


def test_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"db\.sqlite"):
        Store(db)


def test_running_row_of_a_live_process_stays_running(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    rec = s.begin(_input(tmp_path), "dualsr", 2, {})
    assert Store(tmp_path / "db.sqlite").get(rec.id).status == "running"
    assert s.mark_interrupted() == []


def test_recycled_pid_counts_as_gone(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    s = Store(db)
    rec = s.begin(_input(tmp_path), "dualsr", 2, {})
    if store_mod._process_started(os.getpid()) is None:
        pytest.skip("this OS does not report process start times")
    with store_mod.connect(db) as conn:
        conn.execute("UPDATE runs SET pid_started = '1' WHERE id = ?", (rec.id,))
    assert s.mark_interrupted() == [rec.id]


WRITER = """
import sys
from pathlib import Path
from engine.store import Store

db, src, n, tag = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = Store(db)
for i in range(n):
    rec = s.begin(src, tag, 2, {"i": i})
    s.finish(rec.id, "done", metrics={"i": i}, duration_s=0.0)
"""


def test_two_writer_processes_lose_nothing(tmp_path: Path) -> None:
    db, src, n = tmp_path / "db.sqlite", _input(tmp_path), 60
    procs = [
        subprocess.Popen(
            [*_python(WRITER), str(db), str(src), str(n), tag],
            env=_env(),
            stderr=subprocess.PIPE,
        )
        for tag in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    runs = Store(db).runs(limit=1000)
    assert len(runs) == 2 * n
    for tag in ("a", "b"):
        mine = [r for r in runs if r.method == tag]
        assert sorted(int(r.metrics["i"]) for r in mine) == list(range(n))
        assert all(r.status == "done" for r in mine)
    assert len({r.folder for r in runs}) == 2 * n


ENDLESS = """
import sys
from pathlib import Path
from engine.store import Store

s = Store(Path(sys.argv[1]))
src = Path(sys.argv[2])
i = 0
while True:
    rec = s.begin(src, "endless", 2, {"i": i, "pad": "x" * 2000})
    if i % 2:
        s.finish(rec.id, "done", metrics={"i": i})
    i += 1
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_writer_leaves_a_readable_store(tmp_path: Path) -> None:
    db, src = tmp_path / "db.sqlite", _input(tmp_path)
    Store(db)  # schema in place, so the child goes straight to writing
    proc = subprocess.Popen([*_python(ENDLESS), str(db), str(src)], env=_env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store_mod.connect(db) as conn:
                count = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            if count >= 40:
                break
            time.sleep(0.05)
        assert count >= 40, "the writer never got going"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    s = Store(db)
    with store_mod.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    runs = s.runs(limit=100_000)
    assert len(runs) >= 40
    # The child's last begin() had not been finished: nothing is left "running".
    assert not [r for r in runs if r.status == "running"]
    interrupted = [r for r in runs if r.status == "interrupted"]
    assert interrupted
    assert all(r.error for r in interrupted)
    # And the store still takes new runs.
    assert s.begin(src, "after", 2, {}).status == "running"


def test_one_store_shared_by_threads(tmp_path: Path) -> None:
    # The app reads on the GUI thread while a worker QThread writes.
    import threading

    s, src = Store(tmp_path / "db.sqlite"), _input(tmp_path)
    errors: list[BaseException] = []

    def work(tag: str) -> None:
        try:
            for i in range(15):
                rec = s.begin(src, tag, 2, {"i": i})
                s.runs(limit=5)
                s.finish(rec.id, "done")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    runs = s.runs(limit=1000)
    assert len(runs) == 60 and all(r.status == "done" for r in runs)


def test_a_new_history_opened_by_several_at_once_opens_for_all(tmp_path: Path) -> None:
    """Two batches started together both create the history: neither may fail.

    Switching a new file to WAL deadlocked two connections' lock upgrades and
    SQLite answered "database is locked" at once (about one round in ten of
    these, before the switch was retried); a connection per thread is enough.
    """
    import threading

    errors: list[BaseException] = []
    for round_ in range(60):
        path = tmp_path / f"h{round_}" / "unsr.sqlite"
        start = threading.Barrier(4)

        def open_it(where: Path = path, gate: threading.Barrier = start) -> None:
            gate.wait()
            try:
                Store(where)
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[0]
    conn = sqlite3.connect(tmp_path / "h0" / "unsr.sqlite")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# --- names that are not UTF-8, outputs unsr wrote, claims, writability ---------


@pytest.mark.skipif(sys.platform != "linux", reason="Linux names may be any bytes")
def test_non_utf8_file_name_stored_losslessly(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9 \xff.png")  # Latin-1 bytes: not valid UTF-8
    src = tmp_path / name
    src.write_bytes(b"pixels")
    out = tmp_path / os.fsdecode(b"caf\xe9_x2.png")
    out.write_bytes(b"output")
    s = Store(tmp_path / "db.sqlite")
    rec = s.begin(src, "bicubic", 2)
    s.finish(rec.id, "failed", error=f"{src}: damaged", output=out)
    back = s.get(rec.id)
    assert back.input_path == src and os.fsencode(back.input_path) == os.fsencode(src)
    assert back.output == out
    assert back.error is not None and "\\xe9" in back.error
    assert store_mod.readable(src).endswith("caf\\xe9 \\xff.png")


def test_wrote_knows_its_outputs_and_nothing_else(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    ours = tmp_path / "a_bicubic_x2.png"
    ours.write_bytes(b"written by unsr")
    rec = s.begin(_input(tmp_path), "bicubic", 2)
    s.finish(rec.id, "done", output=ours)
    assert s.wrote(ours) is not None
    assert s.wrote(tmp_path / "." / "a_bicubic_x2.png") is not None  # same file
    theirs = tmp_path / "b_bicubic_x2.png"
    theirs.write_bytes(b"the user's own picture")
    assert s.wrote(theirs) is None
    ours.write_bytes(b"edited by hand afterwards!")  # another size: not ours now
    assert s.wrote(ours) is None


def test_wrote_survives_a_touched_mtime(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    out = tmp_path / "o.png"
    out.write_bytes(b"same bytes")
    rec = s.begin(_input(tmp_path), "bicubic", 2)
    s.finish(rec.id, "done", output=out)
    os.utime(out, (1, 1))  # copied back from a backup: same content
    assert s.wrote(out) is not None
    out.write_bytes(b"same bytez")  # same size, other content
    os.utime(out, (2, 2))
    assert s.wrote(out) is None


def test_claims_exclude_live_writers_and_pass_from_dead_ones(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    target = tmp_path / "o.png"
    assert s.claim(target)
    assert not s.claim(target)  # held (by this very process)
    s.release(target)
    assert s.claim(target)
    # A claim left by a process that has ended is taken over.
    dead = subprocess.run(_python("import os; print(os.getpid())"), capture_output=True)
    dead_pid = int(dead.stdout)
    with sqlite3.connect(s.path) as conn:
        conn.execute("UPDATE claims SET pid = ?, pid_started = NULL", (dead_pid,))
    assert s.claim(target)


def test_check_writable_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Store(tmp_path / "db.sqlite")
    assert s.check_writable() is None
    real_open = os.open

    def refuse(path: str, *args: object, **kwargs: object) -> int:
        if ".unsr-probe-" in str(path):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    reason = s.check_writable()
    assert reason is not None and str(tmp_path) in reason and "permission" in reason
