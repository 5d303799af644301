"""The estimated-degradation method's measurements: JPEG tables, noise, kernels."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.nets.kernel_priors import centre_of_mass
from engine.train import jpeg, kernel_spectrum
from engine.train.degrade import clean_lr
from engine.train.kernel_fit import bicubic_kernel, recentre
from engine.train.noise_pool import NoiseCut, NoisePool, NoiseSpec, flat_patches
from engine.train.pools import KernelPool, downscale, synthesise


def _noise_rgb(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("quality", [35, 60, 75, 92])
def test_jpeg_quality_is_read_from_the_files_tables(
    tmp_path: Path, quality: int
) -> None:
    path = tmp_path / "cam.jpg"
    Image.fromarray(_noise_rgb(quality)).save(path, quality=quality)
    setting = jpeg.read_setting(path)
    assert setting is not None and setting.quality == quality
    assert setting.subsampling == 2  # Pillow's default, 4:2:0
    # Compressing with the photo's tables is compressing at its quality.
    img = torch.rand(3, 32, 40, generator=torch.Generator().manual_seed(1))
    buf = io.BytesIO()
    rgb = (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    expected = np.asarray(Image.open(buf), np.float32) / 255
    got = jpeg.compress(img, setting).permute(1, 2, 0).numpy()
    assert np.array_equal(got, expected)


def test_files_that_are_not_jpeg_have_no_setting(tmp_path: Path) -> None:
    png = tmp_path / "a.jpg"  # the name lies: the bytes are PNG
    Image.fromarray(_noise_rgb(0)).save(png, "PNG")
    junk = tmp_path / "b.jpg"
    junk.write_bytes(b"not an image")
    assert jpeg.read_setting(png) is None
    assert jpeg.read_setting(junk) is None
    assert jpeg.read_setting(tmp_path / "missing.jpg") is None


def _scene(sigma: float, seed: int = 0) -> torch.Tensor:
    """Left half: flat grey levels; right half: fine stripes; plus noise sigma."""
    g = torch.Generator().manual_seed(seed)
    img = torch.empty(3, 96, 128)
    levels = 0.2 + 0.6 * torch.rand(3, 6, 4, generator=g)
    img[:, :, :64] = levels.repeat_interleave(16, 1).repeat_interleave(16, 2)
    stripes = 0.5 + 0.3 * torch.sin(torch.arange(64) * 2.1)
    img[:, :, 64:] = stripes.expand(3, 96, 64)
    return img + sigma * torch.randn(3, 96, 128, generator=g)


def test_flat_patches_measure_the_noise_and_skip_texture() -> None:
    sigma = 0.02
    spec = NoiseSpec(patch=16)
    scene = _scene(sigma)
    patches, levels, looked = flat_patches(scene, spec)
    assert looked == 6 * 8
    # Only the 24 flat tiles of the left half pass; the stripes never do.
    assert 18 <= len(patches) <= 24 and len(levels) == len(patches)
    assert patches.mean((2, 3)).abs().max() < 1e-6  # each patch's mean removed
    per_patch = patches.flatten(1).std(1)
    assert per_patch.max() < 1.3 * sigma
    assert abs(float(patches.std()) - sigma) < 0.1 * sigma
    # Each patch keeps the brightness it had: one of the left half's levels.
    luma = (scene[:, :, :64] * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    tile_means = luma.reshape(6, 16, 4, 16).mean((1, 3)).flatten()
    assert all((tile_means - lv).abs().min() < 0.01 for lv in levels)


def test_a_gentle_slope_is_scene_not_noise() -> None:
    sigma = 0.02
    g = torch.Generator().manual_seed(1)
    ramp = torch.linspace(0.3, 0.42, 16).repeat(8)  # a shaded wall, 12 % per patch
    img = ramp.expand(3, 64, 128) + sigma * torch.randn(3, 64, 128, generator=g)
    patches, _, _ = flat_patches(img, NoiseSpec(patch=16))
    assert len(patches) >= 28  # of 32 (a few are unlucky draws of the noise)
    assert abs(float(patches.std()) - sigma) < 0.1 * sigma  # the ramp is gone


def test_clipped_regions_are_not_taken_for_quiet_ones() -> None:
    img = _scene(0.02)
    img[:, :48, :64] = 0.0  # crushed blacks: no noise left there, but no texture
    patches, _, _ = flat_patches(img.clamp(0, 1), NoiseSpec(patch=16))
    assert len(patches) > 0
    assert float(patches.flatten(1).std(1).min()) > 0.01


def test_noise_pool_keeps_the_newest_and_tiles_maps() -> None:
    pool = NoisePool(NoiseSpec(patch=4, capacity=5, level_window=0))
    g = torch.Generator().manual_seed(0)
    assert pool.sample(2, 6, 10, g).abs().sum() == 0  # empty: no noise
    batch = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 3, 4, 4)
    pool.add(NoiseCut(batch, torch.linspace(0, 1, 8), 20))
    assert len(pool.patches) == 5 and pool.seen == 20 and pool.found == 8
    # The three newest replaced the three oldest.
    assert sorted(pool.patches[:, 0, 0, 0].tolist()) == [3, 4, 5, 6, 7]
    maps = pool.sample(2, 6, 10, g)
    assert maps.shape == (2, 3, 6, 10)
    assert set(maps.unique().tolist()) <= {3.0, 4.0, 5.0, 6.0, 7.0}
    clone = NoisePool(NoiseSpec(patch=4, capacity=5))
    clone.load(pool.state())
    assert torch.equal(clone.patches, pool.patches) and clone.found == 8
    assert torch.equal(clone.levels, pool.levels)


def test_noise_goes_where_the_brightness_matches() -> None:
    # Photon noise grows with the signal: variance proportional to brightness,
    # quiet shadows (0.01 at 0.1) and noisy highlights (0.03 at 0.9).
    g = torch.Generator().manual_seed(0)
    dark = 0.01 * torch.randn(50, 3, 8, 8, generator=g)
    bright = 0.03 * torch.randn(50, 3, 8, 8, generator=g)
    levels = torch.cat([torch.full((50,), 0.1), torch.full((50,), 0.9)])
    cut = NoiseCut(torch.cat([dark, bright]), levels, 100)
    pool = NoisePool(NoiseSpec(patch=8, level_window=0.2, level_scale=False))
    pool.add(cut)
    shadow = pool.sample(4, 16, 16, g, torch.full((4, 2, 2), 0.15))
    light = pool.sample(4, 16, 16, g, torch.full((4, 2, 2), 0.85))
    assert float(shadow.std()) < 0.013 < 0.026 < float(light.std())
    anywhere = NoisePool(NoiseSpec(patch=8, level_window=0, level_scale=False))
    anywhere.add(cut)
    mixed = anywhere.sample(4, 16, 16, g, torch.full((4, 2, 2), 0.15))
    assert float(mixed.std()) > 0.017
    # Between the measured levels the noise-level function scales the patches:
    # at 0.5 the variance is five times that at 0.1, a spread of about 0.022.
    scaled = NoisePool(NoiseSpec(patch=8, level_window=0.2))
    scaled.add(cut)
    a, b = scaled.noise_level()
    assert a > 0 and (a * 0.9 + b) > 6 * (a * 0.1 + b)
    middle = scaled.sample(8, 16, 16, g, torch.full((8, 2, 2), 0.5))
    assert 0.018 < float(middle.std()) < 0.027


def test_downscale_with_the_bicubic_kernel_is_bicubic_halving() -> None:
    # The 13x13 stride-2 convention puts an LR pixel between two HR pixels,
    # exactly where bicubic halving (and the baseline's pairs) put it.
    g = torch.Generator().manual_seed(0)
    small = torch.rand(1, 3, 12, 12, generator=g)
    # Bilinear, so nothing leaves [0, 1] (clean_lr clamps).
    y = torch.nn.functional.interpolate(small, size=(96, 96), mode="bilinear")
    ours = downscale(y, bicubic_kernel()[None], 2)
    ref = clean_lr(y, 2, "bicubic")
    assert ours.shape == ref.shape == (1, 3, 48, 48)
    assert (ours - ref)[..., 4:-4, 4:-4].abs().max() < 1e-5
    assert downscale(torch.rand(2, 3, 64, 64), bicubic_kernel().expand(2, 13, 13), 4)[
        0
    ].shape == (3, 16, 16)


def test_recentre_moves_a_kernel_to_kernelgans_centre() -> None:
    k = torch.zeros(13, 13)
    k[4:7, 7:10] = 1.0  # off-centre by a pixel or two
    out = recentre(k)
    assert abs(float(out.sum()) - 1) < 1e-5
    assert torch.allclose(centre_of_mass(out), torch.tensor([6.5, 6.5]), atol=0.05)


def test_kernel_pool_replaces_the_oldest_and_refuses_broken_fits() -> None:
    pool = KernelPool(2)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(pool.sample(1, g)[0], bicubic_kernel())  # empty: bicubic
    a, b, c = (torch.full((13, 13), v / 169) for v in (1.0, 2.0, 3.0))
    assert pool.add(a) and pool.add(b) and pool.add(c)
    assert not pool.add(torch.full((13, 13), float("nan")))
    assert sorted(round(float(k[0, 0]) * 169, 4) for k in pool.kernels) == [2.0, 3.0]


def test_synthesised_lr_carries_the_pools_noise_and_the_cameras_jpeg(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cam.jpg"
    Image.fromarray(_noise_rgb(3)).save(path, quality=50)
    setting = jpeg.read_setting(path)
    assert setting is not None
    y = torch.full((2, 3, 64, 64), 0.5)
    noise = NoisePool(NoiseSpec(patch=8))
    g = torch.Generator().manual_seed(0)
    quiet = synthesise(y, KernelPool(4), noise, (), 2, g)
    assert quiet.shape == (2, 3, 32, 32)
    assert torch.allclose(quiet, torch.round(y[:, :, ::2, ::2] * 255) / 255)
    noise.add(NoiseCut(0.05 * torch.randn(64, 3, 8, 8, generator=g), torch.rand(64), 0))
    noisy = synthesise(y, KernelPool(4), noise, (), 2, g)
    assert 0.03 < float(noisy.std()) < 0.07
    jpegged = synthesise(y, KernelPool(4), noise, (setting,), 2, g)
    # q50 removes much of the fine noise.
    assert float(jpegged.std()) < 0.8 * float(noisy.std())


def _power_law_scene(n: int, seed: int) -> torch.Tensor:
    """A colour image whose spectrum falls as 1/f^2 at every scale, like photos."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.fftfreq(n)
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    amp = 1 / radius
    amp[0, 0] = 0.0
    planes = []
    for _ in range(3):
        z = torch.randn(n, n, generator=g) + 1j * torch.randn(n, n, generator=g)
        planes.append(torch.fft.ifft2(z * amp).real)
    img = torch.stack(planes)
    return (0.5 + 0.12 * img / img.std()).clamp(0, 1)


@pytest.mark.parametrize(
    ("sy", "sx", "theta"), [(1.0, 1.0, 0.0), (1.2, 2.2, 0.6), (2.0, 2.0, 0.0)]
)
def test_a_known_gaussian_kernel_is_recovered_from_the_lr_alone(
    sy: float, sx: float, theta: float
) -> None:
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    cov = rot @ torch.diag(torch.tensor([sy**2, sx**2], dtype=torch.float64)) @ rot.T
    true_k = kernel_spectrum.gaussian(cov)
    hr = _power_law_scene(384, 0)[None]
    lr = downscale(hr, true_k[None], 2)[0]
    spec = kernel_spectrum.SpectrumSpec()
    est = kernel_spectrum.estimate([kernel_spectrum.textured_tiles(lr, spec)], spec)
    assert est is not None
    # The second moments of the two kernels as drawn (13 px wide) agree within
    # 20 % (small kernels are the hardest: the LR aliases).
    got, want = _moments(est), _moments(true_k)
    assert torch.linalg.matrix_norm(got - want) < 0.2 * torch.linalg.matrix_norm(want)
    # And the estimate makes the LR from the HR far better than bicubic does.
    err = {
        name: float(((downscale(hr, k[None], 2)[0] - lr) ** 2).mean())
        for name, k in (("estimate", est), ("bicubic", bicubic_kernel()))
    }
    assert err["estimate"] < 0.1 * err["bicubic"]


def _moments(k: torch.Tensor) -> torch.Tensor:
    r = torch.arange(k.shape[0], dtype=torch.float64) - 6.5
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    k = k.double() / k.sum()
    return torch.stack(
        [
            torch.stack([(k * yy * yy).sum(), (k * yy * xx).sum()]),
            torch.stack([(k * yy * xx).sum(), (k * xx * xx).sum()]),
        ]
    )


def test_a_subsets_fit_far_from_the_cameras_stays_out_of_the_pool() -> None:
    camera = torch.diag(torch.tensor([1.5, 1.5], dtype=torch.float64))
    near = torch.tensor([[1.8, 0.3], [0.3, 1.1]], dtype=torch.float64)
    assert kernel_spectrum.plausible(near, camera)
    assert not kernel_spectrum.plausible(camera / 4, camera)  # a rendered clock face
    assert not kernel_spectrum.plausible(camera * 4, camera)
    assert not kernel_spectrum.plausible(torch.diag(torch.tensor([2.0, -0.1])), camera)
