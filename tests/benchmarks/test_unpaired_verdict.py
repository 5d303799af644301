"""The demo checkpoints' verdict sentence is computed from the scores."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "unpaired.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unpaired_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def s(psnr: float, ssim: float) -> dict[str, float]:
    return {"psnr": psnr, "ssim": ssim}


def test_a_loss_to_both_references_is_said_plainly(bench: ModuleType) -> None:
    scores = {
        "bicubic interpolation": s(27.83, 0.7454),
        "bicubic-edsr": s(27.80, 0.7178),
        "maeda": s(27.36, 0.6669),
    }
    text = bench.verdict("maeda", scores, 20.0)
    assert text.startswith("After 20 minutes")
    assert "does not beat bicubic interpolation (-0.47 dB PSNR, -0.078 SSIM)" in text
    assert "does not beat the same EDSR-lite" in text
    assert "beats bicubic" not in text.replace("not beat", "")


def test_wins_ties_and_mixed_results_are_told_apart(bench: ModuleType) -> None:
    scores = {
        "bicubic interpolation": s(27.00, 0.6700),
        "bicubic-srgan": s(27.49, 0.6800),
        "csrgan": s(27.50, 0.6810),
        "da": s(26.90, 0.6900),
    }
    text = bench.verdict("csrgan", scores, 20.0)
    assert "beats bicubic interpolation (+0.50 dB PSNR" in text
    assert "ties the same SRResNet/SRGAN" in text
    # DA's baseline was not run: the sentence says so instead of inventing one.
    assert "is mixed against bicubic interpolation" in bench.verdict("da", scores, 6)
    assert "was not measured" in bench.verdict("da", scores, 6)


def test_a_margin_inside_its_tie_band_does_not_make_a_result_mixed(
    bench: ModuleType,
) -> None:
    ref = s(27.83, 0.7454)
    # +0.003 dB is a tie, -0.024 SSIM is a loss: together, a loss.
    assert bench.compare(s(27.833, 0.7214), ref, "x").startswith("does not beat x")
    assert bench.compare(s(27.90, 0.7460), ref, "x").startswith("beats x")
    # A margin that rounds to zero is not printed as a negative one.
    assert "(+0.00 dB PSNR, +0.000 SSIM)" in bench.compare(s(27.828, 0.74535), ref, "x")
