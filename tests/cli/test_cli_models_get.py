"""``unsr models get``: the catalogue list, and gets against a local server only."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from engine import paths
from engine.cli import main
from engine.models import catalogue, get, openmodeldb
from tests import model_factory as mf
from tests.http_fixture import Served, serve


def _unsr(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_prints_one_model_a_line_id_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _unsr(capsys, "get", "--list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(catalogue.load().ids())
    first = lines[0].split()
    assert first[1:3] == ["x4", "photo"] and "available" in first


def test_get_without_an_id_says_how(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _unsr(capsys, "get")
    assert code == 2 and "unsr models get --list" in err


def test_unknown_and_offline_ids_are_one_line_each_and_install_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("UNSR_PYPI_URL", f"http://127.0.0.1:{port}/pypi")
    code, out, err = _unsr(capsys, "get", "nonesuch", "span-x2-ch48")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("unsr:")]
    assert lines == [
        "unsr: no model 'nonesuch' in the catalogue (see `unsr models get --list`)",
        lines[1],
    ]
    assert lines[1].startswith("unsr: cannot get span-x2-ch48: cannot reach 127.0.0.1")
    assert list(paths.models_dir().iterdir()) == []
    assert "installed" not in out


def test_refresh_then_get_an_openmodeldb_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = mf.save(mf.compact(scale=2, nf=8, nc=2), tmp_path / "w.pth").read_bytes()
    served = Served(files={"/w.pth": weights})
    with serve(served) as base:
        record = {
            "name": "Tiny",
            "license": "CC0-1.0",
            "tags": ["photo"],
            "architecture": "compact",
            "scale": 2,
            "resources": [
                {
                    "platform": "pytorch",
                    "type": "pth",
                    "size": len(weights),
                    "sha256": hashlib.sha256(weights).hexdigest(),
                    "urls": [f"{base}/w.pth"],
                }
            ],
        }
        served.files["/models.json"] = json.dumps({"2x-Tiny": record}).encode()
        # The CLI fetches OpenModelDB's real address; point it here.
        refresh = openmodeldb.refresh
        monkeypatch.setattr(
            openmodeldb, "refresh", lambda: refresh(f"{base}/models.json")
        )
        code, out, err = _unsr(capsys, "get", "--refresh", "--list")
        assert code == 0 and "OpenModelDB: 1 models listed, 1 of them offered" in err
        assert out.splitlines()[-1].split()[0] == "2x-Tiny"
        code, out, err = _unsr(capsys, "get", "2x-Tiny")
    assert code == 0, err
    assert "installed 2x-Tiny as model:2x-Tiny" in out
    assert (paths.models_dir() / "2x-Tiny.pth").read_bytes() == weights
    assert get.installed_path(openmodeldb.full_catalogue().find("2x-Tiny"))
    code, out, _ = _unsr(capsys, "get", "--list")
    assert "installed" in out.splitlines()[-1]
