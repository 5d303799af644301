"""A two-process gloo DDP run completes and keeps both replicas in step."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from engine.events import Losses
from engine.jobs import run
from engine.train import distributed
from engine.train.trainer import RunSpec, train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, recipe: str, folder: str) -> None:
    from tests.engine.unpaired_helpers import tiny, tiny_data

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        nets: list[nn.Module] = []

        def wrap(net: nn.Module) -> nn.Module:
            wrapped = distributed.wrap(net)
            nets.append(wrapped)
            return wrapped

        spec = RunSpec(
            recipe, iterations=3, overrides=tiny(recipe), preview_every_s=1e9
        )
        first: list[float] = []
        run(
            train(
                spec, tiny_data(), Path(folder) / "ddp.unsr.pt", wrap=wrap, rank=rank
            ),
            lambda e: (
                first.append(sum(e.values.values())) if isinstance(e, Losses) else None
            ),
        )
        assert all(math.isfinite(v) for v in first)
        flat = torch.cat([p.detach().flatten() for n in nets for p in n.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        losses = torch.tensor(first[:1])
        all_losses = [torch.zeros_like(losses) for _ in range(world)]
        dist.all_gather(all_losses, losses)
        if rank == 0:
            torch.save(
                {
                    "params_equal": torch.equal(gathered[0], gathered[1]),
                    "losses_differ": not torch.equal(all_losses[0], all_losses[1]),
                    "ddp": all(
                        isinstance(n, nn.parallel.DistributedDataParallel) for n in nets
                    ),
                },
                Path(folder) / "report.pt",
            )
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_run_completes(tmp_path: Path) -> None:
    # Maeda is the hardest case: six nets, frozen ones, several forwards per step.
    # Forked children inherit the imports (Adam pulls in torch._dynamo, which
    # takes many seconds to import on a loaded box), so warm them up first.
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])
    mp.start_processes(
        _worker,
        args=(2, _free_port(), "maeda", str(tmp_path)),
        nprocs=2,
        join=True,
        start_method="fork",
    )
    assert (tmp_path / "ddp.unsr.pt").is_file()  # written by rank 0 only
    report = torch.load(tmp_path / "report.pt", weights_only=True)
    assert report["ddp"]
    assert report["losses_differ"], "each rank draws its own batches"
    assert report["params_equal"], "DDP keeps the replicas identical"
