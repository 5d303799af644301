"""Pretrained models on the CPU: a compact x4 and an RRDB x4 net, fp32 vs bf16.

Random-weight networks of realistic size (Real-ESRGAN's SRVGG compact net,
64 features and 16 convs; ESRGAN's RRDBNet, 23 blocks of 64 features, as in
RealESRGAN_x4plus) upscale a 1000x1000 image x4 through the models library's
own path (the pretrained adapter and ``engine.pipeline.infer``: budgeted tiles, padding,
feathered seams). Each (model, precision) runs in a fresh child process, so
its peak resident memory (``ru_maxrss``) is its own; the child also reports
its resident memory before the upscale, so the difference is the pass itself.
bf16 is compared with fp32 on the centre of the output, and the library's own
bf16 check (a 64 px crop, within 1/255 of fp32 or fp32 is kept) is reported.

Run from the repository root::

    python -m benchmarks.models                 # writes "## Pretrained models"
    python -m benchmarks.models --size 256 --no-write   # a quick look

On a shared machine the seconds are noisy; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Pretrained models"
CROP = 128


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)


def _make(kind: str, path: Path) -> None:
    import torch

    if kind == "compact":
        from spandrel.architectures.Compact import Compact

        net: torch.nn.Module = Compact(num_feat=64, num_conv=16, upscale=4)
    else:
        from spandrel.architectures.ESRGAN import ESRGAN

        net = ESRGAN(num_filters=64, num_blocks=23, scale=4)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # variance-preserving weights: outputs stay in range
        for p in net.parameters():
            fan = max(1, p[0].numel())
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5 / fan**0.5)
        for m in net.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.fill_(0.1)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


def _image(size: int):  # type: ignore[no-untyped-def]
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack(
        [xx / size, yy / size, 0.5 + 0.4 * np.sin(xx / 7 + yy / 11)], axis=2
    )
    noise = np.random.default_rng(0).normal(0, 0.03, base.shape)
    return np.clip(base + noise, 0, 1).astype(np.float32)


def _child(model: str, precision: str, size: int, crop_out: str) -> dict[str, object]:
    import numpy as np
    import torch

    from engine import device, jobs, models, pipeline, tiling
    from engine.events import Message
    from engine.methods import RunContext
    from engine.methods.pretrained import PretrainedParams, adapter
    from engine.models import inference

    threads = device.configure_threads()
    loaded = models.load(model)
    img = _image(size)
    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    check = inference.bf16_ok(loaded, x, torch.device("cpu"))
    base = _rss_mb()
    said: list[Message] = []
    start = time.perf_counter()
    ctx = RunContext(device="cpu", memory_mb=1536)
    params = PretrainedParams(precision=precision)  # type: ignore[arg-type]

    def job():  # type: ignore[no-untyped-def]
        up = yield from adapter(loaded, img, params, ctx)
        return (yield from pipeline.infer(up, img, up.scale, ctx))

    out = jobs.run(job(), lambda e: said.append(e) if isinstance(e, Message) else None)
    needs = inference.needs(loaded.info)
    tile = tiling.auto_tile(
        size, size, loaded.info.scale, ctx.memory_mb, needs.bytes_per_out_pixel
    )
    seconds = time.perf_counter() - start
    h, w = out.shape[:2]
    c0, c1 = h // 2 - CROP // 2, w // 2 - CROP // 2
    np.save(crop_out, out[c0 : c0 + CROP, c1 : c1 + CROP])
    return {
        "seconds": seconds,
        "peak_mb": _maxrss_mb(),
        "base_mb": base,
        "tile": None if needs.whole_image or tile >= size else tile,
        "bf16_check": check,
        "threads": threads,
        "params_m": loaded.info.parameters / 1e6,
    }


def _run_child(model: Path, precision: str, size: int, crop: Path) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.models",
        "--child",
        str(model),
        precision,
        str(size),
        str(crop),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1000, help="input edge in pixels")
    ap.add_argument("--rrdb-size", type=int, default=None, help="RRDB input edge")
    ap.add_argument("--models", default="compact,rrdb")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        model, precision, size, crop = args.child
        print(json.dumps(_child(model, precision, int(size), crop)))
        return

    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models.split(","):
            path = Path(tmp) / f"{kind}-x4.safetensors"
            _make(kind, path)
            res = {}
            size = args.rrdb_size if kind == "rrdb" and args.rrdb_size else args.size
            for precision in ("fp32", "bf16"):
                crop = Path(tmp) / f"{kind}-{precision}.npy"
                res[precision] = _run_child(path, precision, size, crop)
                res[precision]["size"] = size
                res[precision]["crop"] = np.load(crop)
                print(
                    kind,
                    precision,
                    {k: v for k, v in res[precision].items() if k != "crop"},
                    flush=True,
                )
            diff = float(np.abs(res["fp32"]["crop"] - res["bf16"]["crop"]).max())
            rows.append((kind, res, diff))

    label = {
        "compact": "Compact SRVGG x4 (64 feat, 16 conv)",
        "rrdb": "ESRGAN RRDB x4 (23 blocks, 64 feat)",
    }
    command = "python -m benchmarks.models" + (
        f" --rrdb-size {args.rrdb_size}" if args.rrdb_size else ""
    )
    lines = [
        SECTION,
        "",
        f"Command: `{command}` ({dt.date.today().isoformat()}, x4, CPU, "
        f"{rows[0][1]['fp32']['threads']} threads, default 1536 MiB tile budget; "
        "random-weight networks of the real sizes; each run in a fresh process).",
        "",
        "| model | input | params | tile | fp32 s | bf16 s | bf16 speed-up "
        "| fp32 peak MB "
        "(pass) | bf16 peak MB (pass) | max abs bf16-fp32 | library bf16 check |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, res, diff in rows:
        f, b = res["fp32"], res["bf16"]
        lines.append(
            f"| {label.get(kind, kind)} | {f['size']}x{f['size']} "
            f"| {f['params_m']:.2f} M | {f['tile'] or 'whole'} "
            f"| {f['seconds']:.1f} | {b['seconds']:.1f} "
            f"| {f['seconds'] / b['seconds']:.2f}x "
            f"| {f['peak_mb']:.0f} ({f['peak_mb'] - f['base_mb']:.0f}) "
            f"| {b['peak_mb']:.0f} ({b['peak_mb'] - b['base_mb']:.0f}) "
            f"| {diff * 255:.2f}/255 | {'bf16' if b['bf16_check'] else 'stays fp32'} |"
        )
    lines += [
        "",
        "Peak MB is the child's whole resident high-water mark (torch, the model, "
        "the float32 output); in brackets, what the upscale added. "
        "'library bf16 check' is what `precision=\"auto\"` picks for this model "
        "(bf16 only when a 64 px crop stays within 1/255 of fp32). Random weights "
        "are harsher on bf16 than trained ones, so the check matters more for them.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.no_write:
        return
    DOC.parent.mkdir(exist_ok=True)
    old = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    if SECTION in old:
        head, _, rest = old.partition(SECTION)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip() + "\n\n" + text
    DOC.write_text(new)


if __name__ == "__main__":
    main()
