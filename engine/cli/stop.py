"""Stopping a batch from outside: SIGTERM cancels like Ctrl-C.

Shared by the local loop (``unsr upscale``) and the cluster controller
(``--engine ray``), so both stop the same way and exit with the same codes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: Stopped by SIGTERM (128 + 15); Ctrl-C is 130 (:mod:`engine.cli.command`).
EXIT_TERMINATED = 143


class TerminatedError(KeyboardInterrupt):
    """SIGTERM, raised where the job is, so it cancels like Ctrl-C does."""


@contextlib.contextmanager
def sigterm_cancels() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`TerminatedError` (a clean cancel).

    A batch stopped by a service manager or ``kill`` then removes its temp
    file and records the run as cancelled, exactly as for Ctrl-C. Signal
    handlers can only be set from the main thread; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise TerminatedError()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["EXIT_TERMINATED", "TerminatedError", "sigterm_cancels"]
