"""How long ``unsr`` takes to start, against a bare ``python -c pass``.

Runs ``unsr --help``, ``unsr methods`` and ``unsr models list`` (as ``python -m
engine.cli`` from this checkout) and a bare interpreter in turns, round after
round, and reports each command's median wall time, its ratio to the bare
interpreter's median from the same rounds, and whether torch was imported
(``-X importtime``). Measured side by side, the ratio holds up on a busy
machine better than the seconds do.

The commands run with their own empty data and models folders (the bundled
demo checkpoints are still listed), after one warm-up run that fills the models
index, as a user's second and later commands find it; ``--models-dir`` lists a
folder of real models instead.

Run from the repository root::

    python -m benchmarks.startup                # writes "## Start-up"
    python -m benchmarks.startup --rounds 3 --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Start-up"
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "unsr --help": ["-m", "engine.cli", "--help"],
    "unsr methods": ["-m", "engine.cli", "methods"],
    "unsr models list": ["-m", "engine.cli", "models", "list"],
}
#: The targets of issue 14 on this machine, in seconds.
TARGETS = {"unsr --help": 0.5, "unsr methods": 1.5, "unsr models list": 1.5}


def _time(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, check=False
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed: {done.stderr.decode()[-500:]}")
    return took


def _imports_torch(args: list[str], env: dict[str, str]) -> bool:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return any(line.rstrip().endswith("| torch") for line in done.stderr.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="unsr-startup-"))
    try:
        env = dict(os.environ, UNSR_DATA_DIR=str(tmp / "data"))
        env["UNSR_MODELS_DIR"] = str(args.models_dir or tmp / "models")
        load_before = os.getloadavg()[0]
        for cmd in COMMANDS.values():  # warm-up: fills the models index
            _time(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.rounds):
            for name, cmd in COMMANDS.items():
                times[name].append(_time(cmd, env))
        torch_loaded = {
            name: _imports_torch(cmd, env) for name, cmd in COMMANDS.items()
        }
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    bare = statistics.median(times["python -c pass"])
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Command: `python -m benchmarks.startup {' '.join(sys.argv[1:])}` "
        f"({started}; median of {args.rounds} rounds, the commands taking turns; "
        f"load average {load_before:.1f} before, {load_after:.1f} after, on "
        f"{os.cpu_count()} CPUs).",
        "",
        "| command | median s | ratio to `python -c pass` | target s | imports torch |",
        "|---|---|---|---|---|",
    ]
    for name in COMMANDS:
        median = statistics.median(times[name])
        target = TARGETS.get(name)
        lines.append(
            f"| `{name}` | {median:.3f} | {median / bare:.1f}x "
            f"| {'-' if target is None else f'< {target}'} "
            f"| {'yes' if torch_loaded[name] else 'no'} |"
        )
    lines += [
        "",
        "Each command runs as `python -m engine.cli ...` from this checkout, with "
        "empty data and models folders after one warm-up run (the models index is "
        "filled, as for every command after the first); the bundled demo "
        "checkpoints are listed.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.no_write:
        return
    old = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    if SECTION in old:
        head, _, rest = old.partition(SECTION)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip() + "\n\n" + text
    DOC.write_text(new)


if __name__ == "__main__":
    main()
