"""The types of :mod:`engine.io.images`: ImageData, the errors, the format tables.

Kept apart so the decoder and the writer modules can share them without
importing :mod:`engine.io.images` (which imports both).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from engine.events import FloatArray

#: Refuse images with more pixels than this before decoding them (100 MP).
#: Pillow's own guard (twice ``Image.MAX_IMAGE_PIXELS``) still applies above it.
DEFAULT_MAX_PIXELS = 100_000_000

#: File suffixes unsr reads and writes, mapped to the format name used here.
FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
}
#: Suffixes a folder scan treats as images (GIF is read, never written).
READABLE_SUFFIXES = frozenset({*FORMATS, ".gif"})
#: The preferred suffix for each format name (and its aliases).
SUFFIX_FOR = {
    "png": ".png",
    "jpeg": ".jpg",
    "jpg": ".jpg",
    "webp": ".webp",
    "tiff": ".tiff",
    "tif": ".tiff",
    "bmp": ".bmp",
}


EXISTS_REASON = "the file already exists (allow overwriting to replace it)"


class ImageError(Exception):
    """An image could not be read or written; says which file and why.

    Attributes
    ----------
    path : Path
        The file concerned.
    reason : str
        A sentence a person understands.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NotAnImageError(ImageError):
    """The file is missing, empty, a folder, or not in an image format."""


class DamagedImageError(ImageError):
    """The file looks like an image but its data is broken or truncated."""


class TooLargeError(ImageError):
    """The image has more pixels than is safe to decode (a decompression bomb)."""


class UnsupportedImageError(ImageError):
    """The file is an image, but in a variant unsr cannot read faithfully."""


class WriteError(ImageError):
    """An output could not be written (exists, input, permission, disk full)."""


@dataclass(frozen=True, eq=False)
class ImageData:
    """One image as the engine sees it.

    Attributes
    ----------
    rgb : ndarray
        float32 (H, W, 3) in [0, 1], display orientation; gray images repeat
        their one channel three times.
    alpha : ndarray or None
        float32 (H, W) in [0, 1], or None for opaque images.
    bit_depth : int
        8 or 16: bits per channel of the source, used again when writing.
    gray : bool
        True when the source had no colour; written back as gray.
    icc_profile : bytes or None
        The embedded ICC profile, written back unchanged.
    exif : bytes or None
        The EXIF block with its orientation reset to 1 (pixels are upright).
    source : Path or None
        The file it was read from; never written over.
    notes : tuple of str
        Things a person should know ("animated: first of 12 frames used").
    """

    rgb: FloatArray
    alpha: FloatArray | None = None
    bit_depth: int = 8
    gray: bool = False
    icc_profile: bytes | None = None
    exif: bytes | None = None
    source: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.rgb.shape[0])

    def with_pixels(self, rgb: FloatArray, alpha: FloatArray | None) -> ImageData:
        """Return a copy with new pixels and the same metadata."""
        return dataclasses.replace(self, rgb=rgb, alpha=alpha)


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EXISTS_REASON",
    "FORMATS",
    "READABLE_SUFFIXES",
    "SUFFIX_FOR",
    "DamagedImageError",
    "ImageData",
    "ImageError",
    "NotAnImageError",
    "TooLargeError",
    "UnsupportedImageError",
    "WriteError",
]
