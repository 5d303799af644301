"""``--engine ray`` on a local 2-CPU Ray: the local loop's bytes, history and
exit codes; a rerun resumes; nothing listens beyond 127.0.0.1."""

from __future__ import annotations

import ipaddress
import os
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.cluster import connect
from engine.store import Store
from tests.cluster.helpers import hidden_files, listening, photos, ray_pids

# The module's first test also waits for its shared Ray to start (several
# seconds, far more on a loaded machine): more than the suite's 120 s budget.
pytestmark = pytest.mark.timeout(300)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_local_ray_listens_on_loopback_only(local_ray: connect.Session) -> None:
    import ray

    assert local_ray.address.startswith("127.0.0.1:")
    assert connect.node_addresses() == ["127.0.0.1"]
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    root = os.environ["RAY_TMPDIR"]
    pids = ray_pids(root)
    assert len(pids) > 2  # this process, the GCS, the raylet, ...
    addresses = listening(pids)
    assert addresses, "Ray's processes should be listening somewhere"
    for address in addresses:
        ip = ipaddress.ip_address(address)
        mapped = getattr(ip, "ipv4_mapped", None)
        assert (mapped or ip).is_loopback, f"something listens on {address}"


def test_ray_matches_the_local_loop_and_resumes(
    local_ray: connect.Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = photos(tmp_path / "in", 8)
    corrupt = tmp_path / "in" / "zz_corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out_local, out_ray = tmp_path / "local", tmp_path / "ray"
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out_local)]) == 1
    args = ["upscale", str(tmp_path / "in"), "-o", str(out_ray), "--engine", "ray"]
    capsys.readouterr()
    assert main([*args, "--address", "local"]) == 1
    first = capsys.readouterr()
    assert "8 written, 1 failed" in first.out
    assert "zz_corrupt.png" in first.err and "per node:" in first.err
    # The same bytes as the local loop, file by file.
    local_files = sorted(p.name for p in out_local.iterdir())
    assert len(local_files) == 8
    assert sorted(p.name for p in out_ray.iterdir()) == local_files
    for name in local_files:
        assert (out_ray / name).read_bytes() == (out_local / name).read_bytes(), name
    # Every file in the history: eight done, the corrupt one failed.
    ray_runs = [r for r in Store().runs() if r.params.get("engine") == "ray"]
    assert sorted((r.input_path.name, r.status) for r in ray_runs) == sorted(
        [(p.name, "done") for p in inputs] + [(corrupt.name, "failed")]
    )
    assert all(r.input_sha256 for r in ray_runs)
    # A part file a killed writer left long ago is cleaned up by the rerun.
    stale = out_ray / f".{local_files[0]}.unsr-4242-0123abcd.part"
    stale.write_bytes(b"half a file")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert main([*args, "--address", "local"]) == 1  # the corrupt file again
    second = capsys.readouterr()
    assert "0 written, 8 skipped, 1 failed" in second.out
    assert len([r for r in Store().runs() if r.params.get("engine") == "ray"]) == 10
    assert hidden_files(tmp_path) == []


def test_fit_engine_ray_reports_missing_input_without_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.png"
    assert main(["fit", str(missing), "--engine", "ray"]) == 1
    assert "file not found" in capsys.readouterr().err
    assert main(["fit", str(missing), str(missing)]) == 2
    assert "--engine ray" in capsys.readouterr().err


def test_a_node_that_fails_the_check_stops_the_batch(
    local_ray: connect.Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.cluster import checks

    photos(tmp_path / "in", 2)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    real = checks.versions()
    # The controller believes it runs another Pillow than the node.
    monkeypatch.setattr(checks, "versions", lambda: {**real, "pillow": "0.0"})
    args = ["upscale", str(tmp_path / "in"), "-o", str(blocker / "out")]
    assert main([*args, "--engine", "ray", "--address", "local"]) == 1
    err = capsys.readouterr().err
    assert "a node failed the check" in err
    assert "(the controller has 0.0)" in err and "is not a folder" in err
    assert Store().runs() == []  # nothing was done
    assert hidden_files(tmp_path) == []


def test_without_ray_the_flag_says_how_to_install_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ray" else real(name, *a),
    )
    photos(tmp_path / "in", 1)
    assert main(["upscale", str(tmp_path / "in"), "--engine", "ray"]) == 2
    assert "pip install 'unsr[cluster]'" in capsys.readouterr().err
