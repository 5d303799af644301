"""DualSR x4 (bicubic x2, then one x2 fit) against bicubic, on DIV2KRK-style x4 photos.

The held-out photos of the guard benchmark, each blurred by its own random x4
kernel (DIV2KRK's x4 recipe: an anisotropic Gaussian with variances in
[0.175 s, 2.5 s] = [0.7, 10] HR px^2, random angle, 40 % tap noise) and
subsampled x4. Scores: Y, shave 4. Run through ``benchmarks/dualsr.py --x4``.

The engine made x4 as two x2 fits before; ``dualsr_x4.json`` and
``dualsr_x4_passes.json`` hold those runs (with each pass's network measured
against bicubic in place of the other), which the table still shows.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine import jobs, metrics, pipeline
from engine.events import Message, Progress
from engine.methods.base import RunContext
from engine.methods.dualsr import DUALSR, DualSRParams
from engine.methods.resample import resize

SCALE = 4
#: Taps of the x4 kernel; odd, centred half a pixel off so that LR pixel i sits
#: at HR 4i + 1.5 (where bicubic x0.25 puts it).
SIZE = 23


def x4_kernel(rng: np.random.Generator, noise: float = 0.4) -> np.ndarray:
    """DIV2KRK's x4 kernel: variances U[0.7, 10] px^2, any angle, tap noise."""
    lam = rng.uniform(0.175 * SCALE, 2.5 * SCALE, size=2)
    theta = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    inv = np.linalg.inv(rot @ np.diag(lam) @ rot.T)
    z = np.arange(SIZE) - (SIZE // 2 + 0.5)
    yy, xx = np.meshgrid(z, z, indexing="ij")
    pts = np.stack([yy, xx], axis=-1)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    k *= 1 + rng.uniform(-noise, noise, size=k.shape)
    return (k / k.sum()).astype(np.float32)


def degrade_x4(hr: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Correlate with ``k`` (reflect padding) and keep every fourth pixel."""
    pad = 10  # the kernel's centre, 11.5, lands on HR 4i + 1.5
    x = torch.from_numpy(hr).permute(2, 0, 1)[:, None]
    x = F.pad(x, (pad, SIZE - 1 - pad, pad, SIZE - 1 - pad), mode="reflect")
    y = F.conv2d(x, torch.from_numpy(k)[None, None])[:, :, ::SCALE, ::SCALE]
    return y[:, 0].permute(1, 2, 0).numpy().clip(0, 1).astype(np.float32)


def dataset(names: list[str], seed: int = 0) -> list[dict[str, Any]]:
    import dualsr_guard

    rng = np.random.default_rng(seed)
    out = []
    for name, loader in dualsr_guard.PHOTOS:
        k = x4_kernel(rng)  # drawn for every photo, so a subset keeps its kernels
        if names and name not in names:
            continue
        hr = dualsr_guard.hr_crop(loader).astype(np.float32)
        out.append({"name": name, "hr": hr, "lr": degrade_x4(hr, k)})
    return out


class _Stages:
    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.guard: list[str] = []

    def on_event(self, e: object) -> None:
        if isinstance(e, Message) and e.text.startswith("guard"):
            self.guard.append(e.text)
        if isinstance(e, Progress):
            now = time.perf_counter()
            self.first.setdefault(e.stage, now)
            self.last[e.stage] = now
            if e.stage.startswith("fitting") and e.step and e.step % 200 == 0:
                print(f"  {e.stage} {e.step}/{e.total}", file=sys.stderr, flush=True)

    def seconds(self, prefix: str) -> float:
        return sum(
            self.last[s] - self.first[s] for s in self.first if s.startswith(prefix)
        )


#: How x4 is made: as the engine makes it (MATLAB bicubic x2, then one x2 fit,
#: applied tile by tile), or as first measured here before the engine took it
#: (Pillow's bicubic x2 of the whole photo, then the engine's x2).
RECIPES = ("engine", "bicubic-first")


def run(
    params: DualSRParams,
    store: Path,
    names: list[str],
    seed: int,
    command: str,
    recipe: str = "engine",
) -> None:
    """Fit x4 on each photo (resumable) and record PSNR, SSIM and times.

    Processes fitting different photos may share ``store`` (each result is
    written under the guard benchmark's lock, re-reading the file first).
    """
    import dualsr_guard

    for photo in dataset(names):
        name, hr, lr = photo["name"], photo["hr"], photo["lr"]
        key = f"seed{seed}"
        done = json.loads(store.read_text()) if store.exists() else {}
        if key in done.get(name, {}):
            continue
        print(f"{name} x4 seed {seed}", file=sys.stderr, flush=True)
        bic = resize(lr, SCALE, "bicubic")
        stages = _Stages()
        t0 = time.perf_counter()
        ctx = RunContext(device="cpu", seed=seed)
        if recipe == "bicubic-first":
            mid = resize(lr, 2, "bicubic")
            job = pipeline.upscale(mid, DUALSR, 2, params, ctx)
        else:
            job = pipeline.upscale(lr, DUALSR, SCALE, params, ctx)
        done = jobs.run(job, stages.on_event)
        sr = done.rgb
        rec = {
            "bicubic": metrics.psnr(bic, hr, shave=SCALE),
            "bicubic_ssim": metrics.ssim(bic, hr, shave=SCALE),
            "dualsr": metrics.psnr(sr, hr, shave=SCALE),
            "dualsr_ssim": metrics.ssim(sr, hr, shave=SCALE),
            "seconds": time.perf_counter() - t0,
            "fit_s": stages.seconds("fitting"),
            "iters": params.iters,
            "guard": stages.guard,
            "recipe": recipe,
            "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": command,
        }

        def put(res: dict[str, Any], n: str = name, r: Any = rec, k: str = key) -> None:
            res.setdefault(n, {})[k] = r

        dualsr_guard.update_store(store, put)
        print(name, f"bicubic {rec['bicubic']:.2f} x4 {rec['dualsr']:.2f}", flush=True)


def _mean_of(recs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in recs if key in r]
    return f"{np.mean(values):.2f} ({len(values)})" if values else "-"


def table(store: Path) -> str:
    """The x4 row: per photo, the mean over seeds with half their range."""
    import dualsr_guard

    results = json.loads(store.read_text())
    # Runs of the earlier two-fit x4 also measured each pass against bicubic.
    split = any("pass1_then_bicubic" in r for e in results.values() for r in e.values())
    head = "| photo | bicubic x4 PSNR / SSIM | DualSR x4 PSNR (seeds) | SSIM | gain dB"
    head += " | s per photo (fits) |"
    if split:
        head += " pass 1 then bicubic | bicubic then pass 2 |"
    lines = [head, "|---" * head.count(" | ") + "|---|"]
    gains, worst = [], []
    for name, entry in results.items():
        recs = [entry[k] for k in sorted(entry)]
        first = recs[0]
        psnr = [r["dualsr"] for r in recs]
        gain = float(np.mean(psnr)) - first["bicubic"]
        gains.append(gain)
        worst.append(min(psnr) - first["bicubic"])
        secs = np.mean([r["seconds"] for r in recs])
        fits = np.mean([r["fit_s"] for r in recs])
        row = (
            f"| {name} | {first['bicubic']:.2f} / {first['bicubic_ssim']:.4f}"
            f" | {dualsr_guard._spread(psnr)}"
            f" | {np.mean([r['dualsr_ssim'] for r in recs]):.4f}"
            f" | {gain:+.2f} | {secs:.0f} ({fits:.0f}) |"
        )
        if split:
            row += f" {_mean_of(recs, 'pass1_then_bicubic')}"
            row += f" | {_mean_of(recs, 'bicubic_then_pass2')} |"
        lines.append(row)
    if gains:
        lines += [
            "",
            f"Mean gain over bicubic: {np.mean(gains):+.2f} dB over {len(gains)}"
            f" photos; the worst single fit {min(worst):+.2f} dB.",
        ]
    return "\n".join(lines)


__all__ = ["degrade_x4", "run", "table", "x4_kernel"]
