"""Batch upscaling and fits on a Ray cluster, with the local loop's outputs.

:func:`upscale_batch` (plan and run) and :func:`run_plan` (run a plan) are
jobs: generators of events that return a :class:`BatchSummary`. The
controller plans with :mod:`engine.batch`, checks each node, hands files to
Ray tasks (fits) or per-slot actors (everything else), and alone writes the
run history; see docs/cluster.md for the scheduling model.

Importing this package imports neither Ray nor torch: Ray is an optional
extra (``unsr[cluster]``) whose local cluster must set its environment
first, and a worker that only checks its node should not pay for torch. The
controller's functions load on first use.
"""

from typing import TYPE_CHECKING, Any

from engine.cluster.spec import ClusterError, ClusterOptions, FileOutcome
from engine.cluster.tally import BatchSummary

if TYPE_CHECKING:
    from engine.cluster.controller import preflight, run_plan, upscale_batch

_LAZY = ("preflight", "run_plan", "upscale_batch")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from engine.cluster import controller

        return getattr(controller, name)
    raise AttributeError(f"module 'engine.cluster' has no attribute {name!r}")


__all__ = [
    "BatchSummary",
    "ClusterError",
    "ClusterOptions",
    "FileOutcome",
    "preflight",
    "run_plan",
    "upscale_batch",
]
