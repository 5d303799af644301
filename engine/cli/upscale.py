"""``unsr upscale``: upscale files and folders, one failure never stops the batch."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import TextIO

from engine import batch, jobs
from engine.cli import cluster as cli_cluster
from engine.cli import params as cli_params
from engine.cli.command import Subparsers
from engine.cli.params import ParamError
from engine.cli.progress import BatchProgress, FileProgress
from engine.io.images import FORMATS, ImageError
from engine.methods.base import Method, MethodError, RunContext
from engine.methods.registry import get as get_method
from engine.store import Store, StoreError

#: Exit codes shared by the commands.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Errors a file is expected to fail with; their message is the reason.
#: MemoryError and RuntimeError cover out-of-memory and backend failures.
FILE_ERRORS = (ImageError, MethodError, ValueError, RuntimeError, MemoryError, OSError)


def _tile(text: str) -> int | None:
    if text.lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"tile must be a number or 'auto', not {text!r}"
        ) from None
    if value < 16:
        raise argparse.ArgumentTypeError("tile must be at least 16 pixels")
    return value


def _quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("quality must be between 1 and 100")
    return value


def register(sub: Subparsers) -> None:
    """Add the ``upscale`` subcommand to ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "upscale",
        help="upscale images and folders",
        description="Upscale images. Outputs go beside each input unless -o is "
        "given, named like photo_bicubic_x2.png; inputs are never overwritten.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument(
        "-m", "--method", default="bicubic", help="method id (see `unsr methods`)"
    )
    p.add_argument(
        "-s", "--scale", type=int, default=2, help="scale factor (default 2)"
    )
    p.add_argument("-p", "--profile", default=None, help="a profile of the method")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change one setting of the method's profile, e.g. --set iters=800 "
        "for dualsr (repeatable; a wrong name lists the method's settings)",
    )
    p.add_argument(
        "-o", "--out", type=Path, default=None, help="output folder (or file)"
    )
    p.add_argument(
        "-r", "--recursive", action="store_true", help="descend into sub-folders"
    )
    p.add_argument(
        "--format",
        dest="fmt",
        choices=("png", "jpg", "webp", "tiff", "bmp"),
        default=None,
        help="output format (default: the input's)",
    )
    p.add_argument(
        "--quality", type=_quality, default=95, help="JPEG/WebP quality 1-100"
    )
    p.add_argument(
        "--bit-depth", type=int, choices=(8, 16), default=None, help="bits per channel"
    )
    p.add_argument(
        "--tile", type=_tile, default=None, help="tile size in pixels or 'auto'"
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default="auto",
        help="where to run",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    cli_cluster.add_flags(p)
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace, err: TextIO) -> Method | None:
    """Return the method, or None after explaining what is wrong."""
    try:
        spec = get_method(args.method)
        spec.check_scale(args.scale)
        spec = _with_settings(spec, args.profile, args.settings)
    except (MethodError, ParamError) as exc:
        err.write(f"unsr upscale: {exc}\n")
        return None
    if args.device in ("cuda", "mps"):
        from engine import device  # imports torch: only when a GPU is asked for

        try:
            device.pick(args.device)
        except ValueError as exc:
            err.write(f"unsr upscale: {exc}\n")
            return None
    names_file = args.out is not None and args.out.suffix.lower() in FORMATS
    if names_file and (len(args.inputs) != 1 or Path(args.inputs[0]).is_dir()):
        err.write("unsr upscale: -o names a file; give a folder for several inputs\n")
        return None
    return spec


def _with_settings(spec: Method, profile: str | None, settings: list[str]) -> Method:
    """The method whose chosen profile carries the ``--set`` changes.

    The batch then runs (and the store records) the changed params under the
    profile's name, without a params argument of its own.
    """
    params = spec.params_for(profile)
    if not settings:
        return spec
    try:
        changes = cli_params.parse_assignments(settings, type(params))
    except ParamError as exc:
        raise ParamError(f"{spec.id}: {exc}") from None
    name = profile or spec.default_profile
    changed = cli_params.apply(params, changes)
    return dataclasses.replace(spec, profiles={**spec.profiles, name: changed})


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the batch; return 0, 1 if any file failed, 2 for bad arguments."""
    spec = _check_args(args, err)
    if spec is None:
        return EXIT_USAGE
    if args.engine == "ray":
        return cli_cluster.run_upscale(args, spec, out, err)
    plan = batch.plan_outputs(
        args.inputs, args.out, method=spec.id, scale=args.scale,
        recursive=args.recursive, fmt=args.fmt,
    )  # fmt: skip
    failures: list[tuple[Path, str]] = []
    for path, reason in plan.problems:
        err.write(f"error: {path}: {reason}\n")
        failures.append((path, reason))
    if not plan.items and not failures:
        err.write("unsr upscale: no images found in the given inputs\n")
        return EXIT_FAILED
    try:
        store = Store()
    except StoreError as exc:
        err.write(f"unsr upscale: {exc}\n")
        return EXIT_FAILED
    context = RunContext(device=args.device, tile=args.tile)
    inputs = [source for source, _ in plan.items]
    progress = BatchProgress(len(plan.items))
    written: list[Path] = []
    skipped: list[Path] = []
    start = time.monotonic()
    for source, target in plan.items:
        bar = FileProgress(err, progress.prefix())
        bar.line(f"{source} -> {target}")
        if target.exists() and not args.overwrite:
            bar.line("skipped: the output already exists (use --overwrite)")
            skipped.append(source)
            progress.step()
            continue
        job = batch.process_file(
            source, target, spec, args.scale, profile=args.profile,
            context=context, fmt=args.fmt, quality=args.quality,
            bit_depth=args.bit_depth, overwrite=args.overwrite, store=store,
            protect=inputs,
        )  # fmt: skip
        try:
            result = jobs.run(job, bar.on_event)
        except KeyboardInterrupt:
            job.close()
            bar.line("cancelled")
            err.write("unsr upscale: cancelled; nothing half-written was left behind\n")
            return EXIT_INTERRUPTED
        # One file's failure, expected or not, never ends the batch.
        except Exception as exc:
            reason = _reason(exc, source)
            bar.line(f"error: {source}: {reason}")
            failures.append((source, reason))
        else:
            bar.line(f"done in {result.seconds:.1f} s")
            written.append(result.output)
        progress.step()
        err.write(progress.status() + "\n")
    _summary(out, written, skipped, failures, time.monotonic() - start)
    return EXIT_FAILED if failures else EXIT_OK


def _reason(exc: BaseException, source: Path) -> str:
    """The reason to print after the input's name (says so when the output failed)."""
    if isinstance(exc, ImageError):
        if exc.path != source:
            return f"cannot write {exc.path}: {exc.reason}"
        return exc.reason
    if isinstance(exc, FILE_ERRORS):
        return str(exc) or type(exc).__name__
    # A bug rather than a bad file: say what kind, so it can be reported.
    return f"unexpected {type(exc).__name__}: {exc}"


def _summary(
    out: TextIO,
    written: list[Path],
    skipped: list[Path],
    failures: list[tuple[Path, str]],
    seconds: float,
) -> None:
    parts = [f"{len(written)} written"]
    if skipped:
        parts.append(f"{len(skipped)} skipped")
    parts.append(f"{len(failures)} failed")
    out.write(f"{', '.join(parts)} in {seconds:.1f} s\n")
    for path, reason in failures:
        out.write(f"  failed: {path}: {reason}\n")


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "register",
    "run",
]
