"""Batch upscaling and fits on a Ray cluster, with the local loop's outputs.

:func:`upscale_batch` (plan and run) and :func:`run_plan` (run a plan) are
jobs: generators of events that return a :class:`BatchSummary`. The
controller plans with :mod:`engine.batch`, checks each node, hands files to
Ray tasks (fits) or per-slot actors (everything else), and alone writes the
run history; see docs/cluster.md for the scheduling model.

Importing this package does not import Ray: Ray is an optional extra
(``unsr[cluster]``) and a local cluster must set its environment first.
"""

from engine.cluster.controller import preflight, run_plan, upscale_batch
from engine.cluster.spec import ClusterError, ClusterOptions, FileOutcome
from engine.cluster.tally import BatchSummary

__all__ = [
    "BatchSummary",
    "ClusterError",
    "ClusterOptions",
    "FileOutcome",
    "preflight",
    "run_plan",
    "upscale_batch",
]
