"""Degradations: the clean-LR operators and a synthetic "real" domain.

``clean_lr`` runs in torch on batches during training (y -> y_down). The
``SyntheticRealLR`` operator works on numpy images when a data set is built: it
makes a demo "real" camera domain (blur, downscale, noise, JPEG) whose ground
truth is known, so the unpaired methods can be measured.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine import metrics
from engine.events import FloatArray
from engine.nets.discriminators import HighPass

CleanOp = Literal["bicubic", "gauss_bicubic"]


def gaussian_kernel(
    sigma_x: float, sigma_y: float, theta: float, size: int
) -> FloatArray:
    """A normalised, possibly rotated anisotropic Gaussian kernel (size x size)."""
    r = (size - 1) / 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    out: FloatArray = (k / k.sum()).astype(np.float32)
    return out


def blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise-convolve (B, C, H, W) with a (k, k) kernel, reflect-padded."""
    k = kernel.shape[-1]
    c = x.shape[1]
    w = kernel.to(x).expand(c, 1, k, k)
    return F.conv2d(F.pad(x, [k // 2] * 4, mode="reflect"), w, groups=c)


def clean_lr(
    y: torch.Tensor, scale: int, op: CleanOp = "gauss_bicubic"
) -> torch.Tensor:
    """Downscale HR (B, 3, H, W) to clean LR (B, 3, H/s, W/s).

    "gauss_bicubic" is Maeda's y_down: a Gaussian of sigma s/2, then bicubic
    without antialiasing (the blur is the antialiasing). "bicubic" is the
    antialiased (MATLAB-like) bicubic of the synthetic-pair literature.
    """
    if op == "gauss_bicubic":
        sigma = scale / 2
        size = 2 * math.ceil(2 * sigma) + 1
        y = blur(y, torch.from_numpy(gaussian_kernel(sigma, sigma, 0.0, size)))
        out = F.interpolate(y, scale_factor=1 / scale, mode="bicubic", antialias=False)
    else:
        out = F.interpolate(y, scale_factor=1 / scale, mode="bicubic", antialias=True)
    return out.clamp(0, 1)


@dataclass(frozen=True)
class SyntheticRealLR:
    """A made-up camera: anisotropic blur -> bicubic down -> noise -> JPEG.

    Every image gets its own random blur shape (seeded by ``seed`` and the
    image's index), like photos from one camera shot at different focus.

    Attributes
    ----------
    scale : int
        Downscale factor.
    sigma_range : tuple of float
        Range of the blur's two standard deviations, in HR pixels.
    noise : float
        Standard deviation of the additive Gaussian noise, in [0, 1] units.
    jpeg_quality : int or None
        JPEG quality of the last step; None skips JPEG.
    seed : int
        Base seed.
    """

    scale: int = 2
    sigma_range: tuple[float, float] = (0.8, 1.8)
    noise: float = 8 / 255
    jpeg_quality: int | None = 75
    seed: int = 0

    def __call__(self, hr: FloatArray, index: int = 0) -> FloatArray:
        """Degrade one float32 (H, W, 3) image in [0, 1]."""
        rng = np.random.default_rng([self.seed, index])
        sx, sy = rng.uniform(*self.sigma_range, size=2)
        theta = rng.uniform(0, math.pi)
        size = 2 * math.ceil(3 * max(sx, sy)) + 1
        x = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))[None]
        x = blur(x, torch.from_numpy(gaussian_kernel(sx, sy, theta, size)))
        x = F.interpolate(
            x, scale_factor=1 / self.scale, mode="bicubic", antialias=False
        )
        lr = x[0].numpy().transpose(1, 2, 0)
        lr = lr + rng.normal(0, self.noise, lr.shape).astype(np.float32)
        lr = np.clip(lr, 0, 1)
        if self.jpeg_quality is not None:
            buf = io.BytesIO()
            Image.fromarray((lr * 255 + 0.5).astype(np.uint8)).save(
                buf, "JPEG", quality=self.jpeg_quality
            )
            lr = np.asarray(Image.open(buf).convert("RGB"), np.float32) / 255
        out: FloatArray = np.ascontiguousarray(lr, np.float32)
        return out


def noise_sigma(img: torch.Tensor | FloatArray) -> float:
    """:func:`engine.metrics.noise_sigma` for a tensor (B, C, H, W) or (C, H, W).

    Arrays in (H, W, C) pass straight through; only the layout changes here.
    """
    a = img.detach().float().cpu().numpy() if isinstance(img, torch.Tensor) else img
    a = np.asarray(a, np.float32)
    if a.ndim == 4:
        a = a[0]
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[2] != 3:
        a = a.transpose(1, 2, 0)
    return metrics.noise_sigma(a)


def highpass_sigma(img: torch.Tensor | FloatArray, blur_sigma: float = 1.0) -> float:
    """Robust spread (MAD) of the image minus its Gaussian blur, per channel.

    A mechanism probe that, unlike :func:`noise_sigma`, still sees noise after
    JPEG has removed its highest frequencies; it also counts fine texture, so
    compare it only between versions of the same pictures.
    """
    t = img.detach().float().cpu() if isinstance(img, torch.Tensor) else None
    if t is None:
        a = np.asarray(img, np.float32)
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    if t.ndim == 3:
        t = t[None]
    # The same high band the CPU profiles' discriminators see.
    r = HighPass(blur_sigma)(t)[0]
    med = r.flatten(1).median(1).values.view(-1, 1, 1)
    mad = (r - med).abs().flatten(1).median(1).values
    return float(1.4826 * mad.mean())


__all__ = [
    "CleanOp",
    "SyntheticRealLR",
    "blur",
    "clean_lr",
    "gaussian_kernel",
    "highpass_sigma",
    "noise_sigma",
]
