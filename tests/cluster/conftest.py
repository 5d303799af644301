"""Ray clusters for the cluster tests: one per module, bound to 127.0.0.1.

Starting Ray takes several seconds, so each test module shares one cluster
through a module-scoped fixture. Everything Ray writes (sessions, sockets,
logs, the "current cluster" file) goes to a temp folder of the module
(``RAY_TMPDIR``); the workers get temp data and models folders of their own,
so no test touches the user's folders; no token is written to ``~/.ray``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cluster import connect

# Before Ray is imported anywhere: a local Ray listens on loopback only.
connect.prepare_local_env()


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


@pytest.fixture(scope="module")
def local_ray() -> Iterator[connect.Session]:
    """A local 2-CPU Ray, started the way ``--address local`` starts it."""
    pytest.importorskip("ray")
    with ray_environment():
        session = connect.start_local(num_cpus=2, object_store_memory=100 << 20)
        try:
            yield session
        finally:
            connect.shutdown()
