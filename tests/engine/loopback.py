"""Multi-process tests listen on the loopback only, and check that they do.

torch's rendezvous store (a TCPStore) listens on every interface whatever host
it is given; it can instead take over a socket that is already listening, and
that one is bound here to 127.0.0.1. Gloo's own connections follow
``GLOO_SOCKET_IFNAME=lo``. :func:`listening` reads which addresses a set of
processes listens on (Linux /proc), so a test can show that nothing listens
beyond the loopback.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path

#: The environment every rank of a test gets: gloo on the loopback only.
GLOO_ENV = {"GLOO_SOCKET_IFNAME": "lo"}
HAS_PROC = Path("/proc/net/tcp").exists()


def listener() -> socket.socket:
    """A TCP socket listening on 127.0.0.1 at a free port, for a TCPStore."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    s.set_inheritable(True)  # a forked rank, or a launcher's child, takes it over
    return s


def listening(pids: Iterable[int]) -> set[str]:
    """Addresses the TCP sockets of ``pids`` listen on (empty off Linux)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue  # ended, or not ours to read
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile (the listing's own fd, for one)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    found: set[str] = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            # /proc prints each 32-bit word in host (little-endian) order.
            words = [raw[i : i + 4][::-1] for i in range(0, size, 4)]
            found.add(str(ipaddress.ip_address(b"".join(words))))
    return found


def beyond_loopback(addresses: Iterable[str]) -> list[str]:
    """The addresses of ``addresses`` that are not a loopback address."""
    out = []
    for address in addresses:
        ip = ipaddress.ip_address(address)
        mapped = getattr(ip, "ipv4_mapped", None)
        if not (mapped or ip).is_loopback:
            out.append(address)
    return out


__all__ = ["GLOO_ENV", "HAS_PROC", "beyond_loopback", "listener", "listening"]
