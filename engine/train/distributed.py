"""Multi-process training through torch.distributed (DDP), e.g. under torchrun.

``torchrun --nproc_per_node 2 -m engine.cli.train ...`` sets the environment
variables this module reads; each process then trains on its own batches and
DistributedDataParallel averages the gradients. Gloo on CPUs, NCCL on GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistInfo:
    """Where the current process sits in a multi-process run."""

    rank: int
    world: int
    local_rank: int


def from_env() -> DistInfo | None:
    """The torchrun environment, or None for a single-process run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return DistInfo(
        int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))
    )


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group (gloo on CPU, NCCL on CUDA) if not joined yet."""
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=info.rank, world_size=info.world)


def wrap(net: nn.Module) -> nn.Module:
    """Wrap ``net`` in DDP when a process group exists and it has parameters.

    ``find_unused_parameters`` is on because the GAN recipes run nets whose
    outputs reach only some losses, and freeze nets between updates.
    """
    if not dist.is_initialized() or not any(True for _ in net.parameters()):
        return net
    return DistributedDataParallel(net, find_unused_parameters=True)


def agreed_seconds(seconds: float) -> float:
    """The longest of every rank's ``seconds``; ``seconds`` itself alone.

    A wall-clock budget ends on each rank's own clock, and the clocks differ by
    the time the ranks took to start. A rank that stopped one step before the
    others would leave them waiting in a gradient exchange it never joins, and
    ranks whose phases changed on different steps would train different nets.
    Deciding on the same figure everywhere keeps them in step; the longest
    keeps no rank over its budget.
    """
    if not dist.is_initialized() or dist.get_world_size() < 2:
        return seconds
    where = torch.device("cpu")
    if dist.get_backend() == "nccl":  # NCCL reduces only tensors on the GPU
        where = torch.device("cuda", torch.cuda.current_device())
    t = torch.tensor([seconds], dtype=torch.float64, device=where)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def shutdown() -> None:
    """Leave the process group."""
    if dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["DistInfo", "agreed_seconds", "from_env", "init", "shutdown", "wrap"]
