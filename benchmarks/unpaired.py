"""Do the unpaired methods beat bicubic and an SR net trained on bicubic pairs?

Builds a synthetic "real camera" from scikit-image's bundled photos, with three
disjoint photo sets: clean HR, real LR (degraded, saved as the camera's JPEG
files) and a held-out test set (degraded, with its ground truth). Trains each
method under the same wall-clock budget, then the baselines (the same SR net on
bicubic pairs, for the same time), and reports PSNR/SSIM (Y, shave 2) on the
test set plus each method's mechanism figures.

Two cameras (``--camera 1 2``): 1 = anisotropic Gaussian blur, bicubic x2,
Gaussian noise 8/255, JPEG q75; 2 = motion blur, 2x2 binning, shifted colour
planes, Poisson-Gaussian noise, JPEG q60. Two clean HR sides (``--splits``):
"default" (seven photos, two of them all-over texture) and "smooth" (the five
with smooth areas). Every (camera, split) gets its own folder
``<work>/camera<N>-<split>`` with ``results.json``; ``<work>/report.md`` puts
them side by side. With ``--models-out`` it also writes the demo checkpoints
(camera 1, default split).

    python benchmarks/unpaired.py --budget-minutes 20 --work /tmp/unsr-unpaired \
        --camera 1 2 --splits default smooth --only estimated bicubic-edsr
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import os
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
from engine.train.cameras import ShakyCamera
from engine.train.config import from_plain, to_plain
from engine.train.degrade import SyntheticRealLR, clean_lr, highpass_sigma
from engine.train.recipes import get as get_recipe
from engine.train.recipes.cycle import make_real
from engine.train.recipes.cyclesr import phase_b_snapshot
from engine.train.trainer import RunSpec, load_inference, train_folders

SCALE = 2
#: The clean HR sides: all seven photos, or the five with smooth areas (without
#: grass and immunohistochemistry, whose texture looks like noise everywhere).
HR_SPLITS: dict[str, list[str]] = {
    "default": [
        "astronaut",
        "hubble_deep_field",
        "immunohistochemistry",
        "brick",
        "grass",
        "moon",
        "motorcycle_left",
    ],
    "smooth": ["astronaut", "hubble_deep_field", "brick", "moon", "motorcycle_left"],
}
# Whole photos go to one side only: the HR side, the real-LR side or the test set.
SPLIT = {
    "hr": HR_SPLITS["default"],
    "real_lr": ["chelsea", "retina", "gravel", "clock", "text", "page"],
    "test": ["coffee", "rocket", "camera", "coins"],
}
CAMERAS: dict[str, SyntheticRealLR | ShakyCamera] = {
    "1": SyntheticRealLR(
        scale=SCALE, sigma_range=(0.8, 1.8), noise=8 / 255, jpeg_quality=75, seed=7
    ),
    "2": ShakyCamera(seed=11, scale=SCALE),
}
CAMERA_TEXT = {
    "1": "anisotropic Gaussian blur sigma 0.8-1.8 px, bicubic x2, Gaussian noise "
    "sigma 8/255, JPEG q75",
    "2": "motion blur 3-7 px over a sigma-0.5 lens blur, 2x2 binning, red and blue "
    "planes shifted -/+0.35 px, Poisson-Gaussian noise (variance 0.0015 x + "
    "(2/255)^2), JPEG q60",
}
DEGRADATION = CAMERAS["1"]


def label(camera: str = "1") -> str:
    """What the models were trained on (the split may be changed by ``--hr-photos``)."""
    return (
        f"synthetic camera {camera} ({CAMERA_TEXT[camera]}) applied to scikit-image "
        f"sample photos ({', '.join(SPLIT['real_lr'])}); clean HR side: "
        f"{', '.join(SPLIT['hr'])}"
    )


# name -> (recipe, overrides, baseline it is compared with)
RUNS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "estimated": ("estimated", {}, "bicubic-edsr"),
    "maeda": ("maeda", {}, "bicubic-edsr"),
    "da": ("da", {}, "bicubic-edsr"),
    "cyclesr": ("cyclesr", {}, "bicubic-edsr"),
    "csrgan": ("csrgan", {}, "bicubic-srgan"),
    "bicubic-edsr": ("bicubic", {}, None),
    "bicubic-srgan": ("csrgan", {"bicubic_only": True}, None),
}
DEMO = ("estimated", "maeda", "da", "cyclesr", "csrgan")


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


def save(path: Path, rgb: np.ndarray, **options: Any) -> None:
    """Write an 8-bit image through a temp file and a rename.

    Two benchmark processes (one per core) build the same folders: a reader
    must never see a half-written photo (it would skip it as unreadable).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    img = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    img.save(tmp, Image.registered_extensions()[path.suffix.lower()], **options)
    tmp.replace(path)


def blur_only(camera: str, hr: np.ndarray, index: int) -> np.ndarray:
    """The camera's LR without noise or JPEG (for the kernel probe)."""
    cam = CAMERAS[camera]
    if isinstance(cam, ShakyCamera):
        return cam.blur_only(hr, index)
    return dataclasses.replace(cam, noise=0.0, jpeg_quality=None)(hr, index)


def save_camera_file(path: Path, camera: str, hr: np.ndarray, index: int) -> Path:
    """Write what the camera would: a JPEG file at its quality (or a PNG).

    The pixels equal ``CAMERAS[camera](hr, index)``, whose last step is the same
    JPEG; a file, unlike a PNG of its decoded pixels, keeps the quantisation
    tables a method can read.
    """
    cam = CAMERAS[camera]
    if cam.jpeg_quality is None:
        save(path.with_suffix(".png"), cam(hr, index))
        return path.with_suffix(".png")
    raw = dataclasses.replace(cam, jpeg_quality=None)(hr, index)
    out = path.with_suffix(".jpg")
    save(out, raw, quality=cam.jpeg_quality)
    return out


def build_data(work: Path, camera: str = "1") -> dict[str, Path]:
    dirs = {k: work / k for k in ("hr", "real_lr", "test_hr", "test_lr")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for name in SPLIT["hr"]:
        save(dirs["hr"] / f"{name}.png", load_photo(name))
    for i, name in enumerate(SPLIT["real_lr"]):
        out = save_camera_file(dirs["real_lr"] / name, camera, load_photo(name), i)
        for other in dirs["real_lr"].glob(f"{name}.*"):
            if other != out:  # a file of an older layout (a PNG) would count twice
                other.unlink()
    for i, name in enumerate(SPLIT["test"]):
        hr = load_photo(name)
        save(dirs["test_hr"] / f"{name}.png", hr)
        save(dirs["test_lr"] / f"{name}.png", CAMERAS[camera](hr, 100 + i))
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


def estimated_probes(
    path: Path, tests: list[Any], camera: str, real_dir: Path
) -> dict[str, Any]:
    """The estimated-degradation method's pools against the camera they measure.

    - kernels: the pool's mean kernel applied to the test HR photos, against the
      camera's noiseless LR of them (DN-PSNR, Y, shave 4), beside bicubic's;
    - noise: the high-band probe and the noise-floor detector on LR synthesised
      from the test HR photos with the pools, against the real test LR (a
      detector at 0.5 cannot tell them apart) and against bicubic LR;
    - JPEG: the qualities read from the real-LR files.
    """
    from noise_floor import accuracy, floor

    from engine.train import jpeg
    from engine.train.noise_pool import flat_patches
    from engine.train.pools import downscale, synthesise

    sess = session_from(path)
    sess.load_extra_state(checkpoint.load(path)["train"]["extra"])
    files = sorted(p for p in real_dir.iterdir() if p.is_file())
    settings = tuple(s for s in (jpeg.read_setting(p) for p in files) if s)
    mean_k = sess.kernels.kernels.mean(0) if len(sess.kernels.kernels) else None
    out: dict[str, Any] = {
        "kernels_in_pool": len(sess.kernels.kernels),
        "kernelgan_fits_done": sess.fit.fits if sess.fit is not None else None,
        "noise_patches_in_pool": len(sess.noise.patches),
        "noise_patches_flat_of_looked_at": f"{sess.noise.found} / {sess.noise.seen}",
        "jpeg_qualities_read": sorted({s.quality for s in settings}),
    }
    dn_est, dn_bic, syn, real, bic = [], [], [], [], []
    g = torch.Generator().manual_seed(0)
    for i, (_, lr, hr) in enumerate(tests):
        truth = blur_only(camera, hr, 100 + i)
        b = to_np(clean_lr(to_t(hr), SCALE, "bicubic"))
        dn_bic.append(metrics.psnr(b, truth, shave=4))
        if mean_k is not None:
            est = to_np(downscale(to_t(hr), mean_k[None], SCALE))
            dn_est.append(metrics.psnr(est, truth, shave=4))
        syn.append(
            to_np(synthesise(to_t(hr), sess.kernels, sess.noise, settings, SCALE, g))
        )
        real.append(lr)
        bic.append(b)
    out["DN_PSNR_mean_kernel"] = float(np.mean(dn_est)) if dn_est else None
    out["DN_PSNR_bicubic"] = float(np.mean(dn_bic))
    sig = lambda imgs: float(np.mean([highpass_sigma(a) for a in imgs]))  # noqa: E731
    out["sigma_real_lr"], out["sigma_synthesised_lr"] = sig(real), sig(syn)
    out["sigma_bicubic_lr"] = sig(bic)
    # The noise as the method measures it: flat patches of real and synthesised LR.
    spec = sess.config.noise
    for name, imgs in (("real", real), ("synthesised", syn)):
        cuts = [flat_patches(to_t(a)[0], spec).patches for a in imgs]
        flat = torch.cat(cuts)
        out[f"flat_patches_{name}_lr"] = len(flat)
        out[f"flat_noise_std_{name}_lr"] = float(flat.std()) if len(flat) else None
    gen = np.random.default_rng(0)
    fr, fs, fb = (
        floor(patches(imgs, 32, 1000, gen), 0.5, 0.05) for imgs in (real, syn, bic)
    )
    out["noise_floor_median_real_synthesised_bicubic"] = [
        round(float(f.median()), 2) for f in (fr, fs, fb)
    ]
    # Either side may be the noisier one: the detector takes the better way round.
    out["floor_detector_real_vs_synthesised"] = max(accuracy(fr, fs), accuracy(fs, fr))
    out["floor_detector_real_vs_bicubic"] = max(accuracy(fr, fb), accuracy(fb, fr))
    return out


def mechanism(
    name: str, path: Path, tests: list[Any], camera: str, dirs: dict[str, Path]
) -> dict[str, Any]:
    if name == "estimated":
        return estimated_probes(path, tests, camera, dirs["real_lr"])
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
    budget_s: float | None,
    cmd: str,
    sets: list[str],
    camera: str = "1",
    iterations: int | None = None,
) -> dict[str, Any]:
    recipe, overrides, _ = RUNS[key]
    overrides = with_settings(recipe, overrides, sets)
    out = work / "runs" / f"{key}.unsr.pt"
    spec = RunSpec(
        recipe,
        profile="cpu",
        scale=SCALE,
        budget_s=budget_s,
        iterations=iterations,
        seed=0,
        preview_every_s=1e9,
        checkpoint_every_s=120,
        overrides=overrides,
        info={"trained_on": label(camera), "command": cmd},
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


def evaluate(
    folder: Path, dirs: dict[str, Path], camera: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Scores of every run found in ``folder`` and bicubic, and the probes."""
    tests = test_set(dirs)
    scores: dict[str, Any] = {"bicubic interpolation": score(bicubic_up, tests)}
    mech: dict[str, Any] = {}
    for key in RUNS:
        path = folder / "runs" / f"{key}.unsr.pt"
        if not path.exists():
            continue
        nets, infer, _ = load_inference(path)
        scores[key] = score(lambda x, n=nets, f=infer: f(n, x), tests)
        if key in DEMO:
            mech[key] = mechanism(key, path, tests, camera, dirs)
        print(folder.name, key, scores[key], mech.get(key, ""), flush=True)
    return scores, mech


def write_demos(
    out: Path, folder: Path, results: dict[str, Any], cmd: str, camera: str
) -> None:
    """Copy the runs of ``folder`` to ``out`` without training state, with sidecars."""
    out.mkdir(parents=True, exist_ok=True)
    scores = results["scores"]
    for key in DEMO:
        src = folder / "runs" / f"{key}.unsr.pt"
        if not src.exists():
            continue
        dst = out / f"demo-{key}-x{SCALE}.unsr.pt"
        checkpoint.strip(src, dst)
        tr = results.get("train", {}).get(key, {})
        minutes = float(tr.get("seconds") or 0) / 60
        side = {
            "file": dst.name,
            "method": get_recipe(RUNS[key][0]).label,
            "scale": SCALE,
            "trained_on": label(camera),
            # The command that trained it (an --eval-only pass only copies).
            "command": tr.get("command", cmd),
            "steps": tr.get("steps"),
            "seconds": tr.get("seconds"),
            "test_psnr_ssim": scores.get(key),
            "note": "a demo: trained for minutes on a CPU, on a made-up camera",
            "verdict": verdict(key, scores, minutes),
            "details": "docs/benchmarks.md, section "
            + (
                '"Estimated degradation"'
                if key == "estimated"
                else '"Unpaired methods"'
            ),
        }
        write_json(dst.with_suffix("").with_suffix(".json"), side)


def run_folder(
    args: argparse.Namespace, camera: str, split: str, cmd: str, threads: int
) -> dict[str, Any]:
    """Build one (camera, split) folder, train ``--only`` in it, score all its runs."""
    folder = args.work / f"camera{camera}-{split}"
    folder.mkdir(parents=True, exist_ok=True)
    dirs = build_data(folder, camera)
    results_path = folder / "results.json"
    results: dict[str, Any] = (
        json.loads(results_path.read_text()) if results_path.exists() else {}
    )
    meta = {
        "command": cmd,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="minutes"),
        "threads": threads,
        "budget_minutes": args.budget_minutes,
        "iterations": args.iterations,
        "camera": camera,
        "split_name": split,
        "split": SPLIT,
        "degradation": label(camera),
    }
    if args.eval_only and "meta" in results:
        # Scoring again: the budget, date and command are the training's.
        results["meta"]["scored_by"] = cmd
    else:
        results["meta"] = meta
    if not args.eval_only:
        for key in args.only:
            budget = None if args.iterations else args.budget_minutes * 60
            how = f"{args.iterations} steps" if args.iterations else f"{budget} s"
            print(f"[{folder.name}] training {key} for {how}", flush=True)
            record = train_run(
                key, dirs, folder, budget, cmd, args.set, camera, args.iterations
            )
            record["command"] = cmd
            # Re-read first: a second process (the other core) may share ``work``.
            if results_path.exists():
                results["train"] = json.loads(results_path.read_text()).get("train", {})
            results.setdefault("train", {})[key] = record
            write_json(results_path, results)
    results["scores"], results["mechanism"] = evaluate(folder, dirs, camera)
    results["lpips"] = "unavailable (no AlexNet/VGG backbone weights on disk)"
    if results_path.exists():
        results["train"] = json.loads(results_path.read_text()).get("train", {})
    write_json(results_path, results)
    if args.models_out is not None and (camera, split) == ("1", "default"):
        write_demos(args.models_out, folder, results, cmd, camera)
    return results


def _cell(scores: dict[str, Any], train: dict[str, Any], key: str) -> str:
    if key not in scores:
        return "-"
    s = scores[key]
    steps = train.get(key, {}).get("steps")
    return f"{s['psnr']:.2f} / {s['ssim']:.4f}" + (f" ({steps})" if steps else "")


def report(work: Path, cmd: str) -> str:
    """Every (camera, split) folder under ``work`` side by side, in Markdown.

    Nothing is picked: each column is one camera and one clean HR side, each
    cell PSNR / SSIM (steps), and the margins follow for every method.
    """
    folders = sorted(p.parent for p in work.glob("camera*-*/results.json"))
    data = {f.name: json.loads((f / "results.json").read_text()) for f in folders}
    names = list(data)
    lines = [f"Command: `{cmd}`", ""]
    for name, d in data.items():
        m = d.get("meta", {})
        run = (
            f"{m['iterations']} steps per run"
            if m.get("iterations")
            else f"{m.get('budget_minutes')} min per run"
        )
        lines.append(
            f"- {name}: {m.get('date')}, {run}, {m.get('threads')} thread(s); "
            f"{m.get('degradation')}"
        )
    lines += [
        "",
        "| model (x2): PSNR / SSIM (Y), steps | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    keys = ["bicubic interpolation", *RUNS]
    for key in keys:
        if not any(key in d.get("scores", {}) for d in data.values()):
            continue
        cells = [_cell(d["scores"], d.get("train", {}), key) for d in data.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| margins | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key in RUNS:
        base = RUNS[key][2]
        cells = []
        for d in data.values():
            sc = d.get("scores", {})
            if key not in sc:
                cells.append("-")
                continue
            c = compare(sc[key], sc["bicubic interpolation"], "bicubic")
            if base is not None and base in sc:
                c += "; " + compare(sc[key], sc[base], base)
            cells.append(c)
        if any(c != "-" for c in cells):
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    probes = {n: d.get("mechanism", {}).get("estimated") for n, d in data.items()}
    rows = sorted({k for p in probes.values() if p for k in p})
    if rows:
        lines += ["", "| estimated: probe | " + " | ".join(names) + " |"]
        lines.append("|---|" + "---:|" * len(names))
        for r in rows:
            vals = [_fmt((probes[n] or {}).get(r)) for n in names]
            lines.append(f"| {r} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget-minutes", type=float, default=8.0)
    ap.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="train every run for this many steps instead of a wall-clock budget "
        "(compares what the runs learn per step, whatever the machine's load)",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/unsr-unpaired"))
    ap.add_argument("--models-out", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=list(RUNS))
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument(
        "--camera",
        nargs="+",
        default=["1"],
        choices=sorted(CAMERAS),
        help="which synthetic camera(s): 1 = Gaussian blur, noise, JPEG q75; "
        "2 = motion blur, binning, shifted planes, Poisson-Gaussian noise, JPEG q60",
    )
    ap.add_argument(
        "--splits",
        nargs="+",
        default=["default", "smooth"],
        choices=sorted(HR_SPLITS),
        help="clean HR sides to run on, each reported in its own column",
    )
    ap.add_argument(
        "--hr-photos",
        nargs="*",
        default=None,
        help="a custom clean HR side instead of --splits (scikit-image names)",
    )
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="PATH=JSON",
        help="change the profile of the --only runs, e.g. cycle.real_low_sigma=1",
    )
    args = ap.parse_args()
    splits = {s: HR_SPLITS[s] for s in args.splits}
    if args.hr_photos:
        splits = {"custom": list(args.hr_photos)}
    cmd = "python benchmarks/unpaired.py " + shlex.join(sys.argv[1:])
    threads = devices.configure_threads()
    args.work.mkdir(parents=True, exist_ok=True)
    for camera in args.camera:
        for split, photos in splits.items():
            SPLIT["hr"] = photos
            run_folder(args, camera, split, cmd, threads)
    text = report(args.work, cmd)
    (args.work / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
