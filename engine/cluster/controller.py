"""The controlling process of a cluster batch.

It plans with the same planner as the local loop (so what is done is
skipped: a rerun resumes), removes what earlier runs left behind, checks
every node once, hands the files out (:mod:`engine.cluster.schedule`) and is
the only process that writes the run history. It is a job like any other:
a generator of events the CLI prints and the app can follow.

Events: a :class:`~engine.events.Progress` (stage "cluster batch") at least
every 200 ms, and one :class:`~engine.events.Message` per file whose ``data``
holds the :class:`~engine.cluster.spec.FileOutcome` under "file".
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import batch as batches
from engine.cluster import checks, claims, cleanup, connect, weights
from engine.cluster.history import History
from engine.cluster.spec import (
    Batch,
    ClusterError,
    ClusterOptions,
    FileOutcome,
    Item,
    WorkSpec,
)
from engine.cluster.tally import BatchSummary, Tally
from engine.events import Message
from engine.io import images
from engine.jobs import YIELD_INTERVAL_S, Clock, Job
from engine.methods.base import Method, RunContext
from engine.store import Store

if TYPE_CHECKING:
    from engine.cluster.schedule import Scheduler

PathLike = str | os.PathLike[str]

#: Folders each node probes at most (a sample when a tree has more).
MAX_PROBED = 256
#: How long the nodes may take to answer the check, in seconds.
PREFLIGHT_TIMEOUT_S = 180.0


def _largest_first(items: list[Item]) -> list[Item]:
    """Biggest images first, by the pixel count in their headers."""
    from PIL import Image

    def pixels(item: Item) -> int:
        try:
            with Image.open(item.source) as im:
                return int(im.width) * int(im.height)
        except Exception:  # unreadable: the worker will say why
            return 0

    return sorted(items, key=pixels, reverse=True)


def _sample(paths: Iterable[Path], n: int) -> list[str]:
    unique = sorted({str(p) for p in paths})
    if len(unique) <= n:
        return unique
    step = len(unique) / n
    return [unique[int(i * step)] for i in range(n)]


def preflight(todo: Sequence[Item]) -> Job[list[str]]:
    """Check every alive node once; return one line per problem (none: go).

    Each node reports its versions (compared with the controller's), whether
    it can read the input folders and a few inputs, and whether it can write
    in the output folders. A job: it yields while the nodes answer.
    """
    ray = connect.import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from engine.cluster import probe

    readable = _sample((i.source.parent for i in todo), MAX_PROBED)
    readable += [str(i.source) for i in todo[:3]]
    writable = _sample((i.target.parent for i in todo), MAX_PROBED)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [
        probe.check_node.options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
        ).remote(readable, writable)
        for n in nodes
    ]
    clock = Clock(len(refs), "checking the nodes")
    pending = list(refs)
    while pending and clock.elapsed() < PREFLIGHT_TIMEOUT_S:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
        yield clock.progress(len(refs) - len(pending))
    reference = checks.versions()
    lines: list[str] = []
    for node, ref in zip(nodes, refs, strict=True):
        where = node.get("NodeManagerHostname", "?")
        name = f"node {str(node['NodeID'])[:8]} ({where})"
        if ref in pending:
            lines.append(f"{name}: did not answer within {PREFLIGHT_TIMEOUT_S:.0f} s")
            continue
        try:
            report = ray.get(ref)
        except Exception as exc:  # cannot import unsr there, or gone
            lines.append(f"{name}: could not run the check: {str(exc).strip()[:300]}")
            continue
        lines += [f"{name}: {m}" for m in checks.mismatches(reference, report)]
        lines += [f"{name}: {p}" for p in report.problems]
    return lines


def _params_record(params: Any, profile: str, ctx: RunContext) -> dict[str, Any]:
    record: dict[str, Any] = {"profile": profile, "engine": "ray"}
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        record.update(dataclasses.asdict(params))
    record.update(device=str(ctx.device), tile=ctx.tile, seed=ctx.seed)
    return record


def _file_events(outcome: FileOutcome, tally: Tally) -> list[Message]:
    """Warnings, then one line for the file with its outcome in ``data``."""
    name = outcome.input.name
    events = [Message(f"{name}: {note}", "warning") for note in outcome.notes]
    data = {"file": outcome, "handled": tally.handled, "total": tally.total}
    if outcome.status == "done":
        text = f"{outcome.input} -> {outcome.output} ({outcome.seconds:.1f} s)"
        events.append(Message(text, "info", data))
    elif outcome.status == "failed":
        events.append(Message(f"{outcome.input}: {outcome.error}", "error", data))
    else:
        text = f"{outcome.input}: skipped, {outcome.error}"
        events.append(Message(text, "warning", data))
    return events


#: Why an output is left alone when unsr did not write the file of its name.
FOREIGN_REASON = (
    "a file unsr did not write already has this name; it is left alone "
    "(allow replacing any file to write over it)"
)


def _fate(
    target: Path, store: Store, overwrite: bool, overwrite_any: bool
) -> tuple[str, str] | None:
    """None when ``target`` is to be done, else ("done", "skip" or "fail", why).

    The local loop's rules: an output the history knows unsr wrote is done
    (unless it may be replaced); a file unsr did not write is never replaced
    without ``overwrite_any``; a live local run's claim is its work.
    """
    if store.claimed(target):
        return "skip", "another unsr run is writing it"
    if not (target.exists() or target.is_symlink()):
        return None
    record = store.wrote(target)
    if record is not None:
        if overwrite or overwrite_any:
            return None
        return "done", f"already written by unsr (run {record.id})"
    return None if overwrite_any else ("fail", FOREIGN_REASON)


def _to_do(
    items: Sequence[tuple[Path, Path]],
    store: Store,
    overwrite: tuple[bool, bool],
    host: str,
    tally: Tally,
) -> tuple[list[Item], list[Message]]:
    """The files left to do; counts the others (this is the resume).

    ``overwrite`` is (replace outputs unsr wrote, replace any file).
    """
    leftovers = cleanup.sweep((target for _, target in items), host)
    events = []
    if leftovers.removed:
        events.append(
            Message(
                f"removed {len(leftovers.removed)} part or claim file(s) that an "
                "earlier run left behind"
            )
        )
    todo: list[Item] = []
    done = 0
    for index, (source, target) in enumerate(items):
        fate = _fate(target, store, *overwrite)
        if target in leftovers.held:
            fate = "skip", f"{leftovers.held[target]} is working on it"
        if fate is None:
            todo.append(Item(index, source, target))
        elif fate[0] == "fail":
            tally.fail(source, f"cannot write {target}: {fate[1]}")
            events.append(Message(f"{source}: {tally.failed[-1][1]}", "error"))
        elif fate[0] == "done":
            tally.skip(source, fate[1])
            done += 1
        else:
            tally.skip(source, fate[1])
            events.append(Message(f"{source}: skipped, {fate[1]}", "warning"))
    if done:
        events.append(
            Message(
                f"{done} of {len(items)} file(s) already written by unsr: "
                "skipped (use --overwrite to redo them)"
            )
        )
    return todo, events


def run_plan(
    plan: batches.Plan,
    method: Method,
    scale: int,
    *,
    options: ClusterOptions | None = None,
    profile: str | None = None,
    params: Any = None,
    context: RunContext | None = None,
    fmt: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    overwrite: bool = False,
    overwrite_any: bool = False,
    store: Store | None = None,
    max_pixels: int = images.DEFAULT_MAX_PIXELS,
) -> Job[BatchSummary]:
    """Run a planned batch on a Ray cluster.

    Parameters
    ----------
    plan
        From :func:`engine.batch.plan_outputs`; its problems count as failed.
    method, scale, profile, params, context, fmt, quality, bit_depth, overwrite
        As for :func:`engine.batch.process_file`. The context's device, tile,
        memory budget and seed go to every worker; its run folder does not
        (workers keep no artefacts).
    overwrite_any
        Replace a file of an output's name that unsr did not write.
    options
        The cluster and the reservation per job.
    store
        The run history; the default store when None.
    max_pixels
        Refuse larger inputs before decoding them.

    Returns
    -------
    BatchSummary
        Via ``StopIteration.value``.

    Raises
    ------
    ClusterError
        Ray is missing, the cluster cannot be reached, or a node failed the
        check (nothing was done).
    """
    options = options or ClusterOptions()
    chosen = params if params is not None else method.params_for(profile)
    ctx = context or RunContext()
    tally = Tally(len(plan.items) + len(plan.problems))
    for path, why in plan.problems:
        tally.fail(path, why)
        yield Message(f"{path}: {why}", "error")
    host = socket.gethostname()
    batch = Batch(uuid.uuid4().hex, host, os.getpid(), claims.this_process_started())
    store = store if store is not None else Store()
    todo, notes = _to_do(plan.items, store, (overwrite, overwrite_any), host, tally)
    yield from notes
    if not todo:
        return tally.summary()
    with connect.session(options.address, options.local_cpus) as session:
        nodes = len(connect.node_addresses())
        yield Message(f"Ray cluster at {session.address}: {nodes} node(s)")
        ray = connect.import_ray()
        spec = WorkSpec(
            weights.describe(method, ray.put), scale, chosen, batch, fmt, quality,
            bit_depth, overwrite or overwrite_any, str(ctx.device), ctx.tile,
            ctx.memory_mb,
            ctx.seed, max_pixels, options.threads,
        )  # fmt: skip
        record = _params_record(chosen, profile or method.default_profile, ctx)
        history = History(
            store, method.id, scale, record, batch,
            options.flush_every, options.flush_seconds,
        )  # fmt: skip
        # Slots start (and load the method) while the nodes are checked.
        scheduler = _scheduler(todo, spec, options, method)
        yield from _dispatch(scheduler, todo, spec.batch, tally, history)
    if tally.requeued:
        yield Message(
            f"{tally.requeued} file(s) were handed out again after their worker "
            "was lost; each is counted once"
        )
    return tally.summary()


def _scheduler(
    todo: list[Item], spec: WorkSpec, options: ClusterOptions, method: Method
) -> Scheduler:
    # Imported here: it imports Ray, which must come after the session set
    # up the environment of a local cluster.
    from engine.cluster import schedule

    n = min(schedule.slots(options), len(todo))  # no idle slot loads a model
    mode = options.schedule
    if mode == "auto":
        mode = "tasks" if method.needs_fit else "actors"
    if mode == "tasks":
        return schedule.Tasks(_largest_first(todo), spec, options, n)
    return schedule.Slots(todo, spec, options, n)


def _dispatch(
    scheduler: Scheduler,
    todo: list[Item],
    batch: Batch,
    tally: Tally,
    history: History,
) -> Job[None]:
    """Check the nodes, then hand the files out and collect what comes back.

    The scheduler is closed and the history flushed whatever happens, and
    the claims of files not finished are released.
    """
    resumed: list[Path] = []
    try:
        problems = yield from preflight(todo)
        if problems:
            raise ClusterError("a node failed the check:\n  " + "\n  ".join(problems))
        while scheduler.busy():
            for item, outcome, lost in scheduler.poll(YIELD_INTERVAL_S):
                if outcome is None:
                    outcome = FileOutcome(
                        item.index, item.source, item.target, "failed", error=lost
                    )
                if outcome.superseded:
                    continue  # the attempt that took the file over answers
                if outcome.resumed:
                    resumed.append(outcome.output)
                if not tally.add(outcome):
                    continue  # a retried task's second result: counted once
                history.add(outcome)
                yield from _file_events(outcome, tally)
            history.tick()
            yield tally.progress()
    finally:
        tally.requeued = scheduler.requeued()
        scheduler.close()
        history.flush()
        for item in todo:
            if not tally.seen(item.index):
                claims.release(item.target, batch)
        # A lost attempt may have left a part after its retry looked (its
        # process is gone by now): no one else writes a file this batch held.
        for target in resumed:
            cleanup.remove_parts(target)


def upscale_batch(
    inputs: Iterable[PathLike],
    out: PathLike | None,
    method: Method | str,
    scale: int,
    *,
    recursive: bool = False,
    fmt: str | None = None,
    **kwargs: Any,
) -> Job[BatchSummary]:
    """Plan ``inputs`` like the local loop and run them on the cluster.

    The job the app runs for "submit to cluster": its worker consumes it like
    any other job, and closing it cancels the batch (finished files stay
    recorded; a rerun resumes).

    Parameters
    ----------
    inputs, out, recursive, fmt
        As for :func:`engine.batch.plan_outputs`.
    method
        A resolved method or its id.
    scale
        The scale factor.
    kwargs
        As for :func:`run_plan` (``options`` names the cluster).
    """
    spec = batches.resolve(method)
    spec.check_scale(scale)
    plan = batches.plan_outputs(
        inputs, out, method=spec.id, scale=scale, recursive=recursive, fmt=fmt
    )
    return (yield from run_plan(plan, spec, scale, fmt=fmt, **kwargs))


__all__ = ["MAX_PROBED", "preflight", "run_plan", "upscale_batch"]
