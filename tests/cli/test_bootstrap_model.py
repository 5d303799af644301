"""packaging/bootstrap.py app: the recommended model is one line, got or skipped.

The real download is ``unsr models get --recommended`` (tested against a local
server elsewhere); here a stand-in interpreter answers as it would, so no test
touches the network.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bootstrap_under_test", ROOT / "packaging" / "bootstrap.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\nimport sys\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(module, "PY", fake)
    monkeypatch.setattr(module, "MODEL_STAMP", tmp_path / "stamp")
    monkeypatch.delenv("UNSR_NO_DOWNLOAD", raising=False)
    return module


def test_offline_is_one_line_and_tried_again_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boot = _bootstrap(
        tmp_path,
        monkeypatch,
        "sys.stderr.write('[1/1] looking up x\\nunsr: cannot get x: cannot reach "
        "registry.npmjs.org (Name or service not known); check the network "
        "connection\\n'); sys.exit(1)",
    )
    boot.recommended_model()
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "skipped (unsr: cannot get x: cannot reach registry.npmjs.org" in out
    assert "the app starts without it" in out
    assert not (tmp_path / "stamp").exists()


def test_installed_once_then_not_asked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boot = _bootstrap(
        tmp_path,
        monkeypatch,
        "print('installed x as model:x (/m/x.safetensors)')\nprint('Models: /m')",
    )
    boot.recommended_model()
    out = capsys.readouterr().out
    assert out == (
        "getting the recommended photo model... "
        "installed x as model:x (/m/x.safetensors)\n"
    )
    assert (tmp_path / "stamp").exists()
    boot.recommended_model()
    assert capsys.readouterr().out == ""
