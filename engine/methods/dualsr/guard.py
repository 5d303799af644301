"""Signals a fit can compute about itself, without ground truth.

DualSR loses to bicubic when its learned kernel is wider than the photo's true
blur: the upsampler then sharpens more than the photo was blurred. Nothing in
a user's photo says what the true blur is, so these signals look at the fit
from inside:

* :func:`second_moment`: the learned kernel's width (the trace of its
  covariance, px^2). The bicubic x2 kernel's is exactly 0 (Keys' a = -0.5 cubic
  reproduces quadratics), so the width itself is the distance from bicubic in
  this measure; :func:`kernel_distance` is the plain L2 distance of the taps.
* :func:`game_end`: how the adversarial game ended. When the discriminator
  still tells the downsampler's output from the photo's own crops at the end,
  the kernel did not find the photo's blur.
* :func:`spectral_width`: the photo's blur width measured from its spectrum
  across scales, without the fit (a second opinion on G_DN's kernel).
* :func:`cross_scale`: KernelGAN's own assumption, checked with a statistic
  that is not learned. The right kernel shrinks the photo into a smaller photo
  with the same local statistics; a kernel that is too wide makes the smaller
  photo blurrier than the photo. The ratio of their mean gradient magnitudes
  falls as the kernel widens, but its level is the content's: with the true
  kernel it measured 1.1-1.5 on most scikit-image photos and 0.7-0.9 on grass,
  and twice the true width lowered it by only 5-15 %.

:class:`engine.methods.dualsr.params.DualSRParams` ``guard`` names what the fit
does with them: "blend" tones the output down toward bicubic by
:func:`blend_weight` (:class:`Blended`). The fast profile blends by the
cross-scale ratio; the figures behind the rule, and every signal's correlation
with the fit's gain, are in docs/benchmarks.md ("The guard").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from engine.methods.dualsr import losses, sampler
from engine.methods.dualsr.params import DualSRParams
from engine.train import kernel_spectrum

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

    Lower for wider kernels; its level depends on the content (see the module
    docstring), so it compares kernels on one photo better than photos.

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


def spectral_width(rgb: npt.ArrayLike) -> float:
    """The photo's blur width (HR px^2) from its spectrum across scales.

    :mod:`engine.train.kernel_spectrum`'s estimate (the trace of the fitted
    Gaussian's covariance) on the photo's most textured tiles: it looks at the
    photo only, not at the fit, so it is a second opinion on G_DN's kernel,
    which ends near the same width whatever the true blur (docs/benchmarks.md,
    "The guard"). NaN when the photo is smaller than one tile.
    """
    grey = _grey(rgb)[0, 0]
    # The centre of a large photo is plenty, and keeps the tiles' memory small.
    h, w = grey.shape
    top, left = max(0, (h - _SPECTRUM_EDGE) // 2), max(0, (w - _SPECTRUM_EDGE) // 2)
    grey = grey[top : top + _SPECTRUM_EDGE, left : left + _SPECTRUM_EDGE]
    tiles = kernel_spectrum.textured_tiles(grey.expand(3, -1, -1), _SPECTRUM)
    cov = kernel_spectrum.measure([tiles], _SPECTRUM)
    return math.nan if cov is None else float(torch.trace(cov))


#: The spectrum's settings for one photo: tiles of 64 LR px, every tile kept.
_SPECTRUM = kernel_spectrum.SpectrumSpec(tile=64, per_photo=64)
#: The edge of the centre crop whose spectrum is measured (LR px).
_SPECTRUM_EDGE = 1024


def blend_weight(signals: Mapping[str, float], params: DualSRParams) -> float:
    """The weight of the fit in the guarded output (1: the fit alone).

    ``params.guard_floor`` where the signal ``params.guard_signal`` is at or
    beyond ``guard_range[0]``, 1 at or beyond ``guard_range[1]``, linear in
    between (the range may run either way). A missing or undefined signal
    leaves the fit alone.
    """
    value = signals.get(params.guard_signal, math.nan)
    if params.guard == "off" or not math.isfinite(value):
        return 1.0
    start, full = params.guard_range
    t = 1.0 if full == start else (value - start) / (full - start)
    t = min(1.0, max(0.0, t))
    return params.guard_floor + (1.0 - params.guard_floor) * t


def stop_iteration(params: DualSRParams) -> int | None:
    """The iteration after which the guard may end the fit, or None."""
    if params.guard == "off" or params.guard_stop_at <= 0:
        return None
    return max(1, min(params.iters - 1, round(params.iters * params.guard_stop_at)))


def should_stop(value: float, params: DualSRParams) -> bool:
    """True when ``value`` of the guard's signal is far enough on the floor's side.

    Past ``guard_range[0]`` by more than ``guard_stop_margin``, the output is
    the floor's blend unless the signal moves that far back in the rest of the
    fit; on the guard benchmark's 36 fits the cross-scale ratio rose by at most
    0.11 after the half-way point (docs/benchmarks.md, "The guard").
    """
    if not math.isfinite(value):
        return False
    start, full = params.guard_range
    toward_fit = 1.0 if full >= start else -1.0
    return (value - start) * toward_fit < -params.guard_stop_margin


def signal(
    name: str,
    rgb: npt.ArrayLike,
    kernel: npt.ArrayLike,
    recent: Sequence[Mapping[str, float]] = (),
) -> float:
    """One of :func:`signals`, computing only what it needs."""
    cheap = {
        "cross_scale": lambda: cross_scale(rgb, kernel),
        "kernel_m2": lambda: second_moment(kernel),
        "kernel_dist": lambda: kernel_distance(kernel),
    }
    if name in cheap:
        return cheap[name]()
    return signals(rgb, kernel, recent).get(name, math.nan)


def stop_verdict(value: float, done: int, params: DualSRParams) -> str:
    """Why the guard ended the fit, in words, for the log."""
    name = params.guard_signal.replace("_", " ")
    return (
        f"guard: at iteration {done} the {name} is {value:.2f}, well past "
        f"{params.guard_range[0]:.2f}: the rest of the fit would not be used, so it "
        "stops here"
    )


def verdict(signals: Mapping[str, float], weight: float, params: DualSRParams) -> str:
    """What the guard did, in words, for the log."""
    value = signals.get(params.guard_signal, math.nan)
    why = f"{params.guard_signal.replace('_', ' ')} {value:.2f}"
    if weight <= 0.0:
        return (
            f"guard: the fit does not look safe on this photo ({why}); the output "
            "is bicubic"
        )
    return (
        f"guard: the fit may over-sharpen this photo ({why}); the output is "
        f"{weight:.0%} the fit, {1 - weight:.0%} bicubic"
    )


class Blended(nn.Module):
    """``bicubic(x) + weight * (net(x) - bicubic(x))``: a fit toned down.

    The bicubic is MATLAB's (Keys a = -0.5, mirrored borders), the baseline the
    benchmarks score against; the tiled pass's overlap hides its tile borders.
    """

    def __init__(self, net: nn.Module, weight: float) -> None:
        super().__init__()
        self.net = net
        self.weight = float(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the blended x2 image, (B, C, 2H, 2W)."""
        bic = bicubic_x2(x)
        if self.weight == 0.0:  # bicubic alone: the net's pass would be wasted
            return bic
        out: torch.Tensor = self.net(x)
        return bic + self.weight * (out.float() - bic)


def bicubic_x2(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's bicubic x2 of (B, C, H, W), in float32, not clamped.

    Mirrored borders, like :func:`sampler.imresize`: on a tile of a photo the
    tiled pass's overlap hides them.
    """
    mh = _up2_matrix(x.shape[-2], x.device)
    mw = _up2_matrix(x.shape[-1], x.device)
    return torch.matmul(torch.matmul(mh, x.float()), mw.t())


@functools.lru_cache(maxsize=8)
def _up2_matrix(n: int, device: torch.device) -> torch.Tensor:
    return sampler.bicubic_up2_matrix(n).to(device)


def game_end(recent: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """How the downsampler's game ended: the mean of the last logged losses.

    ``gan`` is G_DN's LSGAN loss, (D(fake) - 1)^2: about 0.25 when D cannot
    tell G_DN's output from the photo's own crops, toward 1 when it always
    can, i.e. when the kernel does not make the photo's look-alike. ``disc``
    is D's own loss (0.25 when confused, toward 0 when it wins).
    """
    out: dict[str, float] = {}
    for name in ("gan", "disc"):
        values = [r[name] for r in recent if name in r]
        out[f"{name}_end"] = float(np.mean(values)) if values else math.nan
    return out


def signals(
    rgb: npt.ArrayLike,
    kernel: npt.ArrayLike,
    recent: Sequence[Mapping[str, float]] = (),
) -> dict[str, float]:
    """Every signal of the fit on its photo, by name.

    ``recent`` are the last logged losses of the fit (see :func:`game_end`).
    """
    width = second_moment(kernel)
    spectral = spectral_width(rgb)
    return {
        "kernel_m2": width,
        "kernel_dist": kernel_distance(kernel),
        "cross_scale": cross_scale(rgb, kernel),
        "cross_scale_bicubic": cross_scale(rgb, bicubic_kernel()),
        "spectral_m2": spectral,
        "learned_over_spectral": width / spectral if spectral > 0 else math.nan,
        **game_end(recent),
    }


__all__ = [
    "Blended",
    "bicubic_kernel",
    "bicubic_x2",
    "blend_weight",
    "cross_scale",
    "game_end",
    "kernel_distance",
    "second_moment",
    "should_stop",
    "signal",
    "signals",
    "spectral_width",
    "stop_iteration",
    "stop_verdict",
    "verdict",
]
