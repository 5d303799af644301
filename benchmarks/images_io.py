"""Read/write speed and file size of engine.images per format, side by side.

Usage (from the repository root):

    python benchmarks/images_io.py [--size 2048x1536] [--repeats 3] [--record]

Times are medians of ``--repeats`` runs on a synthetic photo-like image; the
figure that transfers between machines is the ratio to writing an 8-bit PNG,
measured in the same run. ``--record`` appends a section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import images
from engine.images import ImageData

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
    text = "\n".join(lines)
    print(text)
    if args.record:
        doc = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
        doc.parent.mkdir(exist_ok=True)
        header = "" if doc.exists() else "# Benchmarks\n"
        today = datetime.date.today().isoformat()
        command = (
            f"python benchmarks/images_io.py --size {args.size} "
            f"--repeats {args.repeats} --record"
        )
        with doc.open("a") as fh:
            fh.write(
                f"{header}\n## Image read/write per format\n\n"
                f"`{command}` ({today}, 2-core shared box, CPU only)\n\n{text}\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
