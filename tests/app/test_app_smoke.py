"""The README's app command path, run as the user runs it, offscreen.

``python3 packaging/bootstrap.py app`` runs ``python -m unsr_app --load
SAMPLE``. The test takes that very command from bootstrap.py and runs it in a
child process with a fresh HOME: it starts, shows the window with the sample
queued, quits on its own and exits 0.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


def _readme_command() -> list[str]:
    """What ``bootstrap.py app`` would run, with this interpreter."""
    spec = importlib.util.spec_from_file_location(
        "bootstrap", ROOT / "packaging" / "bootstrap.py"
    )
    assert spec is not None and spec.loader is not None
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    ran: list[list[str]] = []
    bootstrap._sh = lambda *cmd, **_kw: ran.append([str(c) for c in cmd]) or 0
    assert bootstrap.app([]) == 0
    [cmd] = ran
    assert cmd[1:4] == ["-m", "unsr_app", "--load"] and Path(cmd[4]).is_file()
    return [sys.executable, *cmd[1:]]


def _run(cmd: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )


def test_the_readme_app_command_starts_shows_and_quits(tmp_path: Path) -> None:
    # --report-startup: show the window, say so once painted, then close it.
    done = _run([*_readme_command(), "--report-startup"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "window-shown" in done.stdout


def test_the_readme_app_command_renders_the_window(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    cmd = [*_readme_command(), "--screenshot", str(shot), "--size", "960x600"]
    done = _run(cmd, tmp_path)
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (960, 600)
    # The sample is in the queue and the viewer: the picture is not one flat
    # colour (an empty window's viewer is).
    colours = {
        image.pixel(x, y) for x in range(300, 700, 7) for y in range(100, 500, 7)
    }
    assert len(colours) > 50
