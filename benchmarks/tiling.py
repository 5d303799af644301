"""Tiled vs whole-image inference: peak memory and time, and the dtype/layout knobs.

Upscales a 4000x3000 image x2 on the CPU with a small SR network (conv 3->64,
four 64->64 convs with ReLU, conv 64->12, pixel shuffle). Every variant runs in
a fresh child process so its peak resident memory (``ru_maxrss``) is its own;
torch's allocations are invisible to tracemalloc, so this is the honest figure.

Variants: the whole image in one call; ``engine.tiling.upscale_array`` with the
tile from a 512 MiB and from the default 1536 MiB budget; and, for the 512 MiB
tile, fp32 vs bf16 autocast and contiguous vs channels-last.

Run from the repository root::

    python -m benchmarks.tiling            # writes the "## Tiling" section
    python -m benchmarks.tiling --size 1000x750 --no-write   # a quick look

Timings on a shared machine are noisy; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SCALE = 2
# This net keeps ~3 maps of 64 float32 channels alive at input resolution
# (a conv's input and output, ReLU's output): 3 * 64 * 4 B per input pixel,
# i.e. 192 B per output pixel at x2; rounded up for the library's scratch.
BYTES_PER_OUT_PIXEL = 256
#: Tile edge for the interleaved dtype/layout ratios (the 512 MiB budget's).
RATIO_TILE = 720

VARIANTS = {
    "whole": "whole image, fp32",
    "tiled-512": "tiled (512 MiB budget), fp32",
    "tiled-768": "tiled (768 MiB budget, the default), fp32",
    "tiled-1536": "tiled (1536 MiB budget), fp32",
    "tiled-512-cl": "tiled (512 MiB), fp32, channels-last",
    "tiled-512-bf16": "tiled (512 MiB), bf16 autocast",
    "tiled-512-bf16-cl": "tiled (512 MiB), bf16 autocast, channels-last",
}


def _maxrss_mb() -> float:
    # Linux reports KiB, macOS bytes.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)


def _net() -> torch.nn.Module:
    from torch import nn

    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, padding=1), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()]
    layers += [nn.Conv2d(64, 3 * SCALE * SCALE, 3, padding=1), nn.PixelShuffle(SCALE)]
    return nn.Sequential(*layers).eval()


def _ratios_child(tile: int, reps: int) -> dict[str, object]:
    """Time fp32/bf16 x contiguous/channels-last on one tile, interleaved.

    Alternating the four set-ups within one process and taking each one's
    median makes the ratios robust to the load of other jobs on the machine,
    which sequential whole runs are not.
    """
    import numpy as np

    from engine import device

    threads = device.configure_threads()
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, tile, tile), "f"))
    nets = {False: _net(), True: _net().to(memory_format=torch.channels_last)}
    setups = [(bf16, cl) for bf16 in (False, True) for cl in (False, True)]
    times: dict[tuple[bool, bool], list[float]] = {k: [] for k in setups}
    for rep in range(reps + 1):  # the first round warms up and is dropped
        for bf16, cl in setups:
            t = x.contiguous(memory_format=torch.channels_last) if cl else x
            # bf16 itself, whatever the engine's rule says of this CPU.
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else None
            start = time.perf_counter()
            with torch.inference_mode(), ctx or contextlib.nullcontext():
                nets[cl](t)
            if rep:
                times[(bf16, cl)].append(time.perf_counter() - start)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    base = med[(False, False)]
    return {
        "threads": threads,
        "tile": tile,
        "reps": reps,
        "fp32_s": base,
        "fp32_cl": med[(False, True)] / base,
        "bf16": med[(True, False)] / base,
        "bf16_cl": med[(True, True)] / base,
    }


def _child(variant: str, h: int, w: int) -> dict[str, object]:
    import numpy as np

    from engine import device, tiling
    from engine.jobs import run

    threads = device.configure_threads()
    net = _net()
    rgb = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    channels_last = variant.endswith("-cl")
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    bf16 = "bf16" in variant

    def fn(t: torch.Tensor) -> torch.Tensor:
        ctx = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if bf16
            else contextlib.nullcontext()
        )
        with ctx:
            out: torch.Tensor = net(t)
        return out

    # Warm up on a small crop so one-time kernel set-up is not timed.
    run(tiling.upscale_array(fn, rgb[:64, :64], SCALE, tile=64))
    base = _maxrss_mb()
    info: dict[str, object] = {"threads": threads}
    start = time.perf_counter()
    if variant == "whole":
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
            y = fn(x).clamp_(0, 1)[0].permute(1, 2, 0).contiguous().numpy()
        info["tile"] = max(h, w)
    else:
        budget = int(variant.split("-")[1])  # "tiled-<MiB>[-...]"
        tile = tiling.auto_tile(h, w, SCALE, budget, BYTES_PER_OUT_PIXEL)
        events: list[object] = []
        y = run(
            tiling.upscale_array(
                fn, rgb, SCALE, tile=tile, channels_last=channels_last
            ),
            events.append,
        )
        info["tile"] = tile
        info["tiles"] = sum(1 for e in events if type(e).__name__ == "Progress") - 1
        if bf16:
            crop = torch.from_numpy(
                np.ascontiguousarray(rgb[:96, :96].transpose(2, 0, 1))
            )[None]
            info["bf16_error"] = device.bf16_error(net, crop)
    seconds = time.perf_counter() - start
    assert y.shape == (h * SCALE, w * SCALE, 3)
    info.update(seconds=seconds, peak_mb=_maxrss_mb(), base_mb=base)
    return info


def _spawn(variant: str, h: int, w: int, reps: int) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.tiling",
        "--child",
        variant,
        "--size",
        f"{w}x{h}",
        "--reps",
        str(reps),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["killed"])[-1]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _table(results: dict[str, dict[str, object]]) -> list[str]:
    ref = results.get("tiled-512", {}).get("seconds")
    rows = [
        "| variant | tile (px) | time (s) | time vs tiled fp32 | peak RSS (MB) "
        "| RSS before the pass (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in VARIANTS.items():
        r = results.get(key)
        if r is None:
            continue
        if "error" in r:
            rows.append(f"| {label} | - | failed: {r['error']} | - | - | - |")
            continue
        secs = float(str(r["seconds"]))
        ratio = f"{secs / float(str(ref)):.2f}" if ref else "-"
        rows.append(
            f"| {label} | {r['tile']} | {secs:.1f} | {ratio} | "
            f"{float(str(r['peak_mb'])):.0f} | {float(str(r['base_mb'])):.0f} |"
        )
    return rows


def _write_section(text: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    old = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    try:
        start = lines.index("## Tiling")
    except ValueError:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
            len(lines),
        )
        new = "\n".join([*lines[:start], text.rstrip("\n"), *lines[end:]])
    DOC.write_text(new.rstrip("\n") + "\n")


def _ratio(results: dict[str, dict[str, object]], a: str, b: str) -> float | None:
    try:
        return float(str(results[a]["seconds"])) / float(str(results[b]["seconds"]))
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def render(results: dict[str, dict[str, object]], w: int, h: int, cmd: str) -> str:
    """The ``## Tiling`` section for ``results`` (variant -> child's figures)."""
    threads = next((r["threads"] for r in results.values() if "threads" in r), "?")
    notes = []
    tiled = results.get("tiled-512", {}).get("peak_mb")
    whole = results.get("whole", {}).get("peak_mb")
    if tiled is not None:
        met = "met" if float(str(tiled)) < 2048 else "NOT met"
        notes.append(
            f"- Peak memory, tiled at a 512 MiB budget: {float(str(tiled)):.0f} MB "
            f"(target < 2048 MB: {met})"
            + (f"; whole image: {float(str(whole)):.0f} MB." if whole else ".")
        )
    r = results.get("ratios", {})
    if "bf16" in r:
        notes.append(
            f"- Interleaved in one process (steadier than the sequential times "
            f"above): one {r['tile']}x{r['tile']} tile, median of {r['reps']} "
            f"rounds, time relative to fp32 contiguous "
            f"({float(str(r['fp32_s'])):.2f} s): fp32 channels-last "
            f"{float(str(r['fp32_cl'])):.2f}, bf16 {float(str(r['bf16'])):.2f}, "
            f"bf16 channels-last {float(str(r['bf16_cl'])):.2f}."
        )
    # The verdict trusts the interleaved ratio when there is one.
    bf16 = float(str(r["bf16"])) if "bf16" in r else None
    if bf16 is None:
        bf16 = _ratio(results, "tiled-512-bf16", "tiled-512")
    err = results.get("tiled-512-bf16", {}).get("bf16_error")
    if bf16 is not None:
        verdict = "pays" if bf16 < 0.9 else "does not pay"
        notes.append(
            f"- bf16 {verdict} for CPU inference of this net (bf16 / fp32 time "
            f"{bf16:.2f}); `upscale_array` keeps fp32 unless `bf16=True`, and "
            "then checks per network at run time that the output stays within "
            "1/255 = 0.0039 of fp32"
            + (
                f" (here max |bf16 - fp32| = {float(str(err)):.2g} on a 96x96 crop)."
                if err is not None
                else "."
            )
        )
    return "\n".join(
        [
            "## Tiling",
            "",
            f"`{cmd}`, {dt.date.today().isoformat()}, CPU, {threads} threads, "
            f"{w}x{h} RGB x{SCALE}.",
            "",
            "Network: conv 3->64, 4x conv 64->64 + ReLU, conv 64->12, pixel "
            "shuffle (random weights). Each variant runs in a fresh process, one "
            "after another; peak RSS is that process's `ru_maxrss` (includes "
            f"Python, torch, the {w}x{h} input and the {w * SCALE}x{h * SCALE} "
            f"output, which alone is {w * h * SCALE * SCALE * 3 * 4 / 2**20:.0f} MB "
            f"in float32). Tiles from `tiling.auto_tile` with {BYTES_PER_OUT_PIXEL} "
            "bytes per output pixel declared. The machine is shared with other "
            "jobs (load average 6-12 on 2 cores during this run): the times are "
            "noisy, compare ratios.",
            "",
            *_table(results),
            "",
            *notes,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4000x3000", help="W x H of the input")
    # The whole-image pass runs last: it is the one that may exhaust memory.
    order = ["ratios", *(v for v in VARIANTS if v != "whole"), "whole"]
    parser.add_argument("--variants", default=",".join(order))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--reps", type=int, default=5, help="rounds for the ratios")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.child == "ratios":
        print(json.dumps(_ratios_child(RATIO_TILE, args.reps)))
        return
    if args.child:
        print(json.dumps(_child(args.child, h, w)))
        return
    results: dict[str, dict[str, object]] = {}
    for variant in args.variants.split(","):
        results[variant] = _spawn(variant, h, w, args.reps)
        print(variant, results[variant], flush=True)
    rows = _table(results)
    print("\n".join(rows))
    if args.no_write:
        return
    cmd = "python -m benchmarks.tiling" + (
        f" --size {args.size}" if args.size != "4000x3000" else ""
    )
    _write_section(render(results, w, h, cmd))
    print(f"wrote the Tiling section of {DOC}")


if __name__ == "__main__":
    main()
