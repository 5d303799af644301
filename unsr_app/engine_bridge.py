"""The window's door into the engine: job factories and store/metric look-ups.

Everything here is called from a worker thread (see :mod:`unsr_app.worker`), so
the engine and torch are imported lazily inside the functions: the window
appears before any of it is loaded.

Until ``engine.batch``, ``engine.images``, ``engine.store`` and
``engine.metrics`` exist, thin fallbacks keep the studio usable: Pillow reads
and writes (temp file + rename, never over the input) and scikit-image metrics.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from unsr_app.models import FileOutcome, MethodInfo, RunRequest, RunRow

_EXT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}


def _optional(module: str) -> Any:
    """Return an engine module, or None while it has not landed yet."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


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


def output_path(item_path: Path, request: RunRequest, root: Path | None) -> Path:
    """Where the result of ``item_path`` goes; never the input itself.

    Beside the input when no output folder is set; inside the output folder,
    mirroring the sub-folders of ``root`` when the input came from a dropped
    folder. A number is appended when the name is taken.
    """
    name = f"{item_path.stem}_{request.method}_x{request.scale}{_EXT[request.fmt]}"
    folder = item_path.parent
    if request.output_dir is not None:
        folder = request.output_dir
        if root is not None and item_path.is_relative_to(root):
            folder = folder / item_path.parent.relative_to(root)
    out = folder / name
    n = 1
    while out.exists() or out.resolve() == item_path.resolve():
        out = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
        n += 1
    return out


def process_file_job(
    path: Path, request: RunRequest, root: Path | None = None
) -> Generator[Any, None, FileOutcome]:
    """Read, upscale, write and record one file; a job for the worker."""
    out = output_path(path, request, root)
    batch = _optional("engine.batch")
    if batch is not None:
        result = yield from batch.process_file(
            path,
            out,
            request.method,
            request.scale,
            profile=request.profile,
            fmt=request.fmt,
            quality=request.quality,
            store=open_store(),
        )
        return FileOutcome(
            output=Path(result.output),
            seconds=float(getattr(result, "seconds", 0.0)),
            run_id=getattr(result, "run_id", None),
            metrics=dict(getattr(result, "metrics", None) or {}),
        )
    return (yield from _fallback_process(path, out, request))


def _fallback_process(
    path: Path, out: Path, request: RunRequest
) -> Generator[Any, None, FileOutcome]:
    from engine import jobs

    start = time.perf_counter()
    rgb, alpha = read_rgb(path)
    result = yield from jobs.upscale(
        rgb, request.method, request.scale, alpha=alpha, profile=request.profile
    )
    write_rgb(result.rgb, result.alpha, out, request.fmt, request.quality)
    return FileOutcome(output=out, seconds=time.perf_counter() - start)


def read_rgb(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image as float32 RGB (+ alpha) in [0, 1]; ValueError names why."""
    images = _optional("engine.images")
    if images is not None:
        try:
            data = images.read(path)
        except images.ImageError as exc:
            raise ValueError(str(exc)) from None
        return data.rgb, data.alpha
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            img = ImageOps.exif_transpose(opened)
            has_alpha = "A" in img.getbands() or "transparency" in img.info
            rgb = img.convert("RGBA" if has_alpha else "RGB")
            arr = np.asarray(rgb, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise ValueError(f"{path.name}: file not found") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path.name}: not an image Pillow can read") from None
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    if has_alpha:
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    return arr, None


def write_rgb(
    rgb: np.ndarray, alpha: np.ndarray | None, out: Path, fmt: str, quality: int
) -> Path:
    """Write 8-bit via a temp file in the target folder, then rename into place."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    planes = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=2)
    img = Image.fromarray(np.round(np.clip(planes, 0, 1) * 255).astype(np.uint8))
    if fmt == "jpeg" and img.mode == "RGBA":
        img = img.convert("RGB")
    pil_fmt = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF"}[fmt]
    fd, tmp = tempfile.mkstemp(prefix=".unsr-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        kwargs = {"quality": quality} if fmt in {"jpeg", "webp"} else {}
        img.save(tmp, pil_fmt, **kwargs)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def open_store() -> Any:
    """The engine's run store, or None while ``engine.store`` has not landed."""
    store = _optional("engine.store")
    return None if store is None else store.Store()


def history_job(limit: int = 200) -> Generator[Any, None, list[RunRow] | None]:
    """A job returning the latest runs (None when there is no store yet)."""
    yield from ()
    store = open_store()
    if store is None:
        return None
    return [_row(r) for r in store.runs(limit=limit)]


def _row(record: Any) -> RunRow:
    # The store's record type is the engine's; read it defensively by name.
    def get(*names: str) -> Any:
        for name in names:
            value = getattr(record, name, None)
            if value is not None:
                return value
        return None

    when = get("started", "created", "started_at", "created_at", "time")
    if isinstance(when, int | float):
        when = datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M")
    inp, out = get("input_path", "input"), get("output", "output_path")
    return RunRow(
        id=get("id"),
        when=str(when or ""),
        input=Path(inp) if inp else None,
        output=Path(out) if out else None,
        method=str(get("method") or "?"),
        scale=int(get("scale") or 0),
        seconds=get("duration_s", "seconds"),
        status=str(get("status") or ""),
        metrics=dict(get("metrics") or {}),
    )


def metrics_job(
    sr: np.ndarray, hr: np.ndarray
) -> Generator[Any, None, dict[str, float | None]]:
    """A job comparing ``sr`` with the reference ``hr`` (both float32 RGB)."""
    yield from ()
    h, w = min(sr.shape[0], hr.shape[0]), min(sr.shape[1], hr.shape[1])
    sr, hr = sr[:h, :w], hr[:h, :w]
    metrics = _optional("engine.metrics")
    if metrics is not None:
        out: dict[str, float | None] = {
            "PSNR": float(metrics.psnr(sr, hr)),
            "SSIM": float(metrics.ssim(sr, hr)),
        }
        out["LPIPS"] = metrics.lpips(sr, hr) if metrics.lpips_available() else None
        return out
    from skimage import metrics as sk

    ssim: Any = sk.structural_similarity  # untyped in scikit-image
    mse = float(np.mean((sr.astype(np.float64) - hr) ** 2))
    return {
        "PSNR": float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse)),
        "SSIM": float(ssim(hr, sr, data_range=1.0, channel_axis=2)),
        "LPIPS": None,
    }
