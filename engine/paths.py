"""Where unsr keeps things on a user's machine; every location can be moved.

``UNSR_DATA_DIR`` moves the run history (``unsr.sqlite`` and one folder per run);
``UNSR_MODELS_DIR`` moves the user models folder. Tests set both to temp dirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def data_dir() -> Path:
    """Folder for the run store and run folders (created on demand)."""
    env = os.environ.get("UNSR_DATA_DIR")
    path = Path(env) if env else Path(platformdirs.user_data_dir("unsr", "unsr"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """The user models folder: dropped model files and unsr's trained checkpoints."""
    env = os.environ.get("UNSR_MODELS_DIR")
    path = Path(env) if env else data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bundled_models_dir() -> Path:
    """Models shipped in the wheel (``resources/models``)."""
    return _RESOURCES / "models"


def catalogue_path() -> Path:
    """The vetted model catalogue shipped in the wheel (``resources/``)."""
    return _RESOURCES / "catalogue.json"


__all__ = [
    "bundled_models_dir",
    "catalogue_path",
    "data_dir",
    "models_dir",
]
