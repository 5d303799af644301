"""Catalogue models, bicubic and DualSR on photos from two made-up cameras.

The question a photographer asks of the model catalogue: on photos that came
out of a real camera (blurred, noisy, JPEG-compressed), does a pretrained
model beat plain interpolation, and how does it compare with DualSR's
per-photo fit? Ground truth is needed to answer it, so the photos are clean
scikit-image pictures (centre crops) degraded by the two synthetic cameras of
the unpaired benchmark (``benchmarks/unpaired.py``), each at the scale of the
model being scored: an x4 model gets x4-degraded photos and is compared with
bicubic x4 on the same photos.

- camera 1 (:class:`engine.train.degrade.SyntheticRealLR`): anisotropic
  Gaussian blur, bicubic down, Gaussian noise 8/255, JPEG q75;
- camera 2 (:class:`engine.train.cameras.ShakyCamera`): motion blur over a
  slight lens blur, sensor binning, shifted colour planes, Poisson-Gaussian
  noise, JPEG q60.

The blur sizes are in HR pixels and grow with the scale (camera 1's sigmas
are 0.4-0.9 x the scale, camera 2's streak 1.5-3.5 x the scale), so at every
scale the LR photo is about as sharp as at x2 in the unpaired benchmark.

Every catalogue model is found in ``--ncnn-dir`` by the SHA-256 of its files
(the catalogue's own checksums: a pair that does not match is not that
model), imported as unsr imports it and run through unsr's own path at its
native scale. Scores: PSNR and SSIM on Y (MATLAB), shave = scale, against
the clean crop (``engine.metrics``), and LPIPS where its weights exist.

Results accumulate in a JSON file, each method with the command that made
it, so the slow DualSR fits can run on their own::

    python -m benchmarks.models_quality --ncnn-dir /tmp/ncnn-models
    python -m benchmarks.models_quality --only dualsr --seed 0
    python -m benchmarks.models_quality --table

Quality does not depend on the machine's load; the seconds recorded in the
JSON do, and are not reported as results.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.models import _write, find_models  # noqa: E402

RESULTS = ROOT / "benchmarks" / "models_quality.json"
SECTION = "## Pretrained models on photos from a made-up camera: quality"
#: scikit-image photos and the edge of their centre crops (divisible by 2, 3, 4).
PHOTOS = (("astronaut", 384), ("coffee", 384), ("chelsea", 288))
CAMERAS = ("1", "2")
CAMERA_TEXT = {
    "1": "anisotropic Gaussian blur (sigmas 0.4-0.9 x scale HR px), bicubic "
    "down, Gaussian noise 8/255, JPEG q75",
    "2": "motion blur (1.5-3.5 x scale HR px) over a lens blur, binning, red and "
    "blue planes shifted -/+0.35 LR px, Poisson-Gaussian noise, JPEG q60",
}


def camera(name: str, scale: int) -> Callable[[np.ndarray, int], np.ndarray]:
    """Camera ``name`` (see the module docstring) at ``scale``."""
    from engine.train.cameras import ShakyCamera
    from engine.train.degrade import SyntheticRealLR

    if name == "1":
        sigmas = (0.4 * scale, 0.9 * scale)
        return SyntheticRealLR(
            scale=scale, sigma_range=sigmas, noise=8 / 255, jpeg_quality=75, seed=7
        )
    return ShakyCamera(
        length_range=(1.5 * scale, 3.5 * scale),
        optics_sigma=0.25 * scale,
        seed=11,
        scale=scale,
    )


def load_photo(name: str, edge: int) -> np.ndarray:
    """The centre ``edge`` x ``edge`` crop of a scikit-image photo, float32 RGB."""
    import skimage.data as sd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = np.asarray(getattr(sd, name)())
    img = img[..., :3].astype(np.float32) / 255
    h, w = img.shape[:2]
    top, left = (h - edge) // 2, (w - edge) // 2
    return np.ascontiguousarray(img[top : top + edge, left : left + edge])


def photos(cam: str, scale: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, clean HR, camera's LR) for every photo, at ``scale``."""
    shoot = camera(cam, scale)
    for i, (name, edge) in enumerate(PHOTOS):
        hr = load_photo(name, edge)
        yield name, hr, np.ascontiguousarray(shoot(hr, i), np.float32)


# --- the methods ---------------------------------------------------------------


def catalogue_models(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Catalogue id -> the .param in ``folder`` whose files it lists; ids missing.

    A pair counts only when both files' SHA-256 equal the catalogue's.
    """
    from engine.models import catalogue
    from engine.models.get import sha256_of

    digests = {}
    for param in find_models(folder):
        digests[param] = (sha256_of(param), sha256_of(param.with_suffix(".bin")))
    found, missing = {}, []
    for entry in catalogue.load().entries:
        wanted = {Path(f.name).suffix: f.sha256 for f in entry.files}
        for param, (p_sha, b_sha) in digests.items():
            if (p_sha, b_sha) == (wanted.get(".param"), wanted.get(".bin")):
                found[entry.id] = param
                break
        else:
            missing.append(entry.id)
    return found, missing


def model_runner(param: Path, backend: str) -> tuple[int, Callable[..., np.ndarray]]:
    """Import one ncnn model as unsr does; its scale and an (LR -> SR) function.

    The SR goes through unsr's own path (the pretrained adapter: precision
    decision, backend; then the pipeline's tiled pass) at the model's scale.
    """
    from engine import jobs, models, pipeline
    from engine.methods.base import RunContext
    from engine.methods.pretrained import PretrainedParams, adapter
    from engine.models import ncnn

    entry = ncnn.import_model(param)
    loaded = models.load(entry.path)
    params = PretrainedParams(backend=backend)  # type: ignore[arg-type]
    ctx = RunContext(device="cpu")

    def job(lr: np.ndarray):  # type: ignore[no-untyped-def]
        up = yield from adapter(loaded, lr, params, ctx)
        return (yield from pipeline.infer(up, lr, up.scale, ctx))

    def run(lr: np.ndarray) -> np.ndarray:
        out: np.ndarray = jobs.run(job(lr), lambda e: None)
        return out

    return loaded.info.scale, run


def bicubic(scale: int) -> Callable[[np.ndarray], np.ndarray]:
    from engine.methods.resample import resize

    return lambda lr: resize(lr, scale, "bicubic")


def dualsr(scale: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """DualSR's fast profile (x4: two x2 fits), one seed."""
    from engine import jobs, pipeline
    from engine.events import Progress
    from engine.methods.base import RunContext
    from engine.methods.dualsr import DUALSR, FAST

    def say(event: object) -> None:
        if isinstance(event, Progress) and event.step % 200 == 0 and event.total:
            print(f"    {event.stage} {event.step}/{event.total}", flush=True)

    def run(lr: np.ndarray) -> np.ndarray:
        ctx = RunContext(device="cpu", seed=seed)
        result = jobs.run(pipeline.upscale(lr, DUALSR, scale, FAST, ctx), say)
        return result.rgb  # type: ignore[no-any-return]

    return run


# --- scoring -------------------------------------------------------------------


def score(
    run: Callable[[np.ndarray], np.ndarray],
    cam: str,
    scale: int,
    keep: Callable[[dict[str, Any]], None] = lambda row: None,
) -> dict[str, Any]:
    """Run one method on every photo of camera ``cam`` at ``scale``; the figures.

    ``keep`` gets the row so far after each photo, so a stopped run keeps
    the photos it finished (a DualSR fit takes minutes).
    """
    from engine import metrics

    per: dict[str, dict[str, float]] = {}
    seconds = 0.0
    for name, hr, lr in photos(cam, scale):
        start = time.perf_counter()
        sr = run(lr)
        seconds += time.perf_counter() - start
        if sr.shape != hr.shape:
            raise RuntimeError(f"{name}: output {sr.shape}, expected {hr.shape}")
        per[name] = metrics.measure(sr, hr, shave=scale)
        print(f"  camera {cam} x{scale} {name}: {per[name]}", flush=True)
        keep({"photos": dict(per), "seconds": round(seconds, 2)})
    return {"photos": per, "seconds": round(seconds, 2)}


def _load(path: Path) -> dict[str, Any]:
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {"rows": {}}


def _save(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def record(
    path: Path, key: str, row: dict[str, Any], command: str, started: str
) -> None:
    """Merge one row into the results file (read again: another run may write)."""
    with _locked(path):
        data = _load(path)
        data["rows"][key] = {**row, "command": command, "date": started}
        data["photos"] = [f"{n} {e}x{e}" for n, e in PHOTOS]
        data["cameras"] = CAMERA_TEXT
        _save(path, data)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (two runs may share the file)."""
    import fcntl

    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"unsr-quality-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- the table -----------------------------------------------------------------


def _mean(row: dict[str, Any], key: str, names: set[str] | None = None) -> float | None:
    values = [
        p.get(key) for n, p in row["photos"].items() if names is None or n in names
    ]
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    psnr, ssim, lp = (_mean(row, k) for k in ("psnr_y", "ssim_y", "lpips"))
    text = f"{psnr:.2f} / {ssim:.4f}" if psnr is not None and ssim is not None else "-"
    text += f" / {lp:.3f}" if lp is not None else ""
    if len(row["photos"]) < len(PHOTOS):
        text += f" ({len(row['photos'])} of {len(PHOTOS)} photos)"
    return text


def _gain(row: dict[str, Any] | None, base: dict[str, Any] | None) -> str:
    """The PSNR gain over ``base`` on the photos both have."""
    if row is None or base is None:
        return "-"
    names = set(row["photos"]) & set(base["photos"])
    a, b = _mean(row, "psnr_y", names), _mean(base, "psnr_y", names)
    return "-" if a is None or b is None else f"{a - b:+.2f}"


def table(data: dict[str, Any]) -> str:
    """The Markdown section: one table per scale, one row per method."""
    rows: dict[str, dict[str, Any]] = data["rows"]
    commands: dict[str, str] = {}
    for key in sorted(rows, key=lambda k: (rows[k]["date"], k)):
        commands.setdefault(_run_of(rows[key]), "")
    for i, text in enumerate(commands):
        commands[text] = chr(ord("A") + i)
    lines = [
        SECTION,
        "",
        "Clean centre crops of scikit-image photos ("
        + ", ".join(data.get("photos", []))
        + ") degraded at the scale of the method scored, by two made-up cameras:",
        "",
        *(f"- camera {c}: {t}" for c, t in CAMERA_TEXT.items()),
        "",
        "Each cell: mean over the photos of PSNR (dB) / SSIM on Y (MATLAB), "
        "shave = scale, against the clean crop; a third figure is LPIPS (alex) "
        "where its weights were installed. 'gain' is the PSNR gain over bicubic "
        "on the same photos. 'run' names the command that produced the row "
        "(below the tables); the tables are rendered from the per-photo figures "
        "in `benchmarks/models_quality.json` by "
        "`python -m benchmarks.models_quality --table`.",
    ]
    scales = sorted({int(r["scale"]) for r in rows.values()})
    for scale in scales:
        lines += _scale_table(rows, scale, commands)
    lines += ["", "Runs:", ""]
    lines += [f"- {letter}: {text}" for text, letter in commands.items()]
    if data.get("lpips") not in (None, "available"):
        lines += ["", f"No LPIPS figures: {data['lpips']}."]
    # Notes written into the JSON by hand: what a run did not reach, and why.
    for note in data.get("notes", []):
        lines += ["", note]
    if data.get("missing"):
        lines += [
            "",
            "Catalogue models not found in the folder (no pair with their "
            f"checksums): {', '.join(data['missing'])}.",
        ]
    return "\n".join([*lines, ""])


def _run_of(row: dict[str, Any]) -> str:
    """The command that produced ``row``, with its start time."""
    return f"`{row['command']}` ({row['date']})"


def _scale_table(
    rows: dict[str, dict[str, Any]], scale: int, commands: dict[str, str]
) -> list[str]:
    def row_of(method: str, cam: str) -> dict[str, Any] | None:
        return rows.get(f"{method}|x{scale}|camera{cam}")

    methods: list[str] = []
    for r in sorted(rows.values(), key=lambda r: (r["order"], r["method"])):
        if int(r["scale"]) == scale and r["method"] not in methods:
            methods.append(r["method"])
    head = "| method | run |"
    for cam in CAMERAS:
        head += f" camera {cam} | gain {cam} |"
    out = ["", f"### x{scale}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for method in methods:
        anyrow = next(r for c in CAMERAS if (r := row_of(method, c)) is not None)
        run = commands[_run_of(anyrow)]
        cells = [method, run]
        for cam in CAMERAS:
            row = row_of(method, cam)
            cells += [_cell(row), _gain(row, row_of("bicubic", cam))]
        out.append("| " + " | ".join(cells) + " |")
    return out


# --- the program ---------------------------------------------------------------


def plan(
    args: argparse.Namespace, found: dict[str, Path]
) -> list[tuple[str, int, Callable[[], Any]]]:
    """(method, display order, builder of its (scale, LR -> SR function))."""
    todo: list[tuple[str, int, Callable[[], Any]]] = []
    keys = [k for k in args.only.split(",") if k]
    for scale in (2, 3, 4):
        if not keys or "bicubic" in keys:
            todo.append(("bicubic", 0, lambda s=scale: (s, bicubic(s))))
    if "dualsr" in keys:
        for scale in args.dualsr_scales:
            name = f"dualsr-fast (seed {args.seed})"
            todo.append((name, 1, lambda s=scale: (s, dualsr(s, args.seed))))
    # Catalogue order: the table lists the models as `unsr models get --list`.
    for order, (mid, param) in enumerate(found.items(), start=2):
        if not keys or any(k in mid for k in keys):
            todo.append((mid, order, lambda p=param: model_runner(p, args.backend)))
    return todo


def measure(args: argparse.Namespace) -> None:
    from engine import device, metrics

    device.configure_threads(args.threads)
    command = "python -m benchmarks.models_quality " + shlex.join(sys.argv[1:])
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    found: dict[str, Path] = {}
    lpips = metrics.lpips_unavailable_reason() or "available"
    if args.ncnn_dir is not None:
        found, missing = catalogue_models(Path(args.ncnn_dir))
    with _locked(args.json):
        data = _load(args.json)
        data["lpips"] = lpips
        if args.ncnn_dir is not None:
            data["missing"] = missing
        _save(args.json, data)
    for method, order, build in plan(args, found):
        scale, run = build()
        for cam in args.cameras:
            print(f"{method} x{scale} camera {cam}", flush=True)
            key = f"{method}|x{scale}|camera{cam}"
            about = {"method": method, "scale": scale, "camera": cam, "order": order}

            def keep(row: dict[str, Any], key: str = key, about=about) -> None:  # type: ignore[no-untyped-def]
                row.update(about, load=round(os.getloadavg()[0], 1))
                record(args.json, key, row, command, started)

            score(run, cam, scale, keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--ncnn-dir",
        type=Path,
        default=os.environ.get("UNSR_NCNN_MODELS"),
        help="folder searched for the catalogue's .param/.bin pairs",
    )
    ap.add_argument(
        "--only", default="", help="comma-separated filters: ids, bicubic, dualsr"
    )
    ap.add_argument("--cameras", nargs="+", default=list(CAMERAS), choices=CAMERAS)
    ap.add_argument("--dualsr-scales", nargs="+", type=int, default=[2])
    ap.add_argument("--seed", type=int, default=0, help="DualSR's seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="torch", choices=("auto", "torch", "ncnn"))
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument("--table", action="store_true", help="only rewrite the docs")
    ap.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = ap.parse_args()
    if not args.table:
        if not args.only and args.ncnn_dir is None:
            ap.error("give --ncnn-dir (or set UNSR_NCNN_MODELS), or --only dualsr")
        with tempfile.TemporaryDirectory() as tmp:
            # Imports go to a scratch models folder, never the user's.
            os.environ["UNSR_MODELS_DIR"] = str(Path(tmp) / "models")
            os.environ["UNSR_DATA_DIR"] = str(Path(tmp) / "data")
            measure(args)
    text = table(_load(args.json))
    print(text)
    if not args.no_write:
        _write(text, SECTION)


if __name__ == "__main__":
    main()
