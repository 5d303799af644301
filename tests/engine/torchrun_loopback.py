"""torchrun with its rendezvous store on a socket bound to 127.0.0.1.

Run as ``python -m tests.engine.torchrun_loopback <torchrun arguments>`` (with
``--master-addr 127.0.0.1 --master-port PORT``). Stock torchrun's store, a
TCPStore in the launching agent, listens on every interface whatever
``--master-addr`` says, and torchrun has no option for that. This is torchrun's
own ``main`` with the same arguments; only the store differs: it takes over a
socket already listening on 127.0.0.1 at PORT (``master_listen_fd``).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from torch.distributed import run as torchrun
from torch.distributed.elastic.rendezvous import static_tcp_rendezvous as static


def main() -> None:
    argv = sys.argv[1:]
    port = int(argv[argv.index("--master-port") + 1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    real = static.TCPStore

    def store(*args: Any, **kwargs: Any) -> Any:
        is_master = args[3] if len(args) > 3 else kwargs.get("is_master", False)
        if is_master:
            kwargs["master_listen_fd"] = sock.fileno()
        return real(*args, **kwargs)

    static.TCPStore = store  # type: ignore[misc]
    torchrun.main(argv)


if __name__ == "__main__":
    main()
