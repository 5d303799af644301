"""images.write: round trips keep what matters, and failures leave nothing behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from engine.io import encode, images
from engine.io.images import ImageData, WriteError


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int = 1, sub_ifds: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "UnsrCam"
    exif[0x013B] = "A. Person"
    if sub_ifds:
        exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal
        exif.get_ifd(0x8825)[1] = "N"  # GPSLatitudeRef
    return exif.tobytes()


def _mode(path: Path) -> str:
    with Image.open(path) as image:
        return image.mode


def _file_exif(path: Path) -> Image.Exif:
    with Image.open(path) as image:
        exif = image.getexif()
        for tag in (0x8769, 0x8825):
            exif.get_ifd(tag)  # sub-IFDs load lazily: read them while open
        return exif


def _levels(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    top = 2**bits - 1
    return (rng.integers(0, top + 1, shape) / top).astype(np.float32)


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_16_bit_round_trip_exact(
    tmp_path: Path, rng: np.random.Generator, suffix: str, gray: bool, with_alpha: bool
) -> None:
    rgb = _levels(rng, (7, 9, 3), 16)
    if gray:
        rgb = np.repeat(rgb[..., :1], 3, axis=2)
    alpha = _levels(rng, (7, 9), 16) if with_alpha else None
    image = ImageData(rgb, alpha, bit_depth=16, gray=gray, icc_profile=_srgb_icc())
    out = images.write(image, tmp_path / f"o{suffix}")
    back = images.read(out)
    assert back.bit_depth == 16
    # Within half a level of 1/65535: every 16-bit value survives.
    assert np.abs(back.rgb - rgb).max() < 0.5 / 65535
    if with_alpha:
        assert back.alpha is not None
        assert np.abs(back.alpha - alpha).max() < 0.5 / 65535
    assert back.gray == gray  # 16-bit gray+alpha TIFF included
    assert back.icc_profile == image.icc_profile


@pytest.mark.parametrize("bits", [8, 16])
def test_quantising_in_bands_writes_the_same_pixels(
    tmp_path: Path,
    rng: np.random.Generator,
    monkeypatch: pytest.MonkeyPatch,
    bits: int,
) -> None:
    # Values beyond [0, 1] and exactly half-way between levels, so clipping
    # and rounding are both exercised band by band.
    rgb = rng.uniform(-0.2, 1.2, (23, 11, 3)).astype(np.float32)
    rgb[0, :3, 0] = np.float32(np.array([0.5, 1.5, 2.5]) / (2**bits - 1))
    alpha = rng.uniform(0.0, 1.0, (23, 11)).astype(np.float32)
    image = ImageData(rgb, alpha, bit_depth=bits)
    top = 2**bits - 1
    expected = np.round(np.clip(rgb, 0.0, 1.0) * top) / top
    monkeypatch.setattr(encode, "QUANTIZE_CHUNK_BYTES", 11 * 3 * 4 * 2)  # 2 rows
    back = images.read(images.write(image, tmp_path / "bands.png"))
    assert back.bit_depth == bits
    np.testing.assert_allclose(back.rgb, expected, atol=1e-7)
    assert back.alpha is not None
    alpha_expected = np.round(alpha * top) / top
    np.testing.assert_allclose(back.alpha, alpha_expected, atol=1e-7)


@pytest.mark.parametrize("suffix", [".png", ".tiff", ".webp", ".bmp"])
def test_alpha_round_trip_8_bit(
    tmp_path: Path, rng: np.random.Generator, suffix: str
) -> None:
    rgb = _levels(rng, (6, 5, 3), 8)
    alpha = _levels(rng, (6, 5), 8)
    # Lossless WebP may change colour under fully transparent pixels: keep alpha > 0.
    alpha = np.maximum(alpha, 1 / 255).astype(np.float32)
    out = images.write(ImageData(rgb, alpha), tmp_path / f"a{suffix}", quality=100)
    back = images.read(out)
    assert back.alpha is not None
    np.testing.assert_allclose(back.alpha, alpha, atol=0.5 / 255)
    np.testing.assert_allclose(back.rgb, rgb, atol=0.5 / 255)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tiff"])
def test_icc_bytes_identical(tmp_path: Path, photo: np.ndarray, suffix: str) -> None:
    icc = _srgb_icc()
    out = images.write(ImageData(photo, icc_profile=icc), tmp_path / f"i{suffix}")
    assert images.read(out).icc_profile == icc


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tiff"])
def test_exif_kept_orientation_reset(
    tmp_path: Path, photo: np.ndarray, suffix: str
) -> None:
    source = tmp_path / "src.png"
    exif_in = _exif(8, sub_ifds=True)
    Image.fromarray(np.round(photo * 255).astype(np.uint8)).save(source, exif=exif_in)
    image = images.read(source)
    assert image.rgb.shape == (64, 48, 3)  # turned
    out = images.write(image, tmp_path / f"e{suffix}")
    exif = _file_exif(out)
    assert exif[0x0112] == 1
    assert exif[0x010F] == "UnsrCam" and exif[0x013B] == "A. Person"
    assert exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    assert exif.get_ifd(0x8825)[1] == "N"
    assert images.read(out).rgb.shape == (64, 48, 3)  # not turned twice


def test_exif_text_tags_kept_in_16_bit(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    image = ImageData(_levels(rng, (4, 4, 3), 16), bit_depth=16, exif=_exif())
    for suffix in (".png", ".tiff"):
        exif = _file_exif(images.write(image, tmp_path / f"x{suffix}"))
        assert exif[0x010F] == "UnsrCam"


def test_gray_written_gray(tmp_path: Path, rng: np.random.Generator) -> None:
    rgb = np.repeat(_levels(rng, (5, 5, 1), 8), 3, axis=2)
    for suffix in (".png", ".jpg", ".tiff", ".bmp"):
        out = images.write(ImageData(rgb, gray=True), tmp_path / f"g{suffix}")
        assert _mode(out) == "L"


def test_16_bit_downgraded_for_jpeg_unless_forced(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    image = ImageData(_levels(rng, (4, 4, 3), 16), bit_depth=16)
    assert _mode(images.write(image, tmp_path / "a.jpg")) == "RGB"
    with pytest.raises(WriteError, match="8 bits"):
        images.write(image, tmp_path / "b.jpg", bit_depth=16)
    eight = images.read(images.write(image, tmp_path / "c.png", bit_depth=8))
    assert eight.bit_depth == 8


def test_jpeg_flattens_alpha_on_white_and_says_so(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), np.float32)
    alpha = np.zeros((8, 8), np.float32)
    image = ImageData(rgb, alpha)
    assert any("flattened" in line for line in images.losses(image, "w.jpg"))
    back = images.read(images.write(image, tmp_path / "w.jpg"))
    assert back.alpha is None
    assert back.rgb.min() > 0.97


def test_quality_changes_size(tmp_path: Path, photo: np.ndarray) -> None:
    low = images.write(ImageData(photo), tmp_path / "low.jpg", quality=20)
    high = images.write(ImageData(photo), tmp_path / "high.jpg", quality=95)
    assert low.stat().st_size < high.stat().st_size


def test_webp_size_limit_is_a_clear_error(tmp_path: Path) -> None:
    wide = ImageData(np.zeros((1, 16_400, 3), np.float32))
    with pytest.raises(WriteError, match="at most 16383 pixels"):
        images.write(wide, tmp_path / "w.webp")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_refused(tmp_path: Path, photo: np.ndarray) -> None:
    with pytest.raises(WriteError, match="format"):
        images.write(ImageData(photo), tmp_path / "x.xyz")
    with pytest.raises(WriteError, match="format"):
        images.write(ImageData(photo), tmp_path / "x.png", fmt="gif")


# --- safety --------------------------------------------------------------------


def test_never_overwrites_input(tmp_path: Path, photo: np.ndarray) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(np.round(photo * 255).astype(np.uint8)).save(source)
    before = source.read_bytes()
    image = images.read(source)
    with pytest.raises(WriteError, match="input"):
        images.write(image, source, overwrite=True)
    with pytest.raises(WriteError, match="input"):
        images.write(image, tmp_path / "." / "in.png", overwrite=True)
    other = ImageData(photo)
    with pytest.raises(WriteError, match="input"):
        images.write(other, source, overwrite=True, protect=[source])
    assert source.read_bytes() == before


def test_existing_file_needs_overwrite(tmp_path: Path, photo: np.ndarray) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")
    with pytest.raises(WriteError, match="already exists"):
        images.write(ImageData(photo), target)
    assert target.read_bytes() == b"keep me"
    images.write(ImageData(photo), target, overwrite=True)
    assert images.read(target).width == photo.shape[1]


def test_creates_missing_folder(tmp_path: Path, photo: np.ndarray) -> None:
    out = images.write(ImageData(photo), tmp_path / "a" / "b" / "o.png")
    assert out.exists()


def test_disk_full_leaves_nothing(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match="disk is full") as info:
        images.write(ImageData(photo), tmp_path / "o.png")
    assert "o.png" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_rename_failure_leaves_nothing(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: str, dst: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    monkeypatch.setattr(os, "link", refuse)
    for overwrite in (False, True):
        with pytest.raises(WriteError, match="no permission"):
            images.write(ImageData(photo), tmp_path / "o.png", overwrite=overwrite)
        assert list(tmp_path.iterdir()) == []


def test_file_system_without_hard_links(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", unsupported)
    out = images.write(ImageData(photo), tmp_path / "o.png")
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
    assert images.read(out).width == photo.shape[1]


def test_file_appearing_during_write_is_not_replaced(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process creates the output between the check and the rename.
    target = tmp_path / "o.png"
    real_fsync = os.fsync

    def fsync_then_race(fd: int) -> None:
        real_fsync(fd)
        target.write_bytes(b"theirs")

    monkeypatch.setattr(os, "fsync", fsync_then_race)
    with pytest.raises(WriteError, match="already exists"):
        images.write(ImageData(photo), target)
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_output_has_ordinary_permissions(tmp_path: Path, photo: np.ndarray) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    out = images.write(ImageData(photo), tmp_path / "o.png")
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_unwritable_folder(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores chmod, so the OS refusal is simulated where it would happen.
    real_open = os.open

    def refuse(path: str, *args: int) -> int:
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(WriteError, match="no permission to write"):
        images.write(ImageData(photo), tmp_path / "o.png")
    assert list(tmp_path.iterdir()) == []
