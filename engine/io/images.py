"""Read and write images with their alpha, bit depth, ICC profile and EXIF.

Every image enters the engine as an :class:`ImageData`: float32 RGB in [0, 1]
with EXIF orientation applied, alpha split off, and the metadata needed to
write the result back the way it came (gray stays gray, 16 bits stay 16 bits,
the ICC profile and EXIF travel along). Anything that cannot be read becomes an
:class:`ImageError` whose message names the file and says why in plain words.

Writes go to a temporary file in the target folder that is renamed into place,
so a failed or cancelled write leaves nothing behind, and an input is never
written over.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.io.decode import Header, decode_file, probe_file
from engine.io.guard import quiet_libraries, writing
from engine.io.save import atomic_write, same_file
from engine.io.types import (
    DEFAULT_MAX_PIXELS,
    EXISTS_REASON,
    FORMATS,
    READABLE_SUFFIXES,
    SUFFIX_FOR,
    DamagedImageError,
    ImageData,
    ImageError,
    NotAnImageError,
    TooLargeError,
    UnsupportedImageError,
    WriteError,
)


def read(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageData:
    """Read an image file into an :class:`ImageData`.

    Parameters
    ----------
    path
        A PNG, JPEG, WebP, TIFF, BMP or GIF file.
    max_pixels
        Images with more pixels are refused before any decoding.

    Returns
    -------
    ImageData
        Upright (EXIF orientation applied) float32 pixels and metadata.

    Raises
    ------
    ImageError
        With a plain reason: missing, empty, not an image, damaged or
        truncated, too large, no permission.
    """
    return decode_file(path, max_pixels)


def format_for(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """Return the format name ("png", "jpeg", ...) for ``fmt`` or the suffix."""
    if fmt is not None:
        name = fmt.lower().lstrip(".")
        name = {"jpg": "jpeg", "tif": "tiff"}.get(name, name)
        if name not in set(FORMATS.values()):
            raise WriteError(Path(path), f"unknown output format {fmt!r}")
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise WriteError(
            Path(path),
            f"cannot tell the output format from {suffix or 'no suffix'!r}; "
            "use .png, .jpg, .webp, .tif or .bmp",
        )
    return FORMATS[suffix]


def write(
    image: ImageData,
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``image`` to ``path`` through a temp file renamed into place.

    Parameters
    ----------
    image
        What to write; gray images are written gray, ICC and EXIF are kept
        where the format holds them.
    path
        The destination; its folder is created when missing.
    fmt
        "png", "jpeg"/"jpg", "webp", "tiff"/"tif" or "bmp"; from the suffix
        when None.
    quality
        JPEG/WebP quality 1..100 (WebP 100 is lossless).
    bit_depth
        8 or 16; the image's own depth when None (PNG/TIFF keep 16 bits, other
        formats hold 8).
    overwrite
        Replace an existing file (never an input).
    protect
        More paths that must never be written over (the batch's inputs).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    WriteError
        The file exists, is an input, the format is unknown, or the OS refused
        (permission, disk full). No partial file is left behind.
    """
    from engine.io.encode import encode

    path = Path(path)
    name = format_for(path, fmt)
    guarded = [p for p in (image.source, *map(Path, protect)) if p is not None]
    if any(same_file(path, p) for p in guarded):
        raise WriteError(path, "refusing to write over an input image")
    if path.exists() and not overwrite:
        raise WriteError(path, EXISTS_REASON)
    notes: list[str] = []
    with writing(path, name), quiet_libraries(notes):
        payload = encode(image, name, quality=quality, bit_depth=bit_depth)
    atomic_write(path, payload, overwrite)
    return path


def losses(
    image: ImageData,
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    bit_depth: int | None = None,
) -> list[str]:
    """What writing ``image`` to ``path`` cannot keep, one plain line each.

    For example "JPEG has no alpha: transparent areas were flattened onto
    white". Empty when the output keeps everything the image has.
    """
    from engine.io.encode import losses as format_losses

    return format_losses(image, format_for(path, fmt), bit_depth)


def probe(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Header:
    """Check that ``path`` opens as an image, cheaply (no pixels decoded).

    For refusing a file at once (the app's drop zone) with the same typed
    errors :func:`read` raises: missing, empty, not an image, damaged header,
    broken frame count, too large, unsupported variant. A file that passes can
    still fail in :func:`read` when its pixel data is damaged.

    Returns
    -------
    Header
        Format, stored size, Pillow mode and number of frames.
    """
    return probe_file(path, max_pixels)


def from_array(rgb: Any, alpha: Any = None) -> ImageData:
    """Wrap float pixels (e.g. a pasted image) as 8-bit colour ImageData."""
    return ImageData(
        rgb=np.ascontiguousarray(rgb, np.float32),
        alpha=None if alpha is None else np.ascontiguousarray(alpha, np.float32),
    )


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "READABLE_SUFFIXES",
    "SUFFIX_FOR",
    "DamagedImageError",
    "Header",
    "ImageData",
    "ImageError",
    "NotAnImageError",
    "TooLargeError",
    "UnsupportedImageError",
    "WriteError",
    "format_for",
    "from_array",
    "losses",
    "probe",
    "read",
    "write",
]
