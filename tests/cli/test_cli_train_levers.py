"""``unsr train`` flags for the seed methods' levers and the end-of-run check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.cli import train as cli_train
from engine.train import checkpoint
from tests.train_data import unpaired_folders

torch.set_num_threads(1)


def _train(lr: Path, hr: Path, *extra: str) -> int:
    base = ["--real-lr", str(lr), "--hr", str(hr), "--device", "cpu"]
    return cli_train.main([*extra[:1], *base, *extra[1:]])


def test_warm_start_ema_and_the_check_on_a_held_back_photo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lr, hr = unpaired_folders(tmp_path)
    baseline = tmp_path / "base.unsr.pt"
    assert _train(lr, hr, "bicubic", "--iterations", "2", "-o", str(baseline)) == 0
    capsys.readouterr()
    out = tmp_path / "c.unsr.pt"
    code = _train(
        lr, hr, "cyclesr", "--iterations", "2", "--init-sr", str(baseline),
        "--ema", "0.9", "-o", str(out),
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "SR starts from the bicubic-pairs baseline base.unsr.pt" in err
    assert "1 real-LR photos, l1.png held back" in err
    assert "Against bicubic upscaling on l1.png (held back from training)" in err
    state = checkpoint.load(out)
    assert state["config"]["ema"] == 0.9 and "ema" in state["train"]
    assert state["info"]["check_held_back"] == "yes"
    assert "--init-sr" in state["info"]["command"]
    assert "--ema 0.9" in state["info"]["command"]
    # A resume without the flags keeps the average it was saved with.
    assert _train(lr, hr, "cyclesr", "--iterations", "3", "--resume", str(out)) == 0
    resumed = checkpoint.load(out)["train"]
    assert resumed["step"] == 3 and resumed["ema"]["updates"] == 3


def test_no_holdout_trains_on_every_photo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lr, hr = unpaired_folders(tmp_path)
    out = tmp_path / "b.unsr.pt"
    code = _train(
        lr, hr, "bicubic", "--iterations", "1", "--no-holdout", "-o", str(out)
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 real-LR photos" in err and "held back" not in err
    assert "(one of the training photos)" in err


def test_a_warm_start_from_another_net_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lr, hr = unpaired_folders(tmp_path)
    maeda = tmp_path / "m.unsr.pt"
    assert _train(lr, hr, "bicubic", "--iterations", "1", "-o", str(maeda)) == 0
    capsys.readouterr()
    # CSR-GAN's SR net is an SRResNet, the baseline's an EDSR.
    code = _train(lr, hr, "csrgan", "--iterations", "1", "--init-sr", str(maeda))
    err = capsys.readouterr().err
    assert code == 1
    assert "error:" in err and "m.unsr.pt" in err and "body srresnet here" in err
