"""DualSR's guard without ground truth, and one fit for a whole shoot, measured.

Twelve photos no profile was tuned on (scikit-image's bundled photos, grey ones
as RGB) in six pairs; each pair is blurred by its own anisotropic Gaussian
(DIV2KRK's recipe: random angle, tap noise 40 %) of a set width, from narrower
than DIV2KRK's narrowest (near bicubic) to its widest, and subsampled x2.

Per photo and seed, one fit with the profile under test records:

* the bicubic and final PSNR (Y, shave 2), the fit's seconds and seconds per
  iteration (timings are the machine's load as much as the code's);
* at every snapshot (``snap_every`` iterations and the last): the whole-image
  PSNR, the learned kernel, and the three sums that give the PSNR of any blend
  ``bicubic + a * (fit - bicubic)`` without another pass (``blend_terms``), so
  a guard that keeps a snapshot or blends toward bicubic is scored exactly,
  from the same fit, without fitting again;
* the reuse row: the fit of one photo of a pair applied to the other (same
  kernel), against that photo's own fit.

Run through ``benchmarks/dualsr.py --guard`` (see its --help).
"""

from __future__ import annotations

import fcntl
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage import data

from engine import jobs, metrics, pipeline
from engine.events import Kernel, Losses, Preview, Progress
from engine.methods.base import RunContext
from engine.methods.dualsr import DUALSR, DualSRParams, guard, reuse
from engine.methods.dualsr.fit import fit_x2
from engine.methods.dualsr.method import DualSRFit, upscaler
from engine.methods.resample import resize

Loader = Callable[[], np.ndarray]

#: (name, loader); consecutive photos form a pair sharing one kernel.
PHOTOS: tuple[tuple[str, Loader], ...] = (
    ("motorcycle", lambda: data.stereo_motorcycle()[0]),
    ("moon", data.moon),
    ("immuno", data.immunohistochemistry),
    ("gravel", data.gravel),
    ("hubble", data.hubble_deep_field),
    ("camera", data.camera),
    ("retina", data.retina),
    ("brick", data.brick),
    ("chelsea", data.chelsea),
    ("coins", data.coins),
    ("grass", data.grass),
    ("cell", data.cell),
)

#: Kernel width of each pair: the trace of the Gaussian's covariance in HR
#: px^2 (DIV2KRK's x2 range is 0.7-10; bicubic's own is 0).
WIDTHS = (0.4, 0.8, 1.5, 2.7, 5.0, 9.0)


def width_kernel(
    rng: np.random.Generator, trace: float, size: int = 11, noise: float = 0.4
) -> np.ndarray:
    """An anisotropic Gaussian of covariance trace ``trace``, tap noise, x2-centred."""
    ratio = rng.uniform(1.0, 4.0)  # anisotropy, as DIV2KRK's independent variances
    lam = np.array([ratio, 1.0]) * trace / (1.0 + ratio)
    theta = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    inv = np.linalg.inv(rot @ np.diag(lam) @ rot.T)
    z = np.arange(size) - (size // 2 + 0.5)
    yy, xx = np.meshgrid(z, z, indexing="ij")
    pts = np.stack([yy, xx], axis=-1)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    k *= 1 + rng.uniform(-noise, noise, size=k.shape)
    return (k / k.sum()).astype(np.float32)


def hr_crop(loader: Loader, edge: int = 512) -> np.ndarray:
    """The centred HR crop: 512 px, or the largest multiple of 4 that fits."""
    img = np.asarray(loader())
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    side = min(edge, img.shape[0] // 4 * 4, img.shape[1] // 4 * 4)
    t, lft = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    return np.ascontiguousarray(img[t : t + side, lft : lft + side]) / np.float32(255)


def dataset(seed: int = 0) -> list[dict[str, Any]]:
    """The photos with their HR crop, true kernel, LR and pair partner."""
    import dualsr  # the DIV2KRK-style degradation of the main benchmark

    rng = np.random.default_rng(seed)
    out = []
    for i, width in enumerate(WIDTHS):
        k = width_kernel(rng, width)
        for j in (2 * i, 2 * i + 1):
            name, loader = PHOTOS[j]
            hr = hr_crop(loader).astype(np.float32)
            partner = PHOTOS[j ^ 1][0]
            lr = dualsr.degrade(hr, k)
            out.append({"name": name, "hr": hr, "lr": lr, "k": k, "partner": partner})
    return out


def blend_terms(fit: np.ndarray, bic: np.ndarray, hr: np.ndarray) -> list[float]:
    """(A, B, C) with MSE(bic + a (fit - bic)) = A + 2aB + a^2 C on Y, shave 2.

    Y is affine in RGB, so the blend commutes with it (the offset cancels).
    """
    y = [metrics.rgb_to_y(np.asarray(a)[2:-2, 2:-2]) for a in (fit, bic, hr)]
    d, e = y[0] - y[1], y[1] - y[2]
    return [float(np.mean(e * e)), float(np.mean(e * d)), float(np.mean(d * d))]


def blend_psnr(terms: list[float], a: float) -> float:
    """PSNR of the blend with weight ``a`` on the fit (1: the fit, 0: bicubic)."""
    mse = terms[0] + 2 * a * terms[1] + a * a * terms[2]
    return 10 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


class _Trace:
    """Snapshots of one fit: PSNR, blend terms, the kernel and the signals at each."""

    def __init__(self, lr: np.ndarray, hr: np.ndarray, bic: np.ndarray) -> None:
        self.lr, self.hr, self.bic = lr, hr, bic
        self.kernel: np.ndarray | None = None
        self.losses: list[dict[str, float]] = []
        self.snaps: dict[int, dict[str, Any]] = {}
        self.stamps: list[float] = []

    def on_event(self, e: object) -> None:
        if isinstance(e, Kernel):
            self.kernel = e.kernel
        elif isinstance(e, Losses):
            self.losses = [*self.losses[-9:], dict(e.values)]
        elif isinstance(e, Progress) and e.stage == "fitting":
            self.stamps.append(time.perf_counter())
            if e.step and e.step % 200 == 0:
                print(f"  it {e.step}/{e.total}", file=sys.stderr, flush=True)
        elif isinstance(e, Preview) and e.label == "snapshot":
            sr = np.clip(e.image, 0, 1)
            assert self.kernel is not None
            self.snaps[e.step] = {
                "psnr": metrics.psnr(sr, self.hr, shave=2),
                "terms": blend_terms(sr, self.bic, self.hr),
                "kernel": np.round(self.kernel, 6).tolist(),
                "signals": snapshot_signals(self.lr, self.kernel, self.losses),
            }


def snapshot_signals(
    lr: np.ndarray, kernel: np.ndarray, recent: list[dict[str, float]]
) -> dict[str, float]:
    """The guard's signals at one snapshot (the photo's own bicubic one left out)."""
    sig = guard.signals(lr, kernel, recent)
    sig.pop("cross_scale_bicubic", None)
    return sig


def fit_one(
    photo: dict[str, Any],
    params: DualSRParams,
    seed: int,
    snap_every: int,
    folder: Path,
) -> dict[str, Any]:
    """One fit with its trace, saved in ``folder`` (for the reuse row)."""
    lr, hr = photo["lr"], photo["hr"]
    bic = resize(lr, 2, "bicubic")
    # A Kernel event every iteration; the fit unguarded, as the guard is scored
    # offline from the snapshots (dualsr_guard_rules).
    p = params.with_(kernel_every_s=0.0, guard="off")
    snaps = (*range(snap_every, p.iters, snap_every), p.iters)
    trace = _Trace(lr, hr, bic)
    ctx = RunContext(device="cpu", seed=seed)
    t0 = time.perf_counter()
    job = fit_x2(lr, p, ctx, run_dir=folder, snapshots=snaps)
    fitted = jobs.run(job, trace.on_event)
    fit_s = time.perf_counter() - t0
    sr = _apply(DualSRFit((fitted,)), lr, p)
    per_iter = float(np.median(np.diff(trace.stamps))) if len(trace.stamps) > 2 else 0
    record = {
        "bicubic": metrics.psnr(bic, hr, shave=2),
        "fast": metrics.psnr(sr, hr, shave=2),
        "ssim": metrics.ssim(sr, hr, shave=2),
        "seconds": fit_s,
        "s_per_iter": per_iter,
        "iters": fitted.iters_done,
        "true_m2": guard.second_moment(photo["k"]),
        "signals": guard.signals(lr, fitted.kernel, trace.losses),
        "snapshots": trace.snaps,
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    return record


def _apply(fit: DualSRFit, lr: np.ndarray, params: DualSRParams) -> np.ndarray:
    ctx = RunContext(device="cpu")
    up = jobs.run(upscaler(lr, 2, params, ctx, fit))
    return np.clip(jobs.run(pipeline.infer(up, lr, 2, ctx)), 0, 1)


def update_store(store: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to the results file under a lock, written atomically.

    Several processes (one per group of photos) share one file: each re-reads
    it under the lock, so none writes over another's fits.
    """
    with open(store.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(store.read_text()) if store.exists() else {}
        change(results)
        tmp = store.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(store)


def _reuse(
    store: Path,
    photos: dict[str, Any],
    key: str,
    name: str,
    base: DualSRParams,
) -> None:
    """Each photo of ``name``'s pair upscaled by the other's saved fit.

    The saved fits are unguarded (the benchmark scores the guard offline), so
    the blend terms of the reused output are kept too: the guarded reuse, with
    the weight the guard gave the partner's own fit, is scored from them.
    """
    results = json.loads(store.read_text())
    fits = store.with_suffix(".fits")
    partner = photos[name]["partner"]
    for a, b in ((name, partner), (partner, name)):
        folder = fits / f"{a}_{key}"
        rec = results.get(b, {}).get(key)
        if rec is None or "reuse_terms" in rec or not (folder / "weights.pt").is_file():
            continue
        params = reuse.params_reusing(folder, 2, base)
        lr, hr = photos[b]["lr"], photos[b]["hr"]
        sr = np.clip(jobs.run(pipeline.upscale(lr, DUALSR, 2, params)).rgb, 0, 1)
        terms = blend_terms(sr, resize(lr, 2, "bicubic"), hr)
        psnr = metrics.psnr(sr, hr, shave=2)

        def put(
            res: dict[str, Any], a: str = a, b: str = b, v: float = psnr, t: Any = terms
        ) -> None:
            res[b][key].update(reuse_from=a, reuse=v, reuse_terms=t)

        update_store(store, put)


def reuse_all(store: Path, params: DualSRParams) -> None:
    """The reuse row for every pair already fitted (fills in missing terms)."""
    photos = {p["name"]: p for p in dataset()}
    results = json.loads(store.read_text())
    for name in results:
        for key in results[name]:
            if key.startswith("seed"):
                _reuse(store, photos, key, name, params)


def run(
    params: DualSRParams,
    store: Path,
    seeds: list[int],
    names: list[str],
    snap_every: int,
    command: str,
) -> None:
    """Fit every photo of ``names`` (all when empty) for every seed; resumable.

    Fits are saved beside ``store`` (``<store>.fits/<photo>_seed<n>``), so the
    reuse row is made whenever both photos of a pair are done. Processes
    fitting different photos may share ``store`` (:func:`update_store`).
    """
    fits = store.with_suffix(".fits")
    photos = {p["name"]: p for p in dataset()}
    # One photo of every width first, then their partners (the reuse row), so
    # a run cut short still spans the widths.
    order = names or [p[0] for p in PHOTOS[0::2] + PHOTOS[1::2]]
    for seed in seeds:
        key = f"seed{seed}"
        for name in order:
            done = json.loads(store.read_text()) if store.exists() else {}
            if key in done.get(name, {}):
                continue
            print(f"{name} seed {seed}", file=sys.stderr, flush=True)
            folder = fits / f"{name}_{key}"
            record = fit_one(photos[name], params, seed, snap_every, folder)
            record.update(command=command, key=key)

            def put(res: dict[str, Any], n: str = name, r: Any = record) -> None:
                res.setdefault(n, {})[r["key"]] = r

            update_store(store, put)
            _reuse(store, photos, key, name, params)
            print(name, key, f"bicubic {record['bicubic']:.2f}",
                  f"fast {record['fast']:.2f}", flush=True)  # fmt: skip


def _spread(values: list[float]) -> str:
    """Mean and half the range over seeds: "31.20 ±0.15 (3)"."""
    if not values:
        return "-"
    half = (max(values) - min(values)) / 2
    return f"{np.mean(values):.2f} ±{half:.2f} ({len(values)})"


def _final(rec: dict[str, Any]) -> dict[str, Any]:
    return rec["snapshots"][str(max(int(k) for k in rec["snapshots"]))]


def _oracle(rec: dict[str, Any]) -> float:
    """The best blend toward bicubic in hindsight (an upper bound for a guard)."""
    a, b, c = _final(rec)["terms"]
    best = min(1.0, max(0.0, -b / c)) if c > 0 else 1.0
    return blend_psnr([a, b, c], best)


def _pearson(x: list[float], y: list[float]) -> float:
    if len(x) < 3 or np.std(x) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


#: Photos the rules are tuned on (the first of each pair: one per width); the
#: others (their partners, same kernels, other content) check them.
TUNE = tuple(p[0] for p in PHOTOS[0::2])


def backfill_store(store: Path) -> None:
    """Snapshot signals of fits recorded before they were kept, written back."""
    import dualsr_guard_rules as rules

    photos = {p["name"]: p for p in dataset()}
    fits = store.with_suffix(".fits")
    update_store(store, lambda res: rules.backfill(res, fits, photos))


def table(store: Path, params: DualSRParams) -> str:
    """The guard's table, the rules tuned and checked, the signals' correlations.

    ``params`` carries the guard rule of the "guarded fast" column (the fast
    profile's own, or another given with --set).
    """
    import dualsr_guard_rules as rules

    backfill_store(store)
    reuse_all(store, params)
    results = json.loads(store.read_text())
    rule = params if params.guard != "off" else params.with_(guard="blend")
    sig = rule.guard_signal
    lines = [
        f"| photo | true width px² | bicubic | fast | guarded fast | oracle blend"
        f" | guard's weight | {sig} | learned width | spectral width"
        f" | reuse (partner's fit) | guarded reuse |",
        "|---" * 12 + "|",
    ]
    all_fits = rules.fits(results)
    by_key = {(f.photo, f.seed): f.rec for f in all_fits}
    for name in results:
        recs = [f.rec for f in all_fits if f.photo == name]
        if not recs:
            continue
        final = [_final(r)["signals"] for r in recs]
        weights = [guard.blend_weight(f, rule) for f in final]
        reuse_vals = [r["reuse"] for r in recs if "reuse" in r]
        guarded_reuse = [
            _guarded_reuse(r, by_key[(r["reuse_from"], r["key"])], rule)
            for r in recs
            if "reuse_terms" in r and (r["reuse_from"], r["key"]) in by_key
        ]
        lines.append(
            f"| {name} | {recs[0]['true_m2']:.2f} | {recs[0]['bicubic']:.2f}"
            f" | {_spread([r['fast'] for r in recs])}"
            f" | {_spread([rules.guarded_psnr(r, rule) for r in recs])}"
            f" | {_spread([_oracle(r) for r in recs])} | {_spread(weights)}"
            f" | {_spread([f[sig] for f in final])}"
            f" | {_spread([f['kernel_m2'] for f in final])}"
            f" | {final[0]['spectral_m2']:.2f}"
            f" | {_spread(reuse_vals)} from {recs[0].get('reuse_from', '-')}"
            f" | {_spread(guarded_reuse)} |"
        )
    lines += ["", *_summary(all_fits, rule), *_reuse_summary(all_fits, rule)]
    lines += ["", calibration()]
    return "\n".join(lines)


def _guarded_reuse(
    rec: dict[str, Any], partner: dict[str, Any], rule: DualSRParams
) -> float:
    """The photo upscaled by its partner's fit, toned by the partner's weight."""
    import dualsr_guard_rules as rules

    return blend_psnr(rec["reuse_terms"], rules.weight(partner, rule))


def _reuse_summary(all_fits: list[Any], rule: DualSRParams) -> list[str]:
    """Reusing the partner's fit against fitting each photo, mean gains."""
    import dualsr_guard_rules as rules

    by_key = {(f.photo, f.seed): f.rec for f in all_fits}
    pairs = [
        (f, by_key[(f.rec["reuse_from"], f.seed)])
        for f in all_fits
        if "reuse_terms" in f.rec and (f.rec["reuse_from"], f.seed) in by_key
    ]
    if not pairs:
        return []
    own = [f.gain for f, _ in pairs]
    reused = [f.rec["reuse"] - f.rec["bicubic"] for f, _ in pairs]
    own_g = [rules.guarded_psnr(f.rec, rule) - f.rec["bicubic"] for f, _ in pairs]
    reused_g = [_guarded_reuse(f.rec, p, rule) - f.rec["bicubic"] for f, p in pairs]
    below = sum(g < -rules.TOLERANCE for g in reused_g)
    return [
        "",
        f"Reuse (each photo upscaled by its partner's fit: the same kernel, other"
        f" content), {len(pairs)} fits. Mean gain over bicubic: fitting each"
        f" {np.mean(own):+.2f} dB, reusing {np.mean(reused):+.2f} dB unguarded;"
        f" guarded (the partner's own weight) {np.mean(own_g):+.2f} against"
        f" {np.mean(reused_g):+.2f} dB, worst reuse {min(reused_g):+.2f} dB,"
        f" {below} more than {rules.TOLERANCE} dB below bicubic.",
    ]


def _gaussian(trace: float, size: int = 13) -> np.ndarray:
    """An isotropic Gaussian of covariance trace ``trace``, x2-centred."""
    z = np.arange(size) - (size // 2 + 0.5)
    g = np.exp(-(z**2) / trace)  # variance trace / 2 per axis
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def calibration() -> str:
    """The signals on every photo without any fit: true kernel, wider ones.

    The cross-scale ratio with the true kernel and with isotropic Gaussians
    1, 1.5 and 2 times its width, and the spectral width against the true
    one: where a rule's thresholds sit relative to a right and a wrong kernel.
    """
    lines = [
        "| photo | true width px² | spectral width | cross-scale, true kernel"
        " | Gaussian of the true width | 1.5x | 2x |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in dataset():
        true, lr = guard.second_moment(p["k"]), p["lr"]
        ratios = [guard.cross_scale(lr, _gaussian(f * true)) for f in (1, 1.5, 2)]
        lines.append(
            f"| {p['name']} | {true:.2f} | {guard.spectral_width(lr):.2f}"
            f" | {guard.cross_scale(lr, p['k']):.3f} | "
            + " | ".join(f"{r:.3f}" for r in ratios)
            + " |"
        )
    return "\n".join(lines)


def _stop_summary(all_fits: list[Any], rule: DualSRParams) -> list[str]:
    """Where the half-way stop fired, what it cost, and the iterations saved."""
    import dualsr_guard_rules as rules

    if guard.stop_iteration(rule) is None:
        return []
    stopped = [f for f in all_fits if rules.stop_snapshot(f.rec, rule) is not None]
    no_stop = rule.with_(guard_stop_at=0.0)
    # What stopping changed against the same rule on the whole fit (dB).
    costs = [
        rules.guarded_psnr(f.rec, rule) - rules.guarded_psnr(f.rec, no_stop)
        for f in stopped
    ]
    run = sum(rules.iterations_run(f.rec, rule) for f in all_fits)
    full = sum(int(f.rec["iters"]) for f in all_fits)
    at = guard.stop_iteration(rule)
    worst = f"{min(costs):+.2f}" if costs else "-"
    return [
        "",
        f"Half-way stop (iteration {at}, {rule.guard_signal} more than"
        f" {rule.guard_stop_margin:g} past {rule.guard_range[0]:g}): fired on"
        f" {len(stopped)} of {len(all_fits)} fits"
        f" ({', '.join(sorted({f.photo for f in stopped})) or 'none'}); against"
        f" the same rule run to the end it changed their output by {worst} dB at"
        f" worst; all fits ran {run / full:.0%} of their iterations.",
    ]


def _summary(all_fits: list[Any], rule: DualSRParams) -> list[str]:
    """Gains with and without the guard, the split, the correlations."""
    import dualsr_guard_rules as rules

    fast = [f.gain for f in all_fits]
    mine = rules.score(all_fits, rule)
    out = [
        f"Fits: {len(fast)} ({len({f.photo for f in all_fits})} photos). Gain over"
        f" bicubic, mean / worst fit: fast {np.mean(fast):+.2f} / {min(fast):+.2f}"
        f" dB; guarded {mine.mean:+.2f} / {mine.worst:+.2f} dB, {mine.below} fits"
        f" more than {rules.TOLERANCE} dB below bicubic (rule: "
        f"{rule.guard_signal} {rule.guard_range[0]:g} -> {rule.guard_range[1]:g},"
        f" floor {rule.guard_floor:g}).",
        *_stop_summary(all_fits, rule),
        "",
        f"Best rule per signal, tuned on {', '.join(TUNE)} and checked on the"
        " other photos (last snapshot, or the snapshot of highest weight):",
        "",
    ]
    tune, check = rules.split(all_fits, TUNE)
    for signal in rules.SIGNALS:
        found = rules.best(tune, signal, rule, ("last", "best")) if tune else None
        if found is None:
            continue
        held = rules.score(check, found.params, found.pick) if check else None
        out.append(
            f"- tuned: {found.describe()}; checked: "
            + (f"mean {held.mean:+.2f}, worst {held.worst:+.2f} dB,"
               f" {held.below}/{held.n} below" if held else "no fits yet")
        )  # fmt: skip
    out += ["", "Correlation (Pearson r) with the fit's gain over bicubic, all fits:"]
    finals = [_final(f.rec)["signals"] for f in all_fits]
    for signal in rules.SIGNALS:
        values = [s.get(signal, math.nan) for s in finals]
        ok = [(v, g) for v, g in zip(values, fast, strict=True) if math.isfinite(v)]
        r = _pearson([v for v, _ in ok], [g for _, g in ok])
        out.append(f"- {signal}: r = {r:+.2f} ({len(ok)} fits)")
    return out


__all__ = [
    "PHOTOS",
    "WIDTHS",
    "blend_psnr",
    "blend_terms",
    "calibration",
    "dataset",
    "hr_crop",
    "reuse_all",
    "run",
    "table",
]
