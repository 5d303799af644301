"""A camera's JPEG settings, read from its files, and JPEG for training pairs.

Where the real photos are JPEG, their quantisation tables say how hard the
camera compressed; pairs made for training are compressed with the same tables
(and chroma subsampling), so the SR network sees the camera's blocks and
ringing. The IJG quality that best explains the tables is reported as well,
for people: a camera's own tables need not be IJG ones.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

#: The IJG (libjpeg) base tables, natural (row-major) order, as Pillow reports them.
IJG_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)


@dataclass(frozen=True)
class JpegSetting:
    """How one photo was compressed.

    Attributes
    ----------
    tables : tuple of tuple of int
        The quantisation tables (64 values each, natural order).
    subsampling : int
        Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0.
    quality : int
        The IJG quality (1-100) whose luminance table is closest to the photo's.
    """

    tables: tuple[tuple[int, ...], ...]
    subsampling: int
    quality: int


def ijg_table(quality: int) -> np.ndarray:
    """The IJG luminance table libjpeg writes for ``quality`` (1-100)."""
    q = min(max(quality, 1), 100)
    scale = 5000 / q if q < 50 else 200 - 2 * q
    base = np.asarray(IJG_LUMA, np.float64).ravel()
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255)


def estimate_quality(luma: tuple[int, ...]) -> int:
    """The IJG quality whose luminance table is closest to ``luma`` (L1)."""
    table = np.asarray(luma, np.float64)
    errors = [float(np.abs(ijg_table(q) - table).sum()) for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def read_setting(path: Path) -> JpegSetting | None:
    """The JPEG setting of the file at ``path``; None when it is not a JPEG."""
    try:
        with Image.open(path) as im:
            if im.format != "JPEG":
                return None
            assert isinstance(im, JpegImagePlugin.JpegImageFile)
            raw = im.quantization
            sampling = JpegImagePlugin.get_sampling(im)
    except (OSError, UnidentifiedImageError):
        return None
    if not raw or 0 not in raw:
        return None
    tables = tuple(tuple(int(v) for v in raw[i]) for i in sorted(raw))
    # -1 means Pillow could not tell (e.g. grey files); 4:2:0 is the usual.
    sub = sampling if sampling in (0, 1, 2) else 2
    return JpegSetting(tables, sub, estimate_quality(tables[0]))


def compress(img: torch.Tensor, setting: JpegSetting) -> torch.Tensor:
    """JPEG-compress (3, H, W) in [0, 1] with ``setting``; return the decoded image.

    The image is rounded to 8 bits first, as a camera's output is.
    """
    a = (img.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(
        np.uint8
    )
    buf = io.BytesIO()
    Image.fromarray(a).save(
        buf,
        "JPEG",
        qtables=[list(t) for t in setting.tables],
        subsampling=setting.subsampling,
    )
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("RGB"), np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))).to(img)


__all__ = [
    "IJG_LUMA",
    "JpegSetting",
    "compress",
    "estimate_quality",
    "ijg_table",
    "read_setting",
]
