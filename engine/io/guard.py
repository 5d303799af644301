"""One guard around every library call on the read and write paths.

Pillow, tifffile and OpenCV fail in many ways on odd files: OSError with
"decoder error -2", TypeError from a broken TIFF's frame count,
NotImplementedError for DDS variants, DecompressionBombError raised late by
``load()``, numpy's "Unable to allocate 3.52 TiB". They also warn (UserWarning
lines that name site-packages files) and log (tifffile). :func:`reading` and
:func:`writing` turn all of it into typed image errors
with reasons a person understands, and the warnings into notes: one plain
line per file where they matter, nothing on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from engine.io.types import (
    DamagedImageError,
    ImageError,
    TooLargeError,
    UnsupportedImageError,
    WriteError,
)

#: ``warnings.catch_warnings`` swaps process-wide state; two threads decoding
#: at once (the app's worker and a thumbnail loader) would restore each other's
#: filters out of order. One lock keeps our own enter/exit pairs nested.
LOCK = threading.RLock()

#: Warnings that say nothing a person needs (the decode handles them).
_IGNORED = (
    "Palette images with Transparency expressed in bytes",
    "could be decompression bomb",  # the size is checked against our own limit
    "Unknown field with tag",  # libtiff: a private tag it skips
    "unknown field with tag",
    "is deprecated and will be removed",  # Pillow's plans, not the file's state
)

#: Fragments of library messages, mapped to the plain reason they mean.
_DAMAGED_HINTS = (
    ("truncated", "the file is cut short (truncated)"),
    ("decoder error", "its compressed image data is damaged"),
    ("broken data stream", "its compressed image data is damaged"),
    ("buffer is not large enough", "the file is cut short (truncated)"),
    ("not enough image data", "the file is cut short (truncated)"),
    ("corrupt", "its data is damaged"),
    ("crc", "its data is damaged (a checksum does not match)"),
)


#: Fragments meaning "a program or codec is missing here", not "damaged".
_MISSING_HINTS = (
    ("ghostscript", "reading {a} file needs Ghostscript, which is not installed"),
    ("requires the", "reading this {kind} needs a codec that is not installed"),
    ("not available", "reading this {kind} needs a codec that is not installed"),
)


def missing_tool(exc: BaseException, kind: str = "image") -> str | None:
    """The plain reason when ``exc`` says a program or codec is missing."""
    text = str(exc).lower()
    for fragment, reason in _MISSING_HINTS:
        if fragment in text:
            return reason.format(a=_a(kind), kind=kind)
    return None


def _a(kind: str) -> str:
    """``kind`` with its article: "an image", "a TIFF"."""
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


def plain_reason(exc: BaseException, kind: str = "image") -> str:
    """A sentence for ``exc`` that a person understands, without library jargon.

    Parameters
    ----------
    exc
        What a decoder raised.
    kind
        The format's name ("TIFF", "PNG") for the sentence, or "image".
    """
    if isinstance(exc, MemoryError):
        return (
            "the image needs more memory than there is: its header declares "
            "an impossible size, or the file is damaged"
        )
    if isinstance(exc, NotImplementedError):
        return f"{_a(kind)} variant that cannot be decoded (not supported)"
    text = str(exc).lower()
    for fragment, reason in _DAMAGED_HINTS:
        if fragment in text:
            return f"damaged {kind} file: {reason}"
    return f"damaged or malformed {kind} file: its structure is inconsistent"


def _note_for(message: str) -> str | None:
    if any(fragment in message for fragment in _IGNORED):
        return None
    lowered = message.lower()
    if "exif" in lowered:
        return "damaged EXIF data: what could be read was kept"
    for fragment, reason in _DAMAGED_HINTS:
        if fragment in lowered:
            return f"the decoder repaired damaged data ({reason})"
    # Keep the library's own words, but as one short line without paths.
    first = message.strip().splitlines()[0] if message.strip() else "a warning"
    return f"the decoder warned: {first[:120]}"


class _LogCollector(logging.Handler):
    """Collects tifffile's log records instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _native_stderr(lines: list[str]) -> Iterator[None]:
    """Catch what C libraries print on file descriptor 2 (libtiff, libpng).

    libtiff's and libpng's default handlers write straight to the process's
    stderr, below Python; the descriptor is pointed at a temp file for the
    block and the text returned as ``lines``. Where there is no descriptor 2
    (a windowed app on Windows) nothing is redirected.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line for line in text.splitlines() if line.strip())


@contextmanager
def quiet_libraries(notes: list[str]) -> Iterator[None]:
    """Catch warnings, tifffile's log and C libraries' stderr as ``notes``.

    Each distinct plain line is added once; nothing reaches stderr, and no
    warning becomes an error under strict warning filters.
    """
    logger = logging.getLogger("tifffile")
    collector = _LogCollector()
    native: list[str] = []
    with LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.addHandler(collector)
        propagate, logger.propagate = logger.propagate, False
        try:
            with _native_stderr(native):
                yield
        finally:
            logger.removeHandler(collector)
            logger.propagate = propagate
            messages = [str(w.message) for w in caught] + collector.messages
            for message in messages + native:
                note = _note_for(message)
                if note is not None and note not in notes:
                    notes.append(note)


def _size_reason(exc: BaseException) -> str:
    """Pillow's bomb message as a plain sentence: how many MP, which limit."""
    numbers = [int(n) for n in re.findall(r"\d+", str(exc))]
    if len(numbers) >= 2:
        size, limit = numbers[0], numbers[1]
        return (
            "the image is too large to decode safely (its data declares "
            f"{size / 1e6:.0f} MP, the limit is {limit / 1e6:.0f} MP)"
        )
    return "the image is too large to decode safely (decompression bomb)"


@contextmanager
def reading(path: Path, kind: str = "image") -> Iterator[None]:
    """Turn anything a decoder raises into an ImageError naming ``path``."""
    try:
        yield
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise TooLargeError(path, _size_reason(exc)) from None
    except MemoryError as exc:
        raise TooLargeError(path, plain_reason(exc, kind)) from None
    except NotImplementedError as exc:
        raise UnsupportedImageError(path, plain_reason(exc, kind)) from None
    except Exception as exc:  # every decoder failure is the file's, not ours
        missing = missing_tool(exc, kind)
        if missing is not None:
            raise UnsupportedImageError(path, missing) from None
        raise DamagedImageError(path, plain_reason(exc, kind)) from None


@contextmanager
def writing(path: Path, fmt: str) -> Iterator[None]:
    """Turn anything an encoder raises into a WriteError naming the output."""
    try:
        yield
    except ImageError:
        raise
    except MemoryError:
        raise WriteError(
            path, f"not enough memory to encode the {fmt.upper()} file"
        ) from None
    except ValueError as exc:  # our own "this format cannot hold that"
        raise WriteError(path, str(exc)) from None
    except Exception as exc:  # an encoder failing is never the input's fault
        detail = str(exc) or type(exc).__name__
        raise WriteError(
            path, f"could not be encoded as {fmt.upper()} ({detail})"
        ) from None


__all__ = ["LOCK", "plain_reason", "quiet_libraries", "reading", "writing"]
