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

import contextlib
import dataclasses
import errno
import io
import os
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from engine.events import FloatArray
from engine.image_meta import clean_exif, orient

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


_EXISTS = "the file already exists (allow overwriting to replace it)"


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


def _open(path: Path, data: bytes, max_pixels: int) -> Image.Image:
    """Open (not decode) the image and refuse it when it is too large."""
    try:
        with warnings.catch_warnings():
            # The size is checked below against ``max_pixels``; Pillow's warning
            # would be an error under strict warning filters.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise TooLargeError(
            path, "the image is too large to decode safely (decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        if _looks_like_text(data[:512]):
            reason = "not an image: the file contains text"
        else:
            reason = "not an image in a format unsr reads (PNG, JPEG, WebP, TIFF, BMP)"
        raise NotAnImageError(path, reason) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DamagedImageError(path, f"damaged image header ({exc})") from None
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


def _decode_16bit(data: bytes, is_tiff: bool) -> np.ndarray | None:
    """Decode a 16-bit RGB(A) PNG/TIFF (Pillow would drop it to 8 bits).

    OpenCV first (PNG and most TIFFs); tifffile for TIFF layouts it declines.
    The result is RGB(A) order, or (H, W) for gray.
    """
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is not None and array.dtype == np.uint16:
        if array.ndim == 3 and array.shape[2] == 3:
            array = array[..., ::-1]
        elif array.ndim == 3 and array.shape[2] == 4:
            array = array[..., [2, 1, 0, 3]]
        return np.ascontiguousarray(array)
    if not is_tiff:
        return None
    import tifffile

    try:
        # key=0: the first page, as for every other multi-frame file.
        array = tifffile.imread(io.BytesIO(data), key=0)
    except Exception:  # tifffile raises many types; any failure means "no"
        return None
    if array.dtype != np.uint16 or array.ndim != 3 or array.shape[2] not in (3, 4):
        return None
    return np.ascontiguousarray(array)


def _split_16bit(
    data: bytes, rawmode: str, mode: str, is_tiff: bool
) -> tuple[np.ndarray, np.ndarray | None, bool, int, bool] | None:
    array = _decode_16bit(data, is_tiff)
    if array is None:
        return None
    if array.ndim == 2:
        return array, None, True, 16, True
    alpha = array[..., 3] if array.shape[2] == 4 else None
    if rawmode.startswith("LA") or mode == "LA":
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
    path = Path(path)
    data = _read_bytes(path)
    image = _open(path, data, max_pixels)
    notes: list[str] = []
    frames = int(getattr(image, "n_frames", 1) or 1)
    with image, warnings.catch_warnings():
        # Decoders warn about oddities they repair (corrupt EXIF, palette
        # transparency); the image is usable, so these must not become errors.
        warnings.simplefilter("ignore")
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
        sixteen = image.format in ("PNG", "TIFF") and ";16" in rawmode
        decoded = None
        if sixteen and image.mode in ("RGB", "RGBA", "LA"):
            # Pillow would decode these to 8 bits: skip its decode entirely.
            decoded = _split_16bit(data, rawmode, image.mode, image.format == "TIFF")
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
    colour = orient(colour, orientation)
    rgb = _to_float(colour, bit_depth)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    alpha_f = (
        _to_float(orient(alpha, orientation), bit_depth) if alpha is not None else None
    )
    return ImageData(
        rgb=np.ascontiguousarray(rgb),
        alpha=alpha_f,
        bit_depth=bit_depth,
        gray=gray,
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
        exif=exif,
        source=path,
        notes=tuple(notes),
    )


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


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return os.path.abspath(a) == os.path.abspath(b)


def _write_reason(exc: OSError, folder: Path) -> str:
    if isinstance(exc, PermissionError):
        return f"no permission to write in {folder}"
    if exc.errno == errno.ENOSPC:
        return "the disk is full; nothing was written"
    if exc.errno == errno.EROFS:
        return f"{folder} is on a read-only disk"
    return f"could not be written: {exc.strerror or exc}"


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
    from engine.image_encode import encode

    path = Path(path)
    name = format_for(path, fmt)
    guarded = [p for p in (image.source, *map(Path, protect)) if p is not None]
    if any(_same_file(path, p) for p in guarded):
        raise WriteError(path, "refusing to write over an input image")
    if path.exists() and not overwrite:
        raise WriteError(path, _EXISTS)
    try:
        payload = encode(image, name, quality=quality, bit_depth=bit_depth)
    except ValueError as exc:
        raise WriteError(path, str(exc)) from None
    except OSError as exc:  # Pillow's encoders report their failures as OSError
        raise WriteError(
            path, f"could not be encoded as {name.upper()}: {exc}"
        ) from None
    _atomic_write(path, payload, overwrite)
    return path


def _create_temp(folder: Path, name: str) -> tuple[int, str]:
    """Create a new hidden temp file beside the target; return (fd, path).

    ``os.open`` with mode 0o666 lets the umask decide the permissions, as for
    any file the user saves (``mkstemp`` would make it private, 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(folder / f".{name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _publish(tmp: str, path: Path, overwrite: bool) -> None:
    """Give the finished temp file its real name."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails atomically when the name is taken, so a file that
        # appeared since the check (another batch) is still never replaced.
        os.link(tmp, path)
    except FileExistsError:
        raise WriteError(path, _EXISTS) from None
    except OSError:
        # File systems without hard links (FAT, some network shares).
        if path.exists():
            raise WriteError(path, _EXISTS) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _atomic_write(path: Path, payload: bytes, overwrite: bool) -> None:
    folder = path.parent
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(folder, path.name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path, overwrite)
        tmp = None
    except OSError as exc:
        raise WriteError(path, _write_reason(exc, folder)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


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
    "ImageData",
    "ImageError",
    "NotAnImageError",
    "TooLargeError",
    "WriteError",
    "format_for",
    "from_array",
    "read",
    "write",
]
