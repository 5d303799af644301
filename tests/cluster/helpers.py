"""Helpers of the cluster tests: the files they build, a temp home for Ray, a
local cluster, and the addresses Ray's processes listen on."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tests.engine import loopback


def photos(folder: Path, n: int, size: tuple[int, int] = (40, 56)) -> list[Path]:
    """``n`` seeded noisy PNGs of slightly different sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        h, w = size[0] + 4 * (i % 5), size[1] + 2 * i
        pixels = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        path = folder / f"p{i:02d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def hidden_files(folder: Path) -> list[Path]:
    """Part and claim files left anywhere under ``folder``."""
    return [p for p in folder.rglob(".*") if p.is_file()]


@contextlib.contextmanager
def ray_environment() -> Iterator[Path]:
    """A temp folder for Ray, and the environment its processes inherit.

    Ray's processes take the environment of the process that starts them:
    the workers get data and models folders under the temp folder, whatever
    a test later sets for itself. All of it is removed afterwards.
    """
    # Short: Ray's unix socket paths must stay under ~100 characters.
    root = Path(tempfile.mkdtemp(prefix="unsr-ray-"))
    env = {
        "RAY_TMPDIR": str(root),
        "UNSR_DATA_DIR": str(root / "data"),
        "UNSR_MODELS_DIR": str(root / "models"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield root
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def local_cluster(num_cpus: int = 2) -> Iterator[Any]:
    """A local Ray, started the way ``--address local`` starts it, then stopped.

    Everything it writes goes under a temp folder (:func:`ray_environment`).
    """
    from engine.cluster import connect

    with ray_environment():
        session = connect.start_local(num_cpus=num_cpus, object_store_memory=100 << 20)
        try:
            yield session
        finally:
            connect.shutdown()


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1, IPv4-mapped ones included."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def listening(pids: set[int]) -> set[str]:
    """Addresses that sockets of ``pids`` listen on (Linux /proc)."""
    return loopback.listening(pids)


def ray_pids(session_root: str) -> set[int]:
    """This process and every process whose command line names ``session_root``."""
    pids = {os.getpid()}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if session_root in cmdline:
                pids.add(int(entry.name))
    return pids
