"""Claim files: which batch is working on an output, so work is done once.

A worker claims an output before it reads the input: a hidden file
``.NAME.unsr-claim`` beside the output, created with O_EXCL and naming the
batch. It answers the two questions a cluster raises:

* A task retried after its node died finds its batch's own claim. If the
  output is there too, the first attempt wrote it: done, counted once, not
  written again. If not, the first attempt died mid-work: take over. The
  claim then names the new attempt, and an attempt checks it still holds the
  claim before it writes, so a worker that Ray gave up on but that still runs
  (a node cut off, not dead) does not write beside its successor.
* Another run (a second controller over the same folders) finds a claim it
  does not own and skips the file instead of doing it a second time.

The claim stays after the output is written until the controller has
recorded the file in the history (then it removes it), so a retry can still
tell its own output from someone else's. Claims of a controller that is gone
are removed by the next run on that machine (:func:`stale`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from engine.cluster.spec import Batch
from engine.store.processes import process_started, writer_gone

SUFFIX = ".unsr-claim"


@dataclass(frozen=True)
class Holder:
    """Who holds a claim: the batch, where its controller runs, which attempt."""

    batch: str
    host: str
    pid: int
    pid_started: str | None = None
    attempt: str = ""

    def describe(self) -> str:
        """Return "a run controlled from HOST (pid N)"."""
        return f"a run controlled from {self.host} (pid {self.pid})"


def path_for(target: Path) -> Path:
    """The claim file of an output: ``.NAME.unsr-claim`` beside it."""
    return target.with_name(f".{target.name}{SUFFIX}")


def is_claim(name: str) -> bool:
    """True for a file name this module creates."""
    return name.startswith(".") and name.endswith(SUFFIX)


def read(claim: Path) -> Holder | None:
    """The holder written in ``claim``; None when it is gone or unreadable."""
    try:
        data = json.loads(claim.read_text(encoding="utf-8"))
        return Holder(
            str(data["batch"]),
            str(data["host"]),
            int(data["pid"]),
            data.get("pid_started"),
            str(data.get("attempt", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def new_attempt() -> str:
    """A name for one attempt at one file: machine, process, random."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def take(target: Path, batch: Batch, attempt: str = "") -> tuple[Holder | None, bool]:
    """Claim ``target`` for ``batch`` and this ``attempt``.

    Returns
    -------
    (holder, resumed)
        ``holder`` is None when the claim is now ours, else who holds it.
        ``resumed`` is True when the claim was already the batch's (an
        earlier attempt made it); it now names this attempt.
    """
    claim = path_for(target)
    text = json.dumps(
        {
            "batch": batch.id,
            "host": batch.host,
            "pid": batch.pid,
            "pid_started": batch.pid_started,
            "attempt": attempt,
        }
    )
    claim.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        holder = read(claim)
        if holder is not None and holder.batch == batch.id:
            _replace(claim, text)  # the earlier attempt is over: say who now
            return None, True
        # A claim being written this instant reads as empty: someone's, not ours.
        return holder or Holder("?", "another machine", 0), False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return None, False


def _replace(claim: Path, text: str) -> None:
    tmp = claim.with_name(f"{claim.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, claim)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def holds(target: Path, batch: Batch, attempt: str) -> bool:
    """True while ``attempt`` of ``batch`` is the one the claim names."""
    holder = read(path_for(target))
    return holder is not None and (holder.batch, holder.attempt) == (batch.id, attempt)


def release(target: Path, batch: Batch, attempt: str | None = None) -> None:
    """Remove ``target``'s claim if ``batch`` (and ``attempt``) holds it.

    A worker passes its attempt, so an attempt that was given up never drops
    the claim of the one that took over; the controller, done with the file,
    passes none. Never raises.
    """
    claim = path_for(target)
    holder = read(claim)
    if (
        holder is not None
        and holder.batch == batch.id
        and attempt in (None, holder.attempt)
    ):
        with contextlib.suppress(OSError):
            claim.unlink()


def stale(holder: Holder | None, host: str) -> bool:
    """True when a claim can go: unreadable, or its controller on ``host`` ended.

    A claim whose controller runs on another machine cannot be checked from
    here and is left alone (the file is skipped with a message naming it).
    """
    if holder is None:
        return True
    return holder.host == host and writer_gone(holder.pid, holder.pid_started)


def this_process_started() -> str | None:
    """The start time of this process (for :class:`Batch`)."""
    return process_started(os.getpid())


__all__ = [
    "SUFFIX",
    "Holder",
    "holds",
    "is_claim",
    "new_attempt",
    "path_for",
    "read",
    "release",
    "stale",
    "take",
    "this_process_started",
]
