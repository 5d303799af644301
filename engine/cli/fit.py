"""``unsr fit IMAGE``: a DualSR fit on one photo with a live line of losses.

Every setting of :class:`DualSRParams` is an option (``--iters``, ``--lr-crop``,
``--ema``, ``--early-stop`` ...), derived from the dataclass by
:mod:`engine.cli.params`; given ones replace the chosen profile's values.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TextIO

from engine import batch, jobs
from engine import device as devices
from engine.cli import cluster as cli_cluster
from engine.cli import params as cli_params
from engine.cli.command import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Subparsers,
)
from engine.cli.progress import format_eta
from engine.events import Event, Losses, Message, Progress
from engine.io.images import ImageError
from engine.methods.base import Method, MethodError, RunContext
from engine.methods.dualsr import DUALSR, reuse
from engine.methods.dualsr.fit import InputTooSmallError
from engine.methods.dualsr.params import DualSRParams
from engine.store import Store, StoreError

#: Short column names for the live line.
_SHORT = {
    "gan": "gan",
    "cycle_fwd": "cyc>",
    "cycle_bwd": "cyc<",
    "interp": "int",
    "kernel_reg": "reg",
    "disc": "D",
}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise ValueError("must be at least 1")
    return value


#: The DualSR settings offered as options; the run context's seed is ``--seed``.
_SETTINGS_EXCLUDED = ("seed", "reuse")  # `unsr upscale --reuse` applies a fit


def register(sub: Subparsers) -> None:
    """Add the ``fit`` subcommand to ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "fit",
        help="learn one photo's degradation and upscale it (DualSR)",
        description="Fit DualSR to IMAGE (it learns from the photo alone) and "
        "write the upscaled image; the run folder keeps the kernel, losses and "
        "weights (see `unsr runs`).",
    )
    p.add_argument(
        "image",
        type=Path,
        nargs="+",
        metavar="IMAGE",
        help="the photo (with --engine ray: several photos or folders)",
    )
    p.add_argument(
        "--profile", choices=tuple(DUALSR.profiles), default=DUALSR.default_profile
    )
    p.add_argument("--scale", type=int, choices=DUALSR.scales, default=2)
    p.add_argument("-o", "--out", type=Path, default=None, help="output file or folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument("--overwrite", action="store_true", help="replace the output")
    cli_cluster.add_flags(p)
    settings = p.add_argument_group(
        "DualSR settings", "each replaces the profile's value (see --profile)"
    )
    fields = cli_params.add_options(
        settings,
        DualSRParams,
        exclude=_SETTINGS_EXCLUDED,
        parsers={"iters": _positive, "batch": _positive, "losses_every": _positive},
        profiles=DUALSR.profiles,
    )
    p.set_defaults(func=run, settings_fields=fields)


def fit_params(args: argparse.Namespace) -> DualSRParams:
    """The chosen profile with the settings given on the command line.

    A shorter ``--iters`` also lowers ``min_iters`` (unless given), so early
    stopping still has its say.
    """
    changes = cli_params.chosen(args, args.settings_fields)
    params: DualSRParams = DUALSR.params_for(args.profile)
    if "iters" in changes and "min_iters" not in changes:
        changes["min_iters"] = min(params.min_iters, changes["iters"])
    return cli_params.apply(params, changes)


def add_reuse_flag(p: argparse.ArgumentParser) -> None:
    """Add ``--reuse RUN`` (``unsr upscale``): apply a saved DualSR fit."""
    p.add_argument(
        "--reuse",
        metavar="RUN",
        default=None,
        help="apply the DualSR fit of RUN (a run id from `unsr runs`, or its "
        "folder) instead of fitting each photo: one fit for a whole shoot",
    )


def reusing(method: Method, ref: str, scale: int, profile: str | None) -> Method:
    """DualSR whose chosen profile applies the saved fit ``ref`` (``--reuse``).

    As ``--set`` does, the change rides on the profile, so the batch runs and
    the history records it under the profile's name.

    Raises
    ------
    MethodError
        ``method`` is not DualSR, or the run cannot be reused at ``scale``.
    """
    if method.id != DUALSR.id:
        raise MethodError(
            f"--reuse applies a saved DualSR fit; use it with -m {DUALSR.id}, "
            f"not -m {method.id}"
        )
    base: DualSRParams = method.params_for(profile)
    params = reuse.params_reusing(ref, scale, base)
    name = profile or method.default_profile
    return dataclasses.replace(method, profiles={**method.profiles, name: params})


class LossLine:
    """Redraws one line: iteration, ETA and the latest losses."""

    def __init__(self, err: TextIO):
        self.err = err
        self.losses: dict[str, float] = {}
        self.width = 0

    def on_event(self, event: Event) -> None:
        """Handle one event of the job."""
        if isinstance(event, Losses):
            self.losses = dict(event.values)
        elif isinstance(event, Progress) and event.total:
            parts = [f"{event.stage} {event.step}/{event.total}"]
            parts.append(f"eta {format_eta(event.eta_s)}")
            if event.stage.startswith("fitting"):
                parts += [f"{_SHORT.get(k, k)} {v:.4f}" for k, v in self.losses.items()]
            self._draw("  ".join(parts))
        elif isinstance(event, Message):
            self.end()
            self.err.write(f"{event.level}: {event.text}\n" if event.level != "info"
                           else f"{event.text}\n")  # fmt: skip

    def _draw(self, text: str) -> None:
        pad = max(0, self.width - len(text))
        self.err.write("\r" + text + " " * pad)
        self.err.flush()
        self.width = len(text)

    def end(self) -> None:
        """Finish the live line so the next output starts on its own line."""
        if self.width:
            self.err.write("\n")
            self.width = 0


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Fit and write; 0 done, 1 failed, 2 bad arguments, 130 interrupted."""
    # UNSR_THREADS, else the usable physical cores: a fit is the one job here.
    devices.configure_threads()
    params = fit_params(args)
    if args.engine == "ray":
        return cli_cluster.run_fit(args, params, out, err)
    if len(args.image) != 1:
        err.write("unsr fit: one IMAGE at a time here; several run with --engine ray\n")
        return EXIT_USAGE
    image = args.image[0]
    try:
        store = Store()
    except StoreError as exc:
        err.write(f"unsr fit: {exc}\n")
        return EXIT_FAILED
    job = batch.process_file(
        image, args.out, DUALSR, args.scale, profile=args.profile,
        params=params, context=RunContext(device=args.device, seed=args.seed),
        overwrite=args.overwrite, store=store,
    )  # fmt: skip
    line = LossLine(err)
    try:
        result = jobs.run(job, line.on_event)
    except KeyboardInterrupt:
        job.close()
        line.end()
        err.write("unsr fit: cancelled; the run folder is marked cancelled\n")
        return EXIT_INTERRUPTED
    except ImageError as exc:
        line.end()
        err.write(f"unsr fit: {exc.path}: {exc.reason}\n")
        return EXIT_FAILED
    except (InputTooSmallError, MethodError) as exc:
        line.end()
        err.write(f"unsr fit: {image}: {exc}\n")
        return EXIT_FAILED
    line.end()
    folder = store.get(result.run_id).folder
    out.write(f"{result.output} in {result.seconds:.1f} s (run folder {folder})\n")
    err.write(
        f"apply this fit to other photos of the shoot: unsr upscale PHOTOS "
        f"-m dualsr -s {args.scale} --reuse {result.run_id}\n"
    )
    return EXIT_OK


__all__ = [
    "LossLine",
    "add_reuse_flag",
    "fit_params",
    "register",
    "reusing",
    "run",
]
