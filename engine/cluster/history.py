"""The controller's side of the run history: results written in batches.

Only the controlling process writes the history (SQLite on its own disk;
workers on other machines never touch it). Results are buffered and written
in one transaction per :attr:`ClusterOptions.flush_every` results or
:attr:`ClusterOptions.flush_seconds`, whichever comes first, so a batch of
100,000 small files does not pay a disk sync per file. Once a done file is
recorded, its claim is removed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.cluster import claims
from engine.cluster.spec import Batch, FileOutcome
from engine.store import FinishedRun, Store


class History:
    """Buffers finished files and records them in batched transactions.

    Parameters
    ----------
    store
        The run history.
    method, scale, params
        What every file ran with (``params`` as the history shows it).
    batch
        The batch, whose claims are released once a file is recorded.
    flush_every, flush_seconds
        When to write.
    """

    def __init__(
        self,
        store: Store,
        method: str,
        scale: int,
        params: Mapping[str, Any],
        batch: Batch,
        flush_every: int = 64,
        flush_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.method = method
        self.scale = scale
        self.params = dict(params)
        self.batch = batch
        self.flush_every = max(1, flush_every)
        self.flush_seconds = flush_seconds
        self.recorded = 0
        self._pending: list[FileOutcome] = []
        self._last = time.monotonic()

    def add(self, outcome: FileOutcome) -> None:
        """Buffer a done or failed file; write when the batch is full or due."""
        if outcome.status == "skipped":
            return
        self._pending.append(outcome)
        if len(self._pending) >= self.flush_every:
            self.flush()
        else:
            self.tick()

    def tick(self) -> None:
        """Write what is buffered if it has waited ``flush_seconds``.

        Called between results too, so a file finished before a long quiet
        spell (minutes of fitting) is not left unrecorded meanwhile.
        """
        if self._pending and time.monotonic() - self._last >= self.flush_seconds:
            self.flush()

    def _finished(self, outcome: FileOutcome) -> FinishedRun:
        params = {**self.params, "host": outcome.host, "node": outcome.node}
        return FinishedRun(
            input_path=outcome.input,
            input_sha256=outcome.sha256,
            method=self.method,
            scale=self.scale,
            params=params,
            status=outcome.status,
            output=outcome.output if outcome.status == "done" else None,
            duration_s=outcome.seconds,
            error=outcome.error,
            output_fingerprint=outcome.written,
        )

    def flush(self) -> None:
        """Write what is buffered in one transaction, then release its claims."""
        if not self._pending:
            return
        self._last = time.monotonic()
        pending, self._pending = self._pending, []
        self.store.record_finished([self._finished(o) for o in pending])
        self.recorded += len(pending)
        for outcome in pending:
            if outcome.status == "done":
                claims.release(Path(outcome.output), self.batch)


__all__ = ["History"]
