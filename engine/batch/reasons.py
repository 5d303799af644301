"""Why one file of a batch failed, worded once for every loop that runs files.

The local loop (``unsr upscale``) prints it after the input's name; a cluster
worker sends it back in the file's outcome. Both must say the same thing for
the same file.
"""

from __future__ import annotations

from pathlib import Path

from engine.io.images import ImageError
from engine.methods.base import MethodError
from engine.store import readable

#: Errors a file is expected to fail with; their message is the reason.
#: MemoryError and RuntimeError cover out-of-memory and backend failures.
FILE_ERRORS = (ImageError, MethodError, ValueError, RuntimeError, MemoryError, OSError)


def failure_reason(exc: BaseException, source: Path) -> str:
    """The reason to show after ``source``'s name (says so when the output failed)."""
    if isinstance(exc, ImageError):
        if exc.path != source:
            return f"cannot write {readable(exc.path)}: {exc.reason}"
        return exc.reason
    if isinstance(exc, FILE_ERRORS):
        return str(exc) or type(exc).__name__
    # A bug rather than a bad file: say what kind, so it can be reported.
    return f"unexpected {type(exc).__name__}: {exc}"
