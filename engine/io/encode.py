"""Encode an :class:`~engine.io.images.ImageData` to the bytes of a file format.

Pillow writes 8-bit files with their ICC profile and EXIF. Pillow has no 16-bit
colour mode, so 16-bit PNGs come from OpenCV with the iCCP/eXIf chunks spliced
in, and 16-bit TIFFs from tifffile (ICC kept; of the EXIF only the plain-text
IFD0 tags such as Make, Model, DateTime and Artist, since tifffile cannot write
an EXIF sub-IFD).
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.io.meta import (
    add_png_chunks,
    exif_ascii_tags,
    exif_beyond_text,
    exif_loads,
    has_sub_ifds,
    png_chunk,
)

if TYPE_CHECKING:
    from engine.io.types import ImageData

#: The largest edge each format can store, in pixels.
MAX_EDGE = {"jpeg": 65_500, "webp": 16_383, "png": 2**31 - 1, "tiff": 2**32 - 1}

#: zlib level for 8-bit PNGs. On upscaled photos level 4 gives files as small
#: as Pillow's default 6 in about a third of the time (benchmarks/images_io.py).
PNG_LEVEL = 4

#: Formats that can hold 16 bits per channel.
SIXTEEN_BIT_FORMATS = frozenset({"png", "tiff"})


#: Bytes of float temporaries :func:`_quantize` works in at a time. Done whole,
#: clip, scale and round made two float copies of the image at once: 4.6 GB on
#: a 192 MP x4 result, more than the result itself (docs/benchmarks.md).
QUANTIZE_CHUNK_BYTES = 32 << 20


def _quantize(values: np.ndarray, bits: int) -> np.ndarray:
    """Clip to [0, 1], scale, round and cast, a band of rows at a time."""
    top = 65535.0 if bits == 16 else 255.0
    dtype = np.uint16 if bits == 16 else np.uint8
    out = np.empty(values.shape, dtype)
    row_bytes = max(1, values[:1].size * values.itemsize)
    rows = max(1, QUANTIZE_CHUNK_BYTES // row_bytes)
    for y in range(0, values.shape[0], rows):
        band = np.clip(values[y : y + rows], 0.0, 1.0)
        band *= top
        out[y : y + rows] = np.round(band, out=band)
    return out


def _planes(image: ImageData, bits: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Return quantised colour ((H, W) when gray, else (H, W, 3)) and alpha."""
    colour = image.rgb.mean(axis=2) if image.gray else image.rgb
    alpha = None if image.alpha is None else _quantize(image.alpha, bits)
    return _quantize(colour, bits), alpha


def _flatten_on_white(image: ImageData) -> ImageData:
    """Composite over white for JPEG, which has no alpha (a note says so)."""
    if image.alpha is None:
        return image
    a = image.alpha[..., None]
    rgb = (image.rgb * a + (1.0 - a)).astype(np.float32)
    return image.with_pixels(rgb, None)


def _bmp_rgba(colour: np.ndarray, alpha: np.ndarray) -> bytes:
    """A 32-bit BMP with an alpha mask (BITMAPV4HEADER, BI_BITFIELDS).

    Pillow cannot write one (its 32-bit BMPs say nothing about alpha, and it
    reads them back as opaque); browsers, image editors and Pillow itself read
    this layout's fourth byte as alpha.
    """
    height, width = alpha.shape
    rgb = colour if colour.ndim == 3 else np.repeat(colour[..., None], 3, axis=2)
    bgra = np.dstack([rgb[..., ::-1], alpha])[::-1]  # rows bottom-up
    pixels = np.ascontiguousarray(bgra, np.uint8).tobytes()
    info_size, offset = 108, 14 + 108
    masks = struct.pack("<4I", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    info = (
        struct.pack("<IiiHHIIiiII", info_size, width, height, 1, 32, 3,
                    len(pixels), 2835, 2835, 0, 0)
        + masks
        + b"sRGB"[::-1]  # LCS_sRGB, stored little-endian
        + bytes(36 + 12)  # colour endpoints and gammas (unused for sRGB)
    )  # fmt: skip
    head = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return head + info + pixels


def _encode_pillow(image: ImageData, fmt: str, quality: int) -> bytes:
    if fmt == "jpeg":
        image = _flatten_on_white(image)
    colour, alpha = _planes(image, 8)
    if fmt == "bmp" and alpha is not None:
        return _bmp_rgba(colour, alpha)
    if alpha is None:
        pil = Image.fromarray(colour, "L" if colour.ndim == 2 else "RGB")
    elif colour.ndim == 2 and fmt in ("png", "tiff"):
        pil = Image.fromarray(np.stack([colour, alpha], axis=2), "LA")
    else:
        rgb = colour if colour.ndim == 3 else np.repeat(colour[..., None], 3, axis=2)
        pil = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    options: dict[str, Any] = {}
    if fmt != "bmp":
        if image.icc_profile:
            options["icc_profile"] = image.icc_profile
        if image.exif:
            options["exif"] = image.exif
    if fmt == "jpeg":
        options["quality"] = quality
        # Chroma subsampling blurs the colour detail an upscaler just made.
        options["subsampling"] = 0 if quality >= 90 else 2
    elif fmt == "webp":
        options["quality"] = quality
        options["lossless"] = quality >= 100
    elif fmt == "png":
        options["compress_level"] = PNG_LEVEL
    elif fmt == "tiff" and not has_sub_ifds(image.exif):
        # libtiff (needed for compression) cannot write EXIF sub-IFDs; Pillow's
        # own writer can, uncompressed. Keeping the photo's EXIF comes first.
        options["compression"] = "tiff_adobe_deflate"
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def _png_gray_alpha16(gray: np.ndarray, alpha: np.ndarray) -> bytes:
    """A plain 16-bit gray+alpha PNG (colour type 4), which OpenCV cannot write."""
    height, width = gray.shape
    samples = np.dstack([gray, alpha]).astype(">u2").reshape(height, -1)
    rows = np.hstack([np.zeros((height, 1), np.uint8), samples.view(np.uint8)])
    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + png_chunk(b"IEND", b"")
    )


def _encode_png16(image: ImageData) -> bytes:
    import cv2

    colour, alpha = _planes(image, 16)
    if colour.ndim == 2 and alpha is not None:
        png = _png_gray_alpha16(colour, alpha)
        return add_png_chunks(png, image.icc_profile, image.exif)
    if colour.ndim == 2:
        array = colour
    else:
        bgr = colour[..., ::-1]
        array = bgr if alpha is None else np.dstack([bgr, alpha])
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array))
    if not ok:
        raise ValueError("OpenCV could not encode the 16-bit PNG")
    return add_png_chunks(encoded.tobytes(), image.icc_profile, image.exif)


def _encode_tiff16(image: ImageData) -> bytes:
    import tifffile

    colour, alpha = _planes(image, 16)
    extratags: list[tuple[int, int, int | None, Any, bool]] = []
    if image.icc_profile:
        icc = image.icc_profile
        extratags.append((34675, 7, len(icc), icc, True))
    for tag, value in exif_ascii_tags(image.exif):
        extratags.append((tag, 2, None, value, True))
    photometric = "minisblack" if colour.ndim == 2 else "rgb"
    array = colour if alpha is None else np.dstack([colour, alpha])
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        array,
        photometric=photometric,
        planarconfig="contig" if array.ndim == 3 else None,
        extrasamples=("unassalpha",) if alpha is not None else None,
        compression="zlib",
        metadata=None,
        software=False,
        extratags=extratags,
    )
    return buffer.getvalue()


def losses(image: ImageData, fmt: str, bit_depth: int | None = None) -> list[str]:
    """What writing ``image`` as ``fmt`` cannot keep, one plain line each.

    Parameters
    ----------
    image
        What is about to be written.
    fmt
        The format name ("png", "jpeg", ...).
    bit_depth
        The depth asked for (None: the image's own). Asking for 8 bits is a
        choice, not a loss.
    """
    name = fmt.upper()
    lost = []
    if image.alpha is not None and fmt == "jpeg":
        lost.append("JPEG has no alpha: transparent areas were flattened onto white")
    if image.bit_depth == 16 and bit_depth is None and fmt not in SIXTEEN_BIT_FORMATS:
        lost.append(f"{name} holds 8 bits per channel: written as 8-bit")
    if image.gray and fmt == "webp":
        lost.append("WebP has no gray mode: written as RGB (still gray)")
    if image.gray and image.alpha is not None and fmt == "bmp":
        lost.append("BMP has no gray+alpha mode: written as RGBA (still gray)")
    if fmt == "bmp" and (image.icc_profile or image.exif):
        lost.append("BMP holds no ICC profile or EXIF: they were left out")
    bits = bit_depth if bit_depth is not None else image.bit_depth
    if fmt == "tiff" and bits == 16 and exif_beyond_text(image.exif):
        lost.append("a 16-bit TIFF keeps only the EXIF's text tags (camera, date)")
    return lost


def encode(
    image: ImageData, fmt: str, *, quality: int = 95, bit_depth: int | None = None
) -> bytes:
    """Return the encoded file for ``fmt`` ("png", "jpeg", "webp", "tiff", "bmp").

    Raises
    ------
    ValueError
        When the format cannot hold what was asked (16-bit JPEG, bad quality).
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, not {quality}")
    if bit_depth not in (None, 8, 16):
        raise ValueError(f"bit depth must be 8 or 16, not {bit_depth}")
    limit = MAX_EDGE.get(fmt)
    if limit is not None and max(image.width, image.height) > limit:
        raise ValueError(
            f"{fmt.upper()} stores at most {limit} pixels per side, the image is "
            f"{image.width}x{image.height}; use PNG or TIFF"
        )
    if image.exif and not exif_loads(image.exif):
        # An EXIF block no writer can parse would fail the whole write.
        image = dataclasses.replace(image, exif=None)
    bits = bit_depth if bit_depth is not None else image.bit_depth
    if bits == 16 and fmt not in SIXTEEN_BIT_FORMATS:
        if bit_depth == 16:
            raise ValueError(f"{fmt.upper()} holds 8 bits per channel; use PNG or TIFF")
        bits = 8
    if bits == 16 and fmt == "png":
        return _encode_png16(image)
    if bits == 16 and fmt == "tiff":
        return _encode_tiff16(image)
    return _encode_pillow(image, fmt, quality)


__all__ = ["MAX_EDGE", "PNG_LEVEL", "SIXTEEN_BIT_FORMATS", "encode", "losses"]
