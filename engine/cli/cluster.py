"""``--engine ray``: the flags, and running ``unsr upscale``/``unsr fit`` on Ray.

The batch runs through :func:`engine.cluster.run_plan`; this module only
prints it: a line per file, a status line every few seconds (files done and
failed, rate, ETA, files per node) and the same summary and exit codes as
the local loop.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from engine.cli.progress import bar, format_eta
from engine.cli.stop import EXIT_TERMINATED, TerminatedError, sigterm_cancels
from engine.cluster.spec import FileOutcome
from engine.events import Event, Message, Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _share(text: str, least: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not value >= least:
        raise argparse.ArgumentTypeError(f"must be at least {least:g}")
    return value


def _cpus(text: str) -> float:
    return _share(text, 0.01)


def _gpus(text: str) -> float:
    return _share(text, 0.0)


def add_flags(p: argparse.ArgumentParser) -> None:
    """Add ``--engine``, ``--address``, ``--cpus-per-job`` and ``--gpus-per-job``."""
    g = p.add_argument_group("running on a Ray cluster (pip install 'unsr[cluster]')")
    g.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process, one file after another (default); "
        "ray: spread the files over a Ray cluster",
    )
    g.add_argument(
        "--address",
        default="local",
        help="with --engine ray: 'local' (a private Ray on this machine, "
        "127.0.0.1 only), 'auto' (the cluster this machine belongs to) or "
        "HOST:PORT of a cluster's head",
    )
    g.add_argument(
        "--cpus-per-job",
        type=_cpus,
        default=1.0,
        help="CPU cores each file's job reserves (and its threads); default 1",
    )
    g.add_argument(
        "--gpus-per-job",
        type=_gpus,
        default=0.0,
        help="GPUs each job reserves (0.5 shares one GPU by two); default 0",
    )


def options(args: argparse.Namespace) -> Any:
    """The :class:`~engine.cluster.ClusterOptions` the flags ask for."""
    from engine.cluster import ClusterOptions

    return ClusterOptions(
        address=args.address,
        cpus_per_job=args.cpus_per_job,
        gpus_per_job=args.gpus_per_job,
    )


class ClusterProgress:
    """Prints a cluster batch: a line per file, a status line every few seconds."""

    def __init__(
        self,
        err: TextIO,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.err = err
        self.every_s = every_s
        self.clock = clock
        self.nodes: Counter[str] = Counter()
        self.failed = 0
        self.worked = 0  # files a worker finished (done or failed)
        self.latest: Progress | None = None
        self._start = self._last = clock()

    def rate(self) -> float:
        """Files per second the workers finished so far."""
        elapsed = self.clock() - self._start
        return self.worked / elapsed if elapsed > 0 else 0.0

    def on_event(self, event: Event) -> None:
        """Handle one event of the controller's job."""
        if isinstance(event, Progress):
            self.latest = event
            if self.clock() - self._last >= self.every_s:
                self.status()
        elif isinstance(event, Message):
            self._message(event)

    def _message(self, event: Message) -> None:
        outcome = event.data.get("file")
        if not isinstance(outcome, FileOutcome):
            level = "" if event.level == "info" else f"{event.level}: "
            self.err.write(f"{level}{event.text}\n")
            return
        status = outcome.status
        where = f"{outcome.node} ({outcome.host})"
        if status == "done":
            self.nodes[where] += 1
            self.worked += 1
            line = f"done on {where}: {event.text}"
        elif status == "failed":
            self.failed += 1
            self.worked += 1
            line = f"error: {event.text}"
        else:
            line = event.text
        self.err.write(
            f"[{event.data.get('handled')}/{event.data.get('total')}] {line}\n"
        )

    def status(self) -> None:
        """Print the batch line: files, failures, rate, ETA, files per node."""
        self._last = self.clock()
        p = self.latest
        if p is None or not p.total:
            return
        nodes = ", ".join(f"{n} {c}" for n, c in sorted(self.nodes.items()))
        self.err.write(
            f"batch {bar(p.fraction)} {p.step}/{p.total} files, {self.failed} "
            f"failed, {self.rate():.2f} files/s, ETA {format_eta(p.eta_s)}"
            + (f"; per node: {nodes}" if nodes else "")
            + "\n"
        )
        self.err.flush()


def _summary(out: TextIO, summary: Any) -> None:
    parts = [f"{len(summary.written)} written"]
    if summary.skipped:
        parts.append(f"{len(summary.skipped)} skipped")
    parts.append(f"{len(summary.failed)} failed")
    rate = len(summary.written) / summary.seconds if summary.seconds > 0 else 0.0
    out.write(f"{', '.join(parts)} in {summary.seconds:.1f} s ({rate:.2f} files/s)\n")
    for node, count in sorted(summary.per_node.items()):
        out.write(f"  {node}: {count} written\n")
    for path, reason in summary.failed:
        out.write(f"  failed: {path}: {reason}\n")


def _run(job: Any, name: str, out: TextIO, err: TextIO) -> int:
    from engine import jobs
    from engine.cluster import ClusterError

    progress = ClusterProgress(err)
    try:
        # SIGTERM cancels like Ctrl-C, as in the local loop (exit 143).
        with sigterm_cancels():
            summary = jobs.run(job, progress.on_event)
    except KeyboardInterrupt as stop:
        job.close()
        terminated = isinstance(stop, TerminatedError)
        word = "terminated" if terminated else "cancelled"
        err.write(
            f"unsr {name}: {word}; finished files are recorded and a rerun resumes\n"
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except ClusterError as exc:
        err.write(f"unsr {name}: {exc}\n")
        return EXIT_FAILED
    progress.status()
    _summary(out, summary)
    return EXIT_OK if summary.ok else EXIT_FAILED


def _store(name: str, err: TextIO) -> Any:
    """The run history, checked once before any work; None after saying why."""
    from engine.store import Store, StoreError

    try:
        store = Store()
    except StoreError as exc:
        err.write(f"unsr {name}: {exc}\n")
        return None
    problem = store.check_writable()
    if problem is not None:
        err.write(f"unsr {name}: {problem}; nothing was done\n")
        return None
    return store


def _has_ray(name: str, err: TextIO) -> bool:
    if importlib.util.find_spec("ray") is None:
        err.write(
            f"unsr {name}: --engine ray needs Ray; install the extra: "
            "pip install 'unsr[cluster]'\n"
        )
        return False
    return True


def run_upscale(args: argparse.Namespace, spec: Any, out: TextIO, err: TextIO) -> int:
    """``unsr upscale --engine ray``: the same plan, run on the cluster."""
    if not _has_ray("upscale", err):
        return EXIT_USAGE
    from engine import batch, cluster
    from engine.methods.base import RunContext

    store = _store("upscale", err)
    if store is None:
        return EXIT_FAILED
    plan = batch.plan_outputs(
        args.inputs, args.out, method=spec.id, scale=args.scale,
        recursive=args.recursive, fmt=args.fmt, store=store,
        overwrite_any=args.overwrite_any,
    )  # fmt: skip
    for _, note in plan.notes:
        err.write(f"note: {note}\n")
    if not plan.items and not plan.problems:
        err.write("unsr upscale: no images found in the given inputs\n")
        return EXIT_FAILED
    job = cluster.run_plan(
        plan, spec, args.scale, options=options(args), profile=args.profile,
        context=RunContext(device=args.device, tile=args.tile), fmt=args.fmt,
        quality=args.quality, bit_depth=args.bit_depth, overwrite=args.overwrite,
        overwrite_any=args.overwrite_any, store=store,
    )  # fmt: skip
    return _run(job, "upscale", out, err)


def run_fit(args: argparse.Namespace, params: Any, out: TextIO, err: TextIO) -> int:
    """``unsr fit --engine ray``: one DualSR fit per image, largest first."""
    if not _has_ray("fit", err):
        return EXIT_USAGE
    from engine import batch, cluster
    from engine.methods.base import RunContext
    from engine.methods.dualsr import DUALSR

    store = _store("fit", err)
    if store is None:
        return EXIT_FAILED
    plan = batch.plan_outputs(
        args.image, args.out, method=DUALSR.id, scale=args.scale, store=store
    )
    for _, note in plan.notes:
        err.write(f"note: {note}\n")
    job = cluster.run_plan(
        plan, DUALSR, args.scale, options=options(args), profile=args.profile,
        params=params, context=RunContext(device=args.device, seed=args.seed),
        overwrite=args.overwrite, store=store,
    )  # fmt: skip
    return _run(job, "fit", out, err)


__all__ = ["ClusterProgress", "add_flags", "options", "run_fit", "run_upscale"]
