"""Ray clusters for the cluster tests: one per module, bound to 127.0.0.1.

Starting Ray takes several seconds, so each test module shares one cluster
through a module-scoped fixture. Everything Ray writes (sessions, sockets,
logs, the "current cluster" file) goes to a temp folder of the module
(``RAY_TMPDIR``); the workers get temp data and models folders of their own,
so no test touches the user's folders; no token is written to ``~/.ray``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.cluster import connect
from tests.cluster.helpers import local_cluster

# Before Ray is imported anywhere: a local Ray listens on loopback only.
connect.prepare_local_env()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[connect.Session]:
    """A local 2-CPU Ray, started the way ``--address local`` starts it."""
    pytest.importorskip("ray")
    with local_cluster(num_cpus=2) as session:
        yield session
