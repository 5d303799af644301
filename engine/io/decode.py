"""Decoding for :func:`engine.io.images.read`: bytes on disk to an upright ImageData.

Pillow opens every format and supplies the metadata; 16-bit colour PNG pixels
come from OpenCV and TIFFs deeper than 8 bits from tifffile, because Pillow
would cut them to 8 bits (a file that cannot be read at its full depth is
refused, never quietly cut); TIFF layouts Pillow cannot open go to
:mod:`engine.io.tiff`. The whole path runs inside one guard
(:mod:`engine.io.guard`): every failure becomes an
:class:`~engine.io.types.ImageError` with a plain reason, every library warning
a note.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.events import FloatArray
from engine.io.guard import plain_reason, quiet_libraries, reading
from engine.io.meta import clean_exif, orient
from engine.io.pixels import Planes, key_alpha, planes_from_pillow
from engine.io.types import (
    DamagedImageError,
    ImageData,
    ImageError,
    NotAnImageError,
    TooLargeError,
    UnsupportedImageError,
)

#: File signatures: a file that starts like an image but does not open is
#: damaged, not "not an image".
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"DDS ", "DDS"),
    (b"icns", "ICNS"),
    (b"8BPS", "PSD"),
)


def _sniff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_bytes(path: Path) -> bytes:
    """Read the whole file, turning OS errors into reasons a person reads."""
    try:
        if path.is_dir():
            raise NotAnImageError(path, "is a folder, not an image file")
        if not path.exists():
            raise NotAnImageError(path, "file not found")
        if not path.is_file():
            # A pipe or device would block or stream forever.
            raise NotAnImageError(path, "not a regular file")
        size = path.stat().st_size
        if size == 0:
            raise NotAnImageError(path, "the file is empty (0 bytes)")
        return path.read_bytes()
    except PermissionError:
        raise NotAnImageError(
            path, "no permission to read the file (or its folder)"
        ) from None
    except ImageError:
        raise
    except OSError as exc:
        raise NotAnImageError(
            path, f"could not be read: {exc.strerror or exc}"
        ) from None


@dataclass(frozen=True)
class Header:
    """What :func:`probe_file` finds without decoding pixels.

    Attributes
    ----------
    format : str
        Pillow's format name ("PNG", "TIFF", ...).
    width, height : int
        Size in pixels as stored (before EXIF orientation).
    mode : str
        Pillow's mode ("RGB", "I;16", ...); "tifffile" when only tifffile opens it.
    frames : int
        Frames or pages; the first is used.
    """

    format: str
    width: int
    height: int
    mode: str
    frames: int


def _header_error(path: Path, data: bytes) -> ImageError:
    """The error for a file Pillow does not recognise."""
    kind = _sniff(data)
    if kind is not None:
        return DamagedImageError(
            path, f"damaged or truncated {kind} file (its header is incomplete)"
        )
    if _looks_like_text(data[:512]):
        return NotAnImageError(path, "not an image: the file contains text")
    return NotAnImageError(
        path, "not an image in a format unsr reads (PNG, JPEG, WebP, TIFF, BMP)"
    )


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise TooLargeError(
            path,
            f"the image is too large to decode safely ({width}x{height} = "
            f"{width * height / 1e6:.0f} MP, limit {max_pixels / 1e6:.0f} MP)",
        )
    if width <= 0 or height <= 0:
        raise DamagedImageError(path, "the image has no pixels (0 width or height)")


def _open(path: Path, data: bytes, max_pixels: int) -> Image.Image | None:
    """Open (not decode) the image and refuse it when it is too large.

    Returns None for a TIFF that Pillow cannot open (tifffile may).
    """
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if _sniff(data) == "TIFF":
            return None
        raise _header_error(path, data) from None
    except (Image.DecompressionBombError, NotImplementedError, MemoryError):
        raise  # the guard words these
    except Exception:  # a header that parses into nonsense
        if _sniff(data) == "TIFF":
            return None
        kind = _sniff(data) or image_kind(data)
        raise DamagedImageError(
            path, f"damaged or truncated {kind} file (its header is inconsistent)"
        ) from None
    _check_size(path, *image.size, max_pixels)
    return image


def image_kind(data: bytes) -> str:
    """A format name for messages: from the signature, else "image"."""
    return _sniff(data) or "image"


def _frames(image: Image.Image, notes: list[str]) -> None:
    """Note (and seek to) the first of several frames or pages."""
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames <= 1:
        return
    image.seek(0)
    if image.format == "TIFF":
        notes.append(f"multi-page: first of {frames} pages used")
    elif image.format != "MPO":
        # MPO is a camera JPEG whose extra frames are previews or depth.
        notes.append(f"animated: first of {frames} frames used")


def _rawmode(image: Image.Image) -> str:
    tile = getattr(image, "tile", None)
    if not tile:
        return ""
    args = tile[0][3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


#: Pillow modes whose samples are 8 bits: a deeper file in one is being cut.
_EIGHT_BIT_MODES = frozenset({"RGB", "RGBA", "RGBX", "LA", "CMYK", "YCbCr", "LAB", "P"})


def _is_deep(image: Image.Image, rawmode: str) -> bool:
    """True for a PNG/TIFF deeper than 8 bits that Pillow would cut to 8."""
    if image.mode not in _EIGHT_BIT_MODES:
        return False
    if image.format == "PNG":
        return ";16" in rawmode
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)
        values = bits if isinstance(bits, tuple) else (bits,)
        return any(isinstance(v, int) and v > 8 for v in values)
    return False


def _opencv_16bit(data: bytes) -> np.ndarray | None:
    """OpenCV decode in RGB(A) order, or (H, W) for gray; None unless 16-bit."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        return None
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[..., ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(array)


def _png_16bit(image: Image.Image, data: bytes, rawmode: str) -> Planes | None:
    """A 16-bit RGB(A)/LA PNG through OpenCV, its colour key applied.

    Pillow checks the chunks first (CRCs, truncation): it raises a reason the
    guard can word, where libpng inside OpenCV would print to stderr.
    """
    with Image.open(io.BytesIO(data)) as check:
        check.verify()
    array = _opencv_16bit(data)
    if array is None:
        return None
    if array.ndim == 2:
        return Planes(array, None, True, 16)
    alpha = array[..., 3] if array.shape[2] == 4 else None
    if rawmode.startswith("LA") or image.mode == "LA":
        # Pillow opens 16-bit gray+alpha PNGs as RGBA; OpenCV expands them too.
        return Planes(array[..., 0], alpha, True, 16)
    colour = np.ascontiguousarray(array[..., :3])
    key = image.info.get("transparency")
    if alpha is None and key is not None:
        alpha = key_alpha(colour, key, 1, 65535)
    return Planes(colour, alpha, False, 16)


def _deep_planes(
    path: Path, image: Image.Image, data: bytes, rawmode: str, notes: list[str]
) -> Planes:
    """Full-depth planes of a deep PNG/TIFF, or a plain refusal.

    README promises that 16-bit stays 16-bit; a file that cannot be decoded at
    its depth is refused rather than quietly cut to 8 bits.
    """
    from engine.io.tiff import read_tiff

    kind = image.format or "image"
    if image.format == "PNG":
        planes = _png_16bit(image, data, rawmode)
    else:
        try:
            tiff = read_tiff(data, max_pixels=2**62)  # the size was checked
            notes.extend(tiff.notes)
            return tiff.planes
        except Exception as exc:  # the codec is missing or the data is damaged
            detail = plain_reason(exc, kind)
            raise UnsupportedImageError(
                path,
                f"a {kind} deeper than 8 bits that cannot be read at its full "
                f"depth ({detail}); unsr does not cut it to 8 bits",
            ) from None
    if planes is None:
        raise UnsupportedImageError(
            path,
            f"a 16-bit {kind} that cannot be read at its full depth; unsr does "
            "not cut it to 8 bits",
        )
    return planes


@dataclass(frozen=True, eq=False)
class _Decoded:
    planes: Planes
    icc: bytes | None
    exif: bytes | None
    orientation: int


def _decode(path: Path, image: Image.Image, data: bytes, notes: list[str]) -> _Decoded:
    """Decode the first frame and its metadata (inside the guard)."""
    _frames(image, notes)
    rawmode = _rawmode(image)
    if _is_deep(image, rawmode):
        # Pillow would decode these to 8 bits: skip its decode entirely.
        planes = _deep_planes(path, image, data, rawmode, notes)
    else:
        tiles = getattr(image, "tile", None)
        tile = tiles[0] if tiles else None  # load() clears it
        image.load()
        planes = planes_from_pillow(image, data, tile, notes)
    from_tiff = image.format == "TIFF"
    exif, orientation = clean_exif(image, data, from_tiff=from_tiff, notes=notes)
    icc = image.info.get("icc_profile") if planes.icc_valid else None
    icc = icc if isinstance(icc, bytes) and icc else None
    return _Decoded(planes, icc, exif, orientation)


def _to_float(array: np.ndarray, bit_depth: int) -> FloatArray:
    scale = 65535.0 if bit_depth == 16 else 255.0
    out: FloatArray = (array.astype(np.float32) / np.float32(scale)).astype(np.float32)
    return out


def _assemble(path: Path, decoded: _Decoded, notes: list[str]) -> ImageData:
    """Turn stored-order integer planes into an upright float ImageData."""
    planes, orientation = decoded.planes, decoded.orientation
    rgb = _to_float(orient(planes.colour, orientation), planes.bit_depth)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    alpha_f = None
    if planes.alpha is not None:
        alpha_f = _to_float(orient(planes.alpha, orientation), planes.bit_depth)
    return ImageData(
        rgb=np.ascontiguousarray(rgb),
        alpha=alpha_f,
        bit_depth=planes.bit_depth,
        gray=planes.gray,
        icc_profile=decoded.icc,
        exif=decoded.exif,
        source=path,
        notes=tuple(notes),
    )


def _read_tiff(path: Path, data: bytes, max_pixels: int, notes: list[str]) -> _Decoded:
    """Read a TIFF that Pillow cannot open, with tifffile."""
    from engine.io.tiff import TiffLayoutError, TiffTooLargeError, read_tiff

    try:
        tiff = read_tiff(data, max_pixels)
    except TiffTooLargeError as exc:
        raise TooLargeError(
            path, f"the image is too large to decode safely ({exc})"
        ) from None
    except TiffLayoutError as exc:
        raise UnsupportedImageError(path, f"{exc}") from None
    if tiff.pages > 1:
        notes.append(f"multi-page: first of {tiff.pages} pages used")
    notes.extend(tiff.notes)
    notes.append("read with tifffile: EXIF not kept")
    orientation = tiff.orientation if 1 <= tiff.orientation <= 8 else 1
    return _Decoded(tiff.planes, tiff.icc_profile, None, orientation)


def decode_file(path: str | os.PathLike[str], max_pixels: int) -> ImageData:
    """Read and decode ``path``; see :func:`engine.io.images.read`."""
    path = Path(path)
    data = _read_bytes(path)
    notes: list[str] = []
    with reading(path, image_kind(data)), quiet_libraries(notes):
        image = _open(path, data, max_pixels)
        if image is None:
            decoded = _read_tiff(path, data, max_pixels, notes)
        else:
            # Now the format is known, the reasons can name it.
            with image, reading(path, image.format or image_kind(data)):
                decoded = _decode(path, image, data, notes)
    return _assemble(path, decoded, notes)


def probe_file(path: str | os.PathLike[str], max_pixels: int) -> Header:
    """Check a file's header, size and frames without decoding its pixels."""
    path = Path(path)
    data = _read_bytes(path)
    notes: list[str] = []
    with reading(path, image_kind(data)), quiet_libraries(notes):
        image = _open(path, data, max_pixels)
        if image is None:
            import tifffile

            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                page = tif.pages.first
                width, height = int(page.imagewidth), int(page.imagelength)
                _check_size(path, width, height, max_pixels)
                return Header("TIFF", width, height, "tifffile", len(tif.pages))
        with image:
            frames = int(getattr(image, "n_frames", 1) or 1)
            return Header(image.format or "?", *image.size, image.mode, frames)


__all__ = ["Header", "decode_file", "probe_file"]
