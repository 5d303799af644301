"""Read/write speed and file size of engine.io.images per format, side by side.

Usage (from the repository root):

    python benchmarks/images_io.py [--size 2048x1536] [--repeats 3] [--record]

Times are medians of ``--repeats`` runs on a synthetic photo-like image; the
figure that transfers between machines is the ratio to writing an 8-bit PNG,
measured in the same run. ``--record`` appends a section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.io import images
from engine.io.images import ImageData

CASES = (
    ("PNG 8-bit", ".png", 8, {}),
    ("PNG 16-bit", ".png", 16, {}),
    ("TIFF 8-bit", ".tiff", 8, {}),
    ("TIFF 16-bit", ".tiff", 16, {}),
    ("JPEG q95", ".jpg", 8, {"quality": 95}),
    ("WebP q90", ".webp", 8, {"quality": 90}),
    ("BMP", ".bmp", 8, {}),
)


def photo_like(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack(
        [xx / width, yy / height, 0.5 + 0.4 * np.sin(xx / 37) * np.cos(yy / 23)], axis=2
    )
    rgb += rng.normal(0, 0.02, rgb.shape).astype(np.float32)
    return np.clip(rgb, 0, 1).astype(np.float32)


def median_time(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decode_twice(path: Path) -> None:
    """The naive 16-bit path: Pillow decodes (to 8 bits), then OpenCV again."""
    import cv2
    from PIL import Image

    data = path.read_bytes()
    with Image.open(path) as image:
        image.load()
        image.getexif()
    cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def png_levels(rgb: np.ndarray, repeats: int) -> list[str]:
    """8-bit PNG zlib levels on a 2x upscaled photo (what unsr writes most)."""
    import cv2
    from PIL import Image

    u8 = np.round(rgb * 255).astype(np.uint8)
    up = Image.fromarray(
        cv2.resize(u8, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    )
    rows = []
    for level in (1, 4, 6):
        buffer = io.BytesIO()

        def save(level: int = level, buffer: io.BytesIO = buffer) -> None:
            buffer.seek(0)
            buffer.truncate()
            up.save(buffer, "PNG", compress_level=level)

        rows.append((level, median_time(save, repeats), buffer.tell()))
    base = next(t for level, t, _ in rows if level == 6)
    lines = [
        f"8-bit PNG zlib level on a {up.width}x{up.height} bicubic-upscaled image "
        "(engine.io.encode.PNG_LEVEL = 4):",
        "",
        "| level | write s | time / level 6 | size MB |",
        "|---|---|---|---|",
    ]
    for level, seconds, size in rows:
        lines.append(
            f"| {level} | {seconds:.2f} | {seconds / base:.2f} | {size / 1e6:.2f} |"
        )
    return lines


def quantise_rows(repeats: int, height: int = 6000, width: int = 8000) -> list[str]:
    """The writer's float -> 8/16-bit step, whole-array against banded, side by side.

    The image is the size of a 12 MP photo's x2 result; memory is the peak of
    numpy's allocations during the call (tracemalloc), above the image itself.
    """
    import tracemalloc

    from engine.io import encode

    values = np.random.default_rng(0).uniform(-0.1, 1.1, (height, width, 3))
    values = values.astype(np.float32)

    def whole(bits: int) -> np.ndarray:
        top = 65535.0 if bits == 16 else 255.0
        dtype = np.uint16 if bits == 16 else np.uint8
        out: np.ndarray = np.round(np.clip(values, 0.0, 1.0) * top).astype(dtype)
        return out

    def peak_mb(fn) -> float:  # type: ignore[no-untyped-def]
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 2**20

    lines = [
        f"The writer's quantising step on a {width}x{height} float32 RGB image "
        f"({values.nbytes / 2**20:.0f} MB), median of {repeats}: the formula "
        "applied to the whole array (the writer before) against "
        "`engine.io.encode._quantize`, which works on 32 MB of rows at a time.",
        "",
        "| bits | whole array s / peak MB | in bands s / peak MB | time ratio |",
        "|---|---|---|---|",
    ]
    for bits in (8, 16):
        variants = (
            lambda bits=bits: whole(bits),
            lambda bits=bits: encode._quantize(values, bits),
        )
        (t_whole, t_bands) = (median_time(fn, repeats) for fn in variants)
        (m_whole, m_bands) = (peak_mb(fn) for fn in variants)
        lines.append(
            f"| {bits} | {t_whole:.3f} / {m_whole:.0f} | {t_bands:.3f} / {m_bands:.0f}"
            f" | {t_bands / t_whole:.2f} |"
        )
    return lines


HEADING = "## Image read/write per format"


def record(args: argparse.Namespace, text: str) -> None:
    """Write this run's section into docs/benchmarks.md (replacing an old one)."""
    doc = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
    doc.parent.mkdir(exist_ok=True)
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    command = (
        f"python benchmarks/images_io.py --size {args.size} "
        f"--repeats {args.repeats} --record"
    )
    section = (
        f"{HEADING}\n\n`{command}` ({datetime.date.today().isoformat()}, "
        "2-core box shared with other jobs: compare the ratios, not the seconds)"
        f"\n\n{text}\n"
    )
    if HEADING in old:
        start = old.index(HEADING)
        end = old.find("\n## ", start + len(HEADING))
        rest = "" if end == -1 else old[end + 1 :]
        new = old[:start] + section + ("\n" + rest if rest else "")
    else:
        new = old.rstrip("\n") + "\n\n" + section
    doc.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="2048x1536")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    rgb = photo_like(height, width)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, suffix, bits, options in CASES:
            image = ImageData(rgb, bit_depth=bits)
            target = folder / f"out{suffix}"

            def write(image=image, target=target, options=options) -> None:  # type: ignore[no-untyped-def]
                images.write(image, target, overwrite=True, **options)

            write_s = median_time(write, args.repeats)
            read_s = median_time(
                lambda target=target: images.read(target), args.repeats
            )
            rows.append((label, write_s, read_s, target.stat().st_size))
        png16 = folder / "out.png"
        images.write(ImageData(rgb, bit_depth=16), png16, overwrite=True)
        ours = median_time(lambda: images.read(png16), args.repeats)
        twice = median_time(lambda: decode_twice(png16), args.repeats)
    base = rows[0][1]
    lines = [
        f"Image {width}x{height} RGB, median of {args.repeats}; ratio = write time "
        "/ PNG 8-bit write time.",
        "",
        "| format | write s | read s | write ratio | size MB |",
        "|---|---|---|---|---|",
    ]
    for label, write_s, read_s, size in rows:
        lines.append(
            f"| {label} | {write_s:.3f} | {read_s:.3f} | {write_s / base:.2f} "
            f"| {size / 1e6:.2f} |"
        )
    lines += [
        "",
        f"16-bit PNG read: images.read {ours:.3f} s vs decoding twice (Pillow + "
        f"OpenCV, no float conversion) {twice:.3f} s: ratio {ours / twice:.2f}.",
    ]
    lines += ["", *png_levels(rgb, args.repeats)]
    lines += ["", *quantise_rows(args.repeats)]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(args, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
