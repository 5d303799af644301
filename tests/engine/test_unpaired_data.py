"""Training data: disjoint folders, degradations, noise estimates, losses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.train.data import DataError, check_disjoint, load_folder, load_unpaired
from engine.train.degrade import SyntheticRealLR, clean_lr, noise_sigma
from engine.train.losses import GANLoss, dihedral, geo_ensemble, lowpass_l1
from engine.train.schedule import LRPolicy, Phase, PhaseScheduler
from tests.engine.unpaired_helpers import photo


def _save(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)


def _scene(seed: int, h: int = 64, w: int = 80) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 8, w // 8, generator=g)
    up = torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic")
    return up[0].permute(1, 2, 0).clamp(0, 1).numpy()


def test_folders_load_and_bad_files_are_skipped(tmp_path: Path) -> None:
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    hr.mkdir()
    lr.mkdir()
    for i in range(2):
        _save(hr / f"h{i}.png", _scene(i))
        _save(lr / f"l{i}.png", _scene(10 + i, 32, 40))
    (lr / "broken.png").write_bytes(b"not an image")
    _save(lr / "tiny.png", _scene(20, 8, 8))
    data, skipped = load_unpaired(lr, hr, 2, 16)
    assert len(data.hr) == 2 and len(data.real_lr) == 2
    assert any("broken.png" in s and "cannot be read" in s for s in skipped)
    assert any("tiny.png" in s and "smaller" in s for s in skipped)
    b = data.sample(3, torch.Generator().manual_seed(0))
    assert b.x.shape == (3, 3, 16, 16) and b.y.shape == (3, 3, 32, 32)
    assert b.y_down.shape == b.x.shape and b.z.shape == (3, 1, 4, 4)
    with pytest.raises(DataError, match="no usable images"):
        load_folder(tmp_path / "hr", 1000)


def test_training_photos_are_read_upright_and_16_bit(tmp_path: Path) -> None:
    scene = _scene(3, 24, 40)
    stored = Image.fromarray((scene * 255 + 0.5).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise
    stored.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    deep = (scene[..., 0] * 65535).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    photos, skipped = load_folder(tmp_path, 16)
    assert not skipped
    by_name = {p.path.name: p.pixels for p in photos}
    assert by_name["sideways.jpg"].shape == (3, 40, 24)  # upright, as viewers show
    # 16-bit levels survive: more than 256 distinct values in one channel.
    assert len(torch.unique(by_name["deep.png"][0])) > 256


def test_disjointness_catches_a_degraded_copy(tmp_path: Path) -> None:
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    hr.mkdir()
    lr.mkdir()
    scene = _scene(1, 96, 128)
    _save(hr / "a.png", scene)
    _save(hr / "b.png", _scene(2, 96, 128))
    _save(lr / "c.png", _scene(3, 48, 64))
    ok_hr, _ = load_folder(hr, 16)
    ok_lr, _ = load_folder(lr, 16)
    check_disjoint(ok_hr, ok_lr)  # different photos pass
    # The same scene, blurred, downscaled, noisy and JPEG'd, under another name.
    degraded = SyntheticRealLR(scale=2, seed=5)(scene.astype(np.float32))
    Image.fromarray((degraded * 255 + 0.5).astype(np.uint8)).save(lr / "z.jpg")
    real, _ = load_folder(lr, 16)
    with pytest.raises(DataError, match=r"a\.png.*z\.jpg.*same picture"):
        check_disjoint(ok_hr, real)
    # The same file on both sides, and a shared file name.
    same = [photo(0, 32, 32, 0)]
    with pytest.raises(DataError, match="identical files"):
        check_disjoint(same, same)
    other = [photo(0, 32, 32, 99)]
    with pytest.raises(DataError, match="same file name"):
        check_disjoint(same, [type(other[0])(other[0].path, other[0].pixels, "x")])


def test_synthetic_real_lr_is_noisy_and_smaller() -> None:
    hr = _scene(4, 128, 128).astype(np.float32)
    op = SyntheticRealLR(scale=2, noise=8 / 255, jpeg_quality=None, seed=1)
    lr = op(hr, 0)
    assert lr.shape == (64, 64, 3) and lr.dtype == np.float32
    clean = clean_lr(torch.from_numpy(hr.transpose(2, 0, 1))[None], 2)
    # The estimator finds the added noise to within 25 % on a smooth scene.
    assert noise_sigma(lr) == pytest.approx(8 / 255, rel=0.25)
    assert noise_sigma(clean) < 0.3 * noise_sigma(lr)
    assert np.array_equal(op(hr, 0), lr)  # seeded per image
    assert not np.array_equal(op(hr, 1), lr)


def test_clean_lr_ops() -> None:
    y = torch.rand(2, 3, 32, 32)
    for op in ("bicubic", "gauss_bicubic"):
        out = clean_lr(y, 2, op)  # type: ignore[arg-type]
        assert out.shape == (2, 3, 16, 16) and out.min() >= 0 and out.max() <= 1
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(clean_lr(flat, 2), torch.full((1, 3, 8, 8), 0.3), atol=1e-5)


def test_lowpass_loss_sees_colour_not_noise() -> None:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 32, 32, generator=g)
    noisy = img + 0.05 * torch.randn(1, 3, 32, 32, generator=g)
    tinted = img + torch.tensor([0.05, 0.0, -0.05]).view(1, 3, 1, 1)
    # The same amount of change: noise barely reaches the low band, a tint does.
    assert lowpass_l1(noisy, img, 2.0) < 0.25 * lowpass_l1(tinted, img, 2.0)
    assert float(lowpass_l1(img, img, 2.0)) == 0.0


def test_losses_and_schedules() -> None:
    pred = torch.full((2, 1, 4, 4), 0.5)
    lsgan = GANLoss("lsgan")
    assert float(lsgan(pred, True)) == pytest.approx(0.25)
    assert float(lsgan(pred, False, target=0.5)) == 0.0
    x = torch.rand(1, 3, 6, 6)
    for k in range(8):
        assert torch.equal(dihedral(dihedral(x, k), k, inverse=True), x)
    # An equivariant net has zero geometric-ensemble loss.
    ident = torch.nn.Identity()
    assert float(geo_ensemble(ident, x, x, list(range(8)))) < 1e-6
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    assert float(geo_ensemble(conv, x, conv(x), [1]).detach()) > 1e-3
    sched = PhaseScheduler((Phase("a", 0.25, ()), Phase("b", 1.0, ())))
    assert sched.at(0.1).name == "a" and sched.at(0.5).name == "b"
    assert sched.start_of("b") == 0.25
    with pytest.raises(ValueError, match="end"):
        PhaseScheduler((Phase("a", 0.5, ()),))
    pol = LRPolicy((0.5,), 0.5, decay_from=0.8)
    assert pol.factor(0.1) == 1.0 and pol.factor(0.6) == 0.5
    assert pol.factor(0.9) == pytest.approx(0.25)
