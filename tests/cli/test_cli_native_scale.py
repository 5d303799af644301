"""Without -s a model runs at its native scale; -s picks another one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import models, paths
from engine.cli import main
from engine.io import images
from engine.methods.registry import get as get_method
from tests import model_factory as mf


@pytest.fixture
def photo_file(tmp_path: Path, rng: np.random.Generator) -> Path:
    path = tmp_path / "p.png"
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(path)
    return path


def test_an_x4_model_gives_x4_without_s_and_x2_with_s2(
    photo_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models.clear_cache()
    mf.save(mf.compact(scale=4, nf=8, nc=2), paths.models_dir() / "tiny4.pth")
    assert get_method("model:tiny4").default_scale == 4
    assert main(["upscale", str(photo_file), "-m", "model:tiny4"]) == 0
    out = images.read(photo_file.with_name("p_model-tiny4_x4.png"))
    assert (out.height, out.width) == (48, 40)
    assert main(["upscale", str(photo_file), "-m", "model:tiny4", "-s", "2"]) == 0
    out = images.read(photo_file.with_name("p_model-tiny4_x2.png"))
    assert (out.height, out.width) == (24, 20)
    capsys.readouterr()


def test_interpolation_still_defaults_to_x2(
    photo_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert get_method("bicubic").default_scale == 2
    assert main(["upscale", str(photo_file)]) == 0
    assert photo_file.with_name("p_bicubic_x2.png").exists()
    capsys.readouterr()
