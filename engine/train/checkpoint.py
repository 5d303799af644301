"""Checkpoints: tensors and a JSON-able config, written atomically.

A checkpoint file (``*.unsr.pt``) holds:

- ``format``: "unsr-trained/1";
- ``recipe``, ``scale``, ``config`` (the recipe's settings as plain values),
  ``info`` (what it was trained on, the command, steps, seconds);
- ``inference``: the state dicts of the nets that inference needs;
- ``train`` (optional): everything a resumed run needs (all nets, optimisers,
  the random generator, step and elapsed time). Demo checkpoints drop it.

Files are read with ``torch.load(weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

FORMAT = "unsr-trained/1"
SUFFIX = ".unsr.pt"


class CheckpointError(ValueError):
    """A file is not a usable unsr checkpoint."""


def _umask() -> int:
    """The process umask, read without changing it (os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def save(path: Path, content: Mapping[str, Any]) -> Path:
    """Write ``content`` to ``path`` through a temp file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, **content}, tmp)
        # mkstemp makes owner-only files; a model is an ordinary document.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint; raise CheckpointError naming the file if it is not one."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an unsr training checkpoint")
    return obj


def strip(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` without the training state (for shipping)."""
    obj = load(src)
    obj.pop("train", None)
    obj.pop("format", None)
    return save(dst, obj)


__all__ = ["FORMAT", "SUFFIX", "CheckpointError", "load", "save", "strip"]
