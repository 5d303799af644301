"""Can any patch statistic tell the benchmark's real-LR photos from its clean LR?

The unpaired methods need a discriminator that sees the camera's noise. This
measures the best a hand-made noise detector can do on the data of
``benchmarks/unpaired.py``: per 32- or 64-px patch, the log of a low quantile
of the local energy of the high band (the noise floor, which in flat regions is
the noise). A threshold fitted on half the patches is scored on the other half.
It also prints each photo's median floor, which shows which photos overlap.
It reads the ``real_lr`` and ``hr`` folders that ``benchmarks/unpaired.py``
writes into its ``--work`` folder:

    python benchmarks/noise_floor.py --work /tmp/unsr-unpaired/camera1-default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The benchmark's own photo reading and patch sampling (this folder is on the path).
from unpaired import patches, read, to_np, to_t

from engine.nets.discriminators import HighPass
from engine.train.degrade import clean_lr


def floor(x: torch.Tensor, sigma: float, q: float) -> torch.Tensor:
    """log of the ``q`` quantile of the 5x5 mean energy of the luma's high band."""
    high = HighPass(sigma)(x.mean(1, keepdim=True))
    energy = F.avg_pool2d(high**2, 5, 1).flatten(1)
    return torch.log(torch.quantile(energy, q, dim=1) + 1e-8)


def accuracy(real: torch.Tensor, clean: torch.Tensor) -> float:
    """Held-out accuracy of the best threshold (real above it) fitted on half."""
    half = len(real) // 2
    fit_r, fit_c = real[:half], clean[:half]

    def balanced(t: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> float:
        return 0.5 * float((r > t).float().mean() + (c <= t).float().mean())

    best = max(torch.cat([fit_r, fit_c]), key=lambda t: balanced(t, fit_r, fit_c))
    return balanced(best, real[half:], clean[half:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/unsr-unpaired"))
    ap.add_argument("--patches", type=int, default=2000)
    args = ap.parse_args()
    # The real side is the camera's JPEG files (PNGs in older work folders).
    real_paths = sorted(
        p for p in (args.work / "real_lr").iterdir() if p.suffix in (".png", ".jpg")
    )
    hr_paths = sorted((args.work / "hr").glob("*.png"))
    real = [read(p) for p in real_paths]
    clean = [to_np(clean_lr(to_t(read(p)), 2, "gauss_bicubic")) for p in hr_paths]
    print("| patch | high band sigma | quantile | held-out accuracy |")
    print("|---:|---:|---:|---:|")
    for size in (32, 64):
        g = np.random.default_rng(0)
        xr = patches(real, size, args.patches, g)
        xc = patches(clean, size, args.patches, g)
        for sigma in (0.5, 1.0):
            for q in (0.05, 0.25, 0.5):
                acc = accuracy(floor(xr, sigma, q), floor(xc, sigma, q))
                print(f"| {size} | {sigma} | {q} | {acc:.3f} |")
    print("\n| side | photo | median floor (64 px, sigma 0.5, q 0.05) | 10-90 % |")
    print("|---|---|---:|---|")
    g = np.random.default_rng(1)
    sides = (("real LR", real, real_paths), ("clean LR", clean, hr_paths))
    for side, imgs, paths in sides:
        for img, path in zip(imgs, paths, strict=True):
            f = floor(patches([img], 64, 200, g), 0.5, 0.05)
            lo, mid, hi = (float(f.quantile(q)) for q in (0.1, 0.5, 0.9))
            print(f"| {side} | {path.stem} | {mid:.2f} | {lo:.2f} .. {hi:.2f} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
