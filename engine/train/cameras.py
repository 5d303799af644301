"""A second made-up camera, different in kind from ``degrade.SyntheticRealLR``.

The first camera blurs with a Gaussian, downscales bicubically, adds Gaussian
noise of one level and saves JPEG q75. This one shakes instead of defocusing
(a motion streak), bins 2x2 sensor pixels, misregisters its colour planes
(lateral chromatic aberration), adds noise whose level depends on the signal
(photon shot noise plus read noise) and saves JPEG q60. A method measured on
both is less likely to be tuned to one invented camera.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.events import FloatArray
from engine.train.degrade import blur


def motion_kernel(length: float, angle: float, size: int) -> FloatArray:
    """A normalised straight streak of ``length`` pixels at ``angle`` (radians).

    Drawn by splatting many points of the segment bilinearly, so short and
    oblique streaks stay smooth; sized ``size`` x ``size`` (odd).
    """
    k = np.zeros((size, size), np.float64)
    c = (size - 1) / 2
    for t in np.linspace(-length / 2, length / 2, 8 * size + 1):
        x, y = c + t * math.cos(angle), c + t * math.sin(angle)
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                    k[y0 + dy, x0 + dx] += wy * wx
    out: FloatArray = (k / k.sum()).astype(np.float32)
    return out


@dataclass(frozen=True)
class ShakyCamera:
    """Motion blur -> 2x2 binning -> colour-plane shift -> Poisson-Gaussian -> JPEG.

    Attributes
    ----------
    length_range : tuple of float
        Length of the motion streak in HR pixels (drawn per photo, with a
        random direction).
    optics_sigma : float
        A slight Gaussian lens blur under the streak, in HR pixels.
    plane_shift : float
        Red moves right and blue left by this many LR pixels (bilinear).
    shot : float
        Shot-noise gain: the variance of a pixel is ``shot * value + read**2``.
    read : float
        Read-noise standard deviation, in [0, 1] units.
    jpeg_quality : int or None
        The last step's JPEG quality; None skips it.
    seed : int
        Base seed; each photo's draws depend on it and the photo's index.
    """

    length_range: tuple[float, float] = (3.0, 7.0)
    optics_sigma: float = 0.5
    plane_shift: float = 0.35
    shot: float = 0.0015
    read: float = 2 / 255
    jpeg_quality: int | None = 60
    seed: int = 0
    scale: int = 2

    def blur_only(self, hr: FloatArray, index: int = 0) -> FloatArray:
        """The noiseless, uncompressed LR: streak, optics, binning, plane shift."""
        rng = np.random.default_rng([self.seed, index])
        length = rng.uniform(*self.length_range)
        angle = rng.uniform(0, math.pi)
        size = 2 * math.ceil(max(self.length_range) / 2 + 2 * self.optics_sigma) + 1
        k = torch.from_numpy(motion_kernel(length, angle, size))
        if self.optics_sigma > 0:
            r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
            gauss = torch.exp(-0.5 * (r / self.optics_sigma) ** 2)
            g2 = torch.outer(gauss, gauss)
            k = F.conv2d(k[None, None], (g2 / g2.sum())[None, None], padding="same")
            k = (k / k.sum())[0, 0]
        x = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))[None]
        x = F.avg_pool2d(blur(x, k), self.scale)
        x = torch.cat(
            [
                _shift(x[:, :1], self.plane_shift),
                x[:, 1:2],
                _shift(x[:, 2:], -self.plane_shift),
            ],
            1,
        )
        out: FloatArray = np.ascontiguousarray(x[0].numpy().transpose(1, 2, 0))
        return out

    def noisy(self, hr: FloatArray, index: int = 0) -> FloatArray:
        """:meth:`blur_only` plus the signal-dependent noise, before JPEG."""
        lr = np.clip(self.blur_only(hr, index), 0, 1).astype(np.float64)
        rng = np.random.default_rng([self.seed, index, 1])
        photons = rng.poisson(lr / self.shot) * self.shot
        lr = photons + rng.normal(0, self.read, lr.shape)
        out: FloatArray = np.clip(lr, 0, 1).astype(np.float32)
        return out

    def __call__(self, hr: FloatArray, index: int = 0) -> FloatArray:
        """Degrade one float32 (H, W, 3) image in [0, 1]."""
        lr = self.noisy(hr, index)
        if self.jpeg_quality is None:
            return lr
        buf = io.BytesIO()
        Image.fromarray((lr * 255 + 0.5).astype(np.uint8)).save(
            buf, "JPEG", quality=self.jpeg_quality
        )
        decoded = np.asarray(Image.open(buf).convert("RGB"), np.float32) / 255
        out: FloatArray = np.ascontiguousarray(decoded, np.float32)
        return out


def _shift(plane: torch.Tensor, dx: float) -> torch.Tensor:
    """Move (1, 1, H, W) right by ``dx`` pixels (bilinear, edges repeated)."""
    _, _, h, w = plane.shape
    ys = torch.linspace(-1, 1, h)
    xs = torch.linspace(-1, 1, w) - 2 * dx / max(w - 1, 1)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]
    return F.grid_sample(plane, grid, "bilinear", "border", align_corners=True)


__all__ = ["ShakyCamera", "motion_kernel"]
