"""Plain-text progress for the command line: one bar per file and one for the batch.

On a terminal the file bar is redrawn in place with a carriage return; when
stderr is a pipe or a log file, a line is printed when the stage changes and
every few seconds instead, so logs stay readable. No dependencies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from engine.events import Event, Message, Progress


def format_eta(seconds: float | None) -> str:
    """Return "0:07", "12:34" or "1:02:03"; "?" when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(fraction: float, width: int = 20) -> str:
    """Return "[#####---------------]" for ``fraction`` in [0, 1]."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class FileProgress:
    """Shows the events of one file's job.

    Parameters
    ----------
    stream
        Where to write (stderr in the CLI).
    prefix
        Put before every line, e.g. "[2/5]".
    tty
        Redraw in place; detected from ``stream`` when None.
    every_s
        Without a TTY, the least time between two progress lines.
    clock
        Time source (tests pass a fake one).
    """

    def __init__(
        self,
        stream: TextIO,
        prefix: str = "",
        *,
        tty: bool | None = None,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.prefix = prefix
        self.tty = _is_tty(stream) if tty is None else tty
        self.every_s = every_s
        self.clock = clock
        self._stage: str | None = None
        self._stage_start = 0.0
        self._last_line = -float("inf")
        self._drawn = 0

    def on_event(self, event: Event) -> None:
        """Show ``event``: Progress moves the bar, Message prints a line."""
        if isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, Message) and event.level != "info":
            self.line(f"{event.level}: {event.text}")

    def _eta(self, event: Progress, now: float) -> float | None:
        """The job's own ETA, else one from this stage's rate so far."""
        if event.eta_s is not None:
            return event.eta_s
        if event.step <= 0 or event.total <= 0:
            return None
        return (now - self._stage_start) / event.step * max(0, event.total - event.step)

    def _progress(self, event: Progress) -> None:
        now = self.clock()
        new_stage = event.stage != self._stage
        if new_stage:
            self._stage = event.stage
            self._stage_start = now
        text = f"{self.prefix} {event.stage}".strip()
        if event.total > 0:
            percent = round(100 * event.fraction)
            eta = format_eta(self._eta(event, now))
            text += f" {bar(event.fraction)} {percent:3d}% ETA {eta}"
        if self.tty:
            self._draw(text)
            return
        if new_stage or now - self._last_line >= self.every_s:
            self._last_line = now
            self.stream.write(text + "\n")
            self.stream.flush()

    def _draw(self, text: str) -> None:
        pad = max(0, self._drawn - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn = len(text)

    def clear(self) -> None:
        """Remove the bar from the terminal line (no-op without a TTY)."""
        if self.tty and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def line(self, text: str) -> None:
        """Print a whole line above the bar."""
        self.clear()
        self.stream.write(f"{self.prefix} {text}".strip() + "\n")
        self.stream.flush()


class BatchProgress:
    """Counts files and estimates the time left for the whole batch."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.clock = clock
        self.done = 0
        self._start = clock()

    def prefix(self) -> str:
        """Return "[3/10]" for the file being processed."""
        return f"[{self.done + 1}/{self.total}]"

    def status(self) -> str:
        """Return the batch bar with the files done and the ETA."""
        fraction = self.done / self.total if self.total else 1.0
        eta = None
        if self.done:
            eta = (self.clock() - self._start) / self.done * (self.total - self.done)
        return (
            f"batch {bar(fraction)} {self.done}/{self.total} files, "
            f"ETA {format_eta(eta)}"
        )

    def step(self) -> None:
        """Count one more file as handled (done, failed or skipped)."""
        self.done += 1


__all__ = ["BatchProgress", "FileProgress", "bar", "format_eta"]
