"""File names and file contents as the history keeps them.

Paths are stored losslessly as the bytes the OS uses (a name that is not
valid UTF-8 is possible on Linux) next to a readable text form; every output
is kept with its size, modification time and SHA-256.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path
from typing import Final

_HASH_CHUNK: Final = 1 << 20


def readable(path: str | os.PathLike[str]) -> str:
    """A path as text that prints anywhere: undecodable bytes escaped.

    A Linux file name need not be valid UTF-8; Python carries such bytes as
    lone surrogates, which a UTF-8 terminal or SQLite text column refuses.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def sqlite_text(value: str | None) -> str | None:
    """Text safe for a SQLite TEXT column (error messages may hold paths)."""
    if value is None:
        return None
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def path_key(path: str | os.PathLike[str]) -> bytes:
    """The path as the OS spells it, links resolved: lossless and comparable."""
    return os.fsencode(os.path.realpath(path))


def stored_path(raw: bytes | None, text: str | None) -> Path | None:
    """The path a row holds: its raw bytes when it has them, else its text."""
    if raw is not None:
        return Path(os.fsdecode(bytes(raw)))
    return Path(text) if text is not None else None


def folder_unwritable(folder: Path) -> str | None:
    """Why no file can be made in ``folder`` (or its nearest existing parent).

    A real probe (create and remove a hidden file): permission bits, ACLs,
    read-only mounts and full disks all answer the same way.
    """
    probe = Path(os.path.abspath(folder))
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{readable(probe)} is not a folder"
    name = probe / f".unsr-probe-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except PermissionError:
        return "no permission to write there"
    except OSError as exc:
        if exc.errno == errno.EROFS:
            return "it is on a read-only disk"
        if exc.errno == errno.ENOSPC:
            return "the disk is full"
        return f"cannot write there ({exc.strerror or exc})"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def file_sha256(path: Path) -> str | None:
    """Hex SHA-256 of a file, read in chunks; None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def fingerprint(path: Path) -> tuple[int | None, int | None, str | None]:
    """(size, mtime in ns, SHA-256) of a file, or Nones when it is gone."""
    try:
        stat = path.stat()
    except OSError:
        return None, None, None
    return stat.st_size, stat.st_mtime_ns, file_sha256(path)
