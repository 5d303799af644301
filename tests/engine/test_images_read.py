"""images.read: every mode and format comes in upright; bad files fail clearly."""

from __future__ import annotations

import io
import os
import pathlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from engine.io import images
from engine.io.images import (
    DamagedImageError,
    ImageError,
    NotAnImageError,
    TooLargeError,
)


def _noise(rng: np.random.Generator, h: int = 12, w: int = 16) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims a huge size: a decompression bomb in miniature."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
    path.write_bytes(data + chunk(b"IEND", b""))


# --- bad input -----------------------------------------------------------------


def test_missing_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.png"
    with pytest.raises(NotAnImageError) as info:
        images.read(path)
    assert "nope.png" in str(info.value)
    assert "not found" in info.value.reason


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(NotAnImageError, match=r"empty\.png: the file is empty"):
        images.read(path)


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("shopping list: milk, eggs\n")
    with pytest.raises(NotAnImageError) as info:
        images.read(path)
    assert "notes.png" in str(info.value)
    assert "text" in info.value.reason


def test_random_bytes_named_jpg(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "junk.jpg"
    path.write_bytes(b"\x00\xff" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(NotAnImageError, match="not an image"):
        images.read(path)


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotAnImageError, match="folder"):
        images.read(tmp_path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path: Path, rng: np.random.Generator, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_noise(rng, 64, 64)).save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DamagedImageError) as info:
        images.read(path)
    assert path.name in str(info.value)
    assert "truncated" in info.value.reason


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_header_cut_short(tmp_path: Path, rng: np.random.Generator, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_noise(rng, 32, 32)).save(buffer, fmt)
    path = tmp_path / f"stub.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[:14])
    with pytest.raises(DamagedImageError, match="damaged or truncated"):
        images.read(path)


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    _png_header_only(path, 30_000, 30_000)  # 900 MP: beyond Pillow's own guard
    with pytest.raises(TooLargeError, match=r"bomb\.png: .*too large"):
        images.read(path)


def test_large_image_over_our_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    _png_header_only(path, 12_000, 10_000)  # 120 MP: Pillow only warns
    with pytest.raises(TooLargeError, match="120 MP"):
        images.read(path)


def test_max_pixels_is_configurable(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(_noise(rng)).save(path)
    with pytest.raises(TooLargeError):
        images.read(path, max_pixels=100)
    assert images.read(path).width == 16


def test_permission_denied(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, which ignores chmod: simulate the OS refusing.
    path = tmp_path / "locked.png"
    Image.fromarray(_noise(rng)).save(path)

    def refuse(self: pathlib.Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)
    with pytest.raises(ImageError, match=r"locked\.png: no permission"):
        images.read(path)


# --- modes and formats ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "bmp", "tiff", "webp"])
def test_rgb_formats_lossless(
    tmp_path: Path, rng: np.random.Generator, fmt: str
) -> None:
    pixels = _noise(rng)
    path = tmp_path / f"x.{fmt}"
    options = {"lossless": True} if fmt == "webp" else {}
    Image.fromarray(pixels).save(path, **options)
    data = images.read(path)
    assert data.rgb.dtype == np.float32 and data.rgb.shape == (12, 16, 3)
    assert not data.gray and data.alpha is None and data.bit_depth == 8
    np.testing.assert_array_equal(np.round(data.rgb * 255).astype(np.uint8), pixels)
    assert data.source == path


def test_jpeg_reads_close(tmp_path: Path, rng: np.random.Generator) -> None:
    pixels = np.full((16, 16, 3), (200, 40, 90), np.uint8)
    path = tmp_path / "x.jpg"
    Image.fromarray(pixels).save(path, quality=100)
    data = images.read(path)
    assert np.abs(data.rgb * 255 - pixels).max() < 4


def test_gray_and_gray_alpha(tmp_path: Path, rng: np.random.Generator) -> None:
    gray = rng.integers(0, 256, (10, 8), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    data = images.read(tmp_path / "g.png")
    assert data.gray and data.alpha is None
    for c in range(3):
        np.testing.assert_array_equal(np.round(data.rgb[..., c] * 255), gray)
    alpha = rng.integers(0, 256, (10, 8), dtype=np.uint8)
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(tmp_path / "la.png")
    data = images.read(tmp_path / "la.png")
    assert data.gray and data.alpha is not None
    np.testing.assert_array_equal(np.round(data.alpha * 255), alpha)


def test_gray_16_bit(tmp_path: Path, rng: np.random.Generator) -> None:
    values = rng.integers(0, 65536, (9, 7), dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    data = images.read(tmp_path / "g16.png")
    assert data.gray and data.bit_depth == 16
    np.testing.assert_array_equal(np.round(data.rgb[..., 0] * 65535), values)


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_rgb_16_bit_keeps_every_bit(
    tmp_path: Path, rng: np.random.Generator, suffix: str
) -> None:
    import cv2

    values = rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    path = tmp_path / f"c16{suffix}"
    cv2.imwrite(str(path), values[..., ::-1])  # OpenCV takes BGR
    data = images.read(path)
    assert data.bit_depth == 16 and not data.gray
    np.testing.assert_array_equal(np.round(data.rgb * 65535).astype(np.uint16), values)


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    index = np.array([[0, 1], [2, 1]], np.uint8)
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9)
    image = Image.fromarray(index, "P")
    image.putpalette(palette)
    image.save(tmp_path / "p.png")
    data = images.read(tmp_path / "p.png")
    assert data.alpha is None and not data.gray
    np.testing.assert_array_equal(data.rgb[0, 0], [1, 0, 0])
    np.testing.assert_array_equal(data.rgb[1, 0], [0, 0, 1])
    image.save(tmp_path / "pt.png", transparency=1)
    data = images.read(tmp_path / "pt.png")
    assert data.alpha is not None
    np.testing.assert_array_equal(data.alpha, [[1, 0], [1, 0]])


def test_rgba(tmp_path: Path, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    data = images.read(tmp_path / "a.png")
    assert data.alpha is not None
    np.testing.assert_array_equal(np.round(data.alpha * 255), rgba[..., 3])
    np.testing.assert_array_equal(np.round(data.rgb * 255), rgba[..., :3])


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    # Pure cyan-free magenta+yellow ink is red; Pillow writes Adobe-inverted CMYK.
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    cmyk.save(tmp_path / "c.jpg", quality=100)
    data = images.read(tmp_path / "c.jpg")
    assert np.allclose(data.rgb[8, 8], [1, 0, 0], atol=0.03)
    assert data.icc_profile is None  # a CMYK profile would lie about RGB pixels
    assert any("CMYK" in note for note in data.notes)


def test_cmyk_with_broken_profile_falls_back(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (8, 8), (255, 0, 255, 0))  # cyan + yellow = green
    cmyk.save(tmp_path / "c.jpg", quality=100, icc_profile=b"not a profile")
    data = images.read(tmp_path / "c.jpg")
    assert np.allclose(data.rgb[4, 4], [0, 1, 0], atol=0.03)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_first_frame_with_note(tmp_path: Path, fmt: str) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "lime", "blue")]
    path = tmp_path / f"anim.{fmt.lower()}"
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=50, **options
    )
    data = images.read(path)
    assert np.allclose(data.rgb[4, 4], [1, 0, 0], atol=0.02)
    assert "animated: first of 3 frames used" in data.notes


# --- orientation ---------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path: Path, orientation: int) -> None:
    stored = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3) * 7
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "UnsrCam"
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    data = images.read(path)
    # Pillow's exif_transpose is an independent oracle for all eight cases.
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    np.testing.assert_array_equal(np.round(data.rgb * 255).astype(np.uint8), expected)
    assert data.exif is not None
    kept = Image.Exif()
    kept.load(data.exif)
    assert kept[0x0112] == 1 and kept[0x010F] == "UnsrCam"


def test_orientation_6_is_a_clockwise_turn(tmp_path: Path) -> None:
    stored = np.zeros((2, 3, 3), np.uint8)
    stored[0, 0] = 255  # top-left when stored
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif.tobytes())
    data = images.read(tmp_path / "o.png")
    assert data.rgb.shape == (3, 2, 3)
    assert data.rgb[0, 1, 0] == 1.0  # top-right once turned clockwise


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_pipe_is_refused_not_read(tmp_path: Path) -> None:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)  # reading it would block forever
    with pytest.raises(NotAnImageError, match="not a regular file"):
        images.read(path)


def test_truncated_16_bit_png(tmp_path: Path, rng: np.random.Generator) -> None:
    import cv2

    values = rng.integers(0, 65536, (64, 64, 3), dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", values)
    assert ok
    path = tmp_path / "cut16.png"
    path.write_bytes(encoded.tobytes()[: encoded.size // 2])
    with pytest.raises(DamagedImageError, match="truncated"):
        images.read(path)


def test_16_bit_png_orientation_and_exif(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    rgb = (rng.integers(0, 65536, (4, 6, 3)) / 65535).astype(np.float32)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "UnsrCam"
    source = images.ImageData(rgb, bit_depth=16, exif=exif.tobytes())
    path = images.write(source, tmp_path / "r16.png")
    data = images.read(path)
    assert data.bit_depth == 16 and data.rgb.shape == (6, 4, 3)
    np.testing.assert_array_equal(data.rgb, np.rot90(rgb, -1))


@pytest.mark.parametrize("bits", [8, 16])
def test_png_exif_after_image_data(
    tmp_path: Path, rng: np.random.Generator, bits: int
) -> None:
    from engine.io.meta import png_chunk

    dtype = np.uint16 if bits == 16 else np.uint8
    pixels = rng.integers(0, 2**bits, (3, 5, 3)).astype(dtype)
    if bits == 16:
        import cv2

        png = cv2.imencode(".png", pixels[..., ::-1])[1].tobytes()
    else:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        png = buffer.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 3
    exif[0x010F] = "Late"
    late = png_chunk(b"eXIf", exif.tobytes()[6:])  # chunk data has no "Exif" header
    path = tmp_path / "late.png"
    path.write_bytes(png[:-12] + late + png[-12:])  # just before IEND
    data = images.read(path)
    np.testing.assert_array_equal(
        np.round(data.rgb * (2**bits - 1)).astype(dtype), pixels[::-1, ::-1]
    )
    assert data.exif is not None
    kept = Image.Exif()
    kept.load(data.exif)
    assert kept[0x010F] == "Late" and kept[0x0112] == 1


# --- TIFF layouts Pillow cannot read ---------------------------------------------


def test_planar_16_bit_tiff_keeps_every_bit(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    import tifffile

    values = rng.integers(0, 65536, (3, 9, 7), dtype=np.uint16)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, values, photometric="rgb", planarconfig="separate")
    data = images.read(path)
    assert data.bit_depth == 16
    expected = np.moveaxis(values, 0, -1)
    np.testing.assert_array_equal(
        np.round(data.rgb * 65535).astype(np.uint16), expected
    )


def test_gray_alpha_16_bit_tiff_via_tifffile(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    import tifffile

    values = rng.integers(0, 65536, (4, 6, 2), dtype=np.uint16)
    path = tmp_path / "ga.tif"
    tifffile.imwrite(
        path,
        values,
        photometric="minisblack",
        extrasamples=("unassalpha",),
        extratags=[(274, 3, 1, 6, True), (34675, 7, 4, b"abcd", True)],
    )
    data = images.read(path)
    assert data.gray and data.bit_depth == 16 and data.icc_profile == b"abcd"
    assert data.alpha is not None and data.rgb.shape == (6, 4, 3)  # orientation 6
    np.testing.assert_array_equal(
        np.round(data.alpha * 65535).astype(np.uint16), np.rot90(values[..., 1], -1)
    )
    assert any("tifffile" in note for note in data.notes)


def test_float_tiff_and_unsupported_samples(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    import tifffile

    floats = rng.random((4, 5, 3), dtype=np.float32)
    tifffile.imwrite(tmp_path / "f.tif", floats, photometric="rgb")
    data = images.read(tmp_path / "f.tif")
    assert data.bit_depth == 16
    assert np.abs(data.rgb - floats).max() <= 0.5 / 65535 + 1e-7
    tifffile.imwrite(
        tmp_path / "c.tif", np.zeros((4, 5, 3), np.complex64), photometric="rgb"
    )
    with pytest.raises(ImageError, match=r"c\.tif: .*complex64"):
        images.read(tmp_path / "c.tif")


def test_decoding_from_threads_leaves_the_warning_filters_alone(tmp_path: Path) -> None:
    """Decodes in several threads must not leave another's "ignore" installed."""
    import threading
    import warnings

    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    before = list(warnings.filters)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(100):
                images.read(path)
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert list(warnings.filters) == before
