"""TIFFs Pillow cannot open (16-bit gray+alpha, float RGB, ...), read with tifffile.

Only the first page is read. The result uses the same stored-order arrays as
the Pillow path in :mod:`engine.io.images`, so orientation and conversion to float
are shared.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

#: TIFF tags used here.
_ORIENTATION, _ICC = 274, 34675


@dataclass(frozen=True, eq=False)
class TiffPixels:
    """First page of a TIFF in stored order, ready for engine.io.images."""

    colour: np.ndarray  # (H, W) gray or (H, W, 3), uint8 or uint16
    alpha: np.ndarray | None
    gray: bool
    bit_depth: int
    icc_profile: bytes | None
    orientation: int
    pages: int


class TiffTooLargeError(ValueError):
    """The page has more pixels than allowed."""


def _to_integer(array: np.ndarray) -> tuple[np.ndarray, int]:
    """uint8 stays; uint16 stays; floats in [0, 1] become uint16; others refused."""
    if array.dtype == np.uint8:
        return array, 8
    if array.dtype == np.uint16:
        return array, 16
    if np.issubdtype(array.dtype, np.floating):
        scaled = np.round(np.clip(np.nan_to_num(array), 0.0, 1.0) * 65535.0)
        return scaled.astype(np.uint16), 16
    raise ValueError(f"TIFF sample type {array.dtype} is not supported")


def read_tiff(data: bytes, max_pixels: int) -> TiffPixels:
    """Decode the first page of a TIFF.

    Raises
    ------
    TiffTooLargeError
        Before decoding, when the page has more than ``max_pixels`` pixels.
    ValueError
        For layouts that are not gray, gray+alpha, RGB or RGBA, or sample
        types other than 8/16-bit unsigned and float. tifffile's own errors
        (damaged data) propagate as they are.
    """
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        width, height = int(page.imagewidth), int(page.imagelength)
        if width * height > max_pixels:
            raise TiffTooLargeError(f"{width}x{height}")
        array = page.asarray()
        if int(page.planarconfig) == 2 and array.ndim == 3:  # SEPARATE: (S, H, W)
            array = np.moveaxis(array, 0, -1)
        tags = page.tags
        icc_tag = tags.get(_ICC)
        orientation_tag = tags.get(_ORIENTATION)
        pages = len(tif.pages)
    icc = bytes(icc_tag.value) if icc_tag is not None else None
    orientation = int(orientation_tag.value) if orientation_tag is not None else 1
    array, bits = _to_integer(np.asarray(array))
    if array.ndim == 2:
        return TiffPixels(array, None, True, bits, icc, orientation, pages)
    if array.ndim != 3 or array.shape[2] not in (2, 3, 4):
        raise ValueError(f"TIFF layout {array.shape} is not gray, RGB or RGBA")
    channels = array.shape[2]
    if channels == 2:
        return TiffPixels(
            array[..., 0], array[..., 1], True, bits, icc, orientation, pages
        )
    alpha = array[..., 3] if channels == 4 else None
    return TiffPixels(array[..., :3], alpha, False, bits, icc, orientation, pages)


__all__ = ["TiffPixels", "TiffTooLargeError", "read_tiff"]
