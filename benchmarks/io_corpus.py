"""A batch over every image file Pillow can write: does anything lose data quietly?

Generates a corpus in a temp folder: every format Pillow's wheel saves, in every
mode it accepts there, with every alpha form (an alpha channel, a palette's
alpha, a PNG colour key, Pillow's own 32-bit BMP), plus the layouts tifffile
writes and Pillow cannot (BigTIFF, planar 16-bit LZW, 16-bit gray+alpha, float
with values outside 0..1). Runs ``unsr upscale`` (bicubic x2) over all of it,
then describes each input and its output independently of unsr's reader
(Pillow, tifffile as fallback) and checks that size, mode class (gray/colour),
bit depth and alpha survived. Each row ends as one of:

* ``kept`` - everything survived;
* ``kept; format: ...`` - only what the output format cannot hold changed, and
  unsr said so (16-bit into WebP, alpha into JPEG);
* ``refused: ...`` - unsr refused the file with a reason (Pillow cannot read
  it back either, unless the row says so);
* ``LOST: ...`` - data lost without a word: a bug.

    python benchmarks/io_corpus.py [--record]

``--record`` writes the table into docs/reliability.md between the
``io-corpus`` markers, with the command and the date. The exit code is 1 when
any row is LOST.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import struct
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- io-corpus:begin -->", "<!-- io-corpus:end -->"

#: Every mode Pillow has; each format takes the ones it can write.
MODES = (
    "1", "L", "LA", "La", "P", "PA", "I", "I;16", "I;16B", "I;16L", "F",
    "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
)  # fmt: skip
#: Pillow's save handlers that need a plugin or program the wheel lacks.
NEEDS_PLUGIN = frozenset({"BUFR", "GRIB", "HDF5", "WMF"})
#: Corpus images: odd sizes catch transposed axes.
HEIGHT, WIDTH = 9, 13


@dataclass(frozen=True)
class Case:
    """One corpus file: how it was made."""

    name: str
    fmt: str
    mode: str
    depth: str
    alpha_form: str
    make: Callable[[Path], None]


@dataclass(frozen=True)
class Desc:
    """What a file holds, as Pillow (or tifffile) reads it, not unsr."""

    size: tuple[int, int]
    gray: bool
    depth: int
    alpha: bool


def _pixels(mode: str, rng: np.random.Generator) -> Image.Image:
    """A test picture in ``mode``: smooth ramps with a half-transparent corner."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    rgb = np.stack([xx * 19, yy * 28, (xx + yy) * 11], axis=2) % 256
    rgba = np.dstack([rgb, np.where(xx < 4, 64, 255)]).astype(np.uint8)
    base = Image.fromarray(rgba, "RGBA")
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        wide = (xx * 4099 + yy * 211 + int(rng.integers(0, 7))) % 65536
        if mode == "F":
            return Image.fromarray((wide / 65535.0).astype(np.float32), "F")
        image = Image.fromarray(wide.astype(np.uint16))
        return image if mode == "I;16" else image.convert(mode)
    if mode == "P":
        return base.convert("RGB").quantize(16)
    if mode == "PA":
        return base.convert("PA")
    return base.convert(mode)


def _save(image: Image.Image, fmt: str, **options: object) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        image.save(path, fmt, **options)

    return make


def _depth(mode: str) -> str:
    return {"I": "32i", "F": "32f", "1": "1"}.get(mode, "16" if "16" in mode else "8")


def _alpha_form(mode: str) -> str:
    if mode in ("LA", "RGBA", "PA"):
        return "alpha channel"
    if mode in ("La", "RGBa"):
        return "premultiplied alpha"
    return "-"


def _pillow_cases(rng: np.random.Generator) -> Iterator[Case]:
    """Every (format, mode) Pillow saves, plus its transparency variants."""
    extension = {}
    for ext, fmt in Image.registered_extensions().items():
        extension.setdefault(fmt, ext)
    for fmt in sorted(set(Image.SAVE) - NEEDS_PLUGIN):
        ext = extension.get(fmt, "." + fmt.lower())
        for mode in MODES:
            image = _pixels(mode, rng)
            slug = mode.replace(";", "")
            yield Case(
                f"{fmt.lower()}_{slug}{ext}", fmt, mode, _depth(mode),
                _alpha_form(mode), _save(image, fmt),
            )  # fmt: skip
        keyed = ("PNG", "GIF") if fmt in ("PNG", "GIF") else ()
        if fmt in keyed:
            yield _palette_alpha(fmt, ext, rng)
        if fmt == "PNG":
            yield from _colour_keys(rng)


def _palette_alpha(fmt: str, ext: str, rng: np.random.Generator) -> Case:
    image = _pixels("P", rng)
    return Case(
        f"{fmt.lower()}_P_trns{ext}", fmt, "P", "8", "palette transparency",
        _save(image, fmt, transparency=0),
    )  # fmt: skip


def _colour_keys(rng: np.random.Generator) -> Iterator[Case]:
    """PNG tRNS colour keys on RGB, L and 16-bit gray."""
    for mode in ("RGB", "L", "I;16"):
        image = _pixels(mode, rng)
        key = image.getpixel((0, 0))
        slug = mode.replace(";", "")
        yield Case(
            f"png_{slug}_key.png", "PNG", mode, _depth(mode), "colour key (tRNS)",
            _save(image, "PNG", transparency=key),
        )  # fmt: skip


def _tifffile_cases(rng: np.random.Generator) -> Iterator[Case]:
    """TIFF layouts Pillow cannot write (or cannot read at full depth)."""
    import tifffile

    wide = rng.integers(0, 65536, (HEIGHT, WIDTH, 4), dtype=np.uint16)

    def tiff(array: np.ndarray, **options: object) -> Callable[[Path], None]:
        def make(path: Path) -> None:
            tifffile.imwrite(path, array, **options)

        return make

    yield Case(
        "tifffile_bigtiff_RGB8.tif", "TIFF (BigTIFF)", "RGB", "8", "-",
        tiff((wide[..., :3] >> 8).astype(np.uint8), bigtiff=True, photometric="rgb"),
    )  # fmt: skip
    yield Case(
        "tifffile_planar_lzw_RGB16.tif", "TIFF (planar, LZW)", "RGB", "16", "-",
        tiff(np.moveaxis(wide[..., :3], -1, 0), photometric="rgb",
             planarconfig="separate", compression="lzw"),
    )  # fmt: skip
    yield Case(
        "tifffile_RGBA16.tif", "TIFF", "RGBA", "16", "alpha channel",
        tiff(wide, photometric="rgb", extrasamples=("unassalpha",)),
    )  # fmt: skip
    yield Case(
        "tifffile_LA16.tif", "TIFF", "LA", "16", "alpha channel",
        tiff(wide[..., :2], photometric="minisblack", extrasamples=("unassalpha",)),
    )  # fmt: skip
    floats = (rng.random((HEIGHT, WIDTH, 3)) * 3 - 1).astype(np.float32)
    yield Case(
        "tifffile_float_RGB_outside01.tif", "TIFF", "RGB", "32f", "-",
        tiff(floats, photometric="rgb"),
    )  # fmt: skip


def _bitfields_bmp(rng: np.random.Generator) -> Case:
    """A 32-bit BI_BITFIELDS BMP with an alpha mask (browsers' favourite)."""
    rgba = np.asarray(_pixels("RGBA", rng))

    def make(path: Path) -> None:
        bgra = np.ascontiguousarray(rgba[::-1][..., [2, 1, 0, 3]]).tobytes()
        info = struct.pack(
            "<IiiHHIIiiII", 108, WIDTH, HEIGHT, 1, 32, 3, len(bgra), 0, 0, 0, 0
        )
        info += struct.pack("<4I", 0xFF0000, 0xFF00, 0xFF, 0xFF000000)
        info += b"BGRs" + bytes(48)
        head = b"BM" + struct.pack("<IHHI", 122 + len(bgra), 0, 0, 122)
        path.write_bytes(head + info + bgra)

    return Case("bmp_bitfields_RGBA.bmp", "BMP (BITFIELDS)", "RGBA", "8",
                "alpha mask", make)  # fmt: skip


def build_corpus(
    folder: Path, formats: frozenset[str] | None = None
) -> list[tuple[Case, Path]]:
    """Write every case Pillow (or tifffile) can write; skip the rest.

    ``formats`` keeps only Pillow's cases in those formats (all when None);
    the tifffile and BITFIELDS BMP cases are always made.
    """
    rng = np.random.default_rng(7)
    made = []
    pillow = [c for c in _pillow_cases(rng) if formats is None or c.fmt in formats]
    cases = [*pillow, *_tifffile_cases(rng), _bitfields_bmp(rng)]
    for case in cases:
        path = folder / case.name
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                case.make(path)
        except Exception:  # this format does not take this mode: not corpus
            path.unlink(missing_ok=True)
            continue
        if path.exists() and path.stat().st_size > 0:
            made.append((case, path))
    return made


# --- describing files without unsr ----------------------------------------------

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})


def _bmp_alpha(path: Path) -> bool:
    """True when a 32-bit BMP's fourth bytes are not all zero (browsers' rule)."""
    data = path.read_bytes()
    if data[:2] != b"BM" or struct.unpack("<H", data[28:30])[0] != 32:
        return False
    offset = struct.unpack("<I", data[10:14])[0]
    return bool(np.frombuffer(data[offset:], np.uint8)[3::4].any())


def _pillow_desc(path: Path) -> Desc:
    with Image.open(path) as image:
        args = image.tile[0][3] if image.tile else ""
        rawmode = args[0] if isinstance(args, tuple) and args else args
        rawmode = rawmode if isinstance(rawmode, str) else ""
        bits = getattr(image, "tag_v2", {}).get(258)
        image.load()  # some formats (ICNS) learn their true mode only here
        mode, size = image.mode, image.size
        alpha = "A" in mode or "a" in mode or "transparency" in image.info
        if image.format == "BMP" and mode == "RGB":
            alpha = _bmp_alpha(path)
        if mode in ("P", "PA") and "transparency" not in image.info:
            alpha = mode == "PA"
    values = bits if isinstance(bits, tuple) else (bits,)
    wide = any(isinstance(v, int) and v > 8 for v in values)
    depth = 16 if "16" in mode or "16" in rawmode or wide else 8
    depth = 32 if mode in ("I", "F") and not wide else depth
    if mode == "I" and "16" in rawmode:
        depth = 16
    # Pillow opens 16-bit gray+alpha PNGs as RGBA: the raw mode says gray.
    gray = mode in _GRAY_MODES or rawmode.startswith("LA")
    return Desc(size, gray, depth, bool(alpha))


def _tifffile_desc(path: Path) -> Desc:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        samples = int(page.samplesperpixel)
        extras = tuple(int(v) for v in page.extrasamples or ())
        gray = samples - len(extras) == 1
        alpha = any(v in (1, 2) for v in extras)  # 0: not alpha ("unspecified")
        return Desc(
            (int(page.imagewidth), int(page.imagelength)), gray,
            int(page.bitspersample), alpha,
        )  # fmt: skip


def describe(path: Path) -> Desc | None:
    """What ``path`` holds, read by Pillow, else tifffile; None if neither can."""
    try:
        desc = _pillow_desc(path)
    except Exception:
        desc = None
    if path.suffix.lower() in (".tif", ".tiff"):
        with contextlib.suppress(Exception):
            deep = _tifffile_desc(path)
            if desc is None or deep.depth > desc.depth or deep.alpha != desc.alpha:
                desc = deep
    return desc


# --- the batch and the verdicts ---------------------------------------------------


def _format_limits(out: Path, source: Desc) -> dict[str, str]:
    """What the output's format cannot hold: field -> the reason."""
    suffix = out.suffix.lower()
    limits = {}
    if suffix not in (".png", ".tif", ".tiff") and source.depth > 8:
        limits["depth"] = f"{suffix[1:].upper()} holds 8 bits"
    if suffix in (".tif", ".tiff", ".png") and source.depth > 16:
        limits["depth"] = "unsr writes at most 16 bits"
    if suffix in (".jpg", ".jpeg") and source.alpha:
        limits["alpha"] = "JPEG has no alpha"
    if suffix == ".webp" and source.gray:
        limits["class"] = "WebP has no gray mode"
    if suffix == ".bmp" and source.gray and source.alpha:
        limits["class"] = "BMP has no gray+alpha"
    return limits


def holds(desc: Desc | None) -> str:
    """'gray 16-bit +alpha': what a file holds, for the table."""
    if desc is None:
        return "?"
    alpha = " +alpha" if desc.alpha else ""
    return f"{'gray' if desc.gray else 'colour'} {desc.depth}-bit{alpha}"


def verdict(source: Desc, out: Desc | None, out_path: Path, said: bool) -> str:
    """'kept', 'kept; format: ...' or 'LOST: ...' for one output.

    A change the output format forces counts as kept only when unsr said so
    (a warning line naming the file); otherwise it is a loss too.
    """
    if out is None:
        return "LOST: the output cannot be read back"
    expected_depth = min(source.depth, 16)
    found = {
        "size": (out.size == (2 * source.size[0], 2 * source.size[1]), "size"),
        "class": (out.gray == source.gray, "gray/colour"),
        "depth": (out.depth >= min(expected_depth, 8) and
                  (out.depth == expected_depth or out_path.suffix.lower()
                   not in (".png", ".tif", ".tiff")), "bit depth"),
        "alpha": (out.alpha == source.alpha, "alpha"),
    }  # fmt: skip
    limits = _format_limits(out_path, source)
    if source.depth > 16:
        limits["wide"] = "unsr writes at most 16 bits"
        found["wide"] = (False, "bit depth")
    lost = [name for key, (ok, name) in found.items() if not ok and key not in limits]
    forced = [limits[key] for key, (ok, _) in found.items() if not ok and key in limits]
    if forced and not said:
        lost.append("(format limit not said: " + "; ".join(forced) + ")")
    if lost:
        return "LOST: " + ", ".join(lost)
    return "kept; format: " + "; ".join(forced) if forced else "kept"


def said_about(stderr: str, *names: str) -> list[str]:
    """The batch's note and warning lines about one of ``names``, prefix cut."""
    said = []
    for line in stderr.splitlines():
        text = line.split("] ", 1)[-1]
        if " -> " in text or text.startswith(("done", "batch", "reading", "writing")):
            continue
        for name in names:
            if f"{name}: " in text:
                said.append(text.split(f"{name}: ", 1)[1])
    return said


def run_batch(files: list[Path], out: Path) -> str:
    """``unsr upscale FILES -o OUT`` in this process; return its stderr."""
    from engine.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        main(["upscale", *map(str, files), "-o", str(out), "-m", "bicubic"])
    return err.getvalue()


def evaluate(made: list[tuple[Case, Path]], out: Path) -> list[tuple[Case, str, str]]:
    """Run the batch over the corpus and judge every file."""
    from engine import batch
    from engine.io import images

    plan = batch.plan_outputs([p for _, p in made], out, method="bicubic", scale=2)
    targets = dict(plan.items)
    stderr = run_batch([p for _, p in made], out)
    rows = []
    for case, path in made:
        source = describe(path)
        target = targets[path]
        if target.exists():
            if source is None:
                rows.append((case, "?", "kept (Pillow cannot read it back)"))
            else:
                said = said_about(stderr, path.name, target.name)
                outcome = verdict(source, describe(target), target, bool(said))
                if said:
                    outcome += " (unsr said: " + "; ".join(dict.fromkeys(said)) + ")"
                rows.append((case, holds(source), outcome))
            continue
        try:
            images.read(path)
            rows.append((case, holds(source), "LOST: no output and no reason"))
            continue
        except images.ImageError as exc:
            reason = exc.reason
        readable = " (Pillow reads it)" if source is not None else ""
        rows.append((case, holds(source), f"refused{readable}: {reason}"))
    return rows


def table(rows: list[tuple[Case, str, str]], command: str) -> str:
    """The Markdown block: a summary line and one row per file."""
    kinds = Counter(outcome.split(":")[0].split(";")[0].split(" (")[0]
                    for _, _, outcome in rows)  # fmt: skip
    lines = [
        f"`{command}` ({dt.date.today().isoformat()}, Pillow {Image.__version__}):"
        f" {len(rows)} files;",
        ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) + ".",
        "",
        "| file | format | saved as | alpha form | the file holds | outcome |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for case, held, outcome in rows:
        lines.append(
            f"| {case.name} | {case.fmt} | {case.mode} ({case.depth}) | "
            f"{case.alpha_form} | {held} | {outcome.replace('|', '/')} |"
        )
    return "\n".join(lines)


def record(block: str) -> None:
    """Put ``block`` between the markers in docs/reliability.md."""
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write the docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unsr-corpus-") as tmp:
        root = Path(tmp)
        os.environ["UNSR_DATA_DIR"] = str(root / "data")
        corpus = root / "corpus"
        corpus.mkdir()
        made = build_corpus(corpus)
        rows = evaluate(made, root / "out")
    block = table(rows, "python benchmarks/io_corpus.py --record")
    print(block)
    if args.record:
        record(block)
    return 1 if any(outcome.startswith("LOST") for _, _, outcome in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
