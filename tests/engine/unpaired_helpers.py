"""Tiny data and tiny settings for the unpaired-training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.train.data import Photo, UnpairedData

PATCH = 16

# Tiny nets gain nothing from a second thread, and on a shared 2-core box the
# OpenMP spin-waits of two threads make them 10x slower.
torch.set_num_threads(1)


def photo(i: int, h: int, w: int, seed: int) -> Photo:
    g = torch.Generator().manual_seed(seed)
    # Smooth random fields, so no two photos look alike.
    small = torch.rand(3, h // 8, w // 8, generator=g)
    up = torch.nn.functional.interpolate(small[None], size=(h, w), mode="bilinear")[0]
    return Photo(Path(f"photo{i}.png"), up.contiguous(), f"digest{i}")


def tiny_data(scale: int = 2, clean_op: Any = "bicubic") -> UnpairedData:
    hr = [photo(i, 48, 56, i) for i in range(3)]
    # Real-LR photos big enough for a kernel fit of the estimated method (28 px).
    lr = [photo(10 + i, 32, 36, 100 + i) for i in range(3)]
    return UnpairedData(hr, lr, scale, PATCH, clean_op)


_SR = {"nf": 8, "nb": 1}
_CYCLE = {
    "translator": {"nf": 8, "nb": 1},
    "d": {"ndf": 8, "strides": [2, 2, 1]},
    "pool": 4,
}

TINY: dict[str, dict[str, Any]] = {
    "bicubic": {"sr": _SR},
    "maeda": {
        "g_xy": {"nf": 8, "nb": 1, "ng": 1, "body": "rcan"},
        "g_yx": {"nf": 8, "nb": 1, "k": 5},
        "sr": _SR,
        "d_lr": {"ndf": 8, "strides": [2, 1, 1]},
    },
    "da": {
        "sr": {"nf": 8, "nb": 2, "split": 1},
        "g_t": {"nf": 8, "nb": 1, "zero_tail": False, "global_skip": False},
        "d_f": {"ndf": 8, "strides": [1, 1, 1]},
        "d_t": {"ndf": 8, "strides": [2, 1, 1]},
        "d_sr": {"ndf": 8, "strides": [2, 2, 1, 1]},
    },
    "cyclesr": {"cycle": _CYCLE, "sr": _SR},
    "cyclesrgan": {
        "cycle": _CYCLE,
        "sr": _SR,
        "d_hr": {"ndf": 8, "strides": [2, 2, 1, 1]},
    },
    "estimated": {
        "sr": _SR,
        "spectrum": {"tile": 16, "per_photo": 8},
        "kernel": {
            "pool": 2,
            "refresh_every": 2,
        },
        "noise": {"patch": 8, "capacity": 16, "refresh_every": 2},
    },
    "estimated-kernelgan": {
        "sr": _SR,
        "kernel": {
            "estimator": "kernelgan",
            "iters": 3,
            "crop": 14,
            "batch": 1,
            "g_width": 8,
            "d_width": 8,
            "d_blocks": 1,
            "pool": 2,
            "phase": 0.2,
            "warm_iters": 2,
            "refresh_every": 2,
        },
        "noise": {"patch": 8, "capacity": 16, "refresh_every": 2},
    },
    "csrgan": {
        "cycle": _CYCLE,
        "sr": {"body": "srresnet", "nf": 8, "nb": 1},
        "d_ndf": 8,
    },
}


def tiny(recipe: str, **extra: Any) -> dict[str, Any]:
    """Tiny settings of ``recipe`` (or of a variant: "estimated-kernelgan")."""
    return {"batch": 2, "lr_patch": PATCH, **TINY[recipe], **extra}
