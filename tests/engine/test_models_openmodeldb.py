"""OpenModelDB's index: parsed from a fixture of its shape, served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, paths
from engine.models import catalogue, fetch, get, openmodeldb
from tests import model_factory as mf
from tests.http_fixture import Served, serve


@pytest.fixture(scope="module")
def pth_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("omdb") / "tiny.pth"
    return mf.save(mf.compact(scale=2, nf=8, nc=2, seed=7), path).read_bytes()


def _res(platform: str, kind: str, urls: list[str], sha: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "platform": platform,
        "type": kind,
        "size": 1234,
        "urls": urls,
    }
    if sha is not None:
        out["sha256"] = sha
    return out


def _record(arch: str, scale: int, resources: list[dict[str, Any]], **more: Any) -> Any:
    record = {
        "name": more.pop("name", "A model"),
        "author": "someone",
        "license": more.pop("license", "CC0-1.0"),
        "tags": more.pop("tags", ["photo"]),
        "description": "Made for   tests.\n\nTwo paragraphs.",
        "architecture": arch,
        "scale": scale,
        "inputChannels": 3,
        "outputChannels": 3,
        "resources": resources,
        "images": [],
    }
    record.update(more)
    return record


def _index(base: str, tiny_sha: str) -> dict[str, Any]:
    drive = "https://drive.google.com/file/d/abc/view"
    return {
        "2x-TinyCompact": _record(
            "compact",
            2,
            [
                _res("onnx", "onnx", [f"{base}/x.onnx"], "0" * 64),
                _res("pytorch", "pth", [drive, f"{base}/files/tiny.pth"], tiny_sha),
            ],
            tags=["anime", "restoration"],
        ),
        "4x-DriveOnly": _record(
            "esrgan", 4, [_res("pytorch", "pth", [drive], "1" * 64)]
        ),
        "4x-OnnxOnly": _record(
            "span", 4, [_res("onnx", "onnx", [f"{base}/m.onnx"], None)]
        ),
        "2x-OddArch": _record(
            "sr-res-net", 2, [_res("pytorch", "pth", [f"{base}/o.pth"], "2" * 64)]
        ),
        "1x-Denoise": _record(
            "compact", 1, [_res("pytorch", "pth", [f"{base}/d.pth"], "3" * 64)]
        ),
        "4x-NoHash": _record(
            "esrgan", 4, [_res("pytorch", "safetensors", [f"{base}/n.st"], None)]
        ),
        "bad key!": _record("esrgan", 4, []),
    }


def test_records_are_offered_only_when_unsr_can_use_them() -> None:
    doc = _index("http://127.0.0.1:1", "a" * 64)
    entries = {e.id: e for e in openmodeldb.parse(doc)}  # the installed spandrel
    assert "bad key!" not in entries
    tiny = entries["2x-TinyCompact"]
    assert tiny.offered and tiny.origin == "openmodeldb"
    assert (tiny.scale, tiny.purpose, tiny.licence) == (2, "anime", "CC0-1.0")
    assert tiny.description == "Made for tests. Two paragraphs."
    (file,) = tiny.files
    assert (file.name, file.sha256) == ("2x-TinyCompact.pth", "a" * 64)
    assert [s.members[0][1] for s in tiny.sources] == [
        "http://127.0.0.1:1/files/tiny.pth"
    ]
    reasons = {k: e.unavailable for k, e in entries.items() if not e.offered}
    assert reasons == {
        "4x-DriveOnly": "no direct download (only a page on drive.google.com)",
        "4x-OnnxOnly": "no PyTorch file (onnx); unsr runs PyTorch weights",
        "2x-OddArch": "spandrel cannot load the sr-res-net architecture",
        "1x-Denoise": "a 1x model; unsr upscales by 2 or more",
        "4x-NoHash": "OpenModelDB gives no SHA-256 for its file",
    }


def test_not_an_index_is_refused() -> None:
    with pytest.raises(fetch.FetchError, match="not an object of models"):
        openmodeldb.parse([1, 2, 3])


def test_refresh_caches_the_index_and_an_offered_model_installs(
    pth_bytes: bytes,
) -> None:
    served = Served(files={"/files/tiny.pth": pth_bytes})
    with serve(served) as base:
        index = _index(base, hashlib.sha256(pth_bytes).hexdigest())
        served.files["/api/v1/models.json"] = json.dumps(index).encode()
        url = f"{base}/api/v1/models.json"
        entries = jobs.run(openmodeldb.refresh(url))
        assert openmodeldb.cache_path().is_file()
        assert [e.id for e in openmodeldb.cached()] == [e.id for e in entries]
        full = openmodeldb.full_catalogue()
        bundled = catalogue.load()
        assert full.ids()[: len(bundled.entries)] == bundled.ids()
        entry = full.find("2x-TinyCompact")
        outcome = jobs.run(get.get(entry, fetch.Endpoints(timeout_s=5)))
    assert outcome.path == paths.models_dir() / "2x-TinyCompact.pth"
    assert outcome.library_id == "model:2x-TinyCompact"
    assert outcome.path.read_bytes() == pth_bytes


def test_a_failed_refresh_keeps_the_old_index(tmp_path: Path) -> None:
    openmodeldb.cache_path().write_text(json.dumps(_index("http://x", "b" * 64)))
    served = Served(files={"/api/v1/models.json": b"<html>maintenance</html>"})
    with serve(served) as base, pytest.raises(fetch.FetchError, match="not JSON"):
        jobs.run(openmodeldb.refresh(f"{base}/api/v1/models.json"))
    assert len(openmodeldb.cached()) == 6
    assert not list(get.downloads_dir().glob("*.part"))
