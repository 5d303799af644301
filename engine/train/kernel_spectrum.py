"""A camera's blur, measured from how its photos' spectra change across scales.

The principle is KernelGAN's: natural images look alike at every scale, so the
kernel that turns a photo into a half-size photo with the same statistics is
the camera's own blur. KernelGAN finds it with a discriminator; here the
statistics are the power spectrum, which makes the answer direct. If the scene
has a power-law spectrum, a photo made with kernel k has, at frequency u
(cycles per LR pixel, |u| < 1/4),

    P(2u) / P(u) = c * |K(u)|^2 / |K(u / 2)|^2,

with K the kernel's frequency response in HR units. For a Gaussian of
covariance S (HR pixels^2) the log of that ratio is ``c' - 4 pi^2 u' (3/4 S) u``,
so a linear least-squares fit of the log ratio on the quadratic terms of u
gives S, whatever the scene's power-law exponent (it cancels in the ratio).
The spectrum is averaged over the photos' most textured tiles (flat ones carry
noise, not blur), and only a band of frequencies is fitted: below it the tiles
are too small to resolve the spectrum, above it the camera's noise and JPEG
dominate. The kernel is a Gaussian of that covariance: a motion streak comes
out as an elongated Gaussian of the same extent and direction.

Measured against KernelGAN-style fits of DualSR's G_DN (docs/benchmarks.md,
"Estimated degradation"): on synthetic scale-invariant images with Gaussian
kernels of sigma 0.8 and 2.0, the adversarial fits ended at nearly the same
kernel after 400 and after 3000 iterations, while this fit recovers each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.train.kernel_fit import KSIZE

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)


@dataclass(frozen=True)
class SpectrumSpec:
    """How kernels are measured from the photos' spectra.

    Attributes
    ----------
    tile : int
        Edge of the tiles whose spectra are averaged (LR pixels).
    per_photo : int
        The most textured tiles kept per photo.
    band : tuple of float
        The frequencies fitted, in cycles per LR pixel.
    subset : float
        Share of the photos behind each refreshed kernel (at least one): a
        pool of such kernels spans the variation between photos, while the
        first kernel of a run uses every photo.
    """

    tile: int = 64
    per_photo: int = 48
    band: tuple[float, float] = (0.03, 0.2)
    subset: float = 0.5


def textured_tiles(photo: torch.Tensor, spec: SpectrumSpec) -> torch.Tensor:
    """The most textured luminance tiles of ``photo`` (3, H, W), mean removed.

    Tiles overlap by half; texture is the mean absolute gradient. Returns
    (N, t, t), N = 0 when the photo is smaller than a tile.
    """
    t = spec.tile
    grey = (photo * _LUMA).sum(0)
    if min(grey.shape) < t:
        return torch.empty(0, t, t)
    tiles = grey.unfold(0, t, t // 2).unfold(1, t, t // 2).reshape(-1, t, t)
    tiles = tiles - tiles.mean((1, 2), keepdim=True)
    energy = (tiles[:, 1:] - tiles[:, :-1]).abs().mean((1, 2)) + (
        tiles[:, :, 1:] - tiles[:, :, :-1]
    ).abs().mean((1, 2))
    return tiles[energy.argsort(descending=True)[: spec.per_photo]]


def power_spectrum(tiles: torch.Tensor) -> torch.Tensor:
    """Mean Hann-windowed power spectrum of (N, t, t) tiles, (t, t), FFT order."""
    t = tiles.shape[-1]
    w = torch.hann_window(t, periodic=False, dtype=torch.float64)
    win = w[:, None] * w[None, :]
    spec = torch.fft.fft2(tiles.double() * win).abs() ** 2
    out: torch.Tensor = spec.mean(0) / (win**2).sum()
    return out


def covariance(power: torch.Tensor, band: tuple[float, float]) -> torch.Tensor:
    """The camera kernel's covariance (2, 2), HR pixels^2, rows/cols = (y, x).

    Fits ``log P(2u) - log P(u) = c - 4 pi^2 u' (3/4 S) u`` over ``band``.
    """
    t = power.shape[0]
    f = torch.fft.fftfreq(t, dtype=torch.float64)
    uy, ux = torch.meshgrid(f, f, indexing="ij")
    r = torch.sqrt(ux**2 + uy**2)
    sel = (r >= band[0]) & (r <= band[1]) & (ux.abs() < 0.25) & (uy.abs() < 0.25)
    idx = torch.arange(t)
    doubled = power[(2 * idx) % t][:, (2 * idx) % t]
    y = torch.log(doubled[sel].clamp_min(1e-20) / power[sel].clamp_min(1e-20))
    q = -4 * math.pi**2
    a = torch.stack(
        [
            torch.ones_like(y),
            q * uy[sel] ** 2,
            2 * q * uy[sel] * ux[sel],
            q * ux[sel] ** 2,
        ],
        1,
    )
    sol = torch.linalg.lstsq(a, y[:, None]).solution[:, 0]
    s = torch.stack([sol[1:3], sol[2:4]]) * 4 / 3
    return s


def gaussian(cov: torch.Tensor, size: int = KSIZE) -> torch.Tensor:
    """A kernel with covariance ``cov``, centred where G_DN's kernels are.

    The covariance is made positive and bounded first (spread 0.3 to 3 px per
    axis): a fit on noisy or odd photos can come out flat or negative.
    """
    vals, vecs = torch.linalg.eigh(cov.double())
    vals = vals.clamp(0.3**2, 3.0**2)
    inv = vecs @ torch.diag(1 / vals) @ vecs.T
    r = torch.arange(size, dtype=torch.float64) - (size // 2 + 0.5)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    q = inv[0, 0] * yy**2 + 2 * inv[0, 1] * yy * xx + inv[1, 1] * xx**2
    k = torch.exp(-0.5 * q)
    return (k / k.sum()).float()


def measure(tiles: list[torch.Tensor], spec: SpectrumSpec) -> torch.Tensor | None:
    """The kernel covariance behind a set of photos' tiles; None without a tile."""
    found = [t for t in tiles if len(t)]
    if not found:
        return None
    return covariance(power_spectrum(torch.cat(found)), spec.band)


def estimate(tiles: list[torch.Tensor], spec: SpectrumSpec) -> torch.Tensor | None:
    """The kernel behind a set of photos' tiles; None without any tile."""
    cov = measure(tiles, spec)
    return None if cov is None else gaussian(cov)


def plausible(cov: torch.Tensor, camera: torch.Tensor, spread: float = 2.5) -> bool:
    """Whether a subset's covariance may join the pool beside the camera's.

    A few photos whose spectra are no power law (a rendered clock face, a
    retina on black) pull a subset's fit to a kernel far sharper or broader
    than the camera's; such a fit is variation of the estimate, not of the
    camera. Accepted: positive definite, and a total variance within a factor
    ``spread`` of the camera's.
    """
    if bool((torch.linalg.eigvalsh(cov) <= 0).any()):
        return False
    ratio = float(torch.trace(cov) / torch.trace(camera).clamp_min(1e-12))
    return 1 / spread <= ratio <= spread


__all__ = [
    "SpectrumSpec",
    "covariance",
    "estimate",
    "gaussian",
    "measure",
    "plausible",
    "power_spectrum",
    "textured_tiles",
]
