"""Malformed files: a typed error with the file and a plain reason, never a raw one.

Every fixture is built here: a DDS with an unknown pixel format, an ICNS whose
embedded PNG is a decompression bomb, TIFFs whose page chain is broken, a PSD
with a nonsense header. Library warnings become notes, never stderr lines.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.io import images
from engine.io.images import (
    DamagedImageError,
    ImageError,
    TooLargeError,
    UnsupportedImageError,
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _dds_unknown_format(path: Path) -> None:
    header = struct.pack("<7I", 124, 0x1007, 8, 8, 0, 0, 0) + bytes(44)
    pixel_format = struct.pack("<2I4s5I", 32, 4, b"ZZZZ", 0, 0, 0, 0, 0)
    path.write_bytes(
        b"DDS " + header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0)
        + bytes(256)
    )  # fmt: skip


def _icns_with_png_bomb(path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(100))) + _chunk(b"IEND", b"")
    )  # fmt: skip
    entry = b"ic10" + struct.pack(">I", 8 + len(png)) + png
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(entry)) + entry)


def _tiff_with_broken_page_chain(path: Path, next_ifd: int) -> None:
    buffer = io.BytesIO()
    pages = [Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))]
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    data = bytearray(buffer.getvalue())
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    struct.pack_into("<I", data, first + 2 + 12 * count, next_ifd)
    path.write_bytes(bytes(data))


def _psd_nonsense(path: Path) -> None:
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 8, 8, 8, 3)
    path.write_bytes(header + struct.pack(">3I", 0, 0, 10) + b"\xff" * 10)


def _tiff_broken_lzw(path: Path, rng: np.random.Generator) -> None:
    """An LZW TIFF whose compressed strip is garbage (libtiff: decoder error -2)."""
    buffer = io.BytesIO()
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "TIFF", compression="tiff_lzw")
    data = bytearray(buffer.getvalue())
    data[200:2000] = b"\xff" * 1800
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "build", "error", "words"),
    [
        ("x.dds", _dds_unknown_format, UnsupportedImageError, "cannot be decoded"),
        ("x.icns", _icns_with_png_bomb, TooLargeError, "400 MP"),
        (
            "cut.tif",
            lambda p: _tiff_with_broken_page_chain(p, 10**6),
            DamagedImageError,
            "TIFF",
        ),
        (
            "loop.tif",
            lambda p: _tiff_with_broken_page_chain(p, 9),
            DamagedImageError,
            "TIFF",
        ),
        ("x.psd", _psd_nonsense, DamagedImageError, "PSD"),
    ],
)
def test_malformed_files_raise_typed_errors(
    tmp_path: Path, name: str, build: object, error: type[ImageError], words: str
) -> None:
    path = tmp_path / name
    build(path)  # type: ignore[operator]
    with pytest.raises(error) as info:
        images.read(path)
    assert info.value.path == path
    assert words in info.value.reason
    # The app refuses these at drop time with the same error, without decoding.
    if error is not TooLargeError:  # the ICNS bomb is only found by decoding
        with pytest.raises(error):
            images.probe(path)


def test_decoder_jargon_becomes_a_plain_reason_and_stderr_stays_clean(
    tmp_path: Path, rng: np.random.Generator, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lzw.tif"
    _tiff_broken_lzw(path, rng)
    with pytest.raises(DamagedImageError) as info:
        images.read(path)
    assert "damaged" in info.value.reason
    assert "decoder error" not in info.value.reason and "-2" not in info.value.reason
    assert capfd.readouterr().err == ""  # libtiff's own lines were caught


def test_memory_error_becomes_an_impossible_size(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(path)

    def allocate(*args: object) -> None:
        raise MemoryError("Unable to allocate 3.52 TiB for an array")

    monkeypatch.setattr(Image.Image, "load", allocate)
    with pytest.raises(TooLargeError) as info:
        images.read(path)
    assert "TiB" not in info.value.reason
    assert "impossible size" in info.value.reason


def test_library_warnings_become_one_note_not_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # A TIFF whose EXIF sub-IFD pointer leads past the end: Pillow warns
    # "Corrupt EXIF data" (a UserWarning naming a site-packages file).
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Cam"
    Image.new("RGB", (8, 8), "red").save(buffer, "TIFF", exif=exif)
    data = bytearray(buffer.getvalue())
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    # Append an ExifIFD pointer to nowhere by rewriting the Make tag's type.
    for i in range(count):
        at = first + 2 + 12 * i
        if struct.unpack("<H", data[at : at + 2])[0] == 0x010F:
            struct.pack_into("<HHII", data, at, 0x8769, 4, 1, len(data) + 64)
    path = tmp_path / "warn.tif"
    path.write_bytes(bytes(data))
    image = images.read(path)  # pytest turns an escaping warning into an error
    captured = capfd.readouterr()
    assert captured.err == ""
    assert any("EXIF" in note for note in image.notes)


def test_probe_reports_the_header(tmp_path: Path) -> None:
    path = tmp_path / "a.gif"
    frames = [Image.new("RGB", (6, 4), c) for c in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    header = images.probe(path)
    assert (header.format, header.width, header.height, header.frames) == (
        "GIF",
        6,
        4,
        2,
    )
    with pytest.raises(TooLargeError):
        images.probe(path, max_pixels=10)
