"""``unsr train`` from two folders: live losses, a checkpoint, clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from engine.cli import train as cli_train
from engine.methods import get
from engine.train import checkpoint
from tests.train_data import unpaired_folders

torch.set_num_threads(1)


_folders = unpaired_folders


def test_register_wires_run() -> None:
    parser = argparse.ArgumentParser(prog="unsr")
    cli_train.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "maeda", "--real-lr", "a", "--hr", "b"])
    assert args.func is cli_train.run and args.scale == 2 and args.profile == "cpu"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "nope", "--real-lr", "a", "--hr", "b"])


def test_train_writes_a_model_that_becomes_a_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lr, hr = _folders(tmp_path)
    out = tmp_path / "mine"
    code = cli_train.main(
        [
            "bicubic",
            "--real-lr",
            str(lr),
            "--hr",
            str(hr),
            "--iterations",
            "3",
            "--device",
            "cpu",
            "-o",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "step" in err and "sr_pixel" in err  # live losses
    path = tmp_path / "mine.unsr.pt"
    head = checkpoint.load(path)
    assert head["info"]["command"].startswith("unsr train bicubic --real-lr")
    assert str(lr) in head["info"]["trained_on"]
    # A model written to the models folder shows up in the method list.
    code = cli_train.main(
        [
            "bicubic",
            "--real-lr",
            str(lr),
            "--hr",
            str(hr),
            "--resume",
            str(path),
            "--iterations",
            "4",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    assert checkpoint.load(path)["train"]["step"] == 4
    default = cli_train.main(
        [
            "bicubic",
            "--real-lr",
            str(lr),
            "--hr",
            str(hr),
            "--iterations",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert default == 0 and get("trained-bicubic-x2").kind == "trained"


def test_overlapping_folders_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, hr = _folders(tmp_path)
    code = cli_train.main(
        ["bicubic", "--real-lr", str(hr), "--hr", str(hr), "--iterations", "1"]
    )
    assert code == 1
    assert "must come from different photos" in capsys.readouterr().err
