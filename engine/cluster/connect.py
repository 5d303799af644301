"""Joining a Ray cluster, or starting a private one bound to this machine only.

"local" starts a single-machine Ray that listens on 127.0.0.1 and nowhere
else: Ray would otherwise pick the machine's network address. Ray keeps to
loopback where it does not support multi-machine clusters (Windows, macOS),
and the same switch (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) gives that here;
it must be set before Ray is imported, so this module imports Ray lazily and
checks the address Ray reports after starting. A local cluster gets a random
authentication token of its own in the environment, so nothing is written to
``~/.ray``. The dashboard and usage statistics stay off.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.cluster.spec import ClusterError

LOOPBACK = "127.0.0.1"

#: Set before Ray is imported for a local cluster; see the module docstring.
LOCAL_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}

_started_here = False


@dataclass(frozen=True)
class Session:
    """A connection to a cluster.

    Attributes
    ----------
    address : str
        The cluster's GCS address ("127.0.0.1:PORT" for a local one).
    local : bool
        True for a private single-machine cluster.
    owned : bool
        True when this session started it (and stops it at the end).
    """

    address: str
    local: bool
    owned: bool


def prepare_local_env() -> None:
    """Set the environment a loopback-only local Ray needs (before importing it)."""
    for key, value in LOCAL_ENV.items():
        os.environ.setdefault(key, value)
    if "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


def import_ray() -> Any:
    """Import Ray, or say how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "Ray is not installed; install the extra: pip install 'unsr[cluster]'"
        ) from None
    return ray


def node_addresses() -> list[str]:
    """The address every alive node of the connected cluster reports."""
    ray = import_ray()
    return [str(n["NodeManagerAddress"]) for n in ray.nodes() if n.get("Alive")]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def start_local(num_cpus: int | None = None, **extra: Any) -> Session:
    """Start a private Ray on this machine, listening on 127.0.0.1 only.

    Parameters
    ----------
    num_cpus
        CPUs Ray may hand out; all of the machine's when None.
    extra
        More ``ray.init`` arguments (tests pass ``_temp_dir``).

    Raises
    ------
    ClusterError
        Ray is missing, or would listen on a network address (it was imported
        before the loopback switch could be set).
    """
    global _started_here
    prepare_local_env()
    ray = import_ray()
    context = ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        _node_ip_address=LOOPBACK,
        log_to_driver=False,
        logging_level=logging.WARNING,
        namespace="unsr",
        **extra,
    )
    _started_here = True
    gcs = str(context.address_info["gcs_address"])
    if not all(map(_is_loopback, [gcs.rsplit(":", 1)[0], *node_addresses()])):
        ray.shutdown()
        _started_here = False
        raise ClusterError(
            f"a local Ray would listen on {gcs}, not on {LOOPBACK} only; start "
            "unsr in a fresh process (Ray was imported before unsr could keep "
            "it on this machine)"
        )
    return Session(gcs, local=True, owned=True)


def _current(ray: Any) -> str:
    return str(ray.get_runtime_context().gcs_address)


@contextlib.contextmanager
def session(address: str, num_cpus: int | None = None) -> Iterator[Session]:
    """Be connected to the cluster ``address`` for the duration of the block.

    A connection that already exists in this process is reused (and left
    open): "local" reuses a local cluster this process started, "auto" any
    connection, and an address its own cluster. Otherwise "local" starts one
    (:func:`start_local`) and any other address is joined; either is closed
    at the end of the block.

    Raises
    ------
    ClusterError
        Ray is missing or the cluster cannot be reached.
    """
    if address == "local":
        prepare_local_env()
    ray = import_ray()
    if ray.is_initialized():
        current = _current(ray)
        if (
            address == "auto"
            or address == current
            or (address == "local" and _started_here)
        ):
            yield Session(current, local=_started_here, owned=False)
            return
        raise ClusterError(
            f"this process is already connected to the cluster at {current}"
        )
    made = start_local(num_cpus) if address == "local" else _join(ray, address)
    try:
        yield made
    finally:
        shutdown()


def _join(ray: Any, address: str) -> Session:
    try:
        context = ray.init(
            address=address,
            log_to_driver=False,
            logging_level=logging.WARNING,
            namespace="unsr",
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address}: {exc}"
        ) from None
    return Session(str(context.address_info["gcs_address"]), local=False, owned=True)


def shutdown() -> None:
    """Disconnect; stops a local cluster this process started."""
    global _started_here
    ray = import_ray()
    ray.shutdown()
    _started_here = False


__all__ = [
    "LOCAL_ENV",
    "LOOPBACK",
    "Session",
    "import_ray",
    "node_addresses",
    "prepare_local_env",
    "session",
    "shutdown",
    "start_local",
]
