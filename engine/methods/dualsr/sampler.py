"""Where DualSR looks: gradient-weighted crop sampling, drawn up front.

KernelGAN's sampler, as the DualSR authors' code uses it: crop centres are drawn with
probability proportional to a smoothed map of the image's strongest gradients,
so the fit spends its iterations on texture and edges, not on flat sky.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from scipy import sparse
from scipy.ndimage import uniform_filter

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def _cubic(x: F64) -> F64:
    """Keys cubic, a = -0.5 (MATLAB's imresize kernel)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    out: F64 = near + far
    return out


def resize_matrix(n_in: int, n_out: int) -> F64:
    """Weights (n_out, n_in) of MATLAB-style bicubic resizing along one axis.

    Antialiased when shrinking (the kernel widens by 1 / scale); mirrored at the
    borders as MATLAB's ``imresize`` does.
    """
    scale = n_out / n_in
    widen = min(scale, 1.0)
    u = (np.arange(n_out) + 0.5) / scale - 0.5
    support = 2.0 / widen
    left = np.floor(u - support).astype(int)
    taps = int(np.ceil(2 * support)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = widen * _cubic(widen * (u[:, None] - idx))
    w /= w.sum(axis=1, keepdims=True)
    # Symmetric (mirror) padding: -1 -> 0, n -> n - 1.
    period = 2 * n_in
    mod = np.mod(idx, period)
    mirrored = np.where(mod < n_in, mod, period - 1 - mod)
    mat = np.zeros((n_out, n_in))
    np.add.at(mat, (np.repeat(np.arange(n_out), taps), mirrored.ravel()), w.ravel())
    return mat


def imresize(img: F32, out_h: int, out_w: int) -> F32:
    """MATLAB-style bicubic resize of float (H, W, C) to (out_h, out_w, C).

    In float32: a 12 MP photo in float64 would cost 290 MB for the copy alone.
    """
    h, w, c = img.shape
    # Sparse: the matrices are banded, and photos can have thousands of rows.
    mh = sparse.csr_matrix(resize_matrix(h, out_h).astype(np.float32))
    mw = sparse.csr_matrix(resize_matrix(w, out_w).astype(np.float32))
    rows = mh @ np.ascontiguousarray(img, np.float32).reshape(h, w * c)
    cols = mw @ rows.reshape(out_h, w, c).transpose(1, 0, 2).reshape(w, out_h * c)
    out = cols.reshape(out_w, out_h, c).transpose(1, 0, 2)
    return np.ascontiguousarray(out, dtype=np.float32)


def _clip_extreme(m: F32, percent: float) -> F32:
    """Keep only the top ``1 - percent`` of ``m``, in place: a near 0/1 indicator.

    The threshold is the value at rank ``percent * size`` and the ceiling the
    next larger value, found by a partial sort (O(n), where a full sort of a
    12 MP map took seconds).
    """
    flat = m.ravel()
    rank = min(int(percent * flat.size), flat.size - 1)
    lo = np.partition(flat, rank)[rank]
    above = flat[flat > lo]
    hi = above.min() if above.size else lo + np.float32(1e-5)
    np.clip(m, lo, hi, out=m)
    m -= lo
    return m


def grey_of(img: F32) -> F32:
    """Luma (0.299, 0.587, 0.114) of (H, W, 3), float32."""
    grey = img[..., 0] * np.float32(0.299)
    grey += img[..., 1] * np.float32(0.587)
    grey += img[..., 2] * np.float32(0.114)
    return np.asarray(grey, np.float32)


def gradient_map(img: F32) -> F32:
    """KernelGAN's "loss map": where the image's strongest gradients are.

    Mean 1 over the image; large on textured and edged regions, ~0 on flat ones.
    """
    return grey_gradient_map(grey_of(img))


def grey_gradient_map(grey: F32) -> F32:
    """:func:`gradient_map` of an image given by its luma plane.

    float32 throughout, one map at a time: at 4000x3000 the float64 version
    held ~1.3 GB of maps.
    """
    gy, gx = np.gradient(np.asarray(grey, np.float32))
    total = np.zeros_like(gx)
    for m in (np.abs(gx), np.abs(gy), np.hypot(gx, gy)):
        m[:5], m[-5:], m[:, :5], m[:, -5:] = 0, 0, 0, 0
        m = _clip_extreme(m, 0.97)
        s = m.sum(dtype=np.float64)
        if s > 0:
            m /= np.float32(s)
            total += m
    del gx, gy
    total = np.asarray(uniform_filter(total, size=5, mode="constant"), np.float32)
    np.maximum(total, 0.0, out=total)
    mean = total.mean(dtype=np.float64)
    if mean <= 0:
        return np.ones_like(total)
    total /= np.float32(mean)
    return total


def probability_map(grad: F32, crop: int) -> F32:
    """Weight of each pixel as a crop centre (float32; sums to 1 up to rounding).

    :func:`top_lefts` normalises its running sum in float64, so rounding here
    does not bias the draws.
    """
    half = crop // 2
    # Clipped: the running-sum filter leaves -1e-20 specks on flat zeros.
    p: F32 = np.asarray(
        uniform_filter(grad, size=max(1, half), mode="constant"), np.float32
    )
    np.maximum(p, 0.0, out=p)
    p[:half], p[-half:], p[:, :half], p[:, -half:] = 0, 0, 0, 0
    s = p.sum(dtype=np.float64)
    if s <= 0:
        p = np.zeros_like(p)
        p[half : grad.shape[0] - half + 1, half : grad.shape[1] - half + 1] = 1.0
        s = p.sum(dtype=np.float64)
        if s <= 0:
            p[:] = 1.0
            s = p.sum(dtype=np.float64)
    p /= np.float32(s)
    return p


def top_lefts(
    prob: F32 | F64, crop: int, n: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Draw ``n`` crop corners (row, col) from ``prob``, even and inside.

    The draw is ``rng.choice(size, n, p=prob)``'s own (a float64 running sum,
    normalised, searched with uniform draws), which refuses float32 weights
    whose sum is off by more than 1e-8.
    """
    h, w = prob.shape
    cdf = np.cumsum(prob.ravel(), dtype=np.float64)
    cdf /= cdf[-1]
    flat = np.searchsorted(cdf, rng.random(n), side="right")
    del cdf
    rows, cols = flat // w - crop // 2, flat % w - crop // 2
    rows = np.clip(rows, 0, h - crop)
    cols = np.clip(cols, 0, w - crop)
    # The authors round down to even, keeping crops on the x2 sampling grid.
    out: npt.NDArray[np.int64] = np.stack([rows - rows % 2, cols - cols % 2], axis=1)
    return out.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class CropPlan:
    """All crop corners of a fit, drawn once, seeded.

    Attributes
    ----------
    image : torch.Tensor
        The (cut, even-trimmed) image, (1, 3, H, W) float32 (on the CPU, a
        view of the HWC array).
    lr_corners, hr_corners : ndarray
        (iters * batch, 2) top-left corners of LR and HR crops.
    lr_crop, hr_crop : int
        Crop edges.
    """

    image: torch.Tensor
    lr_corners: npt.NDArray[np.int64]
    hr_corners: npt.NDArray[np.int64]
    lr_crop: int
    hr_crop: int

    def on(self, device: torch.device) -> CropPlan:
        """The plan with its image on ``device``, where the crops are cut.

        On a GPU the image is copied there once (a 12 MP photo is 144 MB), so
        an iteration moves nothing between host and device.
        """
        if self.image.device == device or device.type == "cpu":
            return self
        image = self.image.to(device).contiguous(memory_format=torch.channels_last)
        return dataclasses.replace(self, image=image)

    def batch(self, it: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the LR and HR crops of iteration ``it``: (B,3,c,c), (B,3,2c,2c)."""
        sl = slice(it * batch, (it + 1) * batch)
        lr = [self._crop(r, c, self.lr_crop) for r, c in self.lr_corners[sl]]
        hr = [self._crop(r, c, self.hr_crop) for r, c in self.hr_corners[sl]]
        return torch.cat(lr), torch.cat(hr)

    def _crop(self, r: int, c: int, size: int) -> torch.Tensor:
        return self.image[:, :, r : r + size, c : c + size]


def prepare(img: F32, border_cut: int, keep: int) -> F32:
    """Cut ``border_cut`` pixels from each side, then trim to even size.

    The cut is skipped when it would leave less than ``keep`` pixels on a side.
    """
    h, w = img.shape[:2]
    if border_cut > 0 and min(h, w) - 2 * border_cut >= keep:
        img = img[border_cut : h - border_cut, border_cut : w - border_cut]
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[: h - h % 2, : w - w % 2])


def plan(img: F32, lr_crop: int, n: int, seed: int) -> CropPlan:
    """Draw ``n`` LR and ``n`` HR crop corners for the prepared image ``img``.

    HR crops are ``2 * lr_crop``; their map comes from the image shrunk x0.5
    (bicubic, antialiased) and blown back up by nearest neighbour, so they are
    drawn where the content is textured at the coarser scale.
    """
    h, w = img.shape[:2]
    hr_crop = 2 * lr_crop
    if min(h, w) < hr_crop:
        raise ValueError(f"image {w}x{h} is smaller than the {hr_crop}px HR crop")
    rng = np.random.default_rng(seed)
    # One map at a time, each dropped once its corners are drawn (LR first).
    lr_corners = top_lefts(probability_map(gradient_map(img), lr_crop), lr_crop, n, rng)
    # The HR map is the gradient map of the image shrunk x0.5 and blown back
    # up by nearest neighbour; blowing up its luma alone is the same thing.
    small = grey_of(imresize(img, h // 2, w // 2))
    blown = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    del small
    hr_prob = probability_map(grey_gradient_map(blown), hr_crop)
    del blown
    hr_corners = top_lefts(hr_prob, hr_crop, n, rng)
    del hr_prob
    # A (1, 3, H, W) view of the HWC array, not a copy (144 MB at 12 MP): the
    # crops are copied out of it each iteration anyway.
    tensor = torch.from_numpy(img).permute(2, 0, 1)[None]
    return CropPlan(
        image=tensor,
        lr_corners=lr_corners,
        hr_corners=hr_corners,
        lr_crop=lr_crop,
        hr_crop=hr_crop,
    )


def bicubic_up2_matrix(n: int) -> torch.Tensor:
    """(2n, n) MATLAB bicubic x2 matrix, for the per-crop ``LR_bicubic``."""
    return torch.from_numpy(resize_matrix(n, 2 * n)).float()


__all__ = [
    "CropPlan",
    "bicubic_up2_matrix",
    "gradient_map",
    "grey_gradient_map",
    "grey_of",
    "imresize",
    "plan",
    "prepare",
    "probability_map",
    "resize_matrix",
    "top_lefts",
]
