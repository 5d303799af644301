"""``unsr upscale``: upscale files and folders, one failure never stops the batch."""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, cast

from engine import batch, jobs
from engine.cli import cluster as cli_cluster
from engine.cli import params as cli_params
from engine.cli.command import Subparsers
from engine.cli.fit import add_reuse_flag, reusing
from engine.cli.params import ParamError
from engine.cli.progress import BatchProgress, FileProgress
from engine.cli.stop import EXIT_TERMINATED, TerminatedError, sigterm_cancels
from engine.io.images import FORMATS
from engine.methods.base import Method, MethodError, RunContext
from engine.methods.registry import get as get_method
from engine.store import Store, StoreError, readable

#: Exit codes shared by the commands (143: stopped by SIGTERM, 128 + 15).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
        "-s",
        "--scale",
        type=int,
        default=None,
        help="scale factor (default: the method's native scale, e.g. x4 for an "
        "x4 model; x2 for interpolation and DualSR)",
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
    p.add_argument(
        "--overwrite", action="store_true", help="replace outputs unsr wrote earlier"
    )
    p.add_argument(
        "--overwrite-any",
        action="store_true",
        help="replace any file with an output's name, even one unsr did not write",
    )
    add_reuse_flag(p)
    cli_cluster.add_flags(p)
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace, err: TextIO) -> Method | None:
    """Return the method, or None after explaining what is wrong."""
    try:
        spec = get_method(args.method)
        if args.scale is None:  # no -s: the model's own factor
            args.scale = spec.default_scale
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


class _Escaping:
    """A text stream that prints file names that are not UTF-8 with escapes.

    Linux names may be any bytes; Python carries the undecodable ones as lone
    surrogates, which a UTF-8 stream refuses. Whatever reaches the terminal
    (paths inside error reasons included) goes through here.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        safe = text.encode("utf-8", "surrogateescape").decode(
            "utf-8", "backslashreplace"
        )
        return self.stream.write(safe)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())


@dataclass
class _Tally:
    """What happened to each file of the batch."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)

    def fail(self, err: TextIO, path: Path, reason: str) -> None:
        err.write(f"error: {readable(path)}: {reason}\n")
        self.failures.append((path, reason))


def _plan(
    args: argparse.Namespace, spec: Method, store: Store, err: TextIO, tally: _Tally
) -> list[tuple[Path, Path]] | None:
    """Plan the batch and check it once before any work.

    Returns the (input, output) pairs to work on, or None after one line saying
    why nothing can start (no images, the run history or every output folder
    cannot be written). Outputs in a folder that cannot be written fail here,
    one line per folder, before a single file is upscaled.
    """
    plan = batch.plan_outputs(
        args.inputs, args.out, method=spec.id, scale=args.scale,
        recursive=args.recursive, fmt=args.fmt, store=store,
        overwrite_any=args.overwrite_any,
    )  # fmt: skip
    for path, reason in plan.problems:
        tally.fail(err, path, reason)
    for _, note in plan.notes:
        err.write(f"note: {note}\n")
    if not plan.items and not tally.failures:
        err.write("unsr upscale: no images found in the given inputs\n")
        return None
    history = store.check_writable()
    if history is not None:
        err.write(f"unsr upscale: {history}; nothing was done\n")
        return None
    blocked = batch.unwritable_folders(target for _, target in plan.items)
    items = []
    for source, target in plan.items:
        folder = Path(os.path.abspath(target)).parent
        if folder in blocked:
            tally.failures.append((source, f"cannot write to {readable(folder)}"))
        else:
            items.append((source, target))
    for folder, why in blocked.items():
        err.write(f"error: cannot write to {readable(folder)}: {why}\n")
    if not items and blocked:
        err.write("unsr upscale: no output folder can be written; nothing was done\n")
        return None
    removed = batch.remove_stale_parts(batch.output_folders(t for _, t in items))
    if removed:
        err.write(f"note: removed {len(removed)} temp file(s) left by a killed run\n")
    return items


def _one_file(
    args: argparse.Namespace, spec: Method, store: Store, context: RunContext,
    source: Path, target: Path, inputs: list[Path], bar: FileProgress, tally: _Tally,
) -> None:  # fmt: skip
    """Process one file; its failure, expected or not, never ends the batch."""
    job = batch.process_file(
        source, target, spec, args.scale, profile=args.profile,
        context=context, fmt=args.fmt, quality=args.quality,
        bit_depth=args.bit_depth, overwrite=args.overwrite,
        overwrite_any=args.overwrite_any, store=store, protect=inputs,
    )  # fmt: skip
    try:
        result = jobs.run(job, bar.on_event)
    except KeyboardInterrupt:
        job.close()
        raise
    except batch.OutputTakenError as exc:
        bar.line(f"skipped: {exc.reason}")
        tally.skipped.append(source)
    except Exception as exc:
        reason = batch.failure_reason(exc, source)
        bar.line(f"error: {readable(source)}: {reason}")
        tally.failures.append((source, reason))
    else:
        bar.line(f"done in {result.seconds:.1f} s")
        tally.written.append(result.output)


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
    """Run the batch; 0 done, 1 a file failed, 2 bad arguments, 130/143 stopped.

    Files another unsr run holds, or that an earlier run already wrote, are
    skipped (not failed), so two runs over the same files both end with 0.
    """
    out, err = cast(TextIO, _Escaping(out)), cast(TextIO, _Escaping(err))
    spec = _check_args(args, err)
    if spec is None:
        return EXIT_USAGE
    if args.reuse is not None:
        try:
            spec = reusing(spec, args.reuse, args.scale, args.profile)
        except MethodError as exc:
            err.write(f"unsr upscale: {exc}\n")
            return EXIT_USAGE
    if args.engine == "ray":
        return cli_cluster.run_upscale(args, spec, out, err)
    try:
        store = Store()
    except StoreError as exc:
        err.write(f"unsr upscale: {exc}\n")
        return EXIT_FAILED
    tally = _Tally()
    items = _plan(args, spec, store, err, tally)
    if items is None:
        return EXIT_FAILED
    context = RunContext(device=args.device, tile=args.tile)
    inputs = [source for source, _ in items]
    progress = BatchProgress(len(items))
    start = time.monotonic()
    with sigterm_cancels():
        try:
            for source, target in items:
                bar = FileProgress(err, progress.prefix())
                bar.line(f"{readable(source)} -> {readable(target)}")
                _one_file(
                    args, spec, store, context, source, target, inputs, bar, tally
                )
                progress.step()
                err.write(progress.status() + "\n")
        except KeyboardInterrupt as stop:
            terminated = isinstance(stop, TerminatedError)
            word = "terminated" if terminated else "cancelled"
            err.write(f"unsr upscale: {word}; nothing half-written was left behind\n")
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    _summary(out, tally, time.monotonic() - start)
    return EXIT_FAILED if tally.failures else EXIT_OK


def _summary(out: TextIO, tally: _Tally, seconds: float) -> None:
    parts = [f"{len(tally.written)} written"]
    if tally.skipped:
        parts.append(f"{len(tally.skipped)} skipped")
    parts.append(f"{len(tally.failures)} failed")
    out.write(f"{', '.join(parts)} in {seconds:.1f} s\n")
    for path, reason in tally.failures:
        out.write(f"  failed: {readable(path)}: {reason}\n")


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "TerminatedError",
    "register",
    "run",
]
