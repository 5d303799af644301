"""Guard rules scored offline, from the fits the guard benchmark recorded.

Every fit of ``benchmarks/dualsr.py --guard`` keeps, at each snapshot, the
guard's signals and the three sums that give the PSNR of any blend of that
snapshot with bicubic (``dualsr_guard.blend_terms``). A rule that blends the
output toward bicubic by a weight read from one signal
(:func:`engine.methods.dualsr.guard.blend_weight`) therefore scores exactly
without fitting again, and so does one that keeps the snapshot where the
weight is highest instead of the last.

Rules are tuned on one half of the photos (the first of each pair, one per
kernel width) and checked on the other (their partners, same widths, other
content).
"""

from __future__ import annotations

import itertools
import math
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.methods.dualsr import DualSRParams, guard
from engine.methods.dualsr.params import GuardSignal

#: Signals a rule may read (guard.signals' names).
SIGNALS = typing.get_args(GuardSignal)

#: A fit "clearly worse than bicubic" loses more than this (dB).
TOLERANCE = 0.1


@dataclass(frozen=True)
class Fit:
    """One recorded fit: its photo, seed and record."""

    photo: str
    seed: str
    rec: dict[str, Any]

    @property
    def gain(self) -> float:
        return float(self.rec["fast"] - self.rec["bicubic"])


def fits(results: dict[str, Any]) -> list[Fit]:
    """Every recorded fit, photo by photo."""
    return [
        Fit(name, key, rec)
        for name, entry in results.items()
        for key, rec in sorted(entry.items())
        if key.startswith("seed")
    ]


def _snaps(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [rec["snapshots"][k] for k in sorted(rec["snapshots"], key=int)]


def _blend_psnr(terms: Sequence[float], a: float) -> float:
    mse = terms[0] + 2 * a * terms[1] + a * a * terms[2]
    return 10 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


def weight(rec: dict[str, Any], params: DualSRParams) -> float:
    """The blend weight the rule gives the fit's output (the engine's pick)."""
    snaps = _snaps(rec)
    stop = stop_snapshot(rec, params)
    return guard.blend_weight(snaps[-1 if stop is None else stop]["signals"], params)


def guarded_psnr(
    rec: dict[str, Any], params: DualSRParams, pick: str = "last"
) -> float:
    """The PSNR the rule in ``params`` gives on one recorded fit.

    ``pick="last"`` blends the final snapshot (what the engine does);
    ``"best"`` keeps the snapshot with the highest weight (the latest of ties).
    The blend is scored on the snapshot's whole-image pass, which differs from
    the tiled pass's PSNR by a few hundredths of a dB; the difference is added
    back so that weight 1 gives exactly the recorded figure.
    """
    snaps = _snaps(rec)
    weights = [guard.blend_weight(s["signals"], params) for s in snaps]
    i = len(snaps) - 1
    if pick == "best":
        i = max(range(len(snaps)), key=lambda j: (weights[j], j))
    stop = stop_snapshot(rec, params)
    if stop is not None:
        i = stop  # the fit ended there: that snapshot is the output
    tiled_offset = rec["fast"] - snaps[-1]["psnr"]
    return _blend_psnr(snaps[i]["terms"], weights[i]) + tiled_offset


def stop_snapshot(rec: dict[str, Any], params: DualSRParams) -> int | None:
    """The index of the snapshot where the rule's half-way stop ends the fit.

    None when the rule has no stop, the fit has no snapshot at the stop's
    iteration, or the signal there is not far enough past the floor.
    """
    it = guard.stop_iteration(params.with_(iters=int(rec["iters"])))
    keys = _keys(rec)
    if it is None or str(it) not in keys:
        return None
    i = keys.index(str(it))
    value = _snaps(rec)[i]["signals"].get(params.guard_signal, math.nan)
    return i if guard.should_stop(value, params) else None


def iterations_run(rec: dict[str, Any], params: DualSRParams) -> int:
    """How many iterations the fit runs under ``params``' stop."""
    stop = stop_snapshot(rec, params)
    return int(rec["iters"]) if stop is None else int(_keys(rec)[stop])


def _keys(rec: dict[str, Any]) -> list[str]:
    return sorted(rec["snapshots"], key=int)


@dataclass(frozen=True)
class Score:
    """A rule's result on a set of fits."""

    params: DualSRParams
    pick: str
    worst: float
    mean: float
    below: int
    n: int

    def key(self) -> tuple[float, ...]:
        """Fewer fits clearly below bicubic first, then the higher mean gain."""
        return (self.below, -self.mean, -self.worst)

    def describe(self) -> str:
        p = self.params
        lo, hi = p.guard_range
        return (
            f"{p.guard_signal} {lo:.3g} -> {hi:.3g}, floor {p.guard_floor:g}, "
            f"{self.pick} snapshot: mean gain {self.mean:+.2f} dB, worst "
            f"{self.worst:+.2f} dB, {self.below}/{self.n} fits more than "
            f"{TOLERANCE} dB below bicubic"
        )


def score(chosen: Iterable[Fit], params: DualSRParams, pick: str = "last") -> Score:
    """Mean and worst gain over bicubic of ``params``' rule on ``chosen``."""
    gains = [guarded_psnr(f.rec, params, pick) - f.rec["bicubic"] for f in chosen]
    below = sum(g < -TOLERANCE for g in gains)
    return Score(params, pick, min(gains), float(np.mean(gains)), below, len(gains))


def candidates(
    chosen: Sequence[Fit], signal: str, base: DualSRParams
) -> list[DualSRParams]:
    """Rules on ``signal``: ranges between its observed values, three floors."""
    values = sorted(
        s["signals"][signal]
        for f in chosen
        for s in _snaps(f.rec)
        if math.isfinite(s["signals"].get(signal, math.nan))
    )
    if not values:
        return []
    cuts = sorted(set(np.quantile(values, np.linspace(0, 1, 21)).round(4)))
    out = []
    for a, b in itertools.permutations(cuts, 2):
        for floor in (0.0, 0.25, 0.5):
            out.append(
                base.with_(
                    guard="blend",
                    guard_signal=signal,
                    guard_range=(float(a), float(b)),
                    guard_floor=floor,
                )
            )
    return out


def best(
    chosen: Sequence[Fit], signal: str, base: DualSRParams, picks: Sequence[str]
) -> Score | None:
    """The best rule on ``signal`` for ``chosen`` (see :meth:`Score.key`)."""
    scored = [
        score(chosen, p, pick)
        for p in candidates(chosen, signal, base)
        for pick in picks
    ]
    return min(scored, key=Score.key) if scored else None


def split(all_fits: Sequence[Fit], tune: Iterable[str]) -> tuple[list[Fit], list[Fit]]:
    """The fits of the photos in ``tune``, and the others."""
    names = set(tune)
    return (
        [f for f in all_fits if f.photo in names],
        [f for f in all_fits if f.photo not in names],
    )


def backfill(results: dict[str, Any], fits_dir: Path, photos: dict[str, Any]) -> int:
    """Signals of snapshots recorded before they were kept; returns how many.

    The kernel of each snapshot was recorded; the losses come from the fit's
    saved log (the last ten rows up to the snapshot, as at record time).
    """
    import dualsr_guard

    added = 0
    for f in fits(results):
        log = _log(fits_dir / f"{f.photo}_{f.seed}" / "losses.csv")
        lr = photos[f.photo]["lr"]
        for it, snap in f.rec["snapshots"].items():
            if "signals" in snap and "spectral_m2" in snap["signals"]:
                continue
            recent = [r for r in log if r["step"] <= int(it)][-10:]
            kernel = np.asarray(snap["kernel"], np.float32)
            snap["signals"] = dualsr_guard.snapshot_signals(lr, kernel, recent)
            added += 1
        last = _snaps(f.rec)[-1]
        if "spectral_m2" not in f.rec["signals"]:
            f.rec["signals"] = {
                **f.rec["signals"],
                **last["signals"],
                "cross_scale_bicubic": f.rec["signals"]["cross_scale_bicubic"],
            }
    return added


def _log(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    rows = path.read_text().splitlines()
    names = rows[0].split(",")
    return [dict(zip(names, map(float, r.split(",")), strict=True)) for r in rows[1:]]


__all__ = [
    "SIGNALS",
    "TOLERANCE",
    "Fit",
    "Score",
    "backfill",
    "best",
    "candidates",
    "fits",
    "guarded_psnr",
    "iterations_run",
    "score",
    "split",
    "stop_snapshot",
    "weight",
]
