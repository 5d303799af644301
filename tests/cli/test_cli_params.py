"""Options derived from params dataclasses: ``unsr fit`` flags, ``upscale --set``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli
from engine.cli import fit as cli_fit
from engine.cli import params as cli_params
from engine.methods.dualsr.params import FAST, PAPER, DualSRParams
from engine.store import Store


@dataclass(frozen=True)
class Knobs:
    """Settings of a made-up method.

    Attributes
    ----------
    steps : int
        How many steps; a description that runs over
        two lines.
    rate, decay : float
        Two rates that share one description.
    fast : bool
        Skip the slow part (100% faster).
    mode : str
        "a" or "b".
    limit : int or None
        None: no limit.
    sizes : tuple of int
        Not something a command line can give.
    """

    steps: int = 10
    rate: float = 0.5
    decay: float = 0.1
    fast: bool = True
    mode: Literal["a", "b"] = "a"
    limit: int | None = None
    sizes: tuple[int, ...] = (1, 2)


def _parser() -> tuple[argparse.ArgumentParser, list[str]]:
    parser = argparse.ArgumentParser(prog="knobs")
    fields = cli_params.add_options(parser, Knobs, profiles={"default": Knobs()})
    return parser, fields


def test_help_comes_from_the_docstring() -> None:
    helps = cli_params.field_help(Knobs)
    assert helps["steps"] == "How many steps; a description that runs over two lines."
    assert helps["rate"] == helps["decay"] == "Two rates that share one description."
    assert cli_params.field_help(DualSRParams)["iters"].startswith("Training iter")
    text = _parser()[0].format_help()
    assert "How many steps" in text and "(100% faster)" in text and "[10]" in text


def test_options_round_trip_into_a_params_instance() -> None:
    parser, fields = _parser()
    assert fields == ["steps", "rate", "decay", "fast", "mode", "limit"]  # no sizes
    args = parser.parse_args(
        ["--steps", "3", "--decay", "0.25", "--no-fast", "--mode", "b", "--limit", "7"]
    )
    changes = cli_params.chosen(args, fields)
    assert changes == {
        "steps": 3,
        "decay": 0.25,
        "fast": False,
        "mode": "b",
        "limit": 7,
    }
    base = Knobs(rate=0.9)
    assert cli_params.apply(base, changes) == Knobs(3, 0.9, 0.25, False, "b", 7)
    # Nothing given: the profile stands, unchanged.
    assert (
        cli_params.apply(base, cli_params.chosen(parser.parse_args([]), fields)) is base
    )
    assert cli_params.chosen(parser.parse_args(["--limit", "none"]), fields) == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "many"], "argument --steps: expected a whole number"),
        (["--mode", "c"], "argument --mode: expected one of a, b"),
        (["--rate", "x"], "argument --rate: expected a number"),
    ],
)
def test_bad_values_name_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _parser()[0].parse_args(argv)
    assert message in capsys.readouterr().err


def test_assignments_are_checked_against_the_dataclass() -> None:
    got = cli_params.parse_assignments(["steps=4", "fast=no", "limit=none"], Knobs)
    assert got == {"steps": 4, "fast": False, "limit": None}
    assert cli_params.parse_assignments(["lr-crop=32"], DualSRParams) == {"lr_crop": 32}
    with pytest.raises(cli_params.ParamError, match=r"steps: expected a whole"):
        cli_params.parse_assignments(["steps=4.5"], Knobs)
    with pytest.raises(cli_params.ParamError, match=r"'speed'.*steps: int.*limit"):
        cli_params.parse_assignments(["speed=2"], Knobs)
    with pytest.raises(cli_params.ParamError, match="FIELD=VALUE"):
        cli_params.parse_assignments(["steps"], Knobs)
    with pytest.raises(cli_params.ParamError, match="sizes cannot be set"):
        cli_params.parse_assignments(["sizes=1"], Knobs)
    with pytest.raises(cli_params.ParamError, match="unknown setting 'oops'"):
        cli_params.apply(Knobs(), {"oops": 1})


def test_fit_takes_every_dualsr_setting(tmp_path: Path) -> None:
    parser = cli.build_parser()
    args = parser.parse_args(
        ["fit", "x.png", "--iters", "50", "--lr-crop", "32", "--ema", "0.9",
         "--no-channels-last", "--early-stop"]
    )  # fmt: skip
    params = cli_fit.fit_params(args)
    assert params == FAST.with_(
        iters=50, min_iters=50, lr_crop=32, ema=0.9, channels_last=False,
        early_stop=True,
    )  # fmt: skip
    paper = cli_fit.fit_params(
        parser.parse_args(["fit", "x.png", "--profile", "paper"])
    )
    assert paper == PAPER
    both = parser.parse_args(["fit", "x.png", "--iters", "900", "--min-iters", "10"])
    assert cli_fit.fit_params(both).min_iters == 10
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "x.png", "--iters", "0"])
    assert cli.main(["fit", "x.png", "--lr-crop", "big"]) == 2


def test_upscale_set_changes_the_chosen_profile(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)
    src = tmp_path / "photo.png"
    Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(src)
    argv = ["upscale", str(src), "-m", "dualsr", "-o", str(tmp_path / "out")]
    code = cli.main([*argv, "--set", "iters=2", "--set", "lr_crop=24"])
    assert code == 0, capsys.readouterr().err
    record = Store().runs(limit=1)[0]
    assert record.params["iters"] == 2 and record.params["lr_crop"] == 24
    assert record.params["profile"] == "fast"

    assert cli.main([*argv, "--set", "iters=lots"]) == 2
    assert "dualsr: iters: expected a whole number" in capsys.readouterr().err
    assert cli.main([*argv, "--set", "iter=2"]) == 2
    err = capsys.readouterr().err
    assert "unknown setting 'iter'" in err and "iters: int" in err
    assert cli.main(["upscale", str(src), "--set", "tile=2"]) == 2
    assert "bicubic: unknown setting 'tile' (it has none)" in capsys.readouterr().err
