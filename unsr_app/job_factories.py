"""The job factories: every engine call the window makes, as a job for the worker.

Everything here is called from a worker thread (see :mod:`unsr_app.worker`), so
the engine (and through it torch) is imported inside the functions: the window
appears before any of it is loaded.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from unsr_app.requests import (
    FileOutcome,
    MethodInfo,
    RunRequest,
    RunRow,
    TrainChoices,
    TrainRequest,
)


def list_methods_job() -> Generator[Any, None, list[MethodInfo]]:
    """A job returning every registered method (imports the registry)."""
    yield from ()
    from engine.methods import available

    return [
        MethodInfo(
            id=m.id,
            label=m.label,
            description=m.description,
            scales=tuple(m.scales),
            profiles=tuple(m.profiles),
            needs_fit=m.needs_fit,
            kind=m.kind,
        )
        for m in available()
    ]


def warm_up_job() -> Generator[Any, None, str]:
    """A job that imports torch and the engine's batch path ahead of the first run.

    Importing torch takes seconds and holds the GIL in stretches while its
    libraries load; done once in the background after launch, it does not
    land in the middle of the first fit.
    """
    yield from ()
    import torch

    import engine.batch  # noqa: F401 - imported for its side effect: warm modules

    return str(torch.__version__)


def output_path(item_path: Path, request: RunRequest, root: Path | None) -> Path:
    """Where the result of ``item_path`` goes; never the input, never a taken name.

    Beside the input when no output folder is set; inside the output folder,
    mirroring the sub-folders of ``root`` when the input came from a dropped
    folder. A number is appended when the name is taken.
    """
    from engine.batch import default_output_name

    name = Path(
        default_output_name(item_path, request.method, request.scale, request.fmt)
    )
    folder = item_path.parent
    if request.output_dir is not None:
        folder = request.output_dir
        if root is not None and item_path.is_relative_to(root):
            folder = folder / item_path.parent.relative_to(root)
    out = folder / name
    n = 1
    while out.exists() or out.resolve() == item_path.resolve():
        out = folder / f"{name.stem}-{n}{name.suffix}"
        n += 1
    return out


def process_file_job(
    path: Path, request: RunRequest, root: Path | None = None
) -> Generator[Any, None, FileOutcome]:
    """Read, upscale, write and record one file; a job for the worker."""
    from engine import batch

    out = output_path(path, request, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = yield from batch.process_file(
        path,
        out,
        request.method,
        request.scale,
        profile=request.profile,
        fmt=request.fmt,
        quality=request.quality,
    )
    return FileOutcome(
        output=Path(result.output),
        seconds=float(result.seconds),
        run_id=result.run_id,
        metrics=dict(result.metrics),
    )


def history_job(limit: int = 200) -> Generator[Any, None, list[RunRow]]:
    """A job returning the latest runs of the store, newest first."""
    yield from ()
    from engine.store import Store

    return [_row(r) for r in Store().runs(limit=limit)]


def _row(record: Any) -> RunRow:
    when = record.created
    if isinstance(when, datetime):
        when = when.astimezone().strftime("%Y-%m-%d %H:%M")
    return RunRow(
        id=record.id,
        when=str(when),
        input=Path(record.input_path) if record.input_path else None,
        output=Path(record.output) if record.output else None,
        method=str(record.method),
        scale=int(record.scale),
        seconds=record.duration_s,
        status=str(record.status),
        metrics=dict(record.metrics or {}),
    )


def metrics_job(
    sr: np.ndarray, hr: np.ndarray
) -> Generator[Any, None, dict[str, float | None]]:
    """A job comparing ``sr`` with the reference ``hr`` (both float32 RGB).

    LPIPS is None when its weights are not on disk (nothing is downloaded).
    """
    yield from ()
    from engine import metrics

    h, w = min(sr.shape[0], hr.shape[0]), min(sr.shape[1], hr.shape[1])
    sr, hr = sr[:h, :w], hr[:h, :w]
    return {
        "PSNR": float(metrics.psnr(sr, hr)),
        "SSIM": float(metrics.ssim(sr, hr)),
        "LPIPS": metrics.lpips(sr, hr) if metrics.lpips_available() else None,
    }


def train_choices_job() -> Generator[Any, None, TrainChoices]:
    """A job returning the training recipes and where checkpoints are saved."""
    yield from ()
    from engine import paths
    from engine.train.checkpoint import SUFFIX
    from engine.train.recipes import RECIPES

    return TrainChoices(
        recipes=tuple((name, r.label) for name, r in RECIPES.items()),
        models_dir=paths.models_dir(),
        suffix=SUFFIX,
    )


def train_job(request: TrainRequest) -> Generator[Any, None, Any]:
    """Train from two folders; the checkpoint is written to ``request.output``.

    Closing the job (Stop) makes the trainer save what it has learnt so far.
    """
    from engine.train.trainer import RunSpec, train_folders

    spec = RunSpec(
        recipe=request.recipe,
        profile=request.profile,
        scale=request.scale,
        budget_s=request.budget_s,
        iterations=request.iterations,
        device="auto",
        preview_every_s=5.0,
        info={
            "trained_on": (
                f"real LR photos in {request.real_lr}; clean HR photos in {request.hr}"
            ),
            "command": request.command,
        },
    )
    request.output.parent.mkdir(parents=True, exist_ok=True)
    return (yield from train_folders(spec, request.real_lr, request.hr, request.output))
