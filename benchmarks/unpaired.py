"""Do the unpaired methods beat bicubic and an SR net trained on bicubic pairs?

Builds a synthetic "real camera" (anisotropic blur, bicubic x2, Gaussian noise
sigma 8/255, JPEG q75) from scikit-image's bundled photos, with three disjoint
photo sets: clean HR, real LR (degraded) and a held-out test set (degraded,
with its ground truth). Trains each method under the same wall-clock budget,
then the baselines (the same SR net on bicubic pairs, for the same time), and
reports PSNR/SSIM (Y, shave 2) on the test set plus each method's mechanism
figure. Writes ``<work>/results.json`` and ``<work>/report.md``; with
``--models-out`` it also writes the demo checkpoints.

    python benchmarks/unpaired.py --budget-minutes 8 --work /tmp/unsr-unpaired \
        --models-out resources/models
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import device as devices
from engine import metrics
from engine.events import Losses, Message
from engine.nets.translator import draw_noise
from engine.train import checkpoint
from engine.train.config import from_plain, to_plain
from engine.train.degrade import SyntheticRealLR, clean_lr, highpass_sigma
from engine.train.recipes import get as get_recipe
from engine.train.recipes.cycle import make_real
from engine.train.recipes.cyclesr import phase_b_snapshot
from engine.train.trainer import RunSpec, load_inference, train_folders

SCALE = 2
# Whole photos go to one side only: the HR side, the real-LR side or the test set.
SPLIT = {
    "hr": [
        "astronaut",
        "hubble_deep_field",
        "immunohistochemistry",
        "brick",
        "grass",
        "moon",
        "motorcycle_left",
    ],
    "real_lr": ["chelsea", "retina", "gravel", "clock", "text", "page"],
    "test": ["coffee", "rocket", "camera", "coins"],
}
DEGRADATION = SyntheticRealLR(
    scale=SCALE, sigma_range=(0.8, 1.8), noise=8 / 255, jpeg_quality=75, seed=7
)


def label() -> str:
    """What the models were trained on (the split may be changed by ``--hr-photos``)."""
    return (
        "a synthetic camera (anisotropic Gaussian blur sigma 0.8-1.8 px, bicubic x2, "
        "Gaussian noise sigma 8/255, JPEG q75) applied to scikit-image sample photos "
        f"({', '.join(SPLIT['real_lr'])}); clean HR side: {', '.join(SPLIT['hr'])}"
    )


# name -> (recipe, overrides, baseline it is compared with)
RUNS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "maeda": ("maeda", {}, "bicubic-edsr"),
    "da": ("da", {}, "bicubic-edsr"),
    "cyclesr": ("cyclesr", {}, "bicubic-edsr"),
    "csrgan": ("csrgan", {}, "bicubic-srgan"),
    "bicubic-edsr": ("bicubic", {}, None),
    "bicubic-srgan": ("csrgan", {"bicubic_only": True}, None),
}
DEMO = ("maeda", "da", "cyclesr", "csrgan")


def load_photo(name: str) -> np.ndarray:
    import skimage.data as sd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "motorcycle_left":
            img = sd.stereo_motorcycle()[0]
        else:
            img = getattr(sd, name)()
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=2)
    img = img[..., :3].astype(np.float32) / 255
    if max(img.shape[:2]) > 800:  # keep the big ones (retina, hubble) light
        h, w = img.shape[:2]
        f = 800 / max(h, w)
        pil = Image.fromarray((img * 255 + 0.5).astype(np.uint8))
        pil = pil.resize((int(w * f), int(h * f)), Image.Resampling.LANCZOS)
        img = np.asarray(pil, np.float32) / 255
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[: h // 4 * 4, : w // 4 * 4])


def save(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)


def build_data(work: Path) -> dict[str, Path]:
    dirs = {k: work / k for k in ("hr", "real_lr", "test_hr", "test_lr")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for name in SPLIT["hr"]:
        save(dirs["hr"] / f"{name}.png", load_photo(name))
    for i, name in enumerate(SPLIT["real_lr"]):
        save(dirs["real_lr"] / f"{name}.png", DEGRADATION(load_photo(name), i))
    for i, name in enumerate(SPLIT["test"]):
        hr = load_photo(name)
        save(dirs["test_hr"] / f"{name}.png", hr)
        save(dirs["test_lr"] / f"{name}.png", DEGRADATION(hr, 100 + i))
    return dirs


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255


def to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def to_np(t: torch.Tensor) -> np.ndarray:
    out: np.ndarray = t[0].clamp(0, 1).permute(1, 2, 0).numpy()
    return out


def psnr_ssim(
    sr: np.ndarray, hr: np.ndarray, shave: int = SCALE
) -> tuple[float, float]:
    """Y-channel PSNR and SSIM with the engine's (the app's and the CLI's) code."""
    return metrics.psnr(sr, hr, shave=shave), metrics.ssim(sr, hr, shave=shave)


def test_set(dirs: dict[str, Path]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for p in sorted(dirs["test_lr"].iterdir()):
        lr = read(p)
        hr = read(dirs["test_hr"] / p.name)[
            : lr.shape[0] * SCALE, : lr.shape[1] * SCALE
        ]
        out.append((p.stem, lr, hr))
    return out


def score(fn: Any, tests: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, float]:
    ps, ss = [], []
    with torch.no_grad():
        for _, lr, hr in tests:
            p, s = psnr_ssim(to_np(fn(to_t(lr))), hr)
            ps.append(p)
            ss.append(s)
    return {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss))}


def bicubic_up(x: torch.Tensor) -> torch.Tensor:
    from engine.methods.resample import resize

    return to_t(resize(to_np(x).astype(np.float32), SCALE, "bicubic"))


def session_from(path: Path) -> Any:
    """The full training session of a checkpoint (for the mechanism probes)."""
    state = checkpoint.load(path)
    recipe = get_recipe(state["recipe"])
    config = from_plain(recipe.config_type, state["config"])
    g = torch.Generator().manual_seed(0)
    sess = recipe.session(config, SCALE, None, torch.device("cpu"), g)
    for name, net in sess.nets.items():
        net.load_state_dict(state["train"]["nets"][name])
        net.eval()
    return sess


def fresh_session(path: Path) -> Any:
    state = checkpoint.load(path)
    recipe = get_recipe(state["recipe"])
    config = from_plain(recipe.config_type, state["config"])
    torch.manual_seed(0)  # the trainer's seed: the same initial weights
    sess = recipe.session(config, SCALE, None, torch.device("cpu"), torch.Generator())
    for net in sess.nets.values():
        net.eval()
    return sess


def probe_accuracy(fs: torch.Tensor, ft: torch.Tensor) -> float:
    """Held-out accuracy of a logistic probe separating pooled features."""
    x = torch.cat([fs, ft])
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    y = torch.cat([torch.zeros(len(fs)), torch.ones(len(ft))])
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = idx[: len(x) // 2], idx[len(x) // 2 :]
    with torch.enable_grad():
        return _fit_probe(x, y, tr, te)


def _fit_probe(
    x: torch.Tensor, y: torch.Tensor, tr: torch.Tensor, te: torch.Tensor
) -> float:
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            x[tr] @ w + b, y[tr]
        )
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((x[te] @ w + b > 0).float() == y[te]).float().mean())


def patches(
    imgs: list[np.ndarray],
    size: int = 32,
    n: int = 96,
    g: np.random.Generator | None = None,
) -> torch.Tensor:
    """``n`` random ``size``-px crops, taken from ``imgs`` in turn, as a batch."""
    g = np.random.default_rng(0) if g is None else g
    out = []
    for k in range(n):
        a = imgs[k % len(imgs)]
        i = g.integers(0, a.shape[0] - size)
        j = g.integers(0, a.shape[1] - size)
        out.append(to_t(a[i : i + size, j : j + size])[0])
    return torch.stack(out)


def mechanism(name: str, path: Path, tests: list[Any], hr_dir: Path) -> dict[str, Any]:
    lrs = [t[1] for t in tests]
    clean = [to_np(clean_lr(to_t(t[2]), SCALE, "gauss_bicubic")) for t in tests]
    bic = [to_np(clean_lr(to_t(t[2]), SCALE, "bicubic")) for t in tests]
    sig = lambda imgs: float(np.mean([highpass_sigma(a) for a in imgs]))  # noqa: E731
    out: dict[str, Any] = {"sigma_real_lr": sig(lrs)}
    sess = session_from(path)
    n = sess.nets
    with torch.no_grad():
        if name == "maeda":
            out["sigma_clean_lr"] = sig(clean)
            out["sigma_G_XY(real_lr)"] = sig([to_np(n["G_XY"](to_t(a))) for a in lrs])
            yd = to_t(clean[0])
            h, w = yd.shape[2] // 4 * 4, yd.shape[3] // 4 * 4
            yd = yd[:, :, :h, :w]
            spec = sess.config.g_yx
            z1 = draw_noise(spec, yd, torch.Generator().manual_seed(1))
            z2 = draw_noise(spec, yd, torch.Generator().manual_seed(2))
            f1, f2 = n["G_YX"](yd, z1), n["G_YX"](yd, z2)
            out["sigma_G_YX(clean_lr,z)"] = highpass_sigma(f1)
            out["mean_abs_diff_G_YX_z1_vs_z2"] = float((f1 - f2).abs().mean())
            out["U_without_correction"] = score(n["U"], tests)
        elif name == "da":
            sr = sess._sr
            xs, xt = patches(bic), patches(lrs)
            out["sigma_source_lr"] = sig(bic)
            out["sigma_G_t(E(x_s))"] = sig(
                [to_np(n["G_t"](sr.encode(to_t(a)))) for a in bic]
            )
            out["D_f_mean_source"] = float(n["D_f"](sr.encode(xs)).mean())
            out["D_f_mean_target"] = float(n["D_f"](sr.encode(xt)).mean())
            pool = lambda s, x: s.encode(x).mean((2, 3))  # noqa: E731
            out["probe_acc_trained"] = probe_accuracy(pool(sr, xs), pool(sr, xt))
            init = fresh_session(path)._sr
            out["probe_acc_init"] = probe_accuracy(pool(init, xs), pool(init, xt))
        elif name in ("cyclesr", "csrgan"):
            out["sigma_bicubic_lr"] = sig(bic)
            out["sigma_G(x_bic)"] = sig(
                [to_np(make_real(n["G"], to_t(a))) for a in bic]
            )
        if name == "cyclesr":
            # (ii): the joint phase against its own bicubic-only warm start.
            snap = phase_b_snapshot(checkpoint.load(path)["train"]["extra"])
            if snap:
                warm = fresh_session(path).nets["SR"]
                warm.load_state_dict(snap)
                out["SR_after_phase_B"] = score(warm, tests)
    return out


def with_settings(
    recipe: str, overrides: dict[str, Any], sets: list[str]
) -> dict[str, Any]:
    """``overrides`` plus ``--set`` items ``a.b=JSON`` (paths into the cpu profile)."""
    out = copy.deepcopy(overrides)  # RUNS' own dicts stay as they are
    for item in sets:
        path, _, raw = item.partition("=")
        head, *rest = path.split(".")
        if not rest:
            out[head] = json.loads(raw)
            continue
        node = out.setdefault(head, to_plain(get_recipe(recipe).profiles["cpu"])[head])
        for part in rest[:-1]:
            node = node[part]
        node[rest[-1]] = json.loads(raw)
    return out


def train_run(
    key: str,
    dirs: dict[str, Path],
    work: Path,
    budget_s: float,
    cmd: str,
    sets: list[str],
) -> dict[str, Any]:
    recipe, overrides, _ = RUNS[key]
    overrides = with_settings(recipe, overrides, sets)
    out = work / "runs" / f"{key}.unsr.pt"
    spec = RunSpec(
        recipe,
        profile="cpu",
        scale=SCALE,
        budget_s=budget_s,
        seed=0,
        preview_every_s=1e9,
        checkpoint_every_s=120,
        overrides=overrides,
        info={"trained_on": label(), "command": cmd},
    )
    history: list[tuple[int, dict[str, float]]] = []
    messages: list[str] = []

    def on(e: Any) -> None:
        if isinstance(e, Losses):
            history.append((e.step, dict(e.values)))
        elif isinstance(e, Message):
            messages.append(e.text)
            print(f"  [{key}] {e.text}", flush=True)

    start = time.perf_counter()
    job = train_folders(spec, dirs["real_lr"], dirs["hr"], out)
    try:
        while True:
            on(next(job))
    except StopIteration as stop:
        result = stop.value
    seconds = time.perf_counter() - start
    last = history[-1][1] if history else {}
    print(f"  [{key}] {result.steps} steps in {seconds:.0f} s; last {last}", flush=True)
    keep = history[:: max(1, len(history) // 200)]
    return {"steps": result.steps, "seconds": seconds, "last": last, "history": keep}


BASELINE_LABEL = {
    "bicubic-edsr": "the same EDSR-lite trained on bicubic pairs for the same time",
    "bicubic-srgan": "the same SRResNet/SRGAN on bicubic pairs for the same time",
}
# One seed per method cannot resolve smaller margins, so they are called ties
# rather than claimed as a win or a loss.
TIE_DB, TIE_SSIM = 0.05, 0.003


def compare(own: dict[str, float], ref: dict[str, float], name: str) -> str:
    """One clause of a verdict: how ``own`` scores against ``ref``."""
    dp, ds = own["psnr"] - ref["psnr"], own["ssim"] - ref["ssim"]
    # The sign of each margin, with a margin inside its tie band counted as 0.
    signs = {int(np.sign(dp)) * (abs(dp) >= TIE_DB)}
    signs.add(int(np.sign(ds)) * (abs(ds) >= TIE_SSIM))
    if signs == {0}:
        word = "ties"
    elif -1 not in signs:
        word = "beats"
    elif 1 not in signs:
        word = "does not beat"
    else:
        word = "is mixed against"
    # ``or 0.0`` turns a rounded -0.0 into 0.0, which prints as +0.00, not -0.00.
    dp_r, ds_r = round(dp, 2) or 0.0, round(ds, 3) or 0.0
    return f"{word} {name} ({dp_r:+.2f} dB PSNR, {ds_r:+.3f} SSIM)"


def verdict(key: str, scores: dict[str, Any], minutes: float) -> str:
    """The plain sentence the app shows beside a demo checkpoint.

    Computed from the scores, never written by hand, so it cannot drift from
    the figures in ``results.json``.
    """
    own = scores[key]
    clauses = [compare(own, scores["bicubic interpolation"], "bicubic interpolation")]
    base = RUNS[key][2]
    if base is not None and base in scores:
        clauses.append(compare(own, scores[base], BASELINE_LABEL[base]))
    elif base is not None:
        clauses.append(f"its baseline ({base}) was not measured")
    text = " and ".join(clauses)
    return (
        f"After {minutes:.0f} minutes on a 2-core CPU it {text}, "
        "on held-out photos of the same made-up camera."
    )


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` through a temp file, so a reader never sees half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget-minutes", type=float, default=8.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/unsr-unpaired"))
    ap.add_argument("--models-out", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=list(RUNS))
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument(
        "--hr-photos",
        nargs="*",
        default=None,
        help="replace the clean HR side (scikit-image names; use a fresh --work)",
    )
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="PATH=JSON",
        help="change the profile of the --only runs, e.g. cycle.real_low_sigma=1",
    )
    args = ap.parse_args()
    if args.hr_photos:
        SPLIT["hr"] = list(args.hr_photos)
    cmd = "python benchmarks/unpaired.py " + shlex.join(sys.argv[1:])
    threads = devices.configure_threads()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    dirs = build_data(work)
    results_path = work / "results.json"
    results: dict[str, Any] = (
        json.loads(results_path.read_text()) if results_path.exists() else {}
    )
    results["meta"] = {
        "command": cmd,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="minutes"),
        "threads": threads,
        "budget_minutes": args.budget_minutes,
        "split": SPLIT,
        "degradation": label(),
    }
    if not args.eval_only:
        for key in args.only:
            print(f"training {key} for {args.budget_minutes} min", flush=True)
            record = train_run(key, dirs, work, args.budget_minutes * 60, cmd, args.set)
            record["command"] = cmd
            # Re-read first: a second process (the other core) may share ``work``.
            if results_path.exists():
                results["train"] = json.loads(results_path.read_text()).get("train", {})
            results.setdefault("train", {})[key] = record
            write_json(results_path, results)
    tests = test_set(dirs)
    scores: dict[str, Any] = {"bicubic interpolation": score(bicubic_up, tests)}
    mech: dict[str, Any] = {}
    for key in RUNS:
        path = work / "runs" / f"{key}.unsr.pt"
        if not path.exists():
            continue
        nets, infer, _ = load_inference(path)
        scores[key] = score(lambda x, n=nets, f=infer: f(n, x), tests)
        if key in DEMO:
            mech[key] = mechanism(key, path, tests, dirs["hr"])
        print(key, scores[key], mech.get(key, ""), flush=True)
    results["scores"], results["mechanism"] = scores, mech
    results["lpips"] = "unavailable (no AlexNet/VGG backbone weights on disk)"
    if results_path.exists():
        results["train"] = json.loads(results_path.read_text()).get("train", {})
    write_json(results_path, results)
    if args.models_out is not None:
        args.models_out.mkdir(parents=True, exist_ok=True)
        for key in DEMO:
            src = work / "runs" / f"{key}.unsr.pt"
            if not src.exists():
                continue
            dst = args.models_out / f"demo-{key}-x{SCALE}.unsr.pt"
            checkpoint.strip(src, dst)
            tr = results.get("train", {}).get(key, {})
            minutes = float(tr.get("seconds") or 0) / 60
            side = {
                "file": dst.name,
                "method": get_recipe(RUNS[key][0]).label,
                "scale": SCALE,
                "trained_on": label(),
                # The command that trained it (an --eval-only pass only copies).
                "command": tr.get("command", cmd),
                "steps": tr.get("steps"),
                "seconds": tr.get("seconds"),
                "test_psnr_ssim": scores.get(key),
                "note": "a demo: trained for minutes on a CPU, on a made-up camera",
                "verdict": verdict(key, scores, minutes),
                "details": 'docs/benchmarks.md, section "Unpaired methods"',
            }
            write_json(dst.with_suffix("").with_suffix(".json"), side)
    print(json.dumps({"scores": scores, "mechanism": mech}, indent=1))


if __name__ == "__main__":
    main()
