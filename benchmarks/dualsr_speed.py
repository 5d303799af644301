"""Seconds per DualSR iteration for variants of the fit, measured side by side.

Variants run interleaved in rounds (so a busy machine slows them alike) and the
median iteration time of each is reported relative to the paper profile with the
literal deep G_DN.

    python benchmarks/dualsr_speed.py --iters 12 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import device, jobs
from engine.events import Progress
from engine.methods.base import RunContext
from engine.methods.dualsr import FAST, PAPER
from engine.methods.dualsr.fit import fit_x2

VARIANTS = {
    "paper, deep G_DN, contiguous": PAPER.with_(deep_dn=True, channels_last=False),
    "paper, composed G_DN, contiguous": PAPER.with_(channels_last=False),
    "paper (composed, channels_last)": PAPER,
    "+ bf16": PAPER.with_(bf16=True),
    "+ bf16, width 32": PAPER.with_(bf16=True, up_width=32),
    "+ bf16, width 32, crop 48": PAPER.with_(bf16=True, up_width=32, lr_crop=48),
    "fast, fp32 (the fast profile before bf16)": FAST.with_(bf16=False),
    "fast profile (bf16 autocast where it pays: AMX)": FAST,
    "fast, bf16 forced (what AVX512-BF16 without AMX would run)": FAST,
    "fast, G_UP body at LR, width 32": FAST.with_(up_at_lr=True),
    "fast, G_UP body at LR, width 48": FAST.with_(up_at_lr=True, up_width=48),
    "fast, G_UP body at LR, width 64": FAST.with_(up_at_lr=True, up_width=64),
    "fast, G_UP body at LR, width 64, depth 6": FAST.with_(
        up_at_lr=True, up_width=64, up_depth=6
    ),
    "fast, G_UP body at LR, width 48, depth 10": FAST.with_(
        up_at_lr=True, up_width=48, up_depth=10
    ),
    "fast, LR crop 40": FAST.with_(lr_crop=40),
    "fast, batch 1": FAST.with_(batch=1),
}

#: Variants timed with bf16 autocast whatever the CPU (the engine's rule,
#: :func:`engine.device.cpu_bf16_pays`, was measured with it).
FORCED_BF16 = {"fast, bf16 forced (what AVX512-BF16 without AMX would run)"}


def seconds_per_iter(params: object, img: np.ndarray, iters: int) -> float:
    """Mean seconds per iteration after the first two.

    A fit reports Progress twice per iteration (between the G and D steps too),
    so iterations are counted by the step the events carry.
    """
    stamps: list[tuple[int, float]] = []

    def on(e: object) -> None:
        if (
            isinstance(e, Progress)
            and e.stage == "fitting"
            and (not stamps or e.step > stamps[-1][0])
        ):
            stamps.append((e.step, time.perf_counter()))

    # Neither stopping rule may end a timing run early.
    p = params.with_(iters=iters, early_stop=False, guard_stop_at=0.0)  # type: ignore[attr-defined]
    jobs.run(fit_x2(img, p, RunContext(device="cpu")), on)
    (s0, t0), (s1, t1) = stamps[2], stamps[-1]
    return (t1 - t0) / (s1 - s0)


def forced_bf16(forced: bool) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast whatever the CPU while in the context, when ``forced``."""
    if not forced:
        return contextlib.nullcontext()
    return mock.patch.object(device, "cpu_bf16_pays", lambda: True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    device.configure_threads(args.threads)  # the engine keeps a count set so
    img = data.astronaut().astype(np.float32)[:200, :200] / 255.0
    names = [n for n in VARIANTS if not args.only or any(o in n for o in args.only)]
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for n in names:
            with forced_bf16(n in FORCED_BF16):
                times[n].append(seconds_per_iter(VARIANTS[n], img, args.iters))
    base = np.median(times[names[0]])
    print("| variant | s / iteration | relative |")
    print("|---|---|---|")
    for n in names:
        t = float(np.median(times[n]))
        print(f"| {n} | {t:.3f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
