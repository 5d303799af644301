"""A small on-disk index of what each model file is, so listing is instant.

Knowing a file's architecture and scale means building its network, which
takes about a second for a large model; a folder of thirty models would make
every start of the app wait. The index (``models-index.json`` in the data
folder) remembers, per file, keyed by its resolved path, mtime and size:

* ``info``: its :class:`ModelInfo`, or ``error``: why it cannot be used;
* ``checkpoint``: the header of an unsr training checkpoint (recipe, scale);
* ``decisions``: choices measured on this machine (whether bf16 keeps the
  output within one level of fp32), keyed by a description of the machine.

An edited or replaced file misses the index and is read again. The index is
rebuilt when the installed spandrel changes (its version is read from the
installed distribution's metadata, so reading the index never imports
spandrel or torch).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from engine import paths
from engine.models.info import ModelInfo

Key = tuple[str, int, int]
_VERSION = 2
_lock = threading.Lock()
_memory: dict[Path, dict[str, Any]] = {}


def _file() -> Path:
    return paths.data_dir() / "models-index.json"


@cache
def _stamp() -> str:
    from importlib import metadata

    try:
        return f"{_VERSION}/{metadata.version('spandrel')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency
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


def _item(key: Key) -> dict[str, Any]:
    with _lock:
        item = _entries(_file()).get(_name(key))
    return dict(item) if isinstance(item, dict) else {}


def lookup(key: Key) -> ModelInfo | str | None:
    """The remembered info, or the remembered reason it is unusable, or None."""
    item = _item(key)
    if "error" in item:
        return str(item["error"])
    if "info" not in item:
        return None
    try:
        fields = dict(item["info"])
        fields["path"] = Path(fields["path"])
        fields["tags"] = tuple(fields["tags"])
        return ModelInfo(**fields)
    except (KeyError, TypeError, ValueError):
        return None


def _update(key: Key, changes: dict[str, Any], drop: tuple[str, ...] = ()) -> None:
    """Merge ``changes`` into the file's item and write the index."""
    file = _file()
    with _lock:
        files = _entries(file)
        item = dict(files.get(_name(key)) or {})
        for field in drop:
            item.pop(field, None)
        item.update(changes)
        files[_name(key)] = item
        # Forget files that no longer exist, so the index does not grow forever.
        for name in [n for n in files if not os.path.exists(n.split("|")[0])]:
            del files[name]
        payload = json.dumps({"stamp": _stamp(), "files": files}, indent=1)
        tmp: str | None = None
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".models-index.", dir=file.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(payload)
            os.replace(tmp, file)
        except OSError:  # an index is a convenience: never fail a listing
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def remember(key: Key, value: ModelInfo | str) -> None:
    """Store an info (or an error reason) for ``key`` and write the index."""
    if isinstance(value, ModelInfo):
        info = asdict(value)
        info["path"] = str(value.path)
        info["tags"] = list(value.tags)
        _update(key, {"info": info}, drop=("error",))
    else:
        _update(key, {"error": value}, drop=("info",))


def checkpoint(key: Key) -> dict[str, Any] | None:
    """The remembered header of an unsr checkpoint (or {"error": reason})."""
    value = _item(key).get("checkpoint")
    return dict(value) if isinstance(value, dict) else None


def remember_checkpoint(key: Key, header: dict[str, Any]) -> None:
    """Store a checkpoint's header (plain JSON values) for ``key``."""
    _update(key, {"checkpoint": header})


def decision(key: Key, machine: str, name: str) -> Any:
    """A choice measured for this file on ``machine`` (None when not measured)."""
    decisions = _item(key).get("decisions")
    if not isinstance(decisions, dict):
        return None
    mine = decisions.get(machine)
    return mine.get(name) if isinstance(mine, dict) else None


def remember_decision(key: Key, machine: str, name: str, value: Any) -> None:
    """Store a choice measured for this file on ``machine``."""
    decisions = dict(_item(key).get("decisions") or {})
    decisions[machine] = {**dict(decisions.get(machine) or {}), name: value}
    _update(key, {"decisions": decisions})


def forget_memory() -> None:
    """Drop the in-memory copy (tests; another process wrote the file)."""
    with _lock:
        _memory.clear()


__all__ = [
    "checkpoint",
    "decision",
    "forget_memory",
    "lookup",
    "remember",
    "remember_checkpoint",
    "remember_decision",
]
