"""What a DualSR fit leaves in its run folder, each file written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

#: Files of a run folder.
STATUS = "status.json"
KERNEL_NPY = "kernel.npy"
KERNEL_PNG = "kernel.png"
LOSSES_CSV = "losses.csv"
PARAMS_JSON = "params.json"
WEIGHTS = "weights.pt"
#: What the fit learnt from, when not the photo itself (x4: its bicubic x2).
INPUT_JSON = "input.json"


def _atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, default=str).encode()

    def write(f: IO[bytes]) -> None:
        f.write(text)

    _atomic(path, write)


def write_status(folder: Path, status: str, **extra: Any) -> None:
    """Mark the run folder "running", "done", "cancelled" or "failed"."""
    write_json(folder / STATUS, {"status": status, **extra})


def write_input(folder: Path, bicubic: int) -> None:
    """Note that the fit learns from the photo's bicubic x``bicubic``.

    Written before the fit starts, so that any weights in the folder are
    read as the fit of that input (:mod:`reuse` applies the same bicubic).
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / INPUT_JSON, {"bicubic": bicubic, "filter": "MATLAB bicubic"})


def read_input(folder: Path) -> int:
    """The bicubic factor a fit in ``folder`` learnt after (1: the photo itself)."""
    path = folder / INPUT_JSON
    if not path.is_file():
        return 1
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["bicubic"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is unreadable: {exc}") from exc
    if value not in (1, 2):
        raise ValueError(f"{path} names a bicubic x{value}; only x1 and x2 exist")
    return int(value)


def write_kernel(folder: Path, kernel: npt.NDArray[np.float32], zoom: int = 16) -> None:
    """Save the kernel as .npy and as an enlarged (nearest) grey PNG."""
    _atomic(folder / KERNEL_NPY, lambda f: np.save(f, kernel.astype(np.float32)))
    peak = float(np.abs(kernel).max()) or 1.0
    grey = np.clip(kernel / peak, 0.0, 1.0) * 255.0
    big = np.kron(grey, np.ones((zoom, zoom))).round().astype(np.uint8)
    image = Image.fromarray(big)
    _atomic(folder / KERNEL_PNG, lambda f: image.save(f, format="PNG"))


def write_weights(
    folder: Path, states: Mapping[str, Mapping[str, torch.Tensor]], blend: float = 1.0
) -> None:
    """Save the networks' state dicts (tensors only) to ``weights.pt``.

    ``blend`` is the guard's weight of G_UP against bicubic, kept so that a
    reusing run applies the fit exactly as its own run did.
    """
    clean: dict[str, Any] = {
        k: {n: t.detach().cpu() for n, t in v.items()} for k, v in states.items()
    }
    clean["guard"] = {"blend": torch.tensor(float(blend))}
    _atomic(folder / WEIGHTS, lambda f: torch.save(clean, f))


class LossLog:
    """Append-only CSV of the losses, one row per logged iteration."""

    def __init__(self, folder: Path | None, names: tuple[str, ...]):
        self.names = names
        self._file: IO[str] | None = None
        if folder is not None:
            self._file = open(folder / LOSSES_CSV, "w", encoding="utf-8")  # noqa: SIM115
            self._file.write(",".join(("step", *names)) + "\n")

    def add(self, step: int, values: Mapping[str, float]) -> None:
        """Append one row."""
        if self._file is not None:
            row = [str(step), *(f"{values[n]:.6g}" for n in self.names)]
            self._file.write(",".join(row) + "\n")

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


__all__ = [
    "INPUT_JSON",
    "KERNEL_NPY",
    "KERNEL_PNG",
    "LOSSES_CSV",
    "PARAMS_JSON",
    "STATUS",
    "WEIGHTS",
    "LossLog",
    "read_input",
    "write_input",
    "write_json",
    "write_kernel",
    "write_status",
    "write_weights",
]
