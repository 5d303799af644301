"""The quality benchmark's cameras, model matching and table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from engine.models import catalogue

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "models_quality.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("models_quality_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cam", ["1", "2"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_each_camera_degrades_at_the_scale_asked(
    bench: ModuleType, cam: str, scale: int
) -> None:
    rng = np.random.default_rng(0)
    hr = rng.random((48, 60, 3), dtype=np.float32)
    lr = bench.camera(cam, scale)(hr, 0)
    assert lr.shape == (48 // scale, 60 // scale, 3)
    assert lr.dtype == np.float32 and lr.min() >= 0 and lr.max() <= 1
    # JPEG quantises to 8-bit levels: the camera's last step really ran.
    assert np.allclose(lr * 255, np.round(lr * 255), atol=1e-3)
    # The photo is changed (blurred, noisy), not a plain subsample.
    assert not np.allclose(lr, hr[::scale, ::scale], atol=0.05)


def test_photos_divide_by_every_scale(bench: ModuleType) -> None:
    for _, edge in bench.PHOTOS:
        assert all(edge % s == 0 for s in (2, 3, 4))


def _entry(mid: str, param: bytes, binary: bytes) -> dict[str, object]:
    import hashlib

    def f(suffix: str, data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        return {"name": mid + suffix, "size": len(data), "sha256": digest}

    return {
        "id": mid,
        "name": mid,
        "architecture": "test",
        "scale": 2,
        "purpose": "photo",
        "licence": "MIT",
        "licence_source": "here",
        "format": "ncnn",
        "files": [f(".param", param), f(".bin", binary)],
        "sources": [],
    }


def test_models_are_found_by_their_catalogue_checksums_only(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = {
        "format": 1,
        "models": [
            _entry("right", b"graph A", b"weights A"),
            _entry("changed", b"graph B", b"weights B"),
            _entry("absent", b"graph C", b"weights C"),
        ],
    }
    monkeypatch.setattr(catalogue, "load", lambda: catalogue.parse(doc))
    sub = tmp_path / "models-x"
    sub.mkdir()
    (sub / "whatever.param").write_bytes(b"graph A")
    (sub / "whatever.bin").write_bytes(b"weights A")
    # Same names as the catalogue's, but the weights differ: not that model.
    (tmp_path / "changed.param").write_bytes(b"graph B")
    (tmp_path / "changed.bin").write_bytes(b"weights B, retrained")
    found, missing = bench.catalogue_models(tmp_path)
    assert found == {"right": sub / "whatever.param"}
    assert missing == ["changed", "absent"]


def test_bicubic_is_scored_on_the_cameras_photos(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import metrics

    # LPIPS needs weights no test has; its import alone is slow.
    monkeypatch.setattr(metrics, "lpips", lambda sr, hr: None)
    kept: list[int] = []
    row = bench.score(bench.bicubic(4), "1", 4, lambda r: kept.append(len(r["photos"])))
    assert kept == [1, 2, 3]
    assert set(row["photos"]) == {name for name, _ in bench.PHOTOS}
    for figures in row["photos"].values():
        assert 15 < figures["psnr_y"] < 40 and 0 < figures["ssim_y"] < 1


def test_the_table_names_each_rows_command_and_the_gain(
    bench: ModuleType, tmp_path: Path
) -> None:
    results = tmp_path / "q.json"

    def row(psnr: float) -> dict[str, object]:
        return {"photos": {"a": {"psnr_y": psnr, "ssim_y": 0.5}}, "seconds": 1.0}

    for method, order, psnr, command in (
        ("bicubic", 0, 25.0, "python -m benchmarks.models_quality --ncnn-dir m"),
        ("dualsr-fast (seed 0)", 1, 26.0, "python -m benchmarks.models_quality x"),
        ("span-x2-ch48", 2, 24.5, "python -m benchmarks.models_quality --ncnn-dir m"),
    ):
        for cam in bench.CAMERAS:
            body = {**row(psnr), "method": method, "scale": 2, "camera": cam}
            body["order"] = order
            key = f"{method}|x2|camera{cam}"
            bench.record(results, key, body, command, "2026-12-02 03:00 UTC")
    data = json.loads(results.read_text())
    data["missing"] = ["realsr-df2k-x4"]
    text = bench.table(data)
    lines = text.splitlines()
    assert lines[0] == bench.SECTION
    (bic,) = [x for x in lines if x.startswith("| bicubic |")]
    (dual,) = [x for x in lines if x.startswith("| dualsr-fast")]
    (span,) = [x for x in lines if x.startswith("| span-x2-ch48")]
    assert "+1.00" in dual and "-0.50" in span and "+0.00" in bic
    assert "| A |" in bic and "| B |" in dual and "| A |" in span
    assert "- A: `python -m benchmarks.models_quality --ncnn-dir m" in text
    assert "- B: `python -m benchmarks.models_quality x" in text
    assert "realsr-df2k-x4" in text
