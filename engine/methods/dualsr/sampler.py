"""Where DualSR looks: gradient-weighted crop sampling, drawn up front.

KernelGAN's sampler, as the DualSR authors' code uses it: crop centres are drawn with
probability proportional to a smoothed map of the image's strongest gradients,
so the fit spends its iterations on texture and edges, not on flat sky.
"""

from __future__ import annotations

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
    """MATLAB-style bicubic resize of float (H, W, C) to (out_h, out_w, C)."""
    h, w, c = img.shape
    # Sparse: the matrices are banded, and photos can have thousands of rows.
    mh = sparse.csr_matrix(resize_matrix(h, out_h))
    mw = sparse.csr_matrix(resize_matrix(w, out_w))
    rows = mh @ img.astype(np.float64).reshape(h, w * c)
    cols = mw @ rows.reshape(out_h, w, c).transpose(1, 0, 2).reshape(w, out_h * c)
    out = cols.reshape(out_w, out_h, c).transpose(1, 0, 2)
    return np.ascontiguousarray(out, dtype=np.float32)


def _clip_extreme(m: F64, percent: float) -> F64:
    """Keep only the top ``1 - percent`` of ``m``: a near 0/1 indicator."""
    flat = np.sort(m.ravel())
    lo = flat[min(int(percent * flat.size), flat.size - 1)]
    above = flat[flat > lo]
    hi = above[0] if above.size else lo + 1e-5
    out: F64 = np.clip(m, lo, hi) - lo
    return out


def gradient_map(img: F32) -> F64:
    """KernelGAN's "loss map": where the image's strongest gradients are.

    Mean 1 over the image; large on textured and edged regions, ~0 on flat ones.
    """
    grey = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
    gy, gx = np.gradient(grey.astype(np.float64))
    total = np.zeros_like(gx)
    for m in (np.abs(gx), np.abs(gy), np.sqrt(gx * gx + gy * gy)):
        m = m.copy()
        m[:5], m[-5:], m[:, :5], m[:, -5:] = 0, 0, 0, 0
        m = _clip_extreme(m, 0.97)
        s = m.sum()
        if s > 0:
            total += m / s
    total = np.maximum(uniform_filter(total, size=5, mode="constant"), 0.0)
    mean = total.mean()
    return total / mean if mean > 0 else np.ones_like(total)


def probability_map(grad: F64, crop: int) -> F64:
    """Probability of each pixel as a crop centre; sums to 1."""
    half = crop // 2
    # Clipped: the running-sum filter leaves -1e-20 specks on flat zeros.
    p = np.maximum(uniform_filter(grad, size=max(1, half), mode="constant"), 0.0)
    p[:half], p[-half:], p[:, :half], p[:, -half:] = 0, 0, 0, 0
    s = p.sum()
    if s <= 0:
        p = np.zeros_like(grad)
        p[half : grad.shape[0] - half + 1, half : grad.shape[1] - half + 1] = 1.0
        s = p.sum()
        if s <= 0:
            p[:] = 1.0
            s = p.sum()
    out: F64 = p / s
    return out


def top_lefts(
    prob: F64, crop: int, n: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Draw ``n`` crop corners (row, col) from ``prob``, even and inside."""
    h, w = prob.shape
    flat = rng.choice(prob.size, size=n, p=prob.ravel())
    rows, cols = flat // w - crop // 2, flat % w - crop // 2
    rows = np.clip(rows, 0, h - crop)
    cols = np.clip(cols, 0, w - crop)
    # The authors round down to even, keeping crops on the x2 sampling grid.
    out: npt.NDArray[np.int64] = np.stack([rows - rows % 2, cols - cols % 2], axis=1)
    return out


@dataclass(frozen=True, eq=False)
class CropPlan:
    """All crop corners of a fit, drawn once, seeded.

    Attributes
    ----------
    image : torch.Tensor
        The (cut, even-trimmed) image, (1, 3, H, W) float32.
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
    lr_prob = probability_map(gradient_map(img), lr_crop)
    small = imresize(img, h // 2, w // 2)
    blown = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    hr_prob = probability_map(gradient_map(blown), hr_crop)
    tensor = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    return CropPlan(
        image=tensor,
        lr_corners=top_lefts(lr_prob, lr_crop, n, rng),
        hr_corners=top_lefts(hr_prob, hr_crop, n, rng),
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
    "imresize",
    "plan",
    "prepare",
    "probability_map",
    "resize_matrix",
    "top_lefts",
]
