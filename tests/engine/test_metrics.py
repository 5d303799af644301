from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import metrics


def _noisy(img: np.ndarray, rng: np.random.Generator, s: float) -> np.ndarray:
    return np.clip(img + rng.normal(0, s, img.shape), 0, 1).astype(np.float32)


def test_y_matches_the_matlab_formula(rng: np.random.Generator) -> None:
    rgb = rng.random((5, 7, 3))
    y = metrics.rgb_to_y(rgb)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    np.testing.assert_allclose(y, 16 + 65.481 * r + 128.553 * g + 24.966 * b)
    black_white = np.array([[[0, 0, 0], [1, 1, 1]]], np.float32)
    np.testing.assert_allclose(metrics.rgb_to_y(black_white), [[16.0, 235.0]])


def test_psnr_of_identical_images_is_inf(photo: np.ndarray) -> None:
    assert metrics.psnr(photo, photo.copy()) == math.inf
    assert metrics.psnr(photo, photo, y_channel=False) == math.inf


def test_psnr_known_values() -> None:
    hr = np.zeros((8, 8, 3), np.float32)
    sr = np.full((8, 8, 3), 0.1, np.float32)
    # RGB: every value is off by 25.5 of 255 -> 20 log10(10) = 20 dB.
    assert metrics.psnr(sr, hr, y_channel=False) == pytest.approx(20.0)
    # Y: off by 0.1 * (65.481 + 128.553 + 24.966) = 21.9.
    expected = 20 * math.log10(255 / 21.9)
    assert metrics.psnr(sr, hr) == pytest.approx(expected, abs=1e-4)


def test_shave_ignores_the_border(photo: np.ndarray) -> None:
    damaged = photo.copy()
    damaged[:2] = 0
    damaged[:, -2:] = 1
    assert math.isfinite(metrics.psnr(damaged, photo))
    assert metrics.psnr(damaged, photo, shave=2) == math.inf
    assert metrics.ssim(damaged, photo, shave=2) == pytest.approx(1.0)
    assert metrics.psnr(damaged, photo, shave=1) < math.inf


def test_shape_mismatch_is_a_clear_error(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(photo, photo[:-1])
    with pytest.raises(ValueError, match="same shape"):
        metrics.ssim(photo, photo[:, :-1])
    with pytest.raises(ValueError, match="same shape"):
        metrics.lpips(photo, photo[:-2])
    with pytest.raises(ValueError, match="leaves nothing"):
        metrics.psnr(photo, photo, shave=24)
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(photo[:12, :12], photo[:12, :12], shave=1)


def test_ssim_range(photo: np.ndarray, rng: np.random.Generator) -> None:
    assert metrics.ssim(photo, photo) == pytest.approx(1.0)
    assert metrics.ssim(photo, photo, y_channel=False) == pytest.approx(1.0)
    mild = metrics.ssim(_noisy(photo, rng, 0.02), photo)
    strong = metrics.ssim(_noisy(photo, rng, 0.2), photo)
    assert 0.0 <= strong < mild < 1.0


def _wang_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang's ssim_index written out: Gaussian 11x11, valid filtering."""
    ax = np.arange(11) - 5
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.5**2))
    g /= g.sum()

    def filt(x: np.ndarray) -> np.ndarray:
        win = np.lib.stride_tricks.sliding_window_view(x, (11, 11))
        return np.einsum("ijkl,kl->ij", win, g)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    va = filt(a * a) - mu_a**2
    vb = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (va + vb + c2)
    )
    return float(m.mean())


def test_ssim_matches_wangs_ssim_index(
    photo: np.ndarray, rng: np.random.Generator
) -> None:
    sr = _noisy(photo, rng, 0.05)
    ours = metrics.ssim(sr, photo, shave=2)
    ref = _wang_ssim(
        metrics.rgb_to_y(sr[2:-2, 2:-2]), metrics.rgb_to_y(photo[2:-2, 2:-2])
    )
    assert ours == pytest.approx(ref, abs=2e-4)


def test_noise_sigma_finds_added_noise(
    photo: np.ndarray, rng: np.random.Generator
) -> None:
    flat = np.full((96, 96, 3), 0.5)
    assert metrics.noise_sigma(flat + rng.normal(0, 0.03, flat.shape)) == (
        pytest.approx(0.03, rel=0.1)
    )
    # The photo fixture already carries std 0.01 noise; its edges must not count.
    noisy = photo + rng.normal(0, 0.05, photo.shape)
    assert metrics.noise_sigma(noisy) == pytest.approx(0.051, rel=0.15)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    clean = np.stack([xx, yy, xx * yy], axis=2)
    assert metrics.noise_sigma(clean) < 1e-3
    assert metrics.noise_sigma(clean[..., 0]) < 1e-3


def test_lpips_unavailable_without_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo: np.ndarray
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert not metrics.lpips_available()
    reason = metrics.lpips_unavailable_reason()
    assert reason is not None and metrics.ALEXNET_FILE in reason
    # The answer is in the sentence: torchvision's own checked download, or
    # the publisher's URL and the hash prefix it states.
    assert "torchvision.models.alexnet(weights='DEFAULT')" in reason
    assert metrics.ALEXNET_URL in reason and "starts with 7be5be79" in reason
    assert metrics.lpips(photo, photo) is None
    assert not (tmp_path / "hub").exists()  # nothing was fetched


def test_lpips_broken_weights_file_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo: np.ndarray
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / metrics.ALEXNET_FILE).write_bytes(b"garbage")
    reason = metrics.lpips_unavailable_reason()
    assert reason is not None and "could not be loaded" in reason
    assert metrics.lpips(photo, photo) is None


def test_lpips_uses_cached_weights(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    photo: np.ndarray,
    rng: np.random.Generator,
) -> None:
    import torchvision

    torch.manual_seed(0)
    # Stand-in weights with the torchvision layout (features only, to stay small).
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    (tmp_path / "checkpoints").mkdir()
    torch.save(
        {f"features.{k}": v for k, v in features.items()},
        tmp_path / "checkpoints" / metrics.ALEXNET_FILE,
    )
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert metrics.lpips_available(), metrics.lpips_unavailable_reason()
    same = metrics.lpips(photo, photo)
    other = metrics.lpips(_noisy(photo, rng, 0.2), photo)
    assert same is not None and other is not None
    assert same == pytest.approx(0.0, abs=1e-6)
    assert other > same


def test_measure_names_the_figures(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    photo: np.ndarray,
    rng: np.random.Generator,
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    sr = _noisy(photo, rng, 0.05)
    figures = metrics.measure(sr, photo, shave=2)
    assert set(figures) == {"psnr_y", "ssim_y"}  # no LPIPS weights here
    assert figures["psnr_y"] == metrics.psnr(sr, photo, shave=2)
    assert figures["ssim_y"] == metrics.ssim(sr, photo, shave=2)
