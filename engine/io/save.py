"""Atomic file writes for :func:`engine.io.images.write`.

The bytes go to a hidden temp file beside the target, are flushed to disk, and
then take the target's name; whatever fails on the way, the temp file is
removed, so no partial output is ever left behind.

A process killed outright (kill -9, power cut) cannot remove its temp file, so
the name says whose it is: ``.NAME.unsr-<pid>-<random>.part``. A later batch
removes the ones whose writer is gone (:func:`part_owner` reads the pid back).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from pathlib import Path

from engine.io.types import EXISTS_REASON, WriteError


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (links and ``./`` included)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return os.path.abspath(a) == os.path.abspath(b)


def _write_reason(exc: OSError, folder: Path) -> str:
    if isinstance(exc, PermissionError):
        return f"no permission to write in {folder}"
    if exc.errno == errno.ENOSPC:
        return "the disk is full; nothing was written"
    if exc.errno == errno.EROFS:
        return f"{folder} is on a read-only disk"
    return f"could not be written: {exc.strerror or exc}"


#: unsr's own temp-file names: ``.NAME.unsr-<pid>-<8 hex>.part``.
_PART = re.compile(r"^\..+\.unsr-(\d+)-[0-9a-f]{8}\.part$")


def part_name(name: str, pid: int | None = None) -> str:
    """The temp-file name for target ``name``, written by process ``pid``."""
    writer = os.getpid() if pid is None else pid
    return f".{name}.unsr-{writer}-{secrets.token_hex(4)}.part"


def part_owner(name: str) -> int | None:
    """The pid in one of unsr's temp-file names, or None for any other name."""
    match = _PART.match(name)
    return int(match.group(1)) if match else None


def _create_temp(folder: Path, name: str) -> tuple[int, str]:
    """Create a new hidden temp file beside the target; return (fd, path).

    ``os.open`` with mode 0o666 lets the umask decide the permissions, as for
    any file the user saves (``mkstemp`` would make it private, 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(folder / part_name(name))
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _publish(tmp: str, path: Path, overwrite: bool) -> None:
    """Give the finished temp file its real name."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails atomically when the name is taken, so a file that
        # appeared since the check (another batch) is still never replaced.
        os.link(tmp, path)
    except FileExistsError:
        raise WriteError(path, EXISTS_REASON) from None
    except OSError:
        # File systems without hard links (FAT, some network shares).
        if path.exists():
            raise WriteError(path, EXISTS_REASON) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def atomic_write(path: Path, payload: bytes, overwrite: bool) -> None:
    """Write ``payload`` to ``path`` through a temp file; never leave a part.

    Raises
    ------
    WriteError
        The file exists (and ``overwrite`` is False), or the OS refused:
        permission, disk full, read-only disk.
    """
    folder = path.parent
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(folder, path.name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path, overwrite)
        tmp = None
    except OSError as exc:
        raise WriteError(path, _write_reason(exc, folder)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


__all__ = ["atomic_write", "part_name", "part_owner", "same_file"]
