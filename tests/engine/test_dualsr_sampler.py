"""DualSR's crop sampler in float32 with a partial sort draws what float64 drew."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from engine.methods.dualsr import sampler


def _clip_sorted(m: np.ndarray, percent: float) -> np.ndarray:
    """The reference: KernelGAN's clip_extreme with a full sort, in float64."""
    flat = np.sort(m.ravel())
    lo = flat[min(int(percent * flat.size), flat.size - 1)]
    above = flat[flat > lo]
    hi = above[0] if above.size else lo + 1e-5
    return np.clip(m, lo, hi) - lo


def _map_float64(img: np.ndarray, crop: int) -> np.ndarray:
    """The reference probability map (specs/dualsr.md section 3) in float64."""
    grey = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
    gy, gx = np.gradient(grey.astype(np.float64))
    total = np.zeros_like(gx)
    for m in (np.abs(gx), np.abs(gy), np.sqrt(gx * gx + gy * gy)):
        m[:5], m[-5:], m[:, :5], m[:, -5:] = 0, 0, 0, 0
        m = _clip_sorted(m, 0.97)
        total += m / m.sum()
    total = np.maximum(uniform_filter(total, size=5, mode="constant"), 0.0)
    total /= total.mean()
    half = crop // 2
    p = np.maximum(uniform_filter(total, size=half, mode="constant"), 0.0)
    p[:half], p[-half:], p[:, :half], p[:, -half:] = 0, 0, 0, 0
    return p / p.sum()


def _photo(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32) / 128
    img = np.stack([xx, yy, 0.5 + 0.4 * np.sin(9 * xx + 5 * yy)], axis=2)
    img[:, 64:] += rng.normal(0, 0.1, (96, 64, 3)).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def test_partial_sort_clips_exactly_as_the_full_sort(
    rng: np.random.Generator,
) -> None:
    m = np.abs(rng.normal(size=(50, 60))).astype(np.float32)
    m[:10] = 0.25  # ties at the threshold
    for percent in (0.5, 0.97, 0.999):
        got = sampler._clip_extreme(m.copy(), percent)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, _clip_sorted(m, percent))


def test_float32_maps_draw_the_same_corners_as_float64(
    rng: np.random.Generator,
) -> None:
    img = _photo(rng)
    got = sampler.probability_map(sampler.gradient_map(img), 32)
    ref = _map_float64(img, 32)
    assert got.dtype == np.float32
    assert 0.5 * np.abs(got - ref).sum() < 1e-6  # total variation distance
    ours = sampler.top_lefts(got, 32, 3000, np.random.default_rng(7))
    flat = np.random.default_rng(7).choice(ref.size, 3000, p=ref.ravel())
    rows = np.clip(flat // 128 - 16, 0, 96 - 32)
    cols = np.clip(flat % 128 - 16, 0, 128 - 32)
    theirs = np.stack([rows - rows % 2, cols - cols % 2], axis=1)
    assert (ours == theirs).all(axis=1).mean() > 0.999


def test_hr_map_from_the_blown_up_luma_equals_the_blown_up_image(
    rng: np.random.Generator,
) -> None:
    small = _photo(rng)[:48, :64]
    blown = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    grey = np.repeat(np.repeat(sampler.grey_of(small), 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(
        sampler.grey_gradient_map(grey), sampler.gradient_map(blown)
    )
