"""Listing commands start without torch (``benchmarks/startup.py`` times them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Refuse torch and spandrel at import: a listing command that needs them fails.
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "spandrel"):
            raise ImportError("imported " + name)
sys.meta_path.insert(0, Block())
from engine.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _unsr(*argv: str, block: bool) -> subprocess.CompletedProcess[str]:
    args = ["-c", BLOCK] if block else ["-m", "engine.cli"]
    return subprocess.run(
        [sys.executable, *args, *argv],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize("argv", [("--help",), ("methods",), ("models", "list")])
def test_listing_needs_neither_torch_nor_spandrel(argv: tuple[str, ...]) -> None:
    # The first run reads the bundled checkpoints' headers into the models
    # index (with torch, once); every later run lists from the index.
    assert _unsr(*argv, block=False).returncode == 0
    done = _unsr(*argv, block=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout
