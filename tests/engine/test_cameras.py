"""The second synthetic camera: motion blur, binning, shifted planes, noise, JPEG."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from engine.train.cameras import ShakyCamera, motion_kernel


def test_motion_kernel_is_a_streak_of_the_asked_length_and_direction() -> None:
    k = motion_kernel(6.0, 0.0, 11)
    assert abs(float(k.sum()) - 1) < 1e-6
    assert k[5].sum() > 0.99  # horizontal: all in the middle row
    cols = np.nonzero(k[5] > 1e-3)[0]
    assert cols.max() - cols.min() in (6, 7)
    diagonal = motion_kernel(6.0, math.pi / 4, 11)
    assert np.allclose(diagonal, diagonal.T, atol=1e-6)  # symmetric about y = x


def test_the_camera_is_reproducible_and_shifts_red_against_blue() -> None:
    rng = np.random.default_rng(0)
    hr = np.repeat(np.repeat(rng.random((16, 16, 3)), 4, 0), 4, 1).astype(np.float32)
    cam = ShakyCamera(seed=3)
    a, b = cam(hr, 1), cam(hr, 1)
    assert a.shape == (32, 32, 3) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, cam(hr, 2))  # another photo, another shake
    # A grey vertical edge: red lands to the right of green, blue to the left.
    edge = np.zeros((64, 64, 3), np.float32)
    edge[:, 32:] = 1.0
    still = dataclasses.replace(cam, length_range=(0.0, 0.0), optics_sigma=0.0)
    lr = still.blur_only(edge, 0)
    # Where each plane's edge is: the centroid of its rise along the row.
    rise = np.diff(lr[16], axis=0)
    centre = ((np.arange(31) + 0.5)[:, None] * rise).sum(0) / rise.sum(0)
    assert np.allclose(centre - centre[1], [0.35, 0.0, -0.35], atol=0.02)


def test_noise_grows_with_the_signal() -> None:
    cam = ShakyCamera(seed=0, jpeg_quality=None)
    flat = {v: np.full((64, 64, 3), v, np.float32) for v in (0.1, 0.8)}
    spread = {
        v: float((cam(img) - cam.blur_only(img)).std()) for v, img in flat.items()
    }
    expected = {v: math.sqrt(cam.shot * v + cam.read**2) for v in flat}
    for v in flat:
        assert abs(spread[v] - expected[v]) < 0.15 * expected[v]
