"""Two `unsr upscale` runs at once over the same files: each file done once?

Makes N small PNGs in a temp folder, starts two `unsr upscale IN -o OUT`
processes at the same moment (same run history, same output folder), waits for
both, and reports what each did and what the run history and the output folder
hold afterwards:

    python benchmarks/concurrent_runs.py [--files 150] [--size 64] [--record]

With ``--record`` the figures go into docs/reliability.md (between the
``concurrent-runs`` markers) with the command and the date. The counts are the
result (each file written once, both exits 0); the wall times depend on the
machine and its load, so record them from a quiet machine only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- concurrent-runs:begin -->", "<!-- concurrent-runs:end -->"


def summary_counts(stdout: str) -> dict[str, int]:
    """{"written": n, "skipped": n, "failed": n} from the CLI's summary line."""
    lines = stdout.strip().splitlines()
    counts = {"written": 0, "skipped": 0, "failed": 0}
    if not lines:
        return counts
    for part in lines[0].split(" in ")[0].split(", "):
        number, word = part.split(" ", 1)
        counts[word] = int(number)
    return counts


def measure(files: int, size: int) -> dict[str, object]:
    """Run the two batches; return the figures."""
    with tempfile.TemporaryDirectory(prefix="unsr-concurrent-") as tmp:
        root = Path(tmp)
        src, out = root / "in", root / "out"
        src.mkdir()
        rng = np.random.default_rng(0)
        for n in range(files):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(src / f"img{n:03d}.png")
        env = dict(os.environ, UNSR_DATA_DIR=str(root / "data"))
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        command = [sys.executable, "-m", "engine.cli", "upscale", str(src)]
        command += ["-o", str(out)]
        start = time.monotonic()
        runs = [
            subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [run.communicate() for run in runs]
        wall = time.monotonic() - start
        os.environ["UNSR_DATA_DIR"] = str(root / "data")
        from engine.store import Store

        done = [r for r in Store().runs(limit=10 * files) if r.status == "done"]
        return {
            "files": files,
            "exits": [run.returncode for run in runs],
            "counts": [summary_counts(stdout) for stdout, _ in results],
            "outputs": len(list(out.iterdir())),
            "done_rows": len(done),
            "distinct_outputs": len({r.output for r in done}),
            "wall_s": wall,
        }


def table(figures: dict[str, object], command: str) -> str:
    """The Markdown block for docs/reliability.md."""
    counts = figures["counts"]
    exits = figures["exits"]
    assert isinstance(counts, list) and isinstance(exits, list)
    rows = [
        "| run | exit | written | skipped | failed |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, code, c in zip("AB", exits, counts, strict=True):
        rows.append(
            f"| {name} | {code} | {c['written']} | {c['skipped']} | {c['failed']} |"
        )
    return "\n".join(
        [
            f"`{command}` ({dt.date.today().isoformat()}):",
            "",
            *rows,
            "",
            f"{figures['files']} inputs; afterwards the output folder holds "
            f"{figures['outputs']} files, the run history {figures['done_rows']} "
            f"done runs for {figures['distinct_outputs']} distinct outputs "
            "(each file upscaled once).",
        ]
    )


def record(block: str) -> None:
    """Put ``block`` between the markers in docs/reliability.md."""
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=150)
    parser.add_argument("--size", type=int, default=64, help="edge in pixels")
    parser.add_argument("--record", action="store_true", help="write the docs")
    args = parser.parse_args()
    figures = measure(args.files, args.size)
    command = f"python benchmarks/concurrent_runs.py --files {args.files}"
    block = table(figures, command)
    print(block)
    print(f"wall time {figures['wall_s']:.1f} s (both runs, machine-dependent)")
    if args.record:
        record(block)
    ok = figures["exits"] == [0, 0] and figures["distinct_outputs"] == args.files
    return 0 if ok and figures["done_rows"] == args.files else 1


if __name__ == "__main__":
    sys.exit(main())
