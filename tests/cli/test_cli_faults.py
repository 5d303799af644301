"""Process faults, for real: SIGTERM and kill -9 mid-write, two runs at once.

Each test runs ``unsr upscale`` in child processes on files it makes. The
write is held open (a slowed fsync, after the bytes are in the temp file) so
the signal lands mid-write, when a temp file exists.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.store import Store

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals and pids"
)

#: A CLI whose first write waits inside fsync (the temp file is complete on
#: disk, not yet renamed) after touching a marker file.
_SLOW_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    import engine.io.save as save

    marker = Path(sys.argv[1])
    real_fsync = os.fsync

    def slow_fsync(fd):
        marker.write_text("writing")
        time.sleep(120)
        real_fsync(fd)

    save.os.fsync = slow_fsync
    from engine.cli import main

    sys.exit(main(sys.argv[2:]))
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)  # UNSR_DATA_DIR points at this test's temp folder
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _images(folder: Path, count: int, rng: np.random.Generator) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{n:03d}.png")
    return folder


def _start_slow(tmp_path: Path, args: list[str]) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / "writing.marker"
    script = tmp_path / "slow_writer.py"
    script.write_text(_SLOW_WRITER)
    child = subprocess.Popen(
        [sys.executable, str(script), str(marker), *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            out, err = child.communicate()
            pytest.fail(f"the writer never reached its write:\n{out}\n{err}")
        time.sleep(0.05)
    return child, marker


def _everything(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_sigterm_mid_write_cancels_cleanly_with_143(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    src = _images(tmp_path / "in", 1, rng)
    out = tmp_path / "out"
    child, _ = _start_slow(tmp_path, ["upscale", str(src), "-o", str(out)])
    assert any(name.endswith(".part") for name in _everything(out))  # mid-write
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert "terminated; nothing half-written was left behind" in err
    assert "Traceback" not in err
    assert _everything(out) == []  # no temp file, no partial output
    (record,) = Store().runs()
    assert record.status == "cancelled"


def test_kill_9_mid_write_leaves_a_part_that_the_next_run_removes(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _images(tmp_path / "in", 1, rng)
    out = tmp_path / "out"
    child, _ = _start_slow(tmp_path, ["upscale", str(src), "-o", str(out)])
    child.kill()  # SIGKILL: no handler runs, the temp file stays
    child.communicate(timeout=60)
    (part,) = _everything(out)
    assert part.endswith(f".unsr-{child.pid}-{part.split('-')[-1]}")
    assert main(["upscale", str(src), "-o", str(out)]) == 0
    assert "removed 1 temp file(s) left by a killed run" in capsys.readouterr().err
    assert _everything(out) == ["img000_bicubic_x2.png"]
    assert {r.status for r in Store().runs()} == {"interrupted", "done"}


def _summary(stdout: str) -> dict[str, int]:
    """{"written": n, "skipped": n, "failed": n} from the summary line."""
    line = stdout.strip().splitlines()[0]
    counts = {}
    for part in line.split(" in ")[0].split(", "):
        number, word = part.split(" ", 1)
        counts[word] = int(number)
    return counts


def test_two_concurrent_runs_do_each_file_once_and_both_succeed(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    count = 16
    src = _images(tmp_path / "in", count, rng)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "engine.cli", "upscale", str(src), "-o", str(out)]
    runs = [
        subprocess.Popen(
            command,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [run.communicate(timeout=300) for run in runs]
    for run, (_, err) in zip(runs, results, strict=True):
        assert run.returncode == 0, err
    counts = [_summary(stdout) for stdout, _ in results]
    assert sum(c["written"] for c in counts) == count
    assert sum(c.get("skipped", 0) for c in counts) == count
    assert all(c["failed"] == 0 for c in counts)
    assert len(_everything(out)) == count  # no -2 duplicates, no temp files
    done = [r for r in Store().runs(limit=1000) if r.status == "done"]
    assert len(done) == count
    assert len({r.output for r in done}) == count  # each file upscaled once
