"""Once per node, before any work: same software, inputs readable, outputs writable.

A node with another unsr, Pillow or torch would write different bytes than
the rest; a node that cannot see the shared folder would fail every file it
gets. Both are found out here, on each node, before the first file is
handed out, and the batch stops with one line per problem.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import platform
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Distributions whose versions change the bytes a file is written with.
_PACKAGES = ("unsr", "torch", "numpy", "pillow", "opencv-python-headless", "spandrel")
_ENGINE = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class NodeReport:
    """What one node found.

    Attributes
    ----------
    node : str
        The Ray node id (first 8 hex digits), or "" for the controller.
    host : str
        The machine's name.
    versions : dict
        Python, the packages above, and a digest of the engine's source.
    problems : tuple of str
        Inputs it cannot read, folders it cannot write, each with the reason.
    """

    node: str
    host: str
    versions: Mapping[str, str]
    problems: tuple[str, ...] = ()


@functools.cache
def _engine_digest() -> str:
    """SHA-256 of the engine's Python sources: a dev checkout has no version."""
    digest = hashlib.sha256()
    for path in sorted(_ENGINE.rglob("*.py")):
        digest.update(path.relative_to(_ENGINE).as_posix().encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Python, the packages that shape the output, and the engine's digest."""
    found = {"python": platform.python_version(), "engine": _engine_digest()}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def mismatches(reference: Mapping[str, str], report: NodeReport) -> list[str]:
    """Lines naming every version in which ``report`` differs from ``reference``."""
    return [
        f"{name} {report.versions.get(name, 'missing')} (the controller has {want})"
        for name, want in reference.items()
        if report.versions.get(name) != want
    ]


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def probe_writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (or where it would be made).

    A hidden probe file is created and removed: permission bits do not tell
    about read-only mounts, ACLs or a full quota.
    """
    where = _nearest_existing(folder)
    if not where.is_dir():
        return f"{where} is not a folder"
    probe = where / f".unsr-probe-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except PermissionError:
        return f"no permission to write in {where}"
    except OSError as exc:
        return f"cannot write in {where}: {exc.strerror or exc}"
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()
    return None


def probe_readable(path: Path) -> str | None:
    """None when ``path`` (a file or a folder) can be read here."""
    try:
        if path.is_dir():
            with os.scandir(path) as entries:
                next(entries, None)
            return None
        with open(path, "rb") as fh:
            fh.read(1)
    except FileNotFoundError:
        return f"{path} is not there (is the folder shared under the same path?)"
    except PermissionError:
        return f"no permission to read {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def node_report(
    readable: Sequence[str], writable: Sequence[str], node: str = ""
) -> NodeReport:
    """Check this machine: versions, ``readable`` paths, ``writable`` folders."""
    problems = [p for p in map(probe_readable, map(Path, readable)) if p]
    problems += [p for p in map(probe_writable, map(Path, writable)) if p]
    return NodeReport(node, socket.gethostname(), versions(), tuple(problems))


__all__ = [
    "NodeReport",
    "mismatches",
    "node_report",
    "probe_readable",
    "probe_writable",
    "versions",
]
