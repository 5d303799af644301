"""Shared fixtures: every test gets its own data dir and a seeded RNG.

The suite never reads or writes the user's folders. Collecting the tests
already runs engine code (``test_methods_contract`` lists the methods, which
scans the models folder), so the redirection happens here, when pytest imports
this file, before any test module is collected: HOME, the XDG folders, the
torch hub cache and unsr's own folders all point into one temp folder for the
session. ``tests/test_user_folders.py`` proves it with a fresh HOME.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

#: The session's stand-in for the user's home; removed when pytest ends.
FAKE_HOME = Path(tempfile.mkdtemp(prefix="unsr-tests-home-"))

#: Every variable through which the engine, Qt, torch or platformdirs find a
#: user folder, pointed into :data:`FAKE_HOME`.
USER_FOLDERS = {
    "HOME": FAKE_HOME,
    "XDG_CONFIG_HOME": FAKE_HOME / ".config",
    "XDG_DATA_HOME": FAKE_HOME / ".local" / "share",
    "XDG_CACHE_HOME": FAKE_HOME / ".cache",
    "XDG_STATE_HOME": FAKE_HOME / ".local" / "state",
    "TORCH_HOME": FAKE_HOME / ".cache" / "torch",
    "UNSR_DATA_DIR": FAKE_HOME / "unsr-data",
    "UNSR_MODELS_DIR": FAKE_HOME / "unsr-models",
}
os.environ.update({name: str(path) for name, path in USER_FOLDERS.items()})
# Qt finds its runtime dir through XDG_RUNTIME_DIR and warns when it is absent.
_RUNTIME = FAKE_HOME / "runtime"
_RUNTIME.mkdir(mode=0o700)
os.environ["XDG_RUNTIME_DIR"] = str(_RUNTIME)

# Qt tests run without a screen; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Give each test its own run store and models folder (fresh, empty)."""
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


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(FAKE_HOME, ignore_errors=True)
