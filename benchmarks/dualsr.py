"""DualSR on a DIV2KRK-style x2 set built from scikit-image's photos.

Each HR image (a centre crop of a scikit-image photo) is blurred with its own
random anisotropic Gaussian 11x11 kernel with multiplicative noise (KernelGAN's
DIV2KRK recipe) and subsampled x2. Bicubic, the paper profile and the fast
profile are scored on Y (MATLAB), shave 2: PSNR, SSIM, wall time, and the
"downsampler PSNR": how well the learned kernel, applied to the HR image,
reproduces the LR image.

Results accumulate in a JSON file (so the slow paper profile is run once):

    python benchmarks/dualsr.py --profiles paper --json benchmarks/dualsr_results.json
    python benchmarks/dualsr.py --profiles fast --json benchmarks/dualsr_results.json
    python benchmarks/dualsr.py --table --json benchmarks/dualsr_results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import device, jobs, metrics, pipeline
from engine.events import Preview, Progress
from engine.methods.base import RunContext
from engine.methods.dualsr import PROFILES
from engine.methods.dualsr.fit import fit_x2
from engine.methods.dualsr.method import DualSRFit, upscaler
from engine.methods.resample import resize

#: (name, HR crop edge); crops are centred.
IMAGES = (("astronaut", 400), ("coffee", 400), ("rocket", 400), ("chelsea", 300))


@dataclass(frozen=True)
class _Fitted:
    rgb: np.ndarray
    kernel: np.ndarray
    iters_done: int


def fit_and_upscale(lr: np.ndarray, params, ctx: RunContext, snaps: tuple[int, ...]):  # type: ignore[no-untyped-def]
    """One x2 fit (with snapshot previews), then the pipeline's tiled pass."""
    fit = yield from fit_x2(lr, params, ctx, snapshots=snaps)
    up = yield from upscaler(lr, 2, params, ctx, DualSRFit((fit,)))
    rgb = yield from pipeline.infer(up, lr, 2, ctx)
    return _Fitted(rgb, fit.kernel, fit.iters_done)


def random_kernel(
    rng: np.random.Generator, size: int = 11, noise: float = 0.4
) -> np.ndarray:
    """An anisotropic Gaussian with multiplicative noise, centred for x2."""
    lam = rng.uniform(0.35, 5.0, size=2)  # variances in px^2, [0.175 s, 2.5 s] for s=2
    theta = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cov = rot @ np.diag(lam) @ rot.T
    inv = np.linalg.inv(cov)
    # Centre between pixels 5 and 6, so LR pixel i sits at HR 2i + 0.5, as in
    # bicubic x0.5.
    z = np.arange(size) - (size // 2 + 0.5)
    yy, xx = np.meshgrid(z, z, indexing="ij")
    pts = np.stack([yy, xx], axis=-1)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    k *= 1 + rng.uniform(-noise, noise, size=k.shape)
    return (k / k.sum()).astype(np.float32)


def degrade(hr: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Correlate with ``k`` (reflect padding) and keep every second pixel."""
    pad = k.shape[0] // 2
    x = torch.from_numpy(hr).permute(2, 0, 1)[:, None]
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(x, torch.from_numpy(k)[None, None])[:, :, ::2, ::2]
    return y[:, 0].permute(1, 2, 0).numpy().clip(0, 1).astype(np.float32)


def dataset(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for name, edge in IMAGES:
        img = getattr(data, name)().astype(np.float32) / 255.0
        h, w = img.shape[:2]
        t, lft = (h - edge) // 2, (w - edge) // 2
        hr = np.ascontiguousarray(img[t : t + edge, lft : lft + edge])
        k = random_kernel(rng)
        out.append((name, hr, degrade(hr, k), k))
    return out


def downsampler_psnr(hr: np.ndarray, lr: np.ndarray, kernel: np.ndarray) -> float:
    """PSNR (Y, shave 2) of LR against HR downscaled by the learned kernel."""
    x = torch.from_numpy(hr).permute(2, 0, 1)[:, None]
    y = F.conv2d(x, torch.from_numpy(kernel)[None, None], stride=2)
    y = y[:, 0].permute(1, 2, 0).numpy().clip(0, 1)
    # A valid 13x13 stride-2 correlation's output i is centred on HR 2i + 6 +
    # 0.5 (the kernel's target centre), i.e. LR pixel i + 3.
    ref = lr[3 : 3 + y.shape[0], 3 : 3 + y.shape[1]]
    return metrics.psnr(y[: ref.shape[0], : ref.shape[1]], ref, shave=2)


def _log_progress(event: object) -> None:
    if (
        isinstance(event, Progress)
        and event.step % 100 == 0
        and event.stage == "fitting"
    ):
        eta = f"{event.eta_s:.0f}" if event.eta_s is not None else "?"
        print(
            f"  it {event.step}/{event.total} eta {eta} s", file=sys.stderr, flush=True
        )


def score(sr: np.ndarray, hr: np.ndarray) -> dict[str, float]:
    return {
        "psnr": metrics.psnr(sr, hr, shave=2),
        "ssim": metrics.ssim(sr, hr, shave=2),
    }


class _Timer:
    """The fit's Progress steps and when they came, for seconds per iteration.

    A fit reports Progress twice per iteration (once between the G and D steps,
    where it can be cancelled), so iterations are counted by the step number the
    events carry, not by the events.
    """

    def __init__(self) -> None:
        self.stamps: list[tuple[int, float]] = []

    def on_event(self, e: object) -> None:
        if (
            isinstance(e, Progress)
            and e.stage == "fitting"
            and (not self.stamps or e.step > self.stamps[-1][0])
        ):
            self.stamps.append((e.step, time.perf_counter()))

    def per_iter(self) -> float:
        """Mean seconds per iteration, leaving out the first (set-up) one."""
        if len(self.stamps) < 4:
            return math.nan
        (s0, t0), (s1, t1) = self.stamps[1], self.stamps[-1]
        return (t1 - t0) / (s1 - s0)


def run(
    profiles: list[str],
    store: Path,
    iters: int | None,
    names: list[str],
    snap_every: int,
    overrides: dict[str, Any] | None = None,
    threads: tuple[int, ...] = (1,),
    seeds: tuple[int, ...] = (0,),
    bf16_forced: bool = False,
) -> None:
    """Fit each profile at each thread count on each image, one after another.

    With one thread count and one seed the entries are keyed by profile
    (``fast``); else by profile and threads (``fast@2t``), so 1 and 2 threads
    and the paper profile are timed side by side in one run. Seeds other than 0 add
    ``@seed<n>`` to the key; a key already recorded is not fitted again.
    """
    import dualsr_guard

    results = json.loads(store.read_text()) if store.exists() else {}

    def save() -> None:
        # Other processes may be writing other seeds to the same file.
        def merge(on_disk: dict[str, Any]) -> None:
            for name, theirs in on_disk.items():
                mine = results.setdefault(name, {})
                for k, v in theirs.items():
                    mine.setdefault(k, v)  # ours win on a key both have
                for k in [k for k in mine if k.endswith("_partial")]:
                    if k.removesuffix("_partial") in mine:
                        del mine[k]  # the finished fit replaces its snapshots
            on_disk.update(results)

        dualsr_guard.update_store(store, merge)

    for name, hr, lr, _k in dataset():
        if names and name not in names:
            continue
        entry = results.setdefault(name, {})
        t0 = time.perf_counter()
        bic = resize(lr, 2, "bicubic")
        entry["bicubic"] = {**score(bic, hr), "seconds": time.perf_counter() - t0}
        for prof in profiles:
            params = PROFILES[prof]
            if iters:
                params = params.with_(iters=iters)
            if overrides:
                params = params.with_(**overrides)
            for seed, n in ((sd, n) for sd in seeds for n in threads):
                timed = len(threads) > 1 or seeds != (0,)
                key = f"{prof}@{n}t" if timed else prof
                key += f"@seed{seed}" if seed else ""
                if key in entry:
                    continue
                device.configure_threads(n)  # the engine keeps a count set this way
                entry[key] = _fit_entry(
                    params, hr, lr, snap_every, entry, key, save, seed
                )
                if overrides:  # the settings that differ from the profile's
                    entry[key]["set"] = overrides
                if bf16_forced:
                    entry[key]["bf16_forced"] = True
                entry.pop(key + "_partial", None)
                print(name, key, json.dumps(entry[key]), flush=True)
                save()
        save()


def _fit_entry(
    params: Any,
    hr: np.ndarray,
    lr: np.ndarray,
    snap_every: int,
    entry: dict[str, Any],
    key: str,
    save: Callable[[], None],
    seed: int = 0,
) -> dict[str, Any]:
    """One fit and its tiled pass; snapshots saved as they come (``_partial``)."""
    t0 = time.perf_counter()
    curve: dict[int, float] = {}
    timer = _Timer()

    def on_event(e: object) -> None:
        _log_progress(e)
        timer.on_event(e)
        if isinstance(e, Preview) and e.label == "snapshot":
            curve[e.step] = metrics.psnr(np.clip(e.image, 0, 1), hr, shave=2)
            print(
                f"  snapshot it {e.step}: PSNR {curve[e.step]:.2f}",
                file=sys.stderr,
                flush=True,
            )
            entry[key + "_partial"] = {
                "curve": curve,
                "partial": True,
                "seconds_so_far": time.perf_counter() - t0,
            }
            save()

    snaps = tuple(range(snap_every, params.iters + 1, snap_every)) if snap_every else ()
    ctx = RunContext(device="cpu", seed=seed)
    res = jobs.run(fit_and_upscale(lr, params, ctx, snaps), on_event)
    return {
        **score(res.rgb, hr),
        "seconds": time.perf_counter() - t0,
        "s_per_iter": timer.per_iter(),
        "iters": res.iters_done,
        "dn_psnr": downsampler_psnr(hr, lr, res.kernel),
        "kernel_sum": float(res.kernel.sum()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": torch.get_num_threads(),
        "load_avg_1m": os.getloadavg()[0],
        "curve": curve,
    }


def _merge(stores: list[Path]) -> dict[str, dict[str, dict]]:
    merged: dict[str, dict[str, dict]] = {}
    for store in stores:
        if store.exists():
            for name, entry in json.loads(store.read_text()).items():
                merged.setdefault(name, {}).update(entry)
    return merged


def _cell(entry: dict[str, dict], prof: str) -> tuple[str, float, float] | None:
    """Table cell and (PSNR, seconds) of ``prof``; a partial run is projected."""
    if prof in entry:
        e = entry[prof]
        cell = f"{e['psnr']:.2f} / {e['ssim']:.4f} / {e['seconds']:.0f}"
        return cell, e["psnr"], e["seconds"]
    part = entry.get(prof + "_partial")
    if not part or not part["curve"]:
        return None
    last = max(part["curve"], key=int)
    psnr = part["curve"][last]
    full = PROFILES[prof].iters
    secs = part["seconds_so_far"] / int(last) * full
    cell = f"{psnr:.2f} at it {last} (partial) / - / ~{secs:.0f} projected"
    return cell, psnr, secs


def table(stores: list[Path]) -> str:
    results = _merge(stores)
    cols = ["bicubic", "paper", "fast"]
    head = " | ".join(f"{c} PSNR / SSIM / s" for c in cols)
    lines = [f"| image | {head} | DN-PSNR fast |", "|---" * (len(cols) + 2) + "|"]
    rows: list[dict[str, tuple[float, float]]] = []
    for name, entry in results.items():
        cells = {c: _cell(entry, c) for c in cols}
        if any(v is None for v in cells.values()):
            continue
        dn = f"{entry['fast']['dn_psnr']:.2f}" if "fast" in entry else "-"
        text = " | ".join(v[0] for v in cells.values() if v)
        lines.append(f"| {name} | {text} | {dn} |")
        rows.append({c: (v[1], v[2]) for c, v in cells.items() if v})
    if rows:
        mean = {c: np.mean([r[c] for r in rows], axis=0) for c in cols}
        gain_p = mean["paper"][0] - mean["bicubic"][0]
        gain_f = mean["fast"][0] - mean["bicubic"][0]
        kept = gain_f / gain_p if gain_p > 0 else math.nan
        lines += [
            "",
            f"Mean PSNR gain over bicubic: paper {gain_p:+.2f} dB, "
            f"fast {gain_f:+.2f} dB ({kept:.0%} kept); "
            f"time fast / paper {mean['fast'][1] / mean['paper'][1]:.3f}",
        ]
    for name, entry in results.items():
        for prof in ("paper", "fast"):
            e = entry.get(prof) or entry.get(prof + "_partial")
            if e and e.get("curve"):
                pts = ", ".join(f"{k}: {v:.2f}" for k, v in e["curve"].items())
                lines.append(f"- {name}, {prof}, PSNR by iteration: {pts}")
    return "\n".join(lines)


def speed_table(stores: list[Path]) -> str:
    """Per image, every profile at every thread count: PSNR, seconds, s/iteration.

    Only runs made with several thread counts (keys like ``fast@2t``) appear;
    the time ratios compare each fast variant with the paper profile's.
    """
    lines = [
        "| image | variant | PSNR | s per fit | s per iteration | iters"
        " | time / paper's |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in _merge(stores).items():
        timed = {k: v for k, v in entry.items() if "@" in k and "psnr" in v}
        papers = [v["seconds"] for k, v in timed.items() if k.startswith("paper@")]
        for key, e in sorted(timed.items()):
            ratio = f"{e['seconds'] / min(papers):.3f}" if papers else "-"
            lines.append(
                f"| {name} | {key} | {e['psnr']:.2f} | {e['seconds']:.0f}"
                f" | {e.get('s_per_iter', math.nan):.3f} | {e['iters']} | {ratio} |"
            )
    return "\n".join(lines) if len(lines) > 2 else ""


def seeds_table(stores: list[Path]) -> str:
    """Per image and variant, over seeds: PSNR mean and spread, the paper's gain kept.

    Variants are the keys with their ``@seed<n>`` stripped (``fast@2t``); the
    paper profile's figure is the mean of every ``paper`` entry the stores
    hold, with their count (its fits take 40-50 minutes each at one thread).
    A profile timed at several thread counts also gets a row of all its runs
    (``fast, all``): two and one thread sum in different orders, so each run
    is one more sample. "kept" is the variant's mean gain over bicubic against
    the paper's; where the paper profile loses to bicubic, "at least the
    paper's" is what counts.
    """
    lines = [
        "| image | variant | bicubic | paper, mean (runs) | PSNR, mean ±half range"
        " (runs) | gain kept | s per fit | s per iteration |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in _merge(stores).items():
        bic = entry["bicubic"]["psnr"]
        papers = [
            v["psnr"] for k, v in entry.items()
            if k.split("@")[0] == "paper" and "psnr" in v
        ]  # fmt: skip
        paper = float(np.mean(papers)) if papers else math.nan
        groups: dict[str, list[dict[str, Any]]] = {}
        for key, e in entry.items():
            if "@" in key and "psnr" in e and not key.startswith("paper"):
                groups.setdefault(key.split("@seed")[0], []).append(e)
        for prof in sorted({v.split("@")[0] for v in groups}):
            timed = [v for v in groups if v.split("@")[0] == prof]
            if len(timed) > 1:
                groups[f"{prof}, all"] = [r for v in timed for r in groups[v]]
        for variant, recs in sorted(groups.items()):
            psnr = [r["psnr"] for r in recs]
            gain, pgain = float(np.mean(psnr)) - bic, paper - bic
            side = "above" if gain >= pgain else "below"
            kept = f"{gain / pgain:.0%}" if pgain > 0 else f"{side} the paper's"
            half = (max(psnr) - min(psnr)) / 2
            lines.append(
                f"| {name} | {variant} | {bic:.2f} | {paper:.2f} ({len(papers)})"
                f" | {np.mean(psnr):.2f} ±{half:.2f} ({len(psnr)}) | {kept}"
                f" | {np.mean([r['seconds'] for r in recs]):.0f}"
                f" | {np.mean([r['s_per_iter'] for r in recs]):.3f} |"
            )
    return "\n".join(lines) if len(lines) > 2 else ""


def _command() -> str:
    """The command line that produced a record, as docs quote it."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def _save_record(path: Path, key: str, record: dict[str, Any]) -> None:
    results = json.loads(path.read_text()) if path.exists() else {}
    results[key] = record
    path.write_text(json.dumps(results, indent=2))


def large(args: argparse.Namespace, params: Any) -> None:
    """The 12 MP row (benchmarks/dualsr_large.py), appended to ``args.json``.

    ``params``: the fast profile unless --profile, --iters or --set say else;
    the record is keyed ``12mp`` plus the --set changes.
    """
    import dualsr_large

    figures = dualsr_large.run(params, args.device, args.large_scale)
    record = {
        **figures,
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": _command(),
    }
    name = "12mp" if args.large_scale == 2 else f"12mp x{args.large_scale}"
    _save_record(args.json, " ".join([name, *args.set]), record)
    print(json.dumps(record, indent=2))


def guard(args: argparse.Namespace, params: Any) -> None:
    """The guard's and the reuse row's fits (benchmarks/dualsr_guard.py)."""
    import dualsr_guard

    seeds = list(range(args.seeds))
    every = args.snapshot_every or 100
    dualsr_guard.run(params, args.json, seeds, args.images, every, _command())


#: Where each mode keeps its results when --json is not given.
DEFAULT_JSON = {
    "profiles": Path("benchmarks/dualsr_results.json"),
    "large": Path("benchmarks/dualsr_large.json"),
    "guard": Path("benchmarks/dualsr_guard.json"),
    "x4": Path("benchmarks/dualsr_x4.json"),
}


def _parser() -> argparse.ArgumentParser:
    import dualsr_x4

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="*", default=[], choices=list(PROFILES))
    ap.add_argument(
        "--large",
        action="store_true",
        help="the 12 MP row: a 4000x3000 photo fitted and upscaled x2 end to end "
        "(fast profile; --iters to shorten)",
    )
    ap.add_argument(
        "--large-scale",
        type=int,
        choices=(2, 4),
        default=2,
        help="the 12 MP row's scale (4: the fit learns from its bicubic x2)",
    )
    ap.add_argument(
        "--guard",
        action="store_true",
        help="the guard's table and the reuse row: twelve held-out photos, kernel "
        "widths near-bicubic to wide, --seeds seeds (fast profile, or --profile)",
    )
    ap.add_argument(
        "--x4",
        action="store_true",
        help="the x4 row: bicubic x2 then one x2 fit, against bicubic, on "
        "DIV2KRK-style x4 photos (--images to pick, --seeds seeds)",
    )
    ap.add_argument(
        "--x4-recipe",
        default="engine",
        choices=dualsr_x4.RECIPES,
        help="x4 as the engine makes it, or with Pillow's bicubic of the whole "
        "photo first",
    )
    ap.add_argument("--profile", default="fast", choices=list(PROFILES))
    ap.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds 0..N-1 (default: 3 with --guard and --x4, else 1)",
    )
    ap.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="start the profile and x4 runs' seeds here (two processes can take a seed "
        "each and share one --json)",
    )
    ap.add_argument("--json", type=Path, default=None, help="results file")
    ap.add_argument(
        "--also", type=Path, nargs="*", default=[], help="more result files for --table"
    )
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--images", nargs="*", default=[])
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[2],
        help="torch threads; several (e.g. 1 2) time each profile at each, "
        "side by side in one run",
    )
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--snapshot-every", type=int, default=0)
    ap.add_argument(
        "--set", nargs="*", default=[], help="param overrides, e.g. lr_step=400"
    )
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument(
        "--force-bf16",
        action="store_true",
        help="bf16 autocast where the profile asks for it, even on a CPU where "
        "the engine would not use it (to compare the precisions' quality)",
    )
    return ap


def main() -> None:
    args = _parser().parse_args()
    import dualsr_speed

    # The engine's rule keeps bf16 to CPUs where it pays (AMX); comparing the
    # two precisions' quality on any CPU needs the autocast on anyway.
    with dualsr_speed.forced_bf16(args.force_bf16):
        _dispatch(args)


def _dispatch(args: argparse.Namespace) -> None:
    """Run the mode the arguments ask for."""
    modes = [m for m in ("large", "guard", "x4") if getattr(args, m)]
    mode = modes[0] if modes else "profiles"
    if args.json is None:
        args.json = DEFAULT_JSON[mode]
    if args.seeds is None:
        args.seeds = 1 if mode == "profiles" else 3
    device.configure_threads(args.threads[0])
    overrides = {k: json.loads(v) for k, v in (a.split("=", 1) for a in args.set)}
    params = PROFILES[args.profile].with_(**overrides)
    if args.iters:
        params = params.with_(iters=args.iters)
    if mode == "large":
        large(args, params)
    elif mode == "guard":
        if not args.table:
            guard(args, params)
        else:
            import dualsr_guard

            print(dualsr_guard.table(args.json, params))
    elif mode == "x4":
        import dualsr_x4

        if not args.table:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                dualsr_x4.run(
                    params, args.json, args.images, seed, _command(), args.x4_recipe
                )
        print(dualsr_x4.table(args.json))
    else:
        if args.profiles:
            run(
                args.profiles,
                args.json,
                args.iters,
                args.images,
                args.snapshot_every,
                overrides,
                tuple(args.threads),
                tuple(range(args.first_seed, args.first_seed + args.seeds)),
                args.force_bf16,
            )
        if args.table:
            print(table([args.json, *args.also]))
            print(speed_table([args.json, *args.also]))
            print(seeds_table([args.json, *args.also]))


if __name__ == "__main__":
    main()
