"""A node dies mid-batch: every output is still written exactly once.

A simulated multi-node cluster (``ray.cluster_utils.Cluster``: a head without
CPUs and two one-CPU nodes, all on 127.0.0.1). When the first file comes back
from a node, that node is killed (its raylet and workers, no goodbye). The
batch must end with every output in place, byte for byte what the local loop
writes, one "done" row per input in the history, and no part or claim files.

"Exactly once": outputs are published with a hard link that fails when the
name exists, so a second write of any output would have come back as a failed
file ("the file already exists"); none may fail, and no renamed duplicate
(``-2``) may appear.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import batch, cluster, jobs
from engine.cluster import connect
from engine.events import Event, Message
from engine.methods.registry import get as get_method
from engine.store import Store
from tests.cluster.helpers import hidden_files, photos, ray_environment

# The module's first test also waits for its shared Ray to start (several
# seconds, far more on a loaded machine): more than the suite's 120 s budget.
pytestmark = pytest.mark.timeout(300)

#: Notice a dead node within about a second (the defaults take ~15 s).
FAST_HEALTH = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 250,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}


def _node_args() -> dict[str, Any]:
    return {"num_cpus": 1, "node_ip_address": connect.LOOPBACK}


@pytest.fixture(scope="module")
def three_nodes() -> Iterator[Any]:
    # Imported here, not when the suite is collected: Ray loads only for the
    # tests that use it.
    ray = pytest.importorskip("ray")
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    with ray_environment():
        head = {
            "num_cpus": 0,
            "node_ip_address": connect.LOOPBACK,
            "include_dashboard": False,
            "_system_config": FAST_HEALTH,
        }
        made = cluster_utils.Cluster(initialize_head=True, head_node_args=head)
        try:
            for _ in range(2):
                made.add_node(**_node_args())
            ray.init(address=made.address, log_to_driver=False, logging_level="ERROR")
            yield made
        finally:
            ray.shutdown()
            made.shutdown()


def _kill_first_worker_node(made: Any) -> tuple[list[str], Any]:
    """An event handler that kills the node the first finished file came from."""
    killed: list[str] = []

    def on_event(event: Event) -> None:
        if killed or not isinstance(event, Message):
            return
        outcome = event.data.get("file")
        if outcome is None or outcome.status != "done":
            return
        for node in list(made.worker_nodes):
            if node.node_id.startswith(outcome.node):
                killed.append(outcome.node)
                made.remove_node(node, allow_graceful=False)

    return killed, on_event


def _run_and_check(made: Any, tmp_path: Path, schedule: str) -> cluster.BatchSummary:
    inputs = photos(tmp_path / "in", 24, size=(160, 200))
    out = tmp_path / "out"
    bicubic = get_method("bicubic")
    plan = batch.plan_outputs(inputs, out, method="bicubic", scale=2)
    options = cluster.ClusterOptions(address=made.address, schedule=schedule)
    killed, on_event = _kill_first_worker_node(made)
    summary = jobs.run(cluster.run_plan(plan, bicubic, 2, options=options), on_event)
    assert killed, "a node should have been removed mid-run"
    assert summary.failed == ()
    assert sorted(summary.written) == sorted(t for _, t in plan.items)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        t.name for _, t in plan.items
    )
    for source, target in plan.items:
        reference = tmp_path / "local" / target.name
        jobs.run(batch.process_file(source, reference, bicubic, 2))
        assert target.read_bytes() == reference.read_bytes(), target.name
    done = [r for r in Store().runs() if r.status == "done" and r.output is not None]
    mine = [r for r in done if r.output is not None and r.output.parent == out]
    assert sorted(r.input_path for r in mine) == sorted(inputs)  # once each
    assert hidden_files(tmp_path) == []
    assert sum(summary.per_node.values()) == len(inputs)
    victim = [n for n in summary.per_node if n.startswith(killed[0])]
    assert victim and len(summary.per_node) >= 2, summary.per_node
    return summary


def test_slots_survive_a_node_that_dies(three_nodes: Any, tmp_path: Path) -> None:
    summary = _run_and_check(three_nodes, tmp_path, "actors")
    # The dead node's slot was noticed and its files went to the survivor.
    assert summary.requeued >= 1


def test_tasks_survive_a_node_that_dies(three_nodes: Any, tmp_path: Path) -> None:
    while len(three_nodes.worker_nodes) < 2:  # the previous test removed one
        three_nodes.add_node(**_node_args())
    three_nodes.wait_for_nodes()
    _run_and_check(three_nodes, tmp_path, "tasks")
