"""The cluster's pieces that run without Ray: claims, cleanup, the per-file job,
the counts, the batched history and the shipping of weights."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cluster import checks, claims, cleanup, weights, work
from engine.cluster.history import History
from engine.cluster.spec import Batch, FileOutcome, Item, MethodRef, WorkSpec
from engine.cluster.tally import Tally
from engine.methods import resample
from engine.methods.base import MethodError
from engine.store import FINAL_STATUSES, FinishedRun, Store


def _png(path: Path, seed: int = 0, size: tuple[int, int] = (24, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _batch(name: str = "b1", pid: int | None = None) -> Batch:
    return Batch(name, "this-host", os.getpid() if pid is None else pid)


def _spec(batch: Batch, **kw: object) -> WorkSpec:
    return WorkSpec(
        MethodRef("bicubic", "builtin"),
        2,
        resample.BICUBIC.params_for(None),
        batch,
        threads=1,
        **kw,  # type: ignore[arg-type]
    )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- claims ------------------------------------------------------------------


def test_claim_is_exclusive_and_knows_its_batch(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a_bicubic_x2.png"
    mine, other = _batch("mine"), _batch("other")
    assert claims.take(target, mine) == (None, False)
    assert claims.path_for(target).name == ".a_bicubic_x2.png.unsr-claim"
    # The same batch again (a retried task) resumes its own claim.
    assert claims.take(target, mine) == (None, True)
    holder, resumed = claims.take(target, other)
    assert holder is not None and holder.batch == "mine" and not resumed
    claims.release(target, other)  # not the holder: nothing happens
    assert claims.path_for(target).exists()
    claims.release(target, mine)
    assert not claims.path_for(target).exists()


def test_a_takeover_names_the_new_attempt(tmp_path: Path) -> None:
    target = tmp_path / "a_bicubic_x2.png"
    b = _batch()
    assert claims.take(target, b, "first") == (None, False)
    assert claims.take(target, b, "second") == (None, True)
    assert not claims.holds(target, b, "first")
    assert claims.holds(target, b, "second")
    claims.release(target, b, "first")  # the given-up attempt cannot drop it
    assert claims.holds(target, b, "second")
    claims.release(target, b)  # the controller, done with the file, can
    assert not claims.path_for(target).exists()


def test_stale_claim_only_when_its_controller_here_is_gone() -> None:
    gone = claims.Holder("b", "here", _dead_pid())
    alive = claims.Holder("b", "here", os.getpid())
    elsewhere = claims.Holder("b", "there", _dead_pid())
    assert claims.stale(gone, "here")
    assert not claims.stale(alive, "here")
    assert not claims.stale(elsewhere, "here")  # cannot be checked from here
    assert claims.stale(None, "here")


# --- cleanup -----------------------------------------------------------------


def test_sweep_removes_old_parts_and_dead_claims_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "a_bicubic_x2.png"
    other_target = out / "b_bicubic_x2.png"
    old = time.time() - 2 * cleanup.PART_AGE_S
    stale_part = out / ".a_bicubic_x2.png.unsr-4242-0123abcd.part"
    stale_old_style = out / ".a_bicubic_x2.png.0123abcd.part"
    fresh_part = out / f".b_bicubic_x2.png.unsr-{os.getpid()}-89abcdef.part"
    foreign_part = out / ".notes.txt.unsr-4242-0123abcd.part"  # not our output
    for part in (stale_part, stale_old_style, fresh_part, foreign_part):
        part.write_bytes(b"half")
    for part in (stale_part, stale_old_style, foreign_part):
        os.utime(part, (old, old))
    claims.take(target, _batch("dead", pid=_dead_pid()))
    claims.take(other_target, _batch("live"))
    found = cleanup.sweep([target, other_target], "this-host")
    assert set(found.removed) == {
        stale_part,
        stale_old_style,
        claims.path_for(target),
    }
    assert fresh_part.exists() and foreign_part.exists()
    assert found.held == {
        other_target: f"a run controlled from this-host (pid {os.getpid()})"
    }


def test_resume_knows_unsr_outputs_from_users_files(tmp_path: Path) -> None:
    from engine.cluster.controller import FOREIGN_REASON, _fate

    store = Store(tmp_path / "h.sqlite")
    ours = _png(tmp_path / "a_bicubic_x2.png")
    users = _png(tmp_path / "b_bicubic_x2.png", seed=1)
    missing = tmp_path / "c_bicubic_x2.png"
    store.record_finished(
        [FinishedRun(tmp_path / "a.png", None, "bicubic", 2, {}, "done", ours,
                     0.1, output_fingerprint=work.fingerprint(ours))]
    )  # fmt: skip
    assert _fate(missing, store, False, False) is None
    fate = _fate(ours, store, False, False)
    assert fate is not None and fate[0] == "done"
    assert _fate(ours, store, True, False) is None
    assert _fate(users, store, False, False) == ("fail", FOREIGN_REASON)
    assert _fate(users, store, True, False) == ("fail", FOREIGN_REASON)
    assert _fate(users, store, False, True) is None
    # Changed since unsr wrote it: someone else's file now.
    _png(ours, seed=5, size=(30, 30))
    assert _fate(ours, store, False, False) == ("fail", FOREIGN_REASON)


# --- the per-file job ----------------------------------------------------------


def test_run_file_writes_like_the_local_loop_and_keeps_its_claim(
    tmp_path: Path,
) -> None:
    from engine import batch as batches
    from engine import jobs
    from engine.store import file_sha256

    source = _png(tmp_path / "in" / "a.png")
    target = tmp_path / "out" / "a_bicubic_x2.png"
    b = _batch()
    outcome = work.run_file(Item(0, source, target), _spec(b), resample.BICUBIC)
    assert outcome.status == "done" and not outcome.repeat
    assert outcome.sha256 == file_sha256(source)
    assert outcome.written == work.fingerprint(target)
    assert outcome.written is not None and outcome.written[2] == file_sha256(target)
    # The claim stays until the controller has recorded the file.
    assert claims.read(claims.path_for(target)) is not None
    local = tmp_path / "local.png"
    jobs.run(
        batches.process_file(source, local, "bicubic", 2, store=Store(tmp_path / "s"))
    )
    assert target.read_bytes() == local.read_bytes()


def test_retried_file_is_done_once_and_not_rewritten(tmp_path: Path) -> None:
    source = _png(tmp_path / "a.png")
    target = tmp_path / "out" / "a_bicubic_x2.png"
    b = _batch()
    item = Item(3, source, target)
    first = work.run_file(item, _spec(b), resample.BICUBIC)
    before = target.stat()
    # The lost attempt's writer died mid-write: its part goes, however fresh.
    part = target.with_name(f".{target.name}.unsr-4242-0123abcd.part")
    part.write_bytes(b"half")
    again = work.run_file(item, _spec(b), resample.BICUBIC)
    assert (first.status, again.status, again.repeat) == ("done", "done", True)
    assert not first.resumed and again.resumed and not part.exists()
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    tally = Tally(1)
    assert tally.add(first) and not tally.add(again)
    assert len(tally.written) == 1 and tally.handled == 1


def test_given_up_attempt_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker Ray gave up on (its node cut off) finds the file taken over."""
    source = _png(tmp_path / "a.png")
    target = tmp_path / "out" / "a_bicubic_x2.png"
    b = _batch()
    real_run = work.jobs.run

    def successor_takes_over(job, on_event=None):  # type: ignore[no-untyped-def]
        result = real_run(job, on_event)
        claims.take(target, b, "successor")  # while this one was upscaling
        return result

    monkeypatch.setattr(work.jobs, "run", successor_takes_over)
    outcome = work.run_file(Item(0, source, target), _spec(b), resample.BICUBIC)
    assert outcome.status == "skipped" and outcome.superseded
    assert not target.exists() and claims.holds(target, b, "successor")
    assert [p for p in target.parent.iterdir()] == [claims.path_for(target)]


def test_losing_the_write_race_to_a_given_up_attempt_is_done_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _png(tmp_path / "a.png")
    target = tmp_path / "a_bicubic_x2.png"
    real_write = work.images.write

    def earlier_attempt_wrote_first(image, path, **kw):  # type: ignore[no-untyped-def]
        real_write(image, path, **kw)  # the given-up attempt's output
        return real_write(image, path, **kw)

    monkeypatch.setattr(work.images, "write", earlier_attempt_wrote_first)
    outcome = work.run_file(Item(0, source, target), _spec(_batch()), resample.BICUBIC)
    assert (outcome.status, outcome.repeat) == ("done", True)
    assert outcome.written == work.fingerprint(target)


def test_other_runs_work_is_skipped_not_failed(tmp_path: Path) -> None:
    source = _png(tmp_path / "a.png")
    target = tmp_path / "a_bicubic_x2.png"
    claims.take(target, _batch("someone-else"))
    skipped = work.run_file(Item(0, source, target), _spec(_batch()), resample.BICUBIC)
    assert skipped.status == "skipped" and "is working on it" in (skipped.error or "")
    assert not target.exists()
    # An output that appeared after planning, without our claim: not ours.
    claims.release(target, _batch("someone-else"))
    target.write_bytes(b"someone's file")
    skipped = work.run_file(Item(0, source, target), _spec(_batch()), resample.BICUBIC)
    assert skipped.status == "skipped" and target.read_bytes() == b"someone's file"
    assert not claims.path_for(target).exists()


def test_bad_file_is_data_with_the_local_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    target = tmp_path / "bad_bicubic_x2.png"
    outcome = work.run_file(Item(0, bad, target), _spec(_batch()), resample.BICUBIC)
    assert outcome.status == "failed" and outcome.error
    assert outcome.sha256 is not None  # hashed like the local history does
    assert not target.exists() and not claims.path_for(target).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_fits_go_largest_first(tmp_path: Path) -> None:
    from engine.cluster.controller import _largest_first

    small = _png(tmp_path / "small.png", size=(20, 20))
    large = _png(tmp_path / "large.png", size=(60, 50))
    middle = _png(tmp_path / "middle.png", size=(30, 40))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nothing")
    items = [Item(i, p, p) for i, p in enumerate([small, broken, large, middle])]
    order = [i.source.name for i in _largest_first(items)]
    assert order == ["large.png", "middle.png", "small.png", "broken.png"]


# --- history -------------------------------------------------------------------


def test_history_writes_in_batches_and_releases_claims(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.sqlite")
    b = _batch()
    history = History(
        store, "bicubic", 2, {"engine": "ray"}, b, flush_every=3, flush_seconds=60
    )
    outs = []
    for i in range(4):
        target = tmp_path / f"o{i}.png"
        claims.take(target, b)
        outs.append(target)
        history.add(FileOutcome(i, tmp_path / f"i{i}.png", target, "done", 0.5))
    assert history.recorded == 3 and len(store.runs()) == 3
    assert not claims.path_for(outs[0]).exists() and claims.path_for(outs[3]).exists()
    history.tick()  # not due yet
    assert history.recorded == 3
    history.flush_seconds = 0.0  # a quiet spell as long as the limit
    history.tick()
    assert history.recorded == 4 and not claims.path_for(outs[3]).exists()
    history.add(FileOutcome(4, tmp_path / "bad.png", tmp_path / "x.png", "failed",
                            error="damaged"))  # fmt: skip
    history.add(FileOutcome(5, tmp_path / "s.png", tmp_path / "y.png", "skipped"))
    history.flush()
    runs = {r.input_path.name: r for r in store.runs()}
    assert len(runs) == 5 and runs["bad.png"].error == "damaged"
    assert runs["i3.png"].status == "done" and runs["i3.png"].folder.is_dir()
    assert runs["bad.png"].output is None
    with pytest.raises(ValueError):
        store.record_finished([FinishedRun(tmp_path, None, "m", 2, {}, "running")])
    assert "running" not in FINAL_STATUSES


# --- checks and weights -----------------------------------------------------------


def test_node_report_names_what_it_cannot_read_or_write(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    report = checks.node_report(
        [str(tmp_path), str(tmp_path / "missing.png")],
        [str(tmp_path / "new" / "deeper"), str(a_file / "sub")],
    )
    assert report.versions == checks.versions()
    assert len(report.problems) == 2
    assert "missing.png is not there" in report.problems[0]
    assert "is not a folder" in report.problems[1]
    assert not (tmp_path / "new").exists()  # probing creates nothing that stays
    changed = dict(report.versions, pillow="0.0")
    assert checks.mismatches(changed, report) == [
        f"pillow {report.versions['pillow']} (the controller has 0.0)"
    ]


def test_weights_shipped_once_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import models
    from engine.methods import pretrained
    from tests import model_factory

    monkeypatch.setattr(weights, "cache_dir", lambda: tmp_path / "cache")
    file = model_factory.save(model_factory.compact(), tmp_path / "m" / "tiny.pth")
    entry = models.Entry("model:tiny", file, "user", "spandrel", models.describe(file))
    method = pretrained.method_for(entry)
    puts: list[bytes] = []
    ref = weights.describe(method, lambda data: puts.append(data) or len(puts) - 1)
    assert len(puts) == 1 and ref.sha256 and ref.file == str(file)
    fetched: list[object] = []

    def fetch(key: object) -> bytes:
        fetched.append(key)
        return puts[int(key)]  # type: ignore[call-overload]

    # A node that sees the shared path reads it there: nothing is fetched.
    assert weights.rebuild(ref, fetch).info["file"] == str(file)
    assert fetched == []
    # A node that does not, fetches once and keeps a checked copy.
    moved = ref.__class__(ref.id, ref.kind, str(tmp_path / "elsewhere.pth"),
                          ref.sha256, ref.payload)  # fmt: skip
    first = weights.rebuild(moved, fetch)
    again = weights.rebuild(moved, fetch)
    assert fetched == [0] and first.info["file"] == again.info["file"]
    assert Path(first.info["file"]).read_bytes() == file.read_bytes()
    damaged = moved.__class__(moved.id, moved.kind, moved.file, "0" * 64, 0)
    with pytest.raises(MethodError, match="damaged"):
        weights.rebuild(damaged, fetch)
    assert weights.rebuild(MethodRef("bicubic", "builtin"), fetch).id == "bicubic"
    with pytest.raises(MethodError):
        weights.rebuild(MethodRef("nope", "builtin"), fetch)


# --- the CLI's progress --------------------------------------------------------


def test_cli_progress_shows_counts_rate_eta_and_nodes(tmp_path: Path) -> None:
    import io

    from engine.cli.cluster import ClusterProgress
    from engine.events import Message, Progress

    now = [100.0]
    err = io.StringIO()
    progress = ClusterProgress(err, every_s=5.0, clock=lambda: now[0])

    def outcome(i: int, status: str, node: str) -> Message:
        result = FileOutcome(i, tmp_path / f"{i}.png", tmp_path / f"o{i}.png",
                             status, 0.5, error=None if status == "done" else "bad",
                             host="box", node=node)  # type: ignore[arg-type]  # fmt: skip
        return Message(f"file {i}", "info", {"file": result, "handled": i + 1,
                                             "total": 10})  # fmt: skip

    for i, (status, node) in enumerate(
        [("done", "aa"), ("done", "bb"), ("failed", "aa"), ("done", "aa")]
    ):
        now[0] += 1.0
        progress.on_event(outcome(i, status, node))
    now[0] += 2.0  # 6 s after the start: a status line is due
    progress.on_event(Progress(4, 10, "cluster batch", 12.0))
    text = err.getvalue()
    assert "[1/10] done on aa (box): file 0" in text
    assert "[3/10] error: file 2" in text
    status = text.strip().splitlines()[-1]
    assert "4/10 files, 1 failed, 0.67 files/s, ETA 0:12" in status
    assert status.endswith("per node: aa (box) 2, bb (box) 1")


def test_cluster_flags_refuse_bad_shares(tmp_path: Path) -> None:
    from engine.cli import main

    photo = str(_png(tmp_path / "a.png"))
    for flag, value in (("--cpus-per-job", "0"), ("--gpus-per-job", "-1"),
                        ("--cpus-per-job", "many")):  # fmt: skip
        assert main(["upscale", photo, "--engine", "ray", flag, value]) == 2
    assert not list(tmp_path.glob("a_*"))
