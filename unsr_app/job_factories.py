"""The job factories: every engine call the window makes, as a job for the worker.

Everything here is called from a worker thread (see :mod:`unsr_app.worker`), so
the engine (and through it torch) is imported inside the functions: the window
appears before any of it is loaded.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtGui import QImage

from unsr_app.qimage import array_to_qimage, load_qimage
from unsr_app.requests import (
    FileOutcome,
    MethodInfo,
    ModelChange,
    ModelListing,
    ModelRow,
    RunRequest,
    RunRow,
    TrainChoices,
    TrainRequest,
)


def list_methods_job() -> Generator[Any, None, list[MethodInfo]]:
    """A job returning every registered method (imports the registry)."""
    yield from ()
    from engine import paths
    from engine.methods import available

    bundled = paths.bundled_models_dir().resolve()
    return [
        MethodInfo(
            id=m.id,
            label=m.label,
            description=m.description,
            scales=tuple(m.scales),
            profiles=tuple(m.profiles),
            needs_fit=m.needs_fit,
            kind=m.kind,
            native_scale=m.native_scale,
            # unsr's own checkpoints shipped in the wheel are the demos.
            demo=m.kind == "trained"
            and Path(m.info.get("file", "")).resolve().parent == bundled,
        )
        for m in available()
    ]


def warm_up_job() -> Generator[Any, None, str]:
    """A job that imports torch, the engine's batch path and spandrel early.

    Importing them takes seconds and holds the GIL in stretches (so even from
    a worker it stalls the window); done once in the background after launch,
    it does not land in the middle of the first fit or the first model added
    on the Models page. It yields between the steps, so closing the window
    right after launch does not wait for all of them.
    """
    from engine.events import Progress

    yield Progress(0, 4, "warming up")
    import torch

    yield Progress(1, 4, "warming up")
    import spandrel  # noqa: F401 - imported for its side effect: warm modules

    yield Progress(2, 4, "warming up")
    import engine.batch
    import engine.methods.dualsr.fit  # noqa: F401 - the fit's nets and sampler

    yield Progress(3, 4, "warming up")
    # An optimiser's first construction imports torch._dynamo (sympy and
    # hundreds of modules, seconds holding the GIL): done here, the first
    # fit does not freeze the window when it makes its optimisers.
    weight = torch.nn.Parameter(torch.zeros(4))
    adam = torch.optim.Adam([weight], lr=1e-3)
    weight.square().sum().backward()  # type: ignore[no-untyped-call]
    adam.step()
    # The imports above leave some 400,000 objects that live as long as the
    # app; every full pass of the cyclic garbage collector walks them all,
    # holding the GIL (0.6 s measured, in whichever thread allocated last: a
    # model being read on the Models page froze the window that long).
    # Frozen, they are left out of every later pass.
    gc.freeze()
    return str(torch.__version__)


def save_pasted_job(image: QImage, folder: Path | None) -> Generator[Any, None, Path]:
    """A job saving a pasted image losslessly (PNG) as a new file; its path.

    ``folder`` None is ``pasted/`` in the data folder. The file is written
    under a temporary name and renamed into place, so a queue never sees half
    a file, and an earlier paste is never replaced.
    """
    yield from ()
    import os
    import time

    if folder is None:
        from engine import paths

        folder = paths.data_dir() / "pasted"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"pasted-{stamp}.png", 1
    while path.exists():
        n += 1
        path = folder / f"pasted-{stamp}-{n}.png"
    tmp = folder / f".{path.name}.part"
    if not image.save(str(tmp), "PNG"):  # type: ignore[call-overload]
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write the pasted image to {folder}")
    os.replace(tmp, path)
    return path


def expand_job(
    paths: Sequence[Path], request: RunRequest
) -> Generator[Any, None, Expansion]:
    """A job expanding dropped files and folders into queue items.

    Folders are scanned by the batch planner, as ``unsr upscale -r`` scans
    them: dot files and dot folders are skipped, a symlink loop is followed
    once, and earlier results of the panel's method and scale are not taken
    for new inputs. Thumbnails are made here, off the GUI thread; a file
    whose thumbnail cannot be made is read by the engine, and refused with
    the engine's reason when that fails too (empty, text, a bomb, damaged).
    """
    from engine.batch import plan_outputs
    from engine.events import Progress

    found: list[tuple[Path, Path | None]] = []
    problems: list[tuple[Path, str]] = []
    for path in paths:
        yield Progress(0, 0, f"scanning {path.name}")
        if path.is_dir():
            plan = plan_outputs(
                [path],
                None,
                method=request.method,
                scale=request.scale,
                recursive=True,
                fmt=request.fmt,
            )
            found += [(source, path) for source, _ in plan.items]
            problems += plan.problems
        elif path.exists():
            found.append((path, None))
        else:
            problems.append((path, "it does not exist"))
    kept: list[tuple[Path, Path | None]] = []
    thumbs: list[QImage] = []
    for index, (source, root) in enumerate(found):
        yield Progress(index, len(found), "making thumbnails")
        thumb = load_qimage(source, max_side=THUMB_SIDE)
        if thumb.isNull():
            try:
                thumb = _engine_thumbnail(source)
            except Exception as exc:  # refused now, with the reader's reason
                problems.append((source, str(getattr(exc, "reason", exc))))
                continue
        kept.append((source, root))
        thumbs.append(thumb)
    return Expansion(tuple(kept), tuple(thumbs), tuple(problems))


def _engine_thumbnail(path: Path) -> QImage:
    """A thumbnail through the engine's reader (what Qt cannot decode).

    Raises the reader's error for a file the engine cannot read either.
    """
    from PySide6.QtCore import Qt

    from engine.io import images

    image = array_to_qimage(images.read(path).rgb)
    return image.scaled(
        THUMB_SIDE,
        THUMB_SIDE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


@dataclass(frozen=True)
class Expansion:
    """Dropped paths expanded: (file, dropped folder or None), thumbnails, problems.

    ``problems`` are (path, reason) of what was not queued.
    """

    files: tuple[tuple[Path, Path | None], ...]
    thumbnails: tuple[QImage, ...]
    problems: tuple[tuple[Path, str], ...]


#: Thumbnails are decoded at this size at most (twice the list's icon size).
THUMB_SIDE = 112


def output_path(item_path: Path, request: RunRequest, root: Path | None) -> Path:
    """Where the result of ``item_path`` goes: the batch planner's name and folder.

    Beside the input when no output folder is set; inside the output folder,
    mirroring the sub-folders of ``root`` when the input came from a dropped
    folder. Where the CLI skips a file whose output exists, the window never
    refuses a second run: it takes the planner's next free name (``-2``...).
    """
    from engine.batch import output_path as planned

    folder = request.output_dir
    if folder is not None and root is not None and item_path.is_relative_to(root):
        folder = folder / item_path.parent.relative_to(root)
    out = planned(item_path, folder, request.method, request.scale, request.fmt)
    target, n = out, 1
    while target.exists():
        n += 1
        target = out.with_name(f"{out.stem}-{n}{out.suffix}")
    return target


class _LastInput:
    """The input image the viewer read last, kept for the run that follows.

    A dropped photo is shown before it is upscaled; handing the run the pixels
    the viewer decoded means the file is decoded once. Keyed by the file's
    identity (path, size, mtime), so an edited file is read again; one image
    only, so the memory it holds is one photo's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, int, int] | None = None
        self._image: Any = None

    @staticmethod
    def key(path: Path) -> tuple[str, int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return (str(path.resolve()), st.st_size, st.st_mtime_ns)

    def keep(self, path: Path, image: Any) -> None:
        with self._lock:
            self._key, self._image = self.key(path), image

    def take(self, path: Path) -> Any:
        """The kept image of ``path`` (and forget it), or None."""
        key = self.key(path)
        with self._lock:
            if key is None or key != self._key:
                return None
            image, self._key, self._image = self._image, None, None
            return image


LAST_INPUT = _LastInput()


def process_file_job(
    path: Path,
    request: RunRequest,
    root: Path | None = None,
    method: Any = None,
    finish: threading.Event | None = None,
) -> Generator[Any, None, FileOutcome]:
    """Read, upscale, write and record one file; a job for the worker.

    ``method`` is the batch's resolved method (see :class:`FileJobs`); the
    request's method id is looked up when it is None. Setting ``finish``
    (stop and keep) makes a fit end at its next step and the file be written
    with what it has learnt.
    """
    from engine import batch
    from engine.methods.base import RunContext

    out = output_path(path, request, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = method if method is not None else batch.resolve(request.method)
    result = yield from batch.process_file(
        path,
        out,
        spec,
        request.scale,
        profile=request.profile,
        params=_reusing(spec, request),
        fmt=request.fmt,
        quality=request.quality,
        context=RunContext(finish_early=finish),
        image=LAST_INPUT.take(path),
    )
    return FileOutcome(
        output=Path(result.output),
        seconds=float(result.seconds),
        run_id=result.run_id,
        metrics=dict(result.metrics),
    )


def _reusing(method: Any, request: RunRequest) -> Any:
    """The params that apply run ``request.reuse``'s saved fit; None to fit.

    Raises
    ------
    MethodError
        The run holds no usable fit at this scale (the item fails with it).
    """
    if request.reuse is None:
        return None
    from engine.methods.dualsr import reuse

    base = method.params_for(request.profile)
    return reuse.params_reusing(str(request.reuse), request.scale, base)


class FileJobs:
    """The real jobs of one batch: each reads, upscales, writes and records a file.

    The method is looked up once per batch, by the first job in its worker
    thread, and shared by the rest: a look-up rescans both model folders.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._methods: dict[str, Any] = {}

    def __call__(
        self,
        path: Path,
        request: RunRequest,
        root: Path | None,
        finish: threading.Event | None = None,
    ) -> Generator[Any, None, FileOutcome]:
        """The job for one queue item; ``finish`` is its stop-and-keep event."""
        return self._job(path, request, root, finish)

    def _job(
        self,
        path: Path,
        request: RunRequest,
        root: Path | None,
        finish: threading.Event | None,
    ) -> Generator[Any, None, FileOutcome]:
        yield from ()
        method = self.method(request.method)
        return (yield from process_file_job(path, request, root, method, finish))

    def method(self, method_id: str) -> Any:
        """The resolved method of ``method_id``, looked up the first time only."""
        with self._lock:
            if method_id not in self._methods:
                from engine import batch

                self._methods[method_id] = batch.resolve(method_id)
            return self._methods[method_id]


@dataclass(frozen=True)
class ViewImages:
    """What the viewer shows of one queue item, read by the engine once each.

    The float data is kept for the metrics, so the app scores exactly what
    ``unsr eval`` scores (16-bit images included); the QImages are the same
    data converted once for display.
    """

    before: QImage | None
    after: QImage | None
    reference: QImage | None
    after_rgb: np.ndarray | None = None
    reference_rgb: np.ndarray | None = None
    problems: tuple[str, ...] = ()


def view_job(
    before: Path | None, after: Path | None, reference: Path | None
) -> Generator[Any, None, ViewImages]:
    """A job reading an item's input, output and reference for the viewer."""
    yield from ()
    from engine.io import images

    shown: list[QImage | None] = []
    data: list[np.ndarray | None] = []
    problems: list[str] = []
    for path in (before, after, reference):
        if path is None:
            shown.append(None)
            data.append(None)
            continue
        try:
            image = images.read(path)
        except Exception as exc:  # the viewer says why and stays usable
            problems.append(str(exc))
            shown.append(None)
            data.append(None)
            continue
        if path == before:
            LAST_INPUT.keep(path, image)  # the run after it need not decode again
        rgb = image.rgb
        shown.append(array_to_qimage(rgb))
        data.append(rgb)
    return ViewImages(shown[0], shown[1], shown[2], data[1], data[2], tuple(problems))


@dataclass(frozen=True, eq=False)
class Picture:
    """An image read (or made) by the engine: for display and for the metrics."""

    image: QImage
    rgb: np.ndarray


def picture_job(path: Path) -> Generator[Any, None, Picture]:
    """A job reading ``path`` with the engine (another result, for side A)."""
    yield from ()
    from engine.io import images

    rgb = images.read(path).rgb
    return Picture(array_to_qimage(rgb), rgb)


def bicubic_job(path: Path, scale: int) -> Generator[Any, None, Picture]:
    """A job upscaling ``path`` by bicubic interpolation: the baseline to beat."""
    yield from ()
    from engine.io import images
    from engine.methods import resample

    rgb = resample.resize(images.read(path).rgb, scale, "bicubic")
    rgb = np.clip(rgb, 0.0, 1.0).astype(np.float32, copy=False)
    return Picture(array_to_qimage(rgb), rgb)


def save_as_job(
    result: Path, target: Path, protect: Sequence[Path] = ()
) -> Generator[Any, None, Path]:
    """A job writing the result ``result`` to ``target``; the path written.

    The same format is copied byte for byte; another one is re-encoded by the
    engine (ICC profile and EXIF kept). The user chose ``target`` in a save
    dialog that asked before replacing a file, but never an input (``protect``).
    """
    yield from ()
    from engine.io import images

    if images.format_for(target) == images.format_for(result):
        from engine.io.save import atomic_write

        for guarded in (*protect, result):
            if target.resolve() == Path(guarded).resolve():
                raise OSError(f"{target}: refusing to write over {guarded.name}")
        atomic_write(target, result.read_bytes(), overwrite=True)
        return target
    image = images.read(result)
    return Path(images.write(image, target, overwrite=True, protect=(result, *protect)))


def record_metrics_job(
    run_id: object, metrics: dict[str, float | None], reference: Path | None
) -> Generator[Any, None, dict[str, float]]:
    """A job storing a result's scores against ``reference`` with its run.

    The figures join the run's metrics in the history; the reference's path
    goes into ``reference.json`` in the run's folder, so the history says what
    the result was scored against.
    """
    yield from ()
    import json

    from engine.store import Store

    store = Store()
    record = store.get(int(str(run_id)))
    merged = dict(record.metrics)
    merged.update({k: float(v) for k, v in metrics.items() if v is not None})
    store.finish(
        record.id,
        record.status if record.status in ("done", "failed", "cancelled") else "done",
        output=record.output,
        metrics=merged,
        duration_s=record.duration_s,
        error=record.error,
    )
    if reference is not None and record.folder.is_dir():
        note = {"reference": str(reference), "metrics": merged}
        (record.folder / "reference.json").write_text(json.dumps(note, indent=2))
    return merged


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
        profile=(record.params or {}).get("profile"),
        error=record.error,
    )


def metrics_pair_job(
    sr: np.ndarray, baseline: np.ndarray | None, hr: np.ndarray
) -> Generator[
    Any, None, tuple[dict[str, float | None], dict[str, float | None] | None]
]:
    """A job scoring a result and (when given) the baseline against ``hr``."""
    ours = yield from metrics_job(sr, hr)
    theirs = None if baseline is None else (yield from metrics_job(baseline, hr))
    return ours, theirs


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
        holdout=request.holdout,
    )
    request.output.parent.mkdir(parents=True, exist_ok=True)
    return (yield from train_folders(spec, request.real_lr, request.hr, request.output))


#: The Models page's columns, in display order.
MODEL_COLUMNS = ("Name", "Architecture", "Scale", "Purpose", "Size", "Source", "Status")


def list_models_job() -> Generator[Any, None, ModelListing]:
    """A job listing the models library (reads every model file's header)."""
    yield from ()
    from engine import models, paths

    rows = tuple(_model_row(entry) for entry in models.entries())
    return ModelListing(rows=rows, folder=paths.models_dir())


def _model_row(entry: Any) -> ModelRow:
    from engine.models.library import human_bytes

    info = entry.info
    size = human_bytes(entry.path.stat().st_size) if entry.path.exists() else ""
    scale = f"x{entry.scale}" if entry.scale else ""
    if info is None:
        recipe = getattr(entry, "recipe", None)
        arch = (f"unsr {recipe}" if recipe else "unsr") if entry.kind == "unsr" else ""
        purpose = "SR" if entry.kind == "unsr" and entry.usable else ""
    else:
        arch, purpose = info.architecture, info.purpose
    cells = (entry.name, arch, scale, purpose, size, entry.source, entry.status)
    try:
        facts = dict(entry.facts())
    except OSError as exc:  # the file vanished under us
        facts = {"file": str(entry.path), "error": str(exc)}
    return ModelRow(
        id=str(entry.id),
        cells=tuple(str(c) for c in cells),
        facts=facts,
        usable=bool(entry.usable),
        removable=entry.source == "user",
        path=Path(entry.path),
    )


def add_models_job(files: Sequence[Path]) -> Generator[Any, None, ModelChange]:
    """A job validating and copying model files into the user models folder.

    Each file is a full spandrel load: a bad one is reported by name and the
    others are added all the same.
    """
    from engine import models
    from engine.events import Progress

    added, problems = [], []
    for index, file in enumerate(files):
        yield Progress(step=index, total=len(files), stage="adding models")
        try:
            entry = models.add(Path(file))
        except Exception as exc:  # each file's reason is shown, the rest go on
            problems.append(str(exc))
        else:
            added.append(str(entry.name))
    return ModelChange("Added", tuple(added), tuple(problems))


def import_ncnn_job(folder: Path) -> Generator[Any, None, ModelChange]:
    """A job converting (and verifying) the ncnn models of ``folder``."""
    yield from ()
    from engine.models import ncnn

    try:
        results = ncnn.import_folder(Path(folder))
    except Exception as exc:
        return ModelChange("Imported", problems=(f"{folder}: {exc}",))
    if not results:
        return ModelChange(
            "Imported", problems=(f"{folder}: no .param/.bin pairs found",)
        )
    return ModelChange(
        "Imported",
        tuple(str(r.entry.name) for r in results if r.entry is not None),
        tuple(f"{r.param.name}: {r.error}" for r in results if r.entry is None),
    )


def remove_model_job(model_id: str) -> Generator[Any, None, ModelChange]:
    """A job deleting a model from the user models folder."""
    yield from ()
    from engine import models

    try:
        path = models.remove(model_id)
    except Exception as exc:
        return ModelChange("Removed", problems=(str(exc),))
    return ModelChange("Removed", (path.name,))
