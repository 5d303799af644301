"""Where torch work runs: device choice, dtype policy, threads and seeds."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from functools import cache

import numpy as np
import torch


def pick(name: str = "auto") -> torch.device:
    """Return the device to use: CUDA, then MPS, then CPU for "auto".

    Raises
    ------
    ValueError
        If an explicit device is asked for and is not present.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for, but no CUDA device is available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("MPS was asked for, but this machine has no MPS device")
    return dev


@cache
def cpu_has_bf16() -> bool:
    """Return True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(
    device: torch.device, enabled: bool = True
) -> contextlib.AbstractContextManager[None]:
    """Return a bf16 autocast context where it pays, else a null context.

    bf16 is used on CUDA and on CPUs with native bf16; elsewhere it would be
    emulated and slower than fp32.
    """
    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and cpu_has_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (physical cores by default) and return it.

    ``UNSR_THREADS`` overrides the default. Hyper-threads slow convolutions down,
    so the default is the number of usable cores, not logical CPUs.
    """
    if threads is None:
        env = os.environ.get("UNSR_THREADS")
        threads = (
            int(env)
            if env
            else len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    threads = max(1, threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def seed_all(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch Generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def inference(device: torch.device) -> Iterator[None]:
    """Inference mode: no autograd bookkeeping."""
    with torch.inference_mode():
        yield


__all__ = [
    "autocast",
    "configure_threads",
    "cpu_has_bf16",
    "inference",
    "pick",
    "seed_all",
]
