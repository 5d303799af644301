"""``unsr eval SR HR``: PSNR, SSIM and (when its weights are on disk) LPIPS."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from engine import metrics
from engine.cli.command import Subparsers
from engine.io import images
from engine.io.images import ImageError


def register(sub: Subparsers) -> None:
    """Add ``eval``."""
    p = sub.add_parser(
        "eval",
        help="compare an upscaled image with a reference",
        description="PSNR and SSIM on the Y channel (as SR papers report them) "
        "or on RGB; LPIPS when the AlexNet weights are already on disk.",
    )
    p.add_argument("sr", type=Path, metavar="SR", help="the upscaled image")
    p.add_argument("hr", type=Path, metavar="HR", help="the reference image")
    p.add_argument(
        "--shave", type=int, default=0, help="border pixels to ignore (often the scale)"
    )
    p.add_argument("--rgb", action="store_true", help="compare RGB instead of Y")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the figures; 1 when an image cannot be read or the sizes differ."""
    try:
        sr, hr = images.read(args.sr), images.read(args.hr)
    except ImageError as exc:
        err.write(f"unsr eval: {exc}\n")
        return 1
    if sr.rgb.shape != hr.rgb.shape:
        err.write(
            f"unsr eval: the images differ in size: {args.sr.name} is "
            f"{sr.width}x{sr.height}, {args.hr.name} is {hr.width}x{hr.height}\n"
        )
        return 1
    channel = "RGB" if args.rgb else "Y"
    try:
        psnr = metrics.psnr(sr.rgb, hr.rgb, shave=args.shave, y_channel=not args.rgb)
        ssim = metrics.ssim(sr.rgb, hr.rgb, shave=args.shave, y_channel=not args.rgb)
    except ValueError as exc:
        err.write(f"unsr eval: {exc}\n")
        return 1
    out.write(f"PSNR ({channel}): {psnr:.2f} dB\n")
    out.write(f"SSIM ({channel}): {ssim:.4f}\n")
    reason = metrics.lpips_unavailable_reason()
    value = None if reason else metrics.lpips(sr.rgb, hr.rgb)
    if value is None:
        out.write(f"LPIPS: unavailable ({reason or 'AlexNet weights not on disk'})\n")
    else:
        out.write(f"LPIPS: {value:.4f}\n")
    return 0


__all__ = ["register", "run"]
