"""Helpers of the cluster tests: the files they build, and a temp home for Ray."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def ray_environment() -> Iterator[Path]:
    """A temp folder for Ray, and the environment its processes inherit.

    Ray's processes take the environment of the process that starts them:
    the workers get data and models folders under the temp folder, whatever
    a test later sets for itself. All of it is removed afterwards.
    """
    # Short: Ray's unix socket paths must stay under ~100 characters.
    root = Path(tempfile.mkdtemp(prefix="unsr-ray-"))
    env = {
        "RAY_TMPDIR": str(root),
        "UNSR_DATA_DIR": str(root / "data"),
        "UNSR_MODELS_DIR": str(root / "models"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield root
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)
