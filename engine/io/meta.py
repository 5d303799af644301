"""Image metadata helpers: EXIF orientation, EXIF cleaning, PNG chunks.

Kept apart from :mod:`engine.io.images` so the reader and the encoders share one
definition of what "orientation applied, EXIF kept" means.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112

#: TIFF tags that describe how pixels are stored, not the photo. A TIFF's IFD0
#: doubles as its EXIF IFD0 in Pillow, so these must go before the EXIF block is
#: written into another file (where they would be lies).
_STRUCTURAL_TAGS = frozenset(
    {
        254, 255, 256, 257, 258, 259, 262, 263, 266, 269, 273, 277, 278, 279,
        280, 281, 284, 290, 291, 292, 293, 296, 297, 317, 318, 319, 320, 321,
        322, 323, 324, 325, 332, 338, 339, 340, 341, 347, 513, 514, 529, 530,
        531, 532, 700, 33723, 34377, 34675, 50706,
    }
)  # fmt: skip

#: IFD0 tags that point to sub-IFDs (Exif, GPS, Interoperability).
SUB_IFD_TAGS = (0x8769, 0x8825, 0xA005)

#: ASCII IFD0 tags a 16-bit TIFF written by tifffile can carry over.
ASCII_IFD0_TAGS = (270, 271, 272, 305, 306, 315, 33432)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Return ``array`` (H, W[, C]) as it should be displayed for an EXIF tag.

    Parameters
    ----------
    array
        Pixels in stored order.
    orientation
        The EXIF orientation value 1..8; anything else is treated as 1.

    Returns
    -------
    ndarray
        A view or copy in display order (rows first).
    """
    axes = (1, 0, *range(2, array.ndim))
    if orientation == 2:
        out = array[:, ::-1]
    elif orientation == 3:
        out = array[::-1, ::-1]
    elif orientation == 4:
        out = array[::-1]
    elif orientation == 5:
        out = array.transpose(axes)
    elif orientation == 6:
        # Stored rotated 90 degrees counter-clockwise: turn it clockwise.
        out = np.rot90(array, -1)
    elif orientation == 7:
        out = array.transpose(axes)[::-1, ::-1]
    elif orientation == 8:
        out = np.rot90(array, 1)
    else:
        out = array
    return np.ascontiguousarray(out)


def png_exif_chunk(png: bytes) -> bytes | None:
    """Return the data of a PNG's eXIf chunk, wherever it is, or None."""
    pos = 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"eXIf":
            return png[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


def clean_exif(
    image: Image.Image,
    image_bytes: bytes,
    from_tiff: bool,
    notes: list[str] | None = None,
) -> tuple[bytes | None, int]:
    """Return (EXIF bytes with orientation reset to 1, the original orientation).

    Parameters
    ----------
    image
        An opened Pillow image.
    image_bytes
        The file's bytes (PNG chunks are searched directly).
    from_tiff
        True for TIFF sources, whose storage tags are dropped.
    notes
        Receives a line when an EXIF block exists but cannot be carried over.

    Returns
    -------
    tuple
        The EXIF block (None when the file has none) and the orientation 1..8.
        A returned block always loads again (every writer can use it).
    """
    notes = notes if notes is not None else []
    try:
        if image.format == "PNG" and "exif" not in image.info:
            # Pillow's PNG getexif() decodes every pixel to look for an eXIf
            # chunk after the image data; a chunk walk finds it without that.
            exif = Image.Exif()
            block = png_exif_chunk(image_bytes)
            if block:
                exif.load(block)
        else:
            exif = image.getexif()
        raw = exif.get(ORIENTATION_TAG, 1)
    except Exception:  # A damaged EXIF block must not cost the photo.
        notes.append("damaged EXIF data: not kept")
        return None, 1
    orientation = raw if isinstance(raw, int) and 1 <= raw <= 8 else 1
    if from_tiff:
        for tag in list(exif):
            if tag in _STRUCTURAL_TAGS:
                del exif[tag]
    if len(exif) == 0:
        return None, orientation
    if ORIENTATION_TAG in exif:
        exif[ORIENTATION_TAG] = 1
    block = _portable_bytes(exif)
    if block is None:
        notes.append("damaged EXIF data: not kept")
    return block, orientation


def exif_loads(block: bytes) -> bool:
    """True when ``block`` parses again, sub-IFDs included."""
    try:
        check = Image.Exif()
        check.load(block)
        dict(check)
        for tag in SUB_IFD_TAGS:
            if tag in check:
                check.get_ifd(tag)
    except Exception:
        return False
    return True


def _portable_bytes(exif: Image.Exif) -> bytes | None:
    """Serialise ``exif`` as a classic (not Big) TIFF block that loads again.

    A BigTIFF's IFD0 comes back from Pillow with a BigTIFF header that no
    EXIF reader (Pillow included) can load; copying the tags into a fresh
    block gives the classic layout every format expects.
    """
    try:
        block = exif.tobytes()
        if not getattr(exif, "bigtiff", False) and exif_loads(block):
            return block
        fresh = Image.Exif()
        for tag, value in exif.items():
            if tag in SUB_IFD_TAGS:
                value = exif.get_ifd(tag)
                if not value:
                    continue
            fresh[tag] = value
        block = fresh.tobytes()
    except Exception:
        return None
    return block if exif_loads(block) else None


def has_sub_ifds(exif: bytes | None) -> bool:
    """Return True when an EXIF block has an Exif, GPS or Interop sub-IFD."""
    if not exif:
        return False
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        return any(tag in parsed for tag in SUB_IFD_TAGS)
    except Exception:  # unreadable: treat as plain tags, never fail the write
        return False


def exif_ascii_tags(exif: bytes | None) -> list[tuple[int, str]]:
    """Return the plain-text IFD0 tags of an EXIF block (for tifffile output)."""
    if not exif:
        return []
    try:
        parsed = Image.Exif()
        parsed.load(exif)
    except Exception:  # unreadable: nothing to carry over
        return []
    tags: list[tuple[int, str]] = []
    for tag in ASCII_IFD0_TAGS:
        value: Any = parsed.get(tag)
        if isinstance(value, str) and value:
            tags.append((tag, value))
    return tags


#: IFD0 tags a 16-bit TIFF output loses nothing by dropping (it sets its own).
_LAYOUT_TAGS = frozenset({ORIENTATION_TAG, 282, 283, 296})


def exif_beyond_text(exif: bytes | None) -> bool:
    """True when an EXIF block holds more than :func:`exif_ascii_tags` keeps."""
    if not exif:
        return False
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        extra = set(parsed) - set(ASCII_IFD0_TAGS) - _LAYOUT_TAGS
    except Exception:  # unreadable: nothing would be kept anyway
        return False
    return bool(extra)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """Return one PNG chunk: length, type, data, CRC."""
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def add_png_chunks(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks right after IHDR of an encoded PNG.

    OpenCV writes 16-bit PNGs but no metadata; the chunks are spliced in.
    """
    # Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 crc).
    head = 8 + 25
    extra = b""
    if icc:
        extra += png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += png_chunk(b"eXIf", body)
    return png[:head] + extra + png[head:]


__all__ = [
    "ORIENTATION_TAG",
    "add_png_chunks",
    "clean_exif",
    "exif_ascii_tags",
    "exif_beyond_text",
    "exif_loads",
    "has_sub_ifds",
    "orient",
    "png_chunk",
    "png_exif_chunk",
]
