"""The suite keeps out of the user's folders, from collection to the last test.

:func:`test_a_fresh_home_stays_empty` runs pytest in a child process with HOME
and the XDG folders pointed at a new empty folder and unsr's own variables
unset, as on a user's machine. It collects a module that lists the methods at
import time and runs :func:`test_engine_calls_stay_in_the_session_folders`; the
folder must still be empty afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import batch, jobs, paths
from engine.methods import available
from engine.store import Store

ROOT = Path(__file__).resolve().parent.parent

#: Collected at import time, before any fixture runs: the case that once
#: scanned the user's real models folder.
COLLECTED_METHODS = [m.id for m in available()]


def test_engine_calls_stay_in_the_session_folders(tmp_path: Path) -> None:
    """List methods, upscale one file, open the store and the app's settings."""
    from PySide6.QtCore import QSettings

    assert "bicubic" in COLLECTED_METHODS
    source = tmp_path / "in.png"
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(source)
    store = Store()
    result = jobs.run(
        batch.process_file(source, tmp_path / "out.png", "bicubic", 2, store=store)
    )
    assert result.output.is_file()
    assert [m.id for m in available()][:2] == ["bicubic", "lanczos"]
    settings = QSettings("unsr", "unsr")  # the app's default store
    settings.setValue("probe", 1)
    settings.sync()
    # Path.home() is the session's stand-in; the per-test folders are pytest's.
    allowed = (Path.home(), tmp_path.parent)
    for folder in (paths.data_dir(), paths.models_dir(), Path(settings.fileName())):
        assert any(folder.is_relative_to(root) for root in allowed), folder


@pytest.mark.slow
def test_a_fresh_home_stays_empty(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNSR_", "XDG_"))}
    env.pop("TORCH_HOME", None)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_RUNTIME_DIR=str(home / "runtime"),
    )
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "tests/engine/test_methods_contract.py::test_unknown_method_and_scale_are_refused",
        f"{Path(__file__).relative_to(ROOT)}::"
        "test_engine_calls_stay_in_the_session_folders",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout
    assert list(home.iterdir()) == []
