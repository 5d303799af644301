"""Files per second: ``--engine local`` and ``--engine ray`` side by side.

Usage (from the repository root, with the cluster extra installed):

    python benchmarks/cluster.py [--files 48] [--size 640x480] [--method bicubic]
                                 [--slots 1 2] [--rounds 2] [--json out.json]
                                 [--record]

One run makes ``--files`` seeded photo-like PNGs, then for each round times
the local loop (``batch.process_file`` one file after another, as ``unsr
upscale`` runs it) and the Ray controller (:func:`engine.cluster.run_plan`)
on a local Ray started for the purpose with each ``--slots`` CPU count, all
bound to 127.0.0.1. Ray's own start-up is timed apart. For each Ray run:

* batch files/s: from the start of ``run_plan`` to its end (the node check
  and the slots' start-up included: what a user waits for after Ray is up);
* steady files/s: between the first and the last file back (the rate a long
  batch settles at);

and the ratio of each to the local loop's (whose batch figure includes its
first file's warm-up, and whose steady figure does not), measured in the same
round. The outputs of both engines are compared byte for byte. It also times
the controller's own work per file (a batched history row, a claim made and
released), the figures the scheduling model in docs/cluster.md rests on.
``--record`` writes the table into docs/cluster.md (between its benchmark
markers). Timings taken while other jobs load the machine are not figures:
run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.cluster import connect

connect.prepare_local_env()  # before Ray is imported: loopback only

from engine import batch, jobs  # noqa: E402
from engine.cluster import claims  # noqa: E402
from engine.cluster.spec import Batch, ClusterOptions  # noqa: E402
from engine.methods.registry import get as get_method  # noqa: E402
from engine.store import FinishedRun, Store  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "cluster.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def make_photos(folder: Path, n: int, width: int, height: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(n):
        base = np.stack(
            [xx / width, yy / height, 0.5 + 0.4 * np.sin(xx / (20 + i))], axis=2
        )
        base += rng.normal(0, 0.03, base.shape).astype(np.float32)
        pixels = (np.clip(base, 0, 1) * 255).astype(np.uint8)
        path = folder / f"photo{i:04d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def steady(back: list[float]) -> float:
    """Files per second between the first file back and the last."""
    return (len(back) - 1) / (back[-1] - back[0]) if len(back) > 1 else 0.0


def run_local(
    inputs: list[Path], out: Path, method: Any, store: Store
) -> dict[str, float]:
    plan = batch.plan_outputs(inputs, out, method=method.id, scale=2)
    back: list[float] = []
    start = time.perf_counter()
    for source, target in plan.items:
        jobs.run(batch.process_file(source, target, method, 2, store=store))
        back.append(time.perf_counter())
    return {"batch": len(inputs) / (back[-1] - start), "steady": steady(back)}


def run_ray(
    inputs: list[Path], out: Path, method: Any, store: Store
) -> dict[str, float]:
    from engine import cluster

    plan = batch.plan_outputs(inputs, out, method=method.id, scale=2)
    back: list[float] = []

    def on_event(event: object) -> None:
        if getattr(event, "data", {}).get("file") is not None:
            back.append(time.perf_counter())

    start = time.perf_counter()
    job = cluster.run_plan(
        plan, method, 2, options=ClusterOptions(address="local"), store=store
    )
    summary = jobs.run(job, on_event)
    end = time.perf_counter()
    assert summary.ok and len(summary.written) == len(inputs), summary
    return {"batch": len(inputs) / (end - start), "steady": steady(back)}


def same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def controller_costs(root: Path, n: int = 640) -> dict[str, float]:
    """Milliseconds per file of the controller's own bookkeeping."""
    store = Store(root / "costs" / "unsr.sqlite")
    rows = [
        FinishedRun(
            root / f"in{i}.png", "0" * 64, "bicubic", 2, {"engine": "ray"}, "done",
            root / f"out{i}.png", 0.1,
        )
        for i in range(n)
    ]  # fmt: skip
    start = time.perf_counter()
    for i in range(0, n, 64):
        store.record_finished(rows[i : i + 64])
    history_ms = (time.perf_counter() - start) / n * 1000
    me = Batch("bench", "here", os.getpid())
    folder = root / "claims"
    folder.mkdir(exist_ok=True)
    start = time.perf_counter()
    for i in range(n):
        target = folder / f"out{i}.png"
        claims.take(target, me)
        claims.release(target, me)
    claim_ms = (time.perf_counter() - start) / n * 1000
    return {"history_ms": history_ms, "claim_ms": claim_ms}


def table(result: dict[str, Any]) -> str:
    lines = [
        "| engine | slots | Ray start s | batch files/s | steady files/s "
        "| batch / local | steady / local |",
        "|---|---|---|---|---|---|---|",
    ]
    lb = statistics.median(r["batch"] for r in result["local"])
    ls = statistics.median(r["steady"] for r in result["local"])
    lines.append(f"| local | 1 process | | {lb:.2f} | {ls:.2f} | 1 | 1 |")
    for slots, runs in result["ray"].items():
        b = statistics.median(r["batch"] for r in runs)
        s = statistics.median(r["steady"] for r in runs)
        start = statistics.median(r["start_s"] for r in runs)
        lines.append(
            f"| ray | {slots} | {start:.1f} | {b:.2f} | {s:.2f} "
            f"| {b / lb:.2f} | {s / ls:.2f} |"
        )
    costs = result["controller"]
    lines.append("")
    lines.append(
        f"Controller per file: history row (batches of 64) "
        f"{costs['history_ms']:.2f} ms, claim made and released "
        f"{costs['claim_ms']:.2f} ms (local disk)."
    )
    return "\n".join(lines)


def record(text: str, command: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    head, _, rest = doc.partition(START)
    _, _, tail = rest.partition(END)
    day = datetime.date.today().isoformat()
    block = f"{START}\nCommand: `{command}` ({day})\n\n{text}\n{END}"
    DOC.write_text(head + block + tail, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=48)
    ap.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the photos")
    ap.add_argument("--method", default="bicubic")
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    method = get_method(args.method)
    root = Path(tempfile.mkdtemp(prefix="unsr-bench-"))
    # Ray's sessions and the run history go to the temp folder, not /tmp/ray
    # or the user's data folder.
    os.environ["RAY_TMPDIR"] = str(root / "ray")
    os.environ["UNSR_DATA_DIR"] = str(root / "data")
    os.environ["UNSR_MODELS_DIR"] = str(root / "models")
    result: dict[str, Any] = {"local": [], "ray": {s: [] for s in args.slots}}
    try:
        inputs = make_photos(root / "in", args.files, width, height)
        store = Store()
        for r in range(args.rounds):
            out_local = root / f"local{r}"
            result["local"].append(run_local(inputs, out_local, method, store))
            print(f"round {r}: local {result['local'][-1]}", flush=True)
            for slots in args.slots:
                t = time.perf_counter()
                connect.start_local(num_cpus=slots)
                started = time.perf_counter() - t
                try:
                    out_ray = root / f"ray{r}-{slots}"
                    figures = run_ray(inputs, out_ray, method, store)
                finally:
                    connect.shutdown()
                figures["start_s"] = started
                result["ray"][slots].append(figures)
                assert same_outputs(out_local, out_ray), "outputs differ"
                print(f"round {r}: ray {slots} slot(s) {figures}", flush=True)
        result["controller"] = controller_costs(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = table(result)
    print(text)
    command = "python benchmarks/cluster.py " + " ".join(sys.argv[1:])
    if args.json is not None:
        args.json.write_text(json.dumps({"command": command, **result}, indent=1))
    if args.record:
        record(text, command.replace(" --record", ""))


if __name__ == "__main__":
    main()
