"""Fixtures' helpers for the cluster tests (files the tests build themselves)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def photos(folder: Path, n: int, size: tuple[int, int] = (40, 56)) -> list[Path]:
    """``n`` seeded noisy PNGs of slightly different sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        h, w = size[0] + 4 * (i % 5), size[1] + 2 * i
        pixels = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        path = folder / f"p{i:02d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def hidden_files(folder: Path) -> list[Path]:
    """Part and claim files left anywhere under ``folder``."""
    return [p for p in folder.rglob(".*") if p.is_file()]
