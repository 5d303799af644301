"""Do the estimated method's kernel estimators find a kernel they were not told?

Two estimators, run exactly as the ``estimated`` recipe runs them:
KernelGAN-style fits of DualSR's G_DN with a small critic (the paper
profile's) and the cross-scale spectrum fit (the cpu profile's). Each sees only
an LR image made from a synthetic scale-invariant scene (a Gaussian field with
a 1/f^2 spectrum, and a dead-leaves image of random discs) with a known
Gaussian kernel, and reports how close its kernel comes: the error of the
kernels' second moments and the DN-PSNR (the scene blurred and subsampled by
the estimate, against the true LR), beside bicubic halving, the kernel a run
starts from. (``benchmarks/unpaired.py`` scores the pools a training run
built on its synthetic cameras' photos in the same way.)

    python benchmarks/kernel_estimation.py --iters 400 3000
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.train.data import Photo, UnpairedData
from engine.train.kernel_fit import bicubic_kernel
from engine.train.kernel_spectrum import SpectrumSpec, estimate, gaussian
from engine.train.kernel_spectrum import textured_tiles as tiles_of
from engine.train.pools import downscale
from engine.train.recipes import get as get_recipe
from engine.train.trainer import RunSpec, resolve_config


def power_law(n: int, seed: int) -> torch.Tensor:
    """A colour Gaussian field with a 1/f^2 power spectrum."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.fftfreq(n)
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    amp = 1 / radius
    amp[0, 0] = 0.0
    planes = []
    for _ in range(3):
        z = torch.randn(n, n, generator=g) + 1j * torch.randn(n, n, generator=g)
        planes.append(torch.fft.ifft2(z * amp).real)
    img = torch.stack(planes)
    return (0.5 + 0.12 * img / img.std()).clamp(0, 1)


def dead_leaves(n: int, seed: int, count: int = 800) -> torch.Tensor:
    """Random opaque discs, radii drawn so that the image looks alike at all scales."""
    g = torch.Generator().manual_seed(seed)
    rmin, rmax = 1.5, n / 3
    u = torch.rand(count, generator=g)
    r = (rmin**-2 - u * (rmin**-2 - rmax**-2)) ** -0.5
    centre = torch.rand(count, 2, generator=g) * n
    colour = torch.rand(count, 3, generator=g)
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    inside = (yy[None] - centre[:, 0, None, None]) ** 2 + (
        xx[None] - centre[:, 1, None, None]
    ) ** 2 <= (r**2)[:, None, None]
    top = count - 1 - torch.flip(inside, [0]).float().argmax(0)  # the last drawn
    img = colour[top].permute(2, 0, 1)
    return torch.where(inside.any(0)[None], img, torch.full_like(img, 0.5))


def moments(k: torch.Tensor) -> torch.Tensor:
    """Second moments (2, 2) of a 13x13 kernel about KernelGAN's centre."""
    r = torch.arange(k.shape[0], dtype=torch.float64) - 6.5
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    k = k.double() / k.sum()
    yx = (k * yy * xx).sum()
    return torch.stack(
        [torch.stack([(k * yy * yy).sum(), yx]), torch.stack([yx, (k * xx * xx).sum()])]
    )


def kernelgan(lr: torch.Tensor, iters: int) -> torch.Tensor:
    """One KernelGAN fit on ``lr`` through the recipe's own session code."""
    # The paper profile's fit (KernelGAN's 64-wide critic of five blocks) with a
    # given length, on the cpu profile's small SR net (unused here).
    kernel = {"estimator": "kernelgan", "iters": iters, "pool": 1}
    kernel |= {"d_width": 64, "d_blocks": 5}
    spec = RunSpec("estimated", overrides={"kernel": kernel})
    config = resolve_config(spec)
    other = Photo(Path("other-hr.png"), power_law(256, 99), "hr")
    data = UnpairedData([other], [Photo(Path("lr.png"), lr, "lr")], 2, 32)
    g = torch.Generator().manual_seed(0)
    recipe = get_recipe("estimated")
    session: Any = recipe.session(config, 2, data, torch.device("cpu"), g)
    session._prepare()
    for _ in range(iters):
        session._fit_iteration()
    kernels: torch.Tensor = session.kernels.kernels
    return kernels[0]


def row(
    hr: torch.Tensor, lr: torch.Tensor, truth: torch.Tensor, k: torch.Tensor
) -> str:
    err = float(torch.linalg.matrix_norm(moments(k) - moments(truth)))
    rel = err / float(torch.linalg.matrix_norm(moments(truth)))
    mse = float(((downscale(hr[None], k[None], 2)[0] - lr)[:, 8:-8, 8:-8] ** 2).mean())
    return f"{100 * rel:.0f} % | {-10 * math.log10(mse):.1f} dB"


SCENES = {"field": ("1/f^2 field", power_law), "leaves": ("dead leaves", dead_leaves)}


def synthetic(
    iters: list[int], n: int, scenes: list[str], sigmas: list[float]
) -> list[str]:
    lines = [
        "| scene | true sigma (HR px) | estimator | moment error | DN-PSNR |",
        "|---|---:|---|---:|---:|",
    ]
    for key in scenes:
        name, make = SCENES[key]
        scene = make(n, 0)
        for sigma in sigmas:
            truth = gaussian(torch.eye(2, dtype=torch.float64) * sigma**2)
            lr = downscale(scene[None], truth[None], 2)[0]
            spec = SpectrumSpec()
            found: dict[str, Any] = {"bicubic (no estimate)": bicubic_kernel()}
            found["spectrum"] = estimate([tiles_of(lr, spec)], spec)
            for it in iters:
                found[f"KernelGAN, {it} iterations"] = kernelgan(lr, it)
            for est, k in found.items():
                lines.append(
                    f"| {name} | {sigma} | {est} | {row(scene, lr, truth, k)} |"
                )
                print(lines[-1], flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, nargs="*", default=[400])
    ap.add_argument("--size", type=int, default=256, help="scene edge (HR px)")
    ap.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.8, 1.2, 2.0])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(
        "Command: `python benchmarks/kernel_estimation.py "
        + shlex.join(sys.argv[1:])
        + "`\n"
    )
    lines = synthetic(args.iters, args.size, args.scenes, args.sigmas)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
