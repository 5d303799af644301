"""Where torch work runs: device choice, dtype policy, threads and seeds.

torch is imported inside the functions that need it, so that reading the
thread policy (``unsr --help``, listing methods) costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import threading
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

_threads_lock = threading.Lock()
#: The thread count set so far (by :func:`configure_threads`), or None.
_configured: int | None = None


def pick(name: str = "auto") -> torch.device:
    """Return the device to use: CUDA, then MPS, then CPU for "auto".

    Raises
    ------
    ValueError
        If an explicit device is asked for and is not present.
    """
    import torch

    ensure_threads()
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


def cpu_bf16_pays() -> bool:
    """Return True when the CPU runs bf16 convolutions faster than fp32: AMX.

    AVX512-BF16 alone is native bf16 arithmetic too, but on such a Xeon (two
    threads, torch's oneDNN) a DualSR fast iteration took 1.21x its fp32 time
    and a Compact x4 pass 1.5x, where AMX gives 0.53-0.58 (docs/benchmarks.md,
    "bf16 without AMX"); elsewhere bf16 is emulated and slower still.
    """
    return "amx_bf16" in _cpu_flags()


def _cpu_flags() -> str:
    return _cpuinfo_field("flags")


@cache
def _cpuinfo_field(name: str) -> str:
    """The first ``name`` line's value in /proc/cpuinfo ("" where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if line.startswith(name):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


def autocast(
    device: torch.device, enabled: bool = True
) -> contextlib.AbstractContextManager[None]:
    """Return a bf16 autocast context where it pays, else a null context.

    bf16 is used on GPUs and on CPUs where it pays (:func:`cpu_bf16_pays`);
    elsewhere it is slower than fp32. The DualSR fast profile trains under it (on
    an AMX CPU an iteration takes 0.53-0.58 of its fp32 time); inference of a
    small conv net measured no faster under autocast on an older run (the
    Tiling section of docs/benchmarks.md), so :func:`engine.tiling.upscale_array`
    keeps fp32 unless asked, and then only if :func:`bf16_ok` agrees.
    """
    import torch

    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and cpu_bf16_pays():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@cache
def physical_cores() -> int | None:
    """Physical cores among the CPUs this process may use (Linux), else None."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            text = f.read()
    except OSError:
        return None
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cores: set[tuple[str, str]] = set()
    for block in text.split("\n\n"):
        fields = {
            k.strip(): v.strip()
            for k, _, v in (line.partition(":") for line in block.splitlines())
        }
        if "processor" not in fields or "core id" not in fields:
            continue
        if allowed is not None and int(fields["processor"]) not in allowed:
            continue
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def default_threads() -> int:
    """Threads for torch: ``UNSR_THREADS`` if set, else physical usable cores."""
    env = os.environ.get("UNSR_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass  # a typo in an env var should not stop the program
    usable = (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else (os.cpu_count() or 1)
    )
    physical = physical_cores()
    return max(1, min(usable, physical) if physical else usable)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (physical cores by default) and return it.

    ``UNSR_THREADS`` overrides the default. Hyper-threads slow convolutions down,
    so the default is the number of usable physical cores, not logical CPUs
    (``benchmarks/models.py`` times 1 and 2 threads against the ncnn runtime).
    """
    global _configured
    import torch

    threads = max(1, default_threads() if threads is None else threads)
    with _threads_lock:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        _configured = threads
    return threads


def ensure_threads() -> int:
    """Apply the thread policy unless a caller has set a count already.

    Every device choice goes through here, so the CLI and the app honour
    ``UNSR_THREADS`` without each entry point remembering to; a benchmark that
    sets its own count keeps it.
    """
    return _configured if _configured is not None else configure_threads()


@cache
def machine_key(device_type: str = "cpu", index: int = 0) -> str:
    """A short description of the machine, for decisions measured on it.

    Precision checks depend on the processor, its instruction set and the
    torch build, so their cached verdicts are keyed by all three.
    """
    import torch

    if device_type == "cuda":
        what = torch.cuda.get_device_name(index)
    else:
        what = _cpu_model() or platform.processor() or "unknown cpu"
        if cpu_bf16_pays():
            what += " +bf16"
    return f"{device_type}|{platform.machine()}|{what}|torch {torch.__version__}"


def _cpu_model() -> str:
    return _cpuinfo_field("model name")


def seed_all(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch Generator seeded the same."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


#: The most a bf16 pass may differ from fp32, on outputs in [0, 1]: one 8-bit
#: level, so an 8-bit file cannot tell the two apart by more than rounding.
BF16_TOLERANCE = 1.0 / 255.0


def bf16_error(
    fn: Callable[[torch.Tensor], torch.Tensor], sample: torch.Tensor
) -> float:
    """Return the largest |bf16 - fp32| of ``fn`` on ``sample``, outputs clamped.

    Parameters
    ----------
    fn
        Maps (1, C, h, w) in [0, 1] to an image in [0, 1].
    sample
        A small input on the device ``fn`` runs on (e.g. a 48x48 crop).

    Returns
    -------
    float
        ``inf`` when the device has no bf16 autocast worth using (the policy
        then keeps fp32).
    """
    import torch

    device = sample.device
    if device.type not in ("cpu", "cuda") or (
        device.type == "cpu" and not cpu_bf16_pays()
    ):
        return float("inf")
    with torch.inference_mode():
        ref = fn(sample).float().clamp(0, 1)
        with autocast(device):
            low = fn(sample).float().clamp(0, 1)
    if low.shape != ref.shape:
        return float("inf")
    return float((low - ref).abs().max())


def bf16_ok(
    fn: Callable[[torch.Tensor], torch.Tensor],
    sample: torch.Tensor,
    tolerance: float = BF16_TOLERANCE,
) -> bool:
    """Return True when ``fn`` may run under bf16 autocast.

    bf16 keeps 8 significant bits, about the size of one 8-bit level, so some
    networks stay within ``tolerance`` and others (deep ones, ones that add
    large residuals) do not. This checks the network at hand on a sample at run
    time instead of trusting a blanket rule; callers fall back to fp32 when it
    says no.
    """
    return bf16_error(fn, sample) <= tolerance


@contextlib.contextmanager
def inference(device: torch.device) -> Iterator[None]:
    """Inference mode: no autograd bookkeeping."""
    import torch

    with torch.inference_mode():
        yield


__all__ = [
    "BF16_TOLERANCE",
    "autocast",
    "bf16_error",
    "bf16_ok",
    "configure_threads",
    "cpu_bf16_pays",
    "default_threads",
    "ensure_threads",
    "inference",
    "machine_key",
    "physical_cores",
    "pick",
    "seed_all",
]
