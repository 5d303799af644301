"""Running the studio's batch on a Ray cluster: the address, Ray, the job.

Nothing here imports Ray or the engine at import time. Ray must not even be
imported to see whether it is there: a local cluster keeps to 127.0.0.1 only
when its switches are set before Ray's first import
(:func:`engine.cluster.connect.prepare_local_env`), which the engine does
when a batch starts.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from unsr_app.requests import RunRequest

#: What the Settings field offers, in the order the help line names them.
LOCAL, AUTO = "local", "auto"

_HOST_PORT = re.compile(r"^(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$")


def ray_version() -> str | None:
    """Ray's version when it is installed, else None (Ray is not imported)."""
    if importlib.util.find_spec("ray") is None:
        return None
    try:
        return importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        return "installed"


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a cluster address (None when it is, or empty).

    Empty runs on this machine; "local" starts a private Ray here; "auto"
    joins the cluster this machine belongs to; ``HOST:PORT`` joins a head
    and ``ray://HOST:PORT`` goes through its Ray Client server.
    """
    text = address.strip()
    if not text or text in (LOCAL, AUTO):
        return None
    match = _HOST_PORT.match(text)
    if match is None:
        return (
            f"“{text}” is not a cluster address: use local, auto, "
            "HOST:PORT or ray://HOST:PORT"
        )
    port = int(text.rsplit(":", 1)[1])
    if not 0 < port < 65536:
        return f"“{text}”: the port must be between 1 and 65535"
    return None


def describe(address: str) -> str:
    """Where a batch runs, in a few words, for the Start button's tooltip."""
    if not address:
        return "this machine, one file after another"
    if address == LOCAL:
        return "a private Ray cluster on this machine (127.0.0.1 only)"
    if address == AUTO:
        return "the Ray cluster this machine belongs to"
    return f"the Ray cluster at {address}"


def plan_targets(
    items: Sequence[tuple[Path, Path | None]], request: RunRequest
) -> list[tuple[Path, Path]]:
    """(input, output) per item: the names the local path would write.

    The local path names each output when its file starts, so a name the
    batch already gave is taken by then; planned all at once, two inputs
    that share a stem (``a.png``, ``a.jpg``) get ``-2`` here the same way.
    """
    from unsr_app.job_factories import output_path

    taken: set[Path] = set()
    pairs = []
    for source, root in items:
        target = output_path(source, request, root)
        base, n = target, 1
        while target in taken or target.exists():
            n += 1
            target = base.with_name(f"{base.stem}-{n}{base.suffix}")
        taken.add(target)
        pairs.append((source, target))
    return pairs


def cluster_batch_job(
    items: Sequence[tuple[Path, Path | None]], request: RunRequest, address: str
) -> Generator[Any, None, Any]:
    """The queued batch as one job on the cluster at ``address``.

    The controller (:func:`engine.cluster.run_plan`) runs here, in the
    worker's thread: it checks the nodes, hands the files out, follows
    them and writes the run history. It yields a Progress at least every
    200 ms and one Message per file whose ``data["file"]`` is the file's
    outcome, with ``index`` its place in ``items``. Closing the job stops
    the batch; what was written stays written and recorded.
    """
    yield from ()
    from engine import batch, cluster

    pairs = plan_targets(items, request)
    for _, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
    plan = batch.Plan(items=tuple(pairs), problems=())
    method = batch.resolve(request.method)
    method.check_scale(request.scale)
    return (
        yield from cluster.run_plan(
            plan,
            method,
            request.scale,
            options=cluster.ClusterOptions(address=address),
            profile=request.profile,
            fmt=request.fmt,
            quality=request.quality,
        )
    )


def file_result(event: Any) -> Any:
    """The file's outcome a cluster Message carries, or None for other lines."""
    data = getattr(event, "data", None) or {}
    return data.get("file")


def status_of(outcome: Any) -> tuple[str, str]:
    """A file's queue status and detail from its cluster outcome."""
    if outcome.status == "done":
        return "done", Path(outcome.output).name
    reason = str(outcome.error or outcome.status)
    if outcome.status == "skipped":
        return "failed", f"skipped, {reason}"
    return "failed", reason
