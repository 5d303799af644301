"""Every transparency form, bit depth and odd layout survives, or is refused plainly.

Each test builds its own file: colour-key PNGs (tRNS on RGB, L and 16-bit
gray and RGB), 32-bit BMPs with alpha (BI_RGB and BI_BITFIELDS), planar LZW
16-bit TIFFs, BigTIFF, float TIFFs outside 0..1.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import batch, jobs
from engine.io import images
from engine.io.images import ImageData, UnsupportedImageError
from engine.store import Store

# --- PNG colour keys (tRNS on RGB, L and I images) --------------------------


def _keyed(colour: np.ndarray, key: tuple[int, ...]) -> np.ndarray:
    """Where the colour equals the key (the pixels a tRNS chunk makes clear)."""
    if colour.ndim == 2:
        return colour == key[0]
    return np.all(colour == np.asarray(key), axis=2)


@pytest.mark.parametrize(
    ("mode", "dtype", "key"),
    [
        ("RGB", np.uint8, (10, 20, 30)),
        ("L", np.uint8, (7,)),
        ("I;16", np.uint16, (513,)),
    ],
)
def test_png_colour_key_becomes_alpha(
    tmp_path: Path,
    rng: np.random.Generator,
    mode: str,
    dtype: type,
    key: tuple[int, ...],
) -> None:
    shape = (6, 8, 3) if mode == "RGB" else (6, 8)
    colour = rng.integers(100, 200, shape).astype(dtype)
    colour[0, :3] = key if mode == "RGB" else key[0]
    path = tmp_path / f"key_{mode.replace(';', '')}.png"
    Image.fromarray(colour).save(path, transparency=key if mode == "RGB" else key[0])
    data = images.read(path)
    assert data.alpha is not None, "the tRNS colour key was dropped"
    np.testing.assert_array_equal(data.alpha == 0, _keyed(colour, key))
    assert data.gray == (mode != "RGB")
    assert data.bit_depth == (16 if dtype == np.uint16 else 8)


def _png16_rgb_with_key(
    path: Path, colour: np.ndarray, key: tuple[int, int, int]
) -> None:
    """A 16-bit RGB PNG with a tRNS chunk (Pillow cannot write one)."""
    import cv2

    from engine.io.meta import png_chunk

    png = cv2.imencode(".png", np.ascontiguousarray(colour[..., ::-1]))[1].tobytes()
    trns = png_chunk(b"tRNS", struct.pack(">3H", *key))
    head = 8 + 25  # signature + IHDR
    path.write_bytes(png[:head] + trns + png[head:])


def test_16_bit_rgb_png_colour_key_becomes_alpha(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    colour = rng.integers(1000, 60000, (5, 7, 3)).astype(np.uint16)
    key = (300, 40000, 65535)
    colour[2, 2] = key
    path = tmp_path / "key16.png"
    _png16_rgb_with_key(path, colour, key)
    data = images.read(path)
    assert data.bit_depth == 16
    assert data.alpha is not None
    np.testing.assert_array_equal(data.alpha == 0, _keyed(colour, key))


def test_colour_key_survives_a_batch(tmp_path: Path, rng: np.random.Generator) -> None:
    colour = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
    colour[:4] = (1, 2, 3)
    source = tmp_path / "k.png"
    Image.fromarray(colour).save(source, transparency=(1, 2, 3))
    store = Store(tmp_path / "runs.sqlite")
    result = jobs.run(
        batch.process_file(source, tmp_path / "o", "bicubic", 2, store=store)
    )
    with Image.open(result.output) as out:
        assert out.mode == "RGBA"
        alpha = np.asarray(out)[..., 3]
    assert alpha[:6].mean() < 5 and alpha[10:].mean() > 250  # bicubic rings a little


# --- BMP with alpha ------------------------------------------------------------


def _bmp_bitfields(
    path: Path, rgba: np.ndarray, masks: tuple[int, int, int, int]
) -> None:
    """A 32-bit BI_BITFIELDS BMP (BITMAPV4HEADER) with the given channel masks."""
    height, width = rgba.shape[:2]
    words = np.zeros((height, width), np.uint32)
    for channel, mask in enumerate(masks):
        shift = (mask & -mask).bit_length() - 1
        words |= rgba[..., channel].astype(np.uint32) << np.uint32(shift)
    pixels = words[::-1].astype("<u4").tobytes()
    info = (
        struct.pack(
            "<IiiHHIIiiII", 108, width, height, 1, 32, 3, len(pixels), 0, 0, 0, 0
        )
        + struct.pack("<4I", *masks)
        + b"BGRs"
        + bytes(48)
    )
    head = b"BM" + struct.pack("<IHHI", 14 + 108 + len(pixels), 0, 0, 14 + 108)
    path.write_bytes(head + info + pixels)


@pytest.mark.parametrize(
    "masks",
    [
        (0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000),  # BGRA
        (0x000000FF, 0x0000FF00, 0x00FF0000, 0xFF000000),  # RGBA
        (0xFF000000, 0x00FF0000, 0x0000FF00, 0x000000FF),  # ABGR
    ],
)
def test_bitfields_bmp_alpha_kept_through_a_batch(
    tmp_path: Path, rng: np.random.Generator, masks: tuple[int, int, int, int]
) -> None:
    rgba = rng.integers(0, 256, (6, 5, 4)).astype(np.uint8)
    rgba[..., 3] = np.linspace(0, 255, 30).reshape(6, 5).astype(np.uint8)
    source = tmp_path / "a.bmp"
    _bmp_bitfields(source, rgba, masks)
    data = images.read(source)
    assert data.alpha is not None
    np.testing.assert_array_equal(np.round(data.alpha * 255), rgba[..., 3])
    store = Store(tmp_path / "runs.sqlite")
    result = jobs.run(
        batch.process_file(source, tmp_path / "o", "bicubic", 2, store=store)
    )
    assert result.output.suffix == ".bmp"
    with Image.open(result.output) as out:
        assert out.mode == "RGBA", "the BMP's alpha was flattened"
        alpha = np.asarray(out)[..., 3].astype(float)
    assert abs(alpha.mean() - rgba[..., 3].mean()) < 4


def test_bi_rgb_bmp_fourth_byte_is_alpha_like_browsers(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    rgba = rng.integers(0, 256, (4, 6, 4)).astype(np.uint8)
    path = tmp_path / "pillow.bmp"
    Image.fromarray(rgba, "RGBA").save(path)  # Pillow writes BI_RGB 32-bit
    data = images.read(path)
    assert data.alpha is not None
    np.testing.assert_array_equal(np.round(data.alpha * 255), rgba[..., 3])
    assert any("fourth byte" in note for note in data.notes)


def test_bmp_alpha_zero_everywhere_is_opaque_and_said(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    rgba = rng.integers(0, 256, (4, 6, 4)).astype(np.uint8)
    rgba[..., 3] = 0
    path = tmp_path / "zero.bmp"
    _bmp_bitfields(path, rgba, (0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000))
    store = Store(tmp_path / "runs.sqlite")
    events: list[object] = []
    result = jobs.run(
        batch.process_file(path, tmp_path / "o", "bicubic", 2, store=store),
        events.append,
    )
    with Image.open(result.output) as out:
        rgb = np.asarray(out.convert("RGB")).astype(float)
    assert abs(rgb.mean() - rgba[..., :3].mean()) < 4  # the colours, not white
    assert any("0 everywhere" in getattr(e, "text", "") for e in events)


# --- deep TIFFs: full depth or a plain refusal ----------------------------------------


def test_planar_lzw_16_bit_tiff_read_at_full_depth(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    import tifffile

    values = rng.integers(0, 65536, (3, 6, 5), dtype=np.uint16)
    path = tmp_path / "planar_lzw.tif"
    tifffile.imwrite(
        path, values, photometric="rgb", planarconfig="separate", compression="lzw"
    )
    data = images.read(path)
    assert data.bit_depth == 16
    np.testing.assert_array_equal(
        np.round(data.rgb * 65535).astype(np.uint16), np.moveaxis(values, 0, -1)
    )


def test_deep_tiff_that_cannot_be_read_fully_is_refused(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tifffile

    import engine.io.tiff

    values = rng.integers(0, 65536, (3, 6, 5), dtype=np.uint16)
    path = tmp_path / "planar_lzw.tif"
    tifffile.imwrite(
        path, values, photometric="rgb", planarconfig="separate", compression="lzw"
    )

    def missing_codec(data: bytes, max_pixels: int) -> None:
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(engine.io.tiff, "read_tiff", missing_codec)
    with pytest.raises(UnsupportedImageError, match=r"planar_lzw\.tif: .*full depth"):
        images.read(path)


def test_16_bit_gray_alpha_tiff_stays_gray(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    gray = np.repeat(rng.random((5, 4, 1), dtype=np.float32), 3, axis=2)
    alpha = rng.random((5, 4), dtype=np.float32)
    image = ImageData(gray, alpha, bit_depth=16, gray=True)
    path = images.write(image, tmp_path / "ga.tiff")
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert page.photometric == 1 and page.samplesperpixel == 2  # gray + alpha
    back = images.read(path)
    assert back.gray and back.bit_depth == 16 and back.alpha is not None


@pytest.mark.parametrize("declared", [False, True])
def test_float_tiff_outside_0_1_is_said_or_mapped(
    tmp_path: Path, rng: np.random.Generator, declared: bool
) -> None:
    import tifffile

    values = (rng.random((4, 5, 3)) * 4 - 1).astype(np.float32)  # -1 .. 3
    tags = [(340, 11, 1, -1.0, True), (341, 11, 1, 3.0, True)] if declared else []
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, values, photometric="rgb", extratags=tags)
    data = images.read(path)
    if declared:
        np.testing.assert_allclose(data.rgb, (values + 1) / 4, atol=1 / 65535)
        assert any("declared range" in note for note in data.notes)
    else:
        assert any("clipped" in note for note in data.notes)


def test_float_gray_tiff_from_pillow_outside_0_1_is_said(tmp_path: Path) -> None:
    values = np.linspace(-2, 2, 20, dtype=np.float32).reshape(4, 5)
    path = tmp_path / "F.tif"
    Image.fromarray(values, "F").save(path)
    data = images.read(path)
    assert any("clipped" in note for note in data.notes)


def test_bigtiff_in_and_out(tmp_path: Path, rng: np.random.Generator) -> None:
    import tifffile

    values = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, values, bigtiff=True, photometric="rgb")
    store = Store(tmp_path / "runs.sqlite")
    result = jobs.run(
        batch.process_file(source, tmp_path / "o", "bicubic", 2, store=store)
    )
    back = images.read(result.output)
    assert (back.height, back.width) == (12, 14)
    assert abs(back.rgb.mean() * 255 - values.mean()) < 2


def test_unreadable_exif_never_fails_a_write(tmp_path: Path, photo: np.ndarray) -> None:
    # A BigTIFF-style EXIF header that Pillow cannot load back.
    image = ImageData(photo, exif=b"Exif\x00\x00II+\x00\x08\x00\x00\x00\x08\x00")
    images.write(image, tmp_path / "o.tif")
    assert images.read(tmp_path / "o.tif").width == photo.shape[1]
