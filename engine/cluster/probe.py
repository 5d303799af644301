"""The node check as a Ray task, in a module that imports no torch.

A worker process that runs the check loads only this module (and
:mod:`engine.cluster.checks`), so checking a node costs a Python start, not
an import of torch; the slots that do the work load the heavy parts while
the check runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray

from engine.cluster import checks


def _check_node(readable: Sequence[str], writable: Sequence[str]) -> checks.NodeReport:
    node = str(ray.get_runtime_context().get_node_id())[:8]
    return checks.node_report(readable, writable, node)


#: Ray's handle on the check; the controller pins one call to each node.
check_node: Any = ray.remote(_check_node)

__all__ = ["check_node"]
