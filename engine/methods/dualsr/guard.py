"""Signals a fit can compute about itself, without ground truth.

DualSR loses to bicubic when its learned kernel is wider than the photo's true
blur: the upsampler then sharpens more than the photo was blurred. Nothing in
a user's photo says what the true blur is, so these signals look at the fit
from inside:

* :func:`second_moment`: the learned kernel's width (the trace of its
  covariance, px^2). The bicubic x2 kernel's is exactly 0 (Keys' a = -0.5 cubic
  reproduces quadratics), so the width itself is the distance from bicubic in
  this measure; :func:`kernel_distance` is the plain L2 distance of the taps.
* :func:`cross_scale`: KernelGAN's own assumption, checked with a statistic
  that is not learned. The right kernel shrinks the photo into a smaller photo
  with the same local statistics; a kernel that is too wide makes the smaller
  photo blurrier than the photo. The ratio of their mean gradient magnitudes is
  about 1 for the right kernel and below 1 for a too wide one.

:class:`engine.methods.dualsr.params.DualSRParams` ``guard`` names what the fit
does with them (off until the benchmark's figures support a rule; see
docs/benchmarks.md, "DualSR guard").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from engine.methods.dualsr import losses

F32 = npt.NDArray[np.float32]


def bicubic_kernel(size: int = 13) -> F32:
    """MATLAB's bicubic x0.5 filter as a ``size`` x ``size`` correlation kernel.

    Centred where G_DN's kernel is centred (at ``size // 2 + 0.5``), so the two
    compare tap by tap.
    """
    small = losses.bicubic_down_filter().numpy()
    k = np.zeros((size, size), np.float32)
    lo = size // 2 + 1 - small.shape[0] // 2
    k[lo : lo + small.shape[0], lo : lo + small.shape[1]] = small
    return k


def second_moment(kernel: npt.ArrayLike) -> float:
    """Trace of the kernel's covariance about its centre of mass, in px^2.

    Signed taps, normalised by their sum (the kernel is a weighting, so
    negative lobes narrow it).
    """
    k = np.asarray(kernel, np.float64)
    total = k.sum()
    if abs(total) < 1e-12:
        return float("nan")
    rows, cols = np.indices(k.shape, dtype=np.float64)
    cy, cx = (k * rows).sum() / total, (k * cols).sum() / total
    return float((k * ((rows - cy) ** 2 + (cols - cx) ** 2)).sum() / total)


def kernel_distance(kernel: npt.ArrayLike) -> float:
    """L2 distance of the (sum-normalised) kernel from :func:`bicubic_kernel`."""
    k = np.asarray(kernel, np.float64)
    ref = bicubic_kernel(k.shape[0]).astype(np.float64)
    total = k.sum()
    if abs(total) < 1e-12:
        return float("nan")
    return float(np.sqrt(((k / total - ref) ** 2).sum()))


def _grey(rgb: npt.ArrayLike) -> torch.Tensor:
    a = np.asarray(rgb, np.float32)
    if a.ndim == 3:
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]


def _mean_gradient(grey: torch.Tensor, margin: int) -> float:
    g = grey[..., margin : grey.shape[-2] - margin, margin : grey.shape[-1] - margin]
    gy = g[..., 2:, 1:-1] - g[..., :-2, 1:-1]
    gx = g[..., 1:-1, 2:] - g[..., 1:-1, :-2]
    return float(torch.sqrt(gx * gx + gy * gy).mean()) / 2.0


def cross_scale(rgb: npt.ArrayLike, kernel: npt.ArrayLike) -> float:
    """Mean gradient of the photo shrunk by ``kernel`` over the photo's own.

    About 1 when the kernel relates the photo to its half-size version as the
    camera related the scene to the photo; below 1 when the kernel is too wide.

    Parameters
    ----------
    rgb
        The LR photo, (H, W, 3) or (H, W), values in [0, 1].
    kernel
        A (n, n) correlation kernel for x2 (G_DN's composed kernel).
    """
    grey = _grey(rgb)
    k = torch.from_numpy(np.asarray(kernel, np.float32))
    k = k / k.sum()
    small = F.conv2d(grey, k[None, None], stride=2)
    mine = _mean_gradient(grey, 8)
    if mine <= 0:
        return float("nan")
    return _mean_gradient(small, 2) / mine


def signals(rgb: npt.ArrayLike, kernel: npt.ArrayLike) -> dict[str, float]:
    """Every signal of the fit's kernel on its photo, by name."""
    return {
        "kernel_m2": second_moment(kernel),
        "kernel_dist": kernel_distance(kernel),
        "cross_scale": cross_scale(rgb, kernel),
        "cross_scale_bicubic": cross_scale(rgb, bicubic_kernel()),
    }


__all__ = [
    "bicubic_kernel",
    "cross_scale",
    "kernel_distance",
    "second_moment",
    "signals",
]
