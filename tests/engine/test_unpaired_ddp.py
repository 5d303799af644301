"""Two-process gloo DDP runs complete, keep both replicas in step, stop
together under a wall-clock budget, and listen on the loopback only."""

from __future__ import annotations

import datetime
import math
import os
import time
import types
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from engine.events import Losses
from engine.jobs import run
from engine.train import distributed
from engine.train.trainer import RunSpec, train
from tests.engine import loopback

# A collective that a rank never joins fails after this, instead of hanging.
_TIMEOUT = datetime.timedelta(seconds=60)


def _join(rank: int, world: int, fd: int, port: int) -> None:
    """Join a gloo group whose store listens on the parent's loopback socket."""
    os.environ.update(loopback.GLOO_ENV)
    store = dist.TCPStore(
        "127.0.0.1",
        port,
        world,
        rank == 0,
        _TIMEOUT,
        master_listen_fd=fd if rank == 0 else None,
    )
    dist.init_process_group(
        "gloo", store=store, rank=rank, world_size=world, timeout=_TIMEOUT
    )


def _fast_clock(factor: float) -> None:
    """Make the trainer's clock of this process run ``factor`` times too fast.

    As if this rank had started training earlier than the other: on its own
    clock, its budget ends first.
    """
    from engine.train import trainer

    real = time.perf_counter
    t0 = real()
    fake = types.SimpleNamespace(perf_counter=lambda: t0 + factor * (real() - t0))
    trainer.time = fake  # type: ignore[assignment]


def _gather(value: Any, world: int) -> list[Any]:
    out: list[Any] = [None] * world
    dist.all_gather_object(out, value)
    return out


def _worker(
    rank: int,
    world: int,
    fd: int,
    port: int,
    recipe: str,
    folder: str,
    length: dict[str, float],
) -> None:
    from tests.engine.unpaired_helpers import tiny, tiny_data

    torch.set_num_threads(1)
    _join(rank, world, fd, port)
    try:
        if length.get("fast_rank") == rank:
            _fast_clock(3.0)
        nets: list[nn.Module] = []

        def wrap(net: nn.Module) -> nn.Module:
            wrapped = distributed.wrap(net)
            nets.append(wrapped)
            return wrapped

        spec = RunSpec(
            recipe,
            iterations=int(length["iterations"]) if "iterations" in length else None,
            budget_s=length.get("budget_s"),
            overrides=tiny(recipe),
            preview_every_s=1e9,
        )
        first: list[float] = []
        result = run(
            train(
                spec, tiny_data(), Path(folder) / "ddp.unsr.pt", wrap=wrap, rank=rank
            ),
            lambda e: (
                first.append(sum(e.values.values())) if isinstance(e, Losses) else None
            ),
        )
        assert all(math.isfinite(v) for v in first)
        flat = torch.cat([p.detach().flatten() for n in nets for p in n.parameters()])
        params = _gather(flat, world)
        losses = _gather(first[:1], world)
        steps = _gather(result.steps, world)
        # While the group lives: every socket of every rank, the store's too.
        addresses = _gather(sorted(loopback.listening([os.getpid()])), world)
        if rank == 0:
            torch.save(
                {
                    "params_equal": torch.equal(params[0], params[1]),
                    "losses_differ": losses[0] != losses[1],
                    "ddp": all(
                        isinstance(n, nn.parallel.DistributedDataParallel) for n in nets
                    ),
                    "steps": steps,
                    "listening": addresses,
                },
                Path(folder) / "report.pt",
            )
    finally:
        dist.destroy_process_group()


def _launch(folder: Path, recipe: str, length: dict[str, float]) -> dict[str, Any]:
    # Forked children inherit the imports (Adam pulls in torch._dynamo, which
    # takes many seconds to import on a loaded box), so warm them up first.
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])
    with loopback.listener() as sock:
        mp.start_processes(
            _worker,
            args=(2, sock.fileno(), sock.getsockname()[1], recipe, str(folder), length),
            nprocs=2,
            join=True,
            start_method="fork",
        )
    assert (folder / "ddp.unsr.pt").is_file()  # written by rank 0 only
    report: dict[str, Any] = torch.load(folder / "report.pt", weights_only=True)
    assert report["ddp"]
    assert report["params_equal"], "DDP keeps the replicas identical"
    return report


def test_two_process_gloo_run_completes(tmp_path: Path) -> None:
    # Maeda is the hardest case: six nets, frozen ones, several forwards per step.
    report = _launch(tmp_path, "maeda", {"iterations": 3})
    assert report["losses_differ"], "each rank draws its own batches"
    assert report["steps"] == [3, 3]


def test_budget_ends_on_the_same_step_on_every_rank(tmp_path: Path) -> None:
    # Rank 1's clock runs three times too fast: on its own it would stop after
    # a third of the budget and leave rank 0 waiting in a gradient exchange
    # (a 60 s timeout, then an error) or pairing it with the wrong collective.
    report = _launch(tmp_path, "bicubic", {"budget_s": 3.0, "fast_rank": 1})
    steps = report["steps"]
    assert steps[0] == steps[1] > 1, steps


@pytest.mark.skipif(not loopback.HAS_PROC, reason="needs Linux /proc")
def test_ranks_listen_on_the_loopback_only(tmp_path: Path) -> None:
    report = _launch(tmp_path, "bicubic", {"iterations": 2})
    rank0, rank1 = (set(a) for a in report["listening"])
    assert rank0, "rank 0 hosts the store and a gloo listener"
    assert rank1, "every rank has a gloo listener"
    assert loopback.beyond_loopback(rank0 | rank1) == []
