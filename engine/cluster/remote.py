"""What runs inside Ray: the per-image task and the per-slot actor.

Each worker process keeps the methods it rebuilt (:data:`_METHODS`), so a
task that lands on a process that already loaded the model does not load it
again; an actor loads it once in its constructor and streams files through.
"""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import ray

from engine import batch, models
from engine.cluster import weights, work
from engine.cluster.spec import FileOutcome, Item, MethodRef, WorkSpec
from engine.methods.base import Method

#: Methods rebuilt in this worker process, by id and weights digest.
_METHODS: dict[tuple[str, str | None], Method] = {}


def _node() -> str:
    return str(ray.get_runtime_context().get_node_id())[:8]


def _method(ref: MethodRef) -> Method:
    key = (ref.id, ref.sha256)
    if key not in _METHODS:
        method = weights.rebuild(ref, ray.get)
        if method.kind == "pretrained":
            models.load(method.info["file"])  # load it now, once per process
        _METHODS[key] = method
    return _METHODS[key]


def _stamped(outcome: FileOutcome) -> FileOutcome:
    return dataclasses.replace(outcome, host=socket.gethostname(), node=_node())


def _method_failed(item: Item, exc: Exception) -> FileOutcome:
    return _stamped(
        FileOutcome(
            item.index,
            item.source,
            item.target,
            "failed",
            error=f"the method could not be set up on this node: "
            f"{batch.failure_reason(exc, item.source)}",
        )
    )


def _fit_one(item: Item, spec: WorkSpec) -> FileOutcome:
    work.set_threads(spec.threads)
    try:
        method = _method(spec.method)
    except Exception as exc:
        return _method_failed(item, exc)
    return _stamped(work.run_file(item, spec, method))


class _Slot:
    """One slot of the cluster: loads the method once, then takes files."""

    def __init__(self, spec: WorkSpec) -> None:
        work.set_threads(spec.threads)
        self.spec = spec
        self.method: Method | None = None
        self.error: Exception | None = None
        try:
            self.method = _method(spec.method)
        except Exception as exc:  # every file of this slot reports it
            self.error = exc

    def node(self) -> str:
        """The node this slot runs on (also: the slot is up)."""
        return _node()

    def run(self, item: Item) -> FileOutcome:
        """Do one file."""
        if self.method is None:
            assert self.error is not None
            return _method_failed(item, self.error)
        return _stamped(work.run_file(item, self.spec, self.method))


#: Ray's handles on the functions above; options are set per batch.
fit_one: Any = ray.remote(_fit_one)
Slot: Any = ray.remote(_Slot)

__all__ = ["Slot", "fit_one"]
