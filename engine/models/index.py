"""A small on-disk index of what each model file is, so listing is instant.

Knowing a file's architecture and scale means building its network, which
takes about a second for a large model; a folder of thirty models would make
every start of the app wait. The index (``models-index.json`` in the data
folder) remembers each file's :class:`ModelInfo`, or the reason it cannot be
used, keyed by its resolved path, mtime and size: an edited or replaced file
misses the index and is read again. It is rebuilt when spandrel changes.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from engine import paths
from engine.models.info import ModelInfo

Key = tuple[str, int, int]
_VERSION = 1
_lock = threading.Lock()
_memory: dict[Path, dict[str, Any]] = {}


def _file() -> Path:
    return paths.data_dir() / "models-index.json"


def _stamp() -> str:
    try:
        import spandrel

        return f"{_VERSION}/{spandrel.__version__}"
    except Exception:  # pragma: no cover - spandrel is a dependency
        return str(_VERSION)


def _entries(file: Path) -> dict[str, Any]:
    if file not in _memory:
        data: dict[str, Any] = {}
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
            if isinstance(raw, dict) and raw.get("stamp") == _stamp():
                data = dict(raw.get("files", {}))
        except (OSError, ValueError):
            pass  # no index yet, or a damaged one: start afresh
        _memory[file] = data
    return _memory[file]


def _name(key: Key) -> str:
    return f"{key[0]}|{key[1]}|{key[2]}"


def lookup(key: Key) -> ModelInfo | str | None:
    """The remembered info, or the remembered reason it is unusable, or None."""
    with _lock:
        item = _entries(_file()).get(_name(key))
    if not isinstance(item, dict):
        return None
    if "error" in item:
        return str(item["error"])
    try:
        fields = dict(item["info"])
        fields["path"] = Path(fields["path"])
        fields["tags"] = tuple(fields["tags"])
        return ModelInfo(**fields)
    except (KeyError, TypeError, ValueError):
        return None


def remember(key: Key, value: ModelInfo | str) -> None:
    """Store an info (or an error reason) for ``key`` and write the index."""
    if isinstance(value, ModelInfo):
        info = asdict(value)
        info["path"] = str(value.path)
        info["tags"] = list(value.tags)
        item: dict[str, Any] = {"info": info}
    else:
        item = {"error": value}
    file = _file()
    with _lock:
        files = _entries(file)
        files[_name(key)] = item
        # Forget files that no longer exist, so the index does not grow forever.
        for name in [n for n in files if not os.path.exists(n.split("|")[0])]:
            del files[name]
        payload = json.dumps({"stamp": _stamp(), "files": files}, indent=1)
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".models-index.", dir=file.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(payload)
            os.replace(tmp, file)
        except OSError:  # an index is a convenience: never fail a listing
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def forget_memory() -> None:
    """Drop the in-memory copy (tests; another process wrote the file)."""
    with _lock:
        _memory.clear()


__all__ = ["forget_memory", "lookup", "remember"]
