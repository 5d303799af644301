"""Methods and their weights, shipped once to each node and checked by SHA-256.

The controller turns its resolved :class:`~engine.methods.base.Method` into a
:class:`~engine.cluster.spec.MethodRef`: an id, a kind, and for a model file
its path, its digest and one object-store reference to its bytes. A worker
rebuilds the method from that: built-ins from the registry, a model file from
the same path when the node sees it (a shared folder) with the same digest,
otherwise from the object store, written once per node into a cache folder
named by the digest. A model is never pickled into each task.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import models
from engine.cluster.spec import MethodRef
from engine.methods import pretrained, registry, unpaired
from engine.methods.base import Method, MethodError
from engine.store import file_sha256

#: Kinds of method backed by a model file.
FILE_KINDS = ("pretrained", "trained")


def describe(method: Method, put: Callable[[bytes], Any]) -> MethodRef:
    """The reference a worker rebuilds ``method`` from.

    Parameters
    ----------
    method
        The method the controller resolved.
    put
        Stores bytes once and returns a reference (``ray.put``); called only
        for model files.

    Raises
    ------
    MethodError
        The model file cannot be read.
    """
    if method.kind not in FILE_KINDS:
        return MethodRef(method.id, method.kind)
    file = Path(method.info["file"])
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise MethodError(f"cannot read the model file {file}: {exc}") from None
    sha = hashlib.sha256(data).hexdigest()
    return MethodRef(method.id, method.kind, str(file), sha, put(data))


def cache_dir() -> Path:
    """Where a node keeps model files it received (one folder per digest)."""
    return Path(tempfile.gettempdir()) / "unsr-weights"


def _local_copy(ref: MethodRef, fetch: Callable[[Any], bytes]) -> Path:
    """The model file on this node: the shared path, the cache, or fetched."""
    assert ref.file is not None and ref.sha256 is not None
    shared = Path(ref.file)
    if shared.is_file() and file_sha256(shared) == ref.sha256:
        return shared
    cached = cache_dir() / ref.sha256 / shared.name
    if cached.is_file() and file_sha256(cached) == ref.sha256:
        return cached
    data = fetch(ref.payload)
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Several slots of one node may fetch at once: each writes its own temp
    # file and the last rename wins with identical bytes.
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=cached.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, cached)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if file_sha256(cached) != ref.sha256:
        raise MethodError(f"{shared.name} arrived damaged (its SHA-256 differs)")
    return cached


def rebuild(ref: MethodRef, fetch: Callable[[Any], bytes]) -> Method:
    """The method ``ref`` names, on this node.

    Parameters
    ----------
    ref
        From :func:`describe` on the controller.
    fetch
        Returns the bytes behind ``ref.payload`` (``ray.get``); called only
        when this node cannot read the model file under its own path.

    Raises
    ------
    MethodError
        Unknown built-in, or a model file that is not usable here.
    """
    if ref.kind not in FILE_KINDS:
        for method in registry.builtin():
            if method.id == ref.id:
                return method
        raise MethodError(f"unknown method {ref.id!r} on this node")
    path = _local_copy(ref, fetch)
    if ref.kind == "trained":
        trained = unpaired.method_for(path)
        if trained is None:
            raise MethodError(f"{path.name} is not a usable unsr checkpoint here")
        return trained
    entry = models.Entry(ref.id, path, "user", "spandrel", models.describe(path))
    return pretrained.method_for(entry)


__all__ = ["FILE_KINDS", "cache_dir", "describe", "rebuild"]
