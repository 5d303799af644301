"""Conversions between numpy arrays, image files and QImage, plus a colour map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QImageReader


def heat_lut() -> np.ndarray:
    """A 256 x 3 uint8 colour table, dark to bright: pyqtgraph's inferno map."""
    import pyqtgraph as pg

    lut = pg.colormap.get("inferno").getLookupTable(nPts=256, alpha=False)
    return np.asarray(lut, dtype=np.uint8)


_LUT = heat_lut()


def heat_map(values: np.ndarray, vmax: float | None = None) -> QImage:
    """Colour a 2-D array (0 dark, ``vmax`` or its max bright) as a QImage."""
    top = float(values.max()) if vmax is None else vmax
    norm = np.clip(values / top, 0, 1) if top > 0 else np.zeros_like(values)
    return array_to_qimage(_LUT[(norm * 255).round().astype(np.uint8)])


def array_to_qimage(arr: np.ndarray) -> QImage:
    """An (H, W, 3) array (float in [0, 1] or uint8) as an RGB888 QImage copy."""
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    arr = np.ascontiguousarray(arr[..., :3])
    h, w = arr.shape[:2]
    img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return img.copy()  # own the pixels: `arr` may be freed


def qimage_to_array(img: QImage) -> np.ndarray:
    """A QImage as float32 (H, W, 3) in [0, 1]."""
    rgb = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), np.uint8, count=stride * h)
    return buf.reshape(h, stride)[:, : 3 * w].reshape(h, w, 3).astype(np.float32) / 255


def load_qimage(path: Path, max_side: int | None = None) -> QImage:
    """Read ``path`` with its EXIF orientation; a null QImage when unreadable.

    ``max_side`` asks the decoder for a smaller image (fast thumbnails).
    """
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    if max_side is not None:
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > max_side:
            size.scale(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio)
            reader.setScaledSize(size)
    return reader.read()
