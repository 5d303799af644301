"""``unsr models ...`` called through its parser, as engine.cli will call it."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from engine import models, paths
from engine.cli import models as cli_models
from tests import model_factory as mf
from tests import ncnn_export as nx


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models.clear_cache()
    # The bundled demo checkpoints would fill the "empty" library.
    empty = tmp_path / "no-bundled-models"
    empty.mkdir()
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: empty)


def unsr_models(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="unsr")
    cli_models.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_empty_library_says_where_to_put_models() -> None:
    code, out, _ = unsr_models("list")
    assert code == 0 and "No models yet" in out and str(paths.models_dir()) in out


def test_add_list_info_remove(tmp_path: Path) -> None:
    good = mf.save(mf.rrdb(scale=4), tmp_path / "4x-tiny.pth")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    code, out, err = unsr_models("add", str(good), str(empty))
    assert code == 1  # one file failed, the other was still added
    assert "added model:4x-tiny: ESRGAN x4" in out
    assert "empty.safetensors: the file is empty" in err

    code, out, _ = unsr_models("list")
    assert code == 0
    header, _rule, row = out.splitlines()[:3]
    assert header.split() == [
        "id",
        "architecture",
        "scale",
        "purpose",
        "size",
        "source",
        "status",
    ]
    assert row.split()[:4] == ["model:4x-tiny", "ESRGAN", "x4", "SR"]
    assert row.rstrip().endswith("ready")

    code, out, _ = unsr_models("list", "--json")
    assert json.loads(out)[0]["architecture"] == "ESRGAN"

    code, out, _ = unsr_models("info", "4x-tiny")
    assert code == 0
    facts = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    assert facts["scale"] == "x4"
    assert facts["tiling"] == "supported"
    assert "at least 2px" in out  # ESRGAN's minimum input size
    assert "bf16" in facts["precision"]

    code, out, _ = unsr_models("remove", "model:4x-tiny")
    assert code == 0 and "removed" in out
    assert not (paths.models_dir() / "4x-tiny.pth").exists()
    code, _, err = unsr_models("info", "4x-tiny")
    assert code == 1 and "no model '4x-tiny'" in err


def test_import_ncnn_folder(tmp_path: Path) -> None:
    nx.export_compact(mf.compact(scale=2), tmp_path, "realesr-animevideov3-x2")
    (tmp_path / "broken.param").write_text("not ncnn")
    (tmp_path / "broken.bin").write_bytes(b"")
    code, out, err = unsr_models("import-ncnn", str(tmp_path))
    assert code == 1
    assert (
        "imported realesr-animevideov3-x2.param as model:realesr-animevideov3-x2" in out
    )
    assert "broken.param: not an ncnn .param" in err
    code, out, _ = unsr_models("list")
    assert "model:realesr-animevideov3-x2" in out

    code, _, err = unsr_models("import-ncnn", str(tmp_path / "nowhere"))
    assert code == 1 and "not a folder" in err
    code, _, err = unsr_models("import-ncnn", str(paths.models_dir()))
    assert code == 1 and "no .param/.bin pairs" in err


def test_a_library_model_upscales_through_unsr_upscale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    from PIL import Image

    from engine.cli import main
    from engine.io import images

    unsr_models("add", str(mf.save(mf.compact(scale=2), tmp_path / "2x-c.pth")))
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    code = main(["upscale", str(photo), "-m", "model:2x-c", "-s", "4", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (written,) = out.iterdir()
    assert ":" not in written.name
    result = images.read(written)
    assert (result.height, result.width) == (72, 88)  # x2 model, resized to x4


def test_a_refused_file_is_refused_by_name_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Copied into the folder by hand: `models list` and `upscale -m` must give
    # the same reason, and neither may call it a method or unknown.
    from engine.cli import main

    folder = paths.models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "half.unsr.pt").write_bytes(b"PK\x03\x04 the rest is missing")
    assert unsr_models("list")[0] == 0
    _, out, _ = unsr_models("list")
    (row,) = [line for line in out.splitlines() if line.startswith("trained-half")]
    assert "cut short" in row and "method" not in row
    image = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    assert main(["upscale", str(image), "-m", "trained-half"]) != 0
    err = capsys.readouterr().err
    assert "trained-half" in err and "cut short" in err
    assert "unknown method" not in err


def test_several_failures_are_one_line_each(tmp_path: Path) -> None:
    bad = []
    for name in ("a.pth", "b.safetensors", "c.ckpt"):
        (tmp_path / name).write_bytes(b"\x00\x01 nothing useful " * 10)
        bad.append(str(tmp_path / name))
    code, _, err = unsr_models("add", *bad)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 3
    assert all("not a model file" in line for line in lines)


def test_bundled_demo_checkpoints_show_their_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = Path(__file__).resolve().parents[2] / "resources" / "models"
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: shipped)
    _, out, _ = unsr_models("list")
    demos = [line for line in out.splitlines() if line.startswith("trained-demo")]
    if not demos:
        pytest.skip("no bundled demo checkpoints in this checkout")
    assert all(" x2 " in line for line in demos)
