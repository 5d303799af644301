"""The corpus check of benchmarks/io_corpus.py, on the formats unsr writes.

Every mode Pillow saves in PNG, TIFF, BMP, WebP, JPEG and GIF, with every
alpha form, plus BigTIFF, planar LZW 16-bit, 16-bit gray+alpha, float TIFFs and
a BITFIELDS BMP: one batch over all of them, then size, gray/colour, depth and
alpha of each output are checked against what the input holds. No row may be
a silent loss. (The benchmark runs every format Pillow writes and records the
table in docs/reliability.md.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "io_corpus.py"


@pytest.fixture(scope="module")
def corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("io_corpus", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_no_silent_loss_on_the_formats_unsr_writes(
    corpus: ModuleType, tmp_path: Path
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    formats = frozenset({"PNG", "TIFF", "BMP", "WEBP", "JPEG", "GIF"})
    made = corpus.build_corpus(folder, formats)
    assert len(made) > 60  # every mode each format takes, and the extras
    rows = corpus.evaluate(made, tmp_path / "out")
    lost = [(case.name, outcome) for case, _, outcome in rows if "LOST" in outcome]
    assert lost == []
    refused = [case.name for case, _, outcome in rows if outcome.startswith("refused")]
    assert refused == []  # unsr reads every file it could write itself
    outcomes = {case.name: outcome for case, _, outcome in rows}
    assert "(unsr said: the BMP" not in outcomes["bmp_RGBA.bmp"]
    assert outcomes["tifffile_float_RGB_outside01.tif"].count("clipped") == 1
