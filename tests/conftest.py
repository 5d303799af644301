"""Shared fixtures: every test gets its own data dir and a seeded RNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# Qt tests run without a screen; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the run store, models and settings of tests out of the user's folders."""
    root = tmp_path_factory.mktemp("unsr-home")
    monkeypatch.setenv("UNSR_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("UNSR_MODELS_DIR", str(root / "models"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator so tests are repeatable."""
    return np.random.default_rng(1234)


@pytest.fixture
def photo(rng: np.random.Generator) -> np.ndarray:
    """A small float32 RGB image with smooth regions and edges, like a photo."""
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 5)], axis=2)
    base[10:30, 20:40] = [0.9, 0.2, 0.1]
    return np.clip(base + rng.normal(0, 0.01, base.shape), 0, 1).astype(np.float32)


def pytest_configure(config: pytest.Config) -> None:
    Path(config.rootpath, ".pytest_cache").mkdir(exist_ok=True)
