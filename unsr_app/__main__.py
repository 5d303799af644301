"""``python -m unsr_app`` and the ``unsr-app`` script."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line of the studio."""
    from unsr_app.app import parse_size

    p = argparse.ArgumentParser(prog="unsr-app", description="unsr's desktop studio")
    p.add_argument(
        "--load",
        nargs="+",
        type=Path,
        default=[],
        metavar="IMAGE",
        help="images or folders to put in the queue",
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="render the window offscreen to a PNG and exit",
    )
    p.add_argument(
        "--size", type=parse_size, metavar="WxH", help="window size, e.g. 1440x900"
    )
    p.add_argument("--theme", choices=("system", "light", "dark"))
    p.add_argument("--method", help="method id to select (e.g. lanczos, dualsr)")
    p.add_argument("--scale", type=int, help="scale to select")
    p.add_argument("--profile", help="profile of the method")
    p.add_argument(
        "--run",
        action="store_true",
        help="with --screenshot: run the queue before the capture",
    )
    p.add_argument(
        "--reference",
        type=Path,
        metavar="IMAGE",
        help="with --screenshot: a reference high-resolution image",
    )
    p.add_argument(
        "--mode",
        choices=("split", "side", "diff"),
        help="with --screenshot: the viewer's mode",
    )
    p.add_argument(
        "--after",
        type=float,
        metavar="SECONDS",
        help="with --run: capture this many seconds into the run, then stop it",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="with --after: press Stop & keep then, and capture the result",
    )
    p.add_argument(
        "--baseline",
        metavar="KEY",
        help="with --screenshot: side A of the viewer (input, bicubic)",
    )
    p.add_argument(
        "--loupe",
        metavar="X,Y",
        help="with --screenshot: show the loupe there (fractions of the viewer)",
    )
    p.add_argument(
        "--zoom", type=float, metavar="PERCENT", help="with --screenshot: zoom"
    )
    p.add_argument(
        "--divider",
        type=float,
        metavar="F",
        help="with --screenshot: the split divider (0 left .. 1 right)",
    )
    p.add_argument(
        "--tab",
        choices=("studio", "train", "models"),
        help="the page to show (with --screenshot: the page captured)",
    )
    p.add_argument("--timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    p.add_argument("--report-startup", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Open the studio window (or render a screenshot)."""
    args = build_parser().parse_args(argv)
    from unsr_app.app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
