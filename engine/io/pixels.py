"""Pillow's modes to stored-order integer planes, every transparency form kept.

Every mode Pillow opens ends as :class:`Planes`: uint8 or uint16 colour
((H, W) when gray, else (H, W, 3)), an alpha plane when the file has one in any
form (an alpha channel, a palette's alpha, a PNG colour key on RGB, L or I
images, the fourth byte of a 32-bit BMP), and whether the ICC profile still
describes the pixels. Whatever is changed on the way (floats outside 0..1,
32-bit samples kept as 16, an all-zero BMP alpha read as opaque) is said in a
note.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageCms

#: TIFF tags declaring the range of float samples (SMinSampleValue, SMax...).
_SMIN, _SMAX = 340, 341


@dataclass(frozen=True, eq=False)
class Planes:
    """Decoded pixels in stored order, before orientation and float conversion.

    Attributes
    ----------
    colour : ndarray
        uint8 or uint16, (H, W) for gray or (H, W, 3).
    alpha : ndarray or None
        Same dtype as ``colour``, (H, W).
    gray : bool
        The source has no colour.
    bit_depth : int
        8 or 16.
    icc_valid : bool
        The embedded ICC profile still describes ``colour``.
    """

    colour: np.ndarray
    alpha: np.ndarray | None
    gray: bool
    bit_depth: int
    icc_valid: bool = True


def float_to_uint16(
    values: np.ndarray, notes: list[str], declared: tuple[float, float] | None = None
) -> np.ndarray:
    """Map float samples to uint16, saying what was changed.

    Parameters
    ----------
    values
        Float samples of any shape.
    notes
        Receives one line when samples were clipped, remapped or not numbers.
    declared
        The range the file declares (TIFF SMin/SMaxSampleValue); mapped to
        0..1 when given, otherwise 0..1 is assumed and the rest clipped.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        notes.append("samples that are not numbers (NaN or infinite) were set to 0")
        values = np.where(finite, values, 0.0)
    if declared is not None and declared[1] > declared[0] and declared != (0.0, 1.0):
        low, high = declared
        notes.append(f"float samples mapped from the declared range {low:g}..{high:g}")
        values = (values - low) / (high - low)
    elif values.size and (values.min() < 0.0 or values.max() > 1.0):
        notes.append(
            f"float samples range {values.min():.4g}..{values.max():.4g}; "
            "values outside 0..1 were clipped to 0..1"
        )
    notes.append("float samples kept as 16 bits (unsr writes 8 or 16 bits)")
    out: np.ndarray = np.round(np.clip(values, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return out


def declared_float_range(image: Image.Image) -> tuple[float, float] | None:
    """The float range a TIFF declares with SMin/SMaxSampleValue, or None."""
    tags = getattr(image, "tag_v2", None)
    if tags is None or _SMIN not in tags or _SMAX not in tags:
        return None
    low, high = tags[_SMIN], tags[_SMAX]
    low = low[0] if isinstance(low, tuple) else low
    high = high[0] if isinstance(high, tuple) else high
    try:
        return float(low), float(high)
    except (TypeError, ValueError):
        return None


def _int32_to_uint16(values: np.ndarray, notes: list[str], stored: str) -> np.ndarray:
    """32-bit integer samples to uint16, saying what changed.

    ``stored`` is the file's raw mode: Pillow opens some 16-bit files (PGM) as
    32-bit "I", and those lose nothing.
    """
    if values.size and (values.min() < 0 or values.max() > 65535):
        notes.append(
            f"32-bit samples range {values.min()}..{values.max()}; values outside "
            "0..65535 were clipped"
        )
    elif "16" not in stored:
        notes.append("32-bit integer samples kept as 16 bits (all values fit)")
    out: np.ndarray = np.clip(values, 0, 65535).astype(np.uint16)
    return out


def _key_scale(image: Image.Image, rawmode: str) -> int:
    """Multiplier from a PNG colour key's raw value to the decoded sample.

    Pillow expands 1-, 2- and 4-bit gray to 0..255; the tRNS value stays raw.
    """
    if image.mode == "1" or rawmode.startswith("1"):
        return 255
    for bits, scale in (("L;2", 85), ("L;4", 17)):
        if rawmode.startswith(bits):
            return scale
    return 1


def key_alpha(
    colour: np.ndarray, key: object, scale: int, top: int
) -> np.ndarray | None:
    """An alpha plane from a colour key: transparent where colour equals it.

    Parameters
    ----------
    colour
        (H, W) gray or (H, W, 3) samples as decoded.
    key
        The key as Pillow reports it: an int for gray, a 3-tuple for RGB.
    scale
        Multiplier from the key's raw value to decoded samples.
    top
        The opaque alpha value (255 or 65535).
    """
    if colour.ndim == 2 and isinstance(key, int):
        hit = colour == key * scale
    elif colour.ndim == 3 and isinstance(key, tuple) and len(key) == 3:
        hit = np.all(colour == np.asarray(key, dtype=colour.dtype) * scale, axis=2)
    else:
        return None
    alpha = np.where(hit, 0, top).astype(colour.dtype)
    return alpha


def _bmp_alpha(
    image: Image.Image, data: bytes, tile: Any, notes: list[str]
) -> Planes | None:
    """Read a 32-bit BMP's fourth byte as alpha, the way browsers do.

    Pillow reads 32-bit BI_RGB BMPs as opaque RGB (the byte is "reserved" in
    the oldest spec), yet Pillow itself writes RGBA there; browsers use the byte
    unless it is 0 everywhere. Both forms (and BITFIELDS with an alpha mask,
    which Pillow opens as RGBA) follow the browsers: an alpha that is 0
    everywhere means "no alpha", and a note says so.
    """
    if image.mode == "RGBA":
        rgba = np.asarray(image.convert("RGBA"))
    elif tile is not None and tile[0] == "raw" and tile[3][0] == "BGRX":
        _, stride, orientation = tile[3]
        width, height = image.size
        raw = data[tile[2] : tile[2] + abs(stride) * height]
        decoded = Image.frombuffer(
            "RGBA", image.size, raw, "raw", "BGRA", stride, orientation
        )
        rgba = np.asarray(decoded)
        if width and not rgba[..., 3].any():
            return None  # the byte is unused: Pillow's opaque RGB is right
        notes.append("alpha read from the 32-bit BMP's fourth byte, as browsers do")
    else:
        return None
    alpha = rgba[..., 3]
    if not alpha.any():
        notes.append("the BMP's alpha is 0 everywhere: read as opaque, as browsers do")
        return Planes(np.ascontiguousarray(rgba[..., :3]), None, False, 8)
    return Planes(np.ascontiguousarray(rgba[..., :3]), alpha, False, 8)


def _cmyk_to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """Convert CMYK with its embedded profile when there is one.

    Pillow has already undone Adobe's inverted CMYK in JPEGs while decoding, so
    its values are ink amounts; without a profile its naive conversion is used.
    """
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(
                image, source, target, outputMode="RGB"
            )
            if converted is not None:
                notes.append("CMYK converted to sRGB with the embedded profile")
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    notes.append("CMYK converted to RGB without a colour profile")
    return image.convert("RGB")


def _lab_to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """CIELAB to sRGB with a colour transform (Pillow's convert is not one)."""
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )
    notes.append("CIELAB converted to sRGB")
    converted = ImageCms.applyTransform(image, transform)
    return converted if converted is not None else image.convert("RGB")


def _gray_planes(image: Image.Image, rawmode: str, notes: list[str]) -> Planes | None:
    """Gray modes: 1, L, I;16*, I, F; with a colour key when there is one."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        colour, bits = np.asarray(image).astype(np.uint16), 16
    elif mode == "I":
        colour, bits = _int32_to_uint16(np.asarray(image), notes, rawmode), 16
    elif mode == "F":
        declared = declared_float_range(image)
        colour, bits = float_to_uint16(np.asarray(image), notes, declared), 16
    elif mode in ("1", "L"):
        colour, bits = np.asarray(image.convert("L")), 8
    else:
        return None
    alpha = None
    key = image.info.get("transparency")
    if key is not None:
        top = 65535 if bits == 16 else 255
        alpha = key_alpha(colour, key, _key_scale(image, rawmode), top)
    return Planes(colour, alpha, True, bits)


def planes_from_pillow(
    image: Image.Image, data: bytes, tile: Any, notes: list[str]
) -> Planes:
    """Decode a loaded Pillow image into :class:`Planes`.

    Parameters
    ----------
    image
        An opened and loaded image, at the frame to use.
    data
        The file's bytes (BMP alpha is read from them directly).
    tile
        The image's first tile as it was before ``load()`` cleared it
        (codec, extents, offset, args), or None.
    notes
        Receives a line for anything changed on the way.
    """
    mode = image.mode
    if image.format == "BMP" and mode in ("RGB", "RGBA"):
        bmp = _bmp_alpha(image, data, tile, notes)
        if bmp is not None:
            return bmp
    args = tile[3] if tile is not None else ""
    rawmode = args[0] if isinstance(args, tuple) and args else str(args or "")
    gray = _gray_planes(image, rawmode, notes)
    if gray is not None:
        return gray
    if mode == "CMYK":
        return Planes(np.asarray(_cmyk_to_rgb(image, notes)), None, False, 8, False)
    if mode == "LAB":
        return Planes(np.asarray(_lab_to_rgb(image, notes)), None, False, 8, False)
    if mode in ("LA", "La"):
        la = np.asarray(image.convert("LA"))
        return Planes(la[..., 0], la[..., 1], True, 8)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        if not has_alpha:
            return Planes(np.asarray(image.convert("RGB")), None, False, 8)
        mode = "RGBA"
        image = image.convert("RGBA")
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(image.convert("RGBA"))
        return Planes(np.ascontiguousarray(rgba[..., :3]), rgba[..., 3], False, 8)
    colour = np.asarray(image.convert("RGB"))
    alpha = None
    key = image.info.get("transparency")
    if mode == "RGB" and key is not None:
        alpha = key_alpha(colour, key, 1, 255)
    return Planes(colour, alpha, False, 8, mode in ("RGB", "RGBX"))


__all__ = [
    "Planes",
    "declared_float_range",
    "float_to_uint16",
    "key_alpha",
    "planes_from_pillow",
]
