"""Decoding for :func:`engine.io.images.read`: bytes on disk to an upright ImageData.

Pillow opens every format and supplies the metadata; 16-bit colour PNG/TIFF
pixels come from tifffile or OpenCV because Pillow would cut them to 8 bits;
TIFF layouts Pillow cannot open go to :mod:`engine.io.tiff`. Every failure
becomes an :class:`~engine.io.types.ImageError` with a plain reason.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from engine.events import FloatArray
from engine.io.meta import clean_exif, orient
from engine.io.types import (
    DamagedImageError,
    ImageData,
    ImageError,
    NotAnImageError,
    TooLargeError,
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


#: ``warnings.catch_warnings`` swaps process-wide state; two threads decoding
#: at once (the app's worker and a thumbnail loader) would restore each other's
#: filters out of order. One lock keeps our own enter/exit pairs nested.
_WARNINGS_LOCK = threading.RLock()


@contextmanager
def _quiet(category: type[Warning] = Warning) -> Iterator[None]:
    """Ignore ``category`` inside the block, without racing other decodes."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        yield


def _open(path: Path, data: bytes, max_pixels: int) -> Image.Image | None:
    """Open (not decode) the image and refuse it when it is too large.

    Returns None for a TIFF that Pillow cannot open (tifffile may).
    """
    try:
        # The size is checked below against ``max_pixels``; Pillow's warning
        # would be an error under strict warning filters.
        with _quiet(Image.DecompressionBombWarning):
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise TooLargeError(
            path, "the image is too large to decode safely (decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        kind = _sniff(data)
        if kind == "TIFF":
            return None
        if kind is not None:
            raise DamagedImageError(
                path, f"damaged or truncated {kind} file (its header is incomplete)"
            ) from None
        if _looks_like_text(data[:512]):
            reason = "not an image: the file contains text"
        else:
            reason = "not an image in a format unsr reads (PNG, JPEG, WebP, TIFF, BMP)"
        raise NotAnImageError(path, reason) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DamagedImageError(
            path, f"damaged or truncated image header ({exc})"
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise TooLargeError(
            path,
            f"the image is too large to decode safely ({width}x{height} = "
            f"{width * height / 1e6:.0f} MP, limit {max_pixels / 1e6:.0f} MP)",
        )
    if width == 0 or height == 0:
        raise DamagedImageError(path, "the image has no pixels (0 width or height)")
    return image


def _rawmode(image: Image.Image) -> str:
    tile = getattr(image, "tile", None)
    if not tile:
        return ""
    args = tile[0][3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _is_16bit(image: Image.Image, rawmode: str) -> bool:
    """True for PNG/TIFF files with 16-bit samples that Pillow would cut to 8."""
    if image.format == "PNG":
        return ";16" in rawmode
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)
        values = bits if isinstance(bits, tuple) else (bits,)
        return 16 in values
    return False


def _tiff_16bit(data: bytes) -> tuple[np.ndarray, np.ndarray | None, bool] | None:
    """Decode a 16-bit TIFF with tifffile, which honours every layout.

    OpenCV garbles planar (one plane per channel) TIFFs, so it comes second.

    Returns (colour, alpha, gray) or None when tifffile cannot decode the data
    (e.g. LZW without the optional imagecodecs package).
    """
    from engine.io.tiff import read_tiff

    try:
        tiff = read_tiff(data, max_pixels=2**62)  # the size was checked already
    except Exception:  # tifffile raises many types; any failure means "no"
        return None
    if tiff.bit_depth != 16:
        return None
    return tiff.colour, tiff.alpha, tiff.gray


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


def _split_16bit(
    image: Image.Image, data: bytes, rawmode: str
) -> tuple[np.ndarray, np.ndarray | None, bool, int, bool] | None:
    """Decode a 16-bit RGB(A)/LA PNG or TIFF that Pillow would cut to 8 bits."""
    if image.format == "TIFF":
        decoded = _tiff_16bit(data)
        if decoded is not None:
            return (*decoded, 16, True)
        if getattr(image, "tag_v2", {}).get(284) == 2:
            return None  # planar: OpenCV would interleave the planes wrongly
    array = _opencv_16bit(data)
    if array is None:
        return None
    if array.ndim == 2:
        return array, None, True, 16, True
    alpha = array[..., 3] if array.shape[2] == 4 else None
    if rawmode.startswith("LA") or image.mode == "LA":
        # Pillow opens 16-bit gray+alpha PNGs as RGBA; OpenCV expands them too.
        return array[..., 0], alpha, True, 16, True
    return array[..., :3], alpha, False, 16, True


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


def _pixels(
    image: Image.Image, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None, bool, int, bool]:
    """Return (colour, alpha, gray, bit depth, icc still valid) in stored order.

    Colour is uint8/uint16/float (H, W) for gray or (H, W, 3); alpha likewise.
    """
    mode = image.mode
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(image, notes)), None, False, 8, False
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image).astype(np.uint16), None, True, 16, True
    if mode == "I":
        wide = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
        return wide, None, True, 16, True
    if mode == "F":
        return np.clip(np.asarray(image), 0.0, 1.0) * 65535.0, None, True, 16, True
    if mode in ("1", "L"):
        return np.asarray(image.convert("L")), None, True, 8, True
    if mode in ("LA", "La"):
        la = np.asarray(image.convert("LA"))
        return la[..., 0], la[..., 1], True, 8, True
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        converted = image.convert("RGBA" if has_alpha else "RGB")
        if has_alpha:
            rgba = np.asarray(converted)
            return rgba[..., :3], rgba[..., 3], False, 8, True
        return np.asarray(converted), None, False, 8, True
    if mode in ("RGBA", "RGBa", "RGBX"):
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3] if mode != "RGBX" else None
        return rgba[..., :3], alpha, False, 8, True
    return np.asarray(image.convert("RGB")), None, False, 8, mode in ("RGB",)


def _to_float(array: np.ndarray, bit_depth: int) -> FloatArray:
    scale = 65535.0 if bit_depth == 16 else 255.0
    out: FloatArray = (array.astype(np.float32) / np.float32(scale)).astype(np.float32)
    return out


def decode_file(path: str | os.PathLike[str], max_pixels: int) -> ImageData:
    """Read and decode ``path``; see :func:`engine.io.images.read`."""
    path = Path(path)
    data = _read_bytes(path)
    image = _open(path, data, max_pixels)
    if image is None:
        return _read_tiff(path, data, max_pixels)
    notes: list[str] = []
    frames = int(getattr(image, "n_frames", 1) or 1)
    # Decoders warn about oddities they repair (corrupt EXIF, palette
    # transparency); the image is usable, so these must not become errors.
    with image, _quiet():
        return _decode(path, image, data, frames, notes)


def _decode(
    path: Path, image: Image.Image, data: bytes, frames: int, notes: list[str]
) -> ImageData:
    try:
        if frames > 1:
            image.seek(0)
            if image.format == "TIFF":
                notes.append(f"multi-page: first of {frames} pages used")
            elif image.format != "MPO":
                # MPO is a camera JPEG whose extra frames are previews or depth.
                notes.append(f"animated: first of {frames} frames used")
        rawmode = _rawmode(image)
        sixteen = _is_16bit(image, rawmode)
        decoded = None
        if sixteen and image.mode in ("RGB", "RGBA", "LA"):
            # Pillow would decode these to 8 bits: skip its decode entirely.
            decoded = _split_16bit(image, data, rawmode)
            if decoded is None:
                notes.append("16-bit data could only be read as 8 bits")
        if decoded is None:
            image.load()
            decoded = _pixels(image, notes)
        colour, alpha, gray, bit_depth, icc_valid = decoded
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DamagedImageError(
            path, f"damaged or truncated image data ({reason})"
        ) from None
    exif, orientation = clean_exif(image, data, from_tiff=image.format == "TIFF")
    icc = image.info.get("icc_profile") if icc_valid else None
    icc = icc if isinstance(icc, bytes) and icc else None
    return _assemble(
        path, colour, alpha, gray, bit_depth, icc, exif, orientation, notes
    )


def _assemble(
    path: Path,
    colour: np.ndarray,
    alpha: np.ndarray | None,
    gray: bool,
    bit_depth: int,
    icc: bytes | None,
    exif: bytes | None,
    orientation: int,
    notes: list[str],
) -> ImageData:
    """Turn stored-order integer planes into an upright float ImageData."""
    rgb = _to_float(orient(colour, orientation), bit_depth)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    alpha_f = None
    if alpha is not None:
        alpha_f = _to_float(orient(alpha, orientation), bit_depth)
    return ImageData(
        rgb=np.ascontiguousarray(rgb),
        alpha=alpha_f,
        bit_depth=bit_depth,
        gray=gray,
        icc_profile=icc,
        exif=exif,
        source=path,
        notes=tuple(notes),
    )


def _read_tiff(path: Path, data: bytes, max_pixels: int) -> ImageData:
    """Read a TIFF that Pillow cannot open, with tifffile."""
    from engine.io.tiff import TiffTooLargeError, read_tiff

    try:
        tiff = read_tiff(data, max_pixels)
    except TiffTooLargeError as exc:
        raise TooLargeError(
            path, f"the image is too large to decode safely ({exc})"
        ) from None
    except Exception as exc:  # tifffile raises many types for broken files
        raise DamagedImageError(
            path, f"damaged or unsupported TIFF ({exc or type(exc).__name__})"
        ) from None
    notes = ["read with tifffile: EXIF not kept"]
    if tiff.pages > 1:
        notes.insert(0, f"multi-page: first of {tiff.pages} pages used")
    orientation = tiff.orientation if 1 <= tiff.orientation <= 8 else 1
    return _assemble(
        path, tiff.colour, tiff.alpha, tiff.gray, tiff.bit_depth,
        tiff.icc_profile, None, orientation, notes,
    )  # fmt: skip


__all__ = ["decode_file"]
