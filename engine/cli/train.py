"""``unsr train``: train an unpaired method from two folders, with live losses.

It can also run alone: ``python -m engine.cli.train maeda --real-lr ... --hr ...``,
and on several devices: ``torchrun --nproc_per_node 2 -m engine.cli.train ...``
(DistributedDataParallel; gloo on CPUs, NCCL on GPUs).
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from engine import device as devices
from engine import paths
from engine.cli.command import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Subparsers,
)
from engine.events import Event, Losses, Message, Progress
from engine.train import checkpoint, distributed
from engine.train.checkpoint import SUFFIX, CheckpointError
from engine.train.data import DataError
from engine.train.recipes import RECIPES
from engine.train.trainer import RunSpec, TrainResult, train_folders


def register(sub: Subparsers) -> None:
    """Add ``train``; its ``func`` is :func:`run`."""
    p = sub.add_parser(
        "train",
        help="train an unpaired SR method from real LR photos and clean HR photos",
        description=(
            "Train a network for your camera from two folders that need not match: "
            "real low-resolution photos and clean high-resolution photos of other "
            "scenes. Methods: "
            + "; ".join(f"{r.name} = {r.label}" for r in RECIPES.values())
        ),
    )
    configure(p)


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``train`` arguments to ``p``."""
    p.add_argument("method", choices=list(RECIPES), help="training method")
    p.add_argument(
        "--real-lr", type=Path, required=True, help="folder of real LR photos"
    )
    p.add_argument("--hr", type=Path, required=True, help="folder of clean HR photos")
    p.add_argument("--scale", type=int, default=2, choices=(2, 4), help="SR factor")
    p.add_argument(
        "--profile",
        default="cpu",
        choices=("cpu", "paper"),
        help="cpu: small nets for minutes on a laptop; paper: published settings",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-minutes", type=float, help="wall-clock budget")
    budget.add_argument("--iterations", type=int, help="iteration count instead")
    p.add_argument("--resume", type=Path, help="continue from this checkpoint")
    p.add_argument(
        "--init-sr",
        type=Path,
        metavar="CHECKPOINT",
        help=(
            "start the SR net from a bicubic-pairs baseline (a checkpoint of "
            "`unsr train bicubic` with the same SR net and scale)"
        ),
    )
    p.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="save an average of the weights for inference (e.g. 0.999)",
    )
    p.add_argument(
        "--holdout",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "keep the last real-LR photo out of training and compare the model "
            "with bicubic on it at the end (default: on)"
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        help=f"checkpoint to write (*{SUFFIX}); default: the user models folder",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _output(args: argparse.Namespace) -> Path:
    out: Path | None = args.output
    if out is None:
        out = args.resume or paths.models_dir() / f"{args.method}-x{args.scale}{SUFFIX}"
    if not out.name.endswith(SUFFIX):
        out = out.with_name(out.name + SUFFIX)
    return out


def _command(args: argparse.Namespace, out: Path) -> str:
    parts = ["unsr", "train", args.method, "--real-lr", str(args.real_lr)]
    parts += [
        "--hr",
        str(args.hr),
        "--scale",
        str(args.scale),
        "--profile",
        args.profile,
    ]
    if args.budget_minutes is not None:
        parts += ["--budget-minutes", f"{args.budget_minutes:g}"]
    if args.iterations is not None:
        parts += ["--iterations", str(args.iterations)]
    if args.init_sr is not None:
        parts += ["--init-sr", str(args.init_sr)]
    if args.ema is not None:
        parts += ["--ema", f"{args.ema:g}"]
    if not args.holdout:
        parts += ["--no-holdout"]
    return shlex.join([*parts, "-o", str(out)])


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """Profile settings the flags change.

    A resumed run keeps the average it was saved with unless ``--ema`` says
    otherwise (an unreadable file is reported by the trainer, not here).
    """
    out: dict[str, object] = {}
    if args.init_sr is not None:
        out["sr_init"] = str(args.init_sr)
    ema = args.ema
    if ema is None and args.resume is not None:
        try:
            ema = checkpoint.load(args.resume).get("config", {}).get("ema")
        except CheckpointError:
            ema = None
    if ema:
        out["ema"] = ema
    return out


class _LiveLine:
    """One status line on a terminal, rewritten in place at most twice a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.progress: Progress | None = None
        self.last = 0.0
        self.shown = False

    def event(self, e: Event) -> None:
        if isinstance(e, Message):
            self.clear()
            self.stream.write(
                f"{e.level}: {e.text}\n" if e.level != "info" else f"{e.text}\n"
            )
        elif isinstance(e, Progress):
            self.progress = e
        elif isinstance(e, Losses):
            now = time.monotonic()
            if now - self.last < (0.5 if self.tty else 10.0):
                return
            self.last = now
            values = "  ".join(f"{k} {v:.4g}" for k, v in e.values.items())
            where = ""
            if self.progress is not None:
                p = self.progress
                eta = f", {p.eta_s:.0f}s left" if p.eta_s is not None else ""
                where = f" [{p.stage} {100 * p.fraction:.0f}%{eta}]"
            line = f"step {e.step}{where}  {values}"
            if self.tty:
                self.stream.write("\r\x1b[2K" + line)
                self.shown = True
            else:
                self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.shown = False


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``unsr train``; return the exit code (0 done, 1 error, 130 stopped)."""
    target = _output(args)
    if args.budget_minutes is None and args.iterations is None and args.resume is None:
        args.budget_minutes = 30.0 if args.profile == "cpu" else None
        if args.budget_minutes is None:
            err.write("error: the paper profile needs --iterations or a budget\n")
            return EXIT_FAILED
    spec = RunSpec(
        recipe=args.method,
        profile=args.profile,
        scale=args.scale,
        budget_s=None if args.budget_minutes is None else args.budget_minutes * 60,
        iterations=args.iterations,
        seed=args.seed,
        device=args.device,
        info={
            "trained_on": (
                f"real LR photos in {args.real_lr}; clean HR photos in {args.hr}"
            ),
            "command": _command(args, target),
        },
        overrides=_overrides(args),
        holdout=args.holdout,
    )
    dist_info = distributed.from_env()
    rank = 0
    if dist_info is not None:  # launched by torchrun: one process per device
        distributed.init(dist_info, devices.pick(args.device))
        rank = dist_info.rank
    live = _LiveLine(err if rank == 0 else io.StringIO())
    job = train_folders(
        spec,
        args.real_lr,
        args.hr,
        target,
        resume=args.resume,
        wrap=distributed.wrap if dist_info is not None else None,
        rank=rank,
    )
    try:
        while True:
            live.event(next(job))
    except StopIteration as stop:
        result: TrainResult = stop.value
    except KeyboardInterrupt:
        job.close()  # saves a resumable checkpoint
        live.clear()
        err.write(f"stopped; continue with --resume {target}\n")
        return EXIT_INTERRUPTED
    except (DataError, CheckpointError, ValueError, OSError) as exc:
        job.close()
        live.clear()
        err.write(f"error: {exc}\n")
        return EXIT_FAILED
    finally:
        distributed.shutdown()
    live.clear()
    if rank != 0:
        return EXIT_OK
    err.write(
        f"done: {result.steps} steps in {result.elapsed_s:.0f} s -> {target}\n"
        "the model now appears in `unsr models` and in the app's method list\n"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m engine.cli.train``)."""
    parser = argparse.ArgumentParser(prog="unsr train")
    configure(parser)
    return run(parser.parse_args(argv), sys.stdout, sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
