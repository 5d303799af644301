"""TIFFs read with tifffile: full depth where Pillow would cut to 8 bits.

Used for every TIFF with more than 8 bits per sample in a mode Pillow holds at
8 bits (16-bit RGB, planar or LZW-compressed, 16-bit gray+alpha), for float
samples, and for layouts Pillow cannot open at all. Compressions beyond
tifffile's own (LZW, JPEG, ZSTD, ...) come from imagecodecs. Only the first page
is read; the result uses the same stored-order planes as the Pillow path, so
orientation and conversion to float are shared.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from engine.io.pixels import Planes, float_to_uint16

#: TIFF tags used here.
_ORIENTATION, _ICC, _SMIN, _SMAX = 274, 34675, 340, 341
#: PhotometricInterpretation values.
_MINISWHITE, _MINISBLACK, _RGB, _PALETTE = 0, 1, 2, 3
#: ExtraSamples values: what a channel after the colour ones means.
_UNSPECIFIED, _ASSOCIATED, _UNASSOCIATED = 0, 1, 2


@dataclass(frozen=True, eq=False)
class TiffPixels:
    """First page of a TIFF in stored order, ready for engine.io.decode."""

    planes: Planes
    icc_profile: bytes | None
    orientation: int
    pages: int
    notes: tuple[str, ...] = field(default=())


class TiffTooLargeError(ValueError):
    """The page has more pixels than allowed."""


class TiffLayoutError(ValueError):
    """A layout unsr does not read (CMYK at 16 bits, complex samples, ...)."""


def _to_integer(array: np.ndarray, notes: list[str], declared: object) -> np.ndarray:
    """uint8 and uint16 stay; floats and 32-bit integers become uint16."""
    if array.dtype in (np.uint8, np.uint16):
        return array
    if np.issubdtype(array.dtype, np.floating):
        rng = declared if isinstance(declared, tuple) else None
        return float_to_uint16(array, notes, rng)
    if array.dtype in (np.uint32, np.int32, np.int16, np.int8):
        if array.size and (array.min() < 0 or array.max() > 65535):
            notes.append(
                f"integer samples range {array.min()}..{array.max()}; values "
                "outside 0..65535 were clipped"
            )
        out: np.ndarray = np.clip(array, 0, 65535).astype(np.uint16)
        return out
    raise TiffLayoutError(f"TIFF samples of type {array.dtype} are not supported")


def _declared_range(tags: object) -> tuple[float, float] | None:
    get = getattr(tags, "get", None)
    if get is None:
        return None
    low, high = get(_SMIN), get(_SMAX)
    if low is None or high is None:
        return None
    try:
        lo = np.asarray(low.value, dtype=np.float64).ravel()
        hi = np.asarray(high.value, dtype=np.float64).ravel()
        return float(lo.min()), float(hi.max())
    except (TypeError, ValueError):
        return None


def _unpremultiply(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    top = 65535.0 if colour.dtype == np.uint16 else 255.0
    a = alpha.astype(np.float64)[..., None] / top
    safe = np.where(a > 0, a, 1.0)
    out = np.clip(np.round(colour / safe), 0, top).astype(colour.dtype)
    return out


def _split_channels(
    array: np.ndarray, colours: int, extras: tuple[int, ...], notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Split colour channels from an alpha channel, by the ExtraSamples tag."""
    colour = array[..., 0] if colours == 1 else array[..., :colours]
    if array.shape[2] == colours:
        return colour, None
    kind = extras[0] if extras else _UNSPECIFIED
    if kind == _UNSPECIFIED:
        notes.append("an extra channel not marked as alpha was left out")
        return colour, None
    alpha = array[..., colours]
    if kind == _ASSOCIATED:
        colour = _unpremultiply(colour, alpha)
    if array.shape[2] > colours + 1:
        notes.append(f"{array.shape[2] - colours - 1} further extra channels left out")
    return colour, alpha


def _palette_rgb(array: np.ndarray, colormap: np.ndarray | None) -> np.ndarray:
    if colormap is None:
        raise TiffLayoutError("a palette TIFF without its colour map")
    table = np.asarray(colormap, dtype=np.uint16).T  # (entries, 3), 16 bits
    out: np.ndarray = table[np.clip(array, 0, len(table) - 1)]
    return out


def _planes(page: object, array: np.ndarray, notes: list[str]) -> Planes:
    """Interpret the page's samples by its photometric and extra samples."""
    photometric = int(getattr(page, "photometric", _MINISBLACK))
    extras = tuple(int(v) for v in getattr(page, "extrasamples", ()) or ())
    if int(getattr(page, "planarconfig", 1)) == 2 and array.ndim == 3:
        array = np.moveaxis(array, 0, -1)  # SEPARATE: (S, H, W) -> (H, W, S)
    if photometric == _PALETTE:
        if array.ndim != 2:
            raise TiffLayoutError("a palette TIFF with more than one channel")
        return Planes(
            _palette_rgb(array, getattr(page, "colormap", None)), None, False, 16
        )
    if photometric not in (_MINISWHITE, _MINISBLACK, _RGB):
        name = getattr(getattr(page, "photometric", None), "name", str(photometric))
        raise TiffLayoutError(f"the TIFF colour space {name} is not supported")
    array = _to_integer(array, notes, _declared_range(getattr(page, "tags", None)))
    bits = 16 if array.dtype == np.uint16 else 8
    if photometric == _MINISWHITE:
        array = (np.iinfo(array.dtype).max - array).astype(array.dtype)
    if array.ndim == 2:
        return Planes(array, None, True, bits)
    colours = 3 if photometric == _RGB else 1
    if array.ndim != 3 or array.shape[2] < colours:
        raise TiffLayoutError(f"TIFF layout {array.shape} is not gray, RGB or RGBA")
    colour, alpha = _split_channels(array, colours, extras, notes)
    return Planes(colour, alpha, colours == 1, bits)


def read_tiff(data: bytes, max_pixels: int) -> TiffPixels:
    """Decode the first page of a TIFF at full depth.

    Raises
    ------
    TiffTooLargeError
        Before decoding, when the page has more than ``max_pixels`` pixels.
    TiffLayoutError
        For colour spaces or sample types unsr does not read. tifffile's own
        errors (damaged data, a codec that is not installed) propagate.
    """
    import tifffile

    notes: list[str] = []
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        width, height = int(page.imagewidth), int(page.imagelength)
        if width * height > max_pixels:
            raise TiffTooLargeError(f"{width}x{height}")
        planes = _planes(page, page.asarray(), notes)
        icc_tag = page.tags.get(_ICC)
        orientation_tag = page.tags.get(_ORIENTATION)
        pages = len(tif.pages)
    icc = bytes(icc_tag.value) if icc_tag is not None else None
    orientation = int(orientation_tag.value) if orientation_tag is not None else 1
    return TiffPixels(planes, icc, orientation, pages, tuple(notes))


__all__ = ["TiffLayoutError", "TiffPixels", "TiffTooLargeError", "read_tiff"]
