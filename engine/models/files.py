"""Small file helpers the models modules share."""

from __future__ import annotations

import os
from pathlib import Path


def _umask() -> int:
    """The process umask, read without changing it (os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def normal_permissions(path: Path) -> None:
    """Give a temp file the permissions a new file of the user gets.

    mkstemp makes owner-only (0600) files; a model is an ordinary document
    that other accounts and backup tools may read as the user's umask allows.
    """
    os.chmod(path, 0o666 & ~_umask())


__all__ = ["normal_permissions"]
