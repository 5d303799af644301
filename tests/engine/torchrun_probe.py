"""``unsr train`` as torchrun launches it, keeping each rank's weights for a test.

Run by tests/engine/test_torchrun.py as
``torchrun ... -m tests.engine.torchrun_probe PROBE_DIR <unsr train arguments>``:
the documented launch (``-m engine.cli.train``) with one spy, which records the
nets ``distributed.wrap`` wraps, so the test can compare the ranks' weights.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch import nn

from engine.cli import train as cli_train
from engine.train import distributed
from tests.engine import loopback


def main() -> int:
    probe, argv = Path(sys.argv[1]), sys.argv[2:]
    wrapped: list[nn.Module] = []
    original = distributed.wrap

    def spy(net: nn.Module) -> nn.Module:
        out = original(net)
        wrapped.append(out)
        return out

    listening: list[str] = []
    shutdown = distributed.shutdown

    def spy_shutdown() -> None:
        listening.extend(sorted(loopback.listening([os.getpid(), os.getppid()])))
        shutdown()

    distributed.wrap = spy  # type: ignore[assignment]
    distributed.shutdown = spy_shutdown  # type: ignore[assignment]
    code = cli_train.main(argv)
    torch.save(
        {
            "code": code,
            "world": int(os.environ.get("WORLD_SIZE", "1")),
            "ddp": [
                isinstance(n, nn.parallel.DistributedDataParallel) for n in wrapped
            ],
            "params": [p.detach().clone() for n in wrapped for p in n.parameters()],
            "listening": listening,
        },
        probe / f"rank{os.environ.get('RANK', '0')}.pt",
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
