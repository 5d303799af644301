"""Counting a cluster batch: done, failed, skipped, per node, rate and ETA."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.cluster.spec import FileOutcome
from engine.events import Progress

#: The Progress stage of a cluster batch.
STAGE = "cluster batch"


@dataclass(frozen=True)
class BatchSummary:
    """How a batch ended.

    Attributes
    ----------
    total : int
        Files planned (and inputs that could not be planned).
    written : tuple of Path
        Outputs written by this run.
    skipped : tuple of (Path, str)
        Inputs left alone, with the reason (output exists, another run).
    failed : tuple of (Path, str)
        Inputs that failed, with the reason.
    per_node : dict
        Files done per node ("ab12cd34 (host)").
    seconds : float
        Wall time of the batch.
    requeued : int
        Files handed out again because their worker was lost (each still
        counts once).
    """

    total: int
    written: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...]
    failed: tuple[tuple[Path, str], ...]
    per_node: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    requeued: int = 0

    @property
    def ok(self) -> bool:
        """True when no file failed (the exit code is 0)."""
        return not self.failed


def node_label(outcome: FileOutcome) -> str:
    """Return "ab12cd34 (host)": the node id alone does not say which machine."""
    return f"{outcome.node} ({outcome.host})" if outcome.host else outcome.node


class Tally:
    """The batch's counts; each input counts once, whatever Ray retried."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.clock = clock
        self.start = clock()
        self.written: list[Path] = []
        self.skipped: list[tuple[Path, str]] = []
        self.failed: list[tuple[Path, str]] = []
        self.per_node: Counter[str] = Counter()
        self._seen: set[int] = set()
        self._worked = 0  # files a worker finished in this run (for the rate)
        self.requeued = 0

    @property
    def handled(self) -> int:
        """Inputs with a final answer (done, failed or skipped)."""
        return len(self.written) + len(self.skipped) + len(self.failed)

    def fail(self, path: Path, reason: str) -> None:
        """Count an input that failed before it reached a worker."""
        self.failed.append((path, reason))

    def skip(self, path: Path, reason: str) -> None:
        """Count an input left alone."""
        self.skipped.append((path, reason))

    def add(self, outcome: FileOutcome) -> bool:
        """Count a worker's outcome; False (not counted) for a repeat of a file."""
        if outcome.index in self._seen:
            return False
        self._seen.add(outcome.index)
        if outcome.status == "done":
            self.written.append(outcome.output)
            self.per_node[node_label(outcome)] += 1
            self._worked += 1
        elif outcome.status == "failed":
            self.failed.append((outcome.input, outcome.error or "failed"))
            self._worked += 1
        else:
            self.skipped.append((outcome.input, outcome.error or "skipped"))
        return True

    def seen(self, index: int) -> bool:
        """True when the file with this plan index was already counted."""
        return index in self._seen

    def rate(self) -> float:
        """Files per second a worker finished, since the batch started."""
        elapsed = self.clock() - self.start
        return self._worked / elapsed if elapsed > 0 else 0.0

    def progress(self) -> Progress:
        """The batch's Progress event (ETA from the rate so far)."""
        rate = self.rate()
        left = self.total - self.handled
        eta = left / rate if rate > 0 else None
        return Progress(self.handled, self.total, STAGE, eta)

    def summary(self) -> BatchSummary:
        """The counts as a :class:`BatchSummary`."""
        return BatchSummary(
            total=self.total,
            written=tuple(self.written),
            skipped=tuple(self.skipped),
            failed=tuple(self.failed),
            per_node=dict(self.per_node),
            seconds=self.clock() - self.start,
            requeued=self.requeued,
        )


__all__ = ["STAGE", "BatchSummary", "Tally", "node_label"]
