"""Training data from two folders: real low-resolution photos and clean HR photos.

Both folders are read into memory once (the CPU profiles use a few dozen
photos). Before training, ``check_disjoint`` makes sure no photo appears on
both sides, which would quietly turn the unpaired problem into a paired one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.io import images
from engine.io.images import ImageError
from engine.train.degrade import CleanOp, clean_lr
from engine.train.losses import dihedral

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class DataError(ValueError):
    """The training folders cannot be used (empty, too small, overlapping)."""


@dataclass(frozen=True, eq=False)
class Photo:
    """One training photo: its file and its pixels, float32 (3, H, W) in [0, 1]."""

    path: Path
    pixels: torch.Tensor
    digest: str


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_folder(folder: Path, min_side: int) -> tuple[list[Photo], list[str]]:
    """Read every image in ``folder``; return the photos and the reasons for skips.

    Photos are read as everywhere else in unsr (:func:`engine.io.images.read`:
    upright by their EXIF orientation, 16-bit kept, CMYK and palette converted,
    alpha left out). Unreadable files and images smaller than ``min_side`` are
    skipped with a message naming the file, so one bad file does not stop a run.
    """
    photos, skipped = [], []
    for path in list_images(folder):
        try:
            raw = path.read_bytes()
            rgb = images.read(path).rgb
        except ImageError as err:
            skipped.append(f"{path}: cannot be read ({err.reason})")
            continue
        except OSError as err:
            skipped.append(f"{path}: cannot be read ({err})")
            continue
        if min(rgb.shape[:2]) < min_side:
            skipped.append(
                f"{path}: {rgb.shape[1]}x{rgb.shape[0]} is smaller than the "
                f"{min_side}px training patch"
            )
            continue
        pixels = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
        photos.append(Photo(path, pixels, hashlib.sha256(raw).hexdigest()))
    if not photos:
        raise DataError(f"{folder}: no usable images (need at least {min_side}px)")
    return photos, skipped


def _thumbnail(pixels: torch.Tensor) -> torch.Tensor:
    """A 16x16 normalised luminance thumbnail; survives blur, noise and resizing."""
    gray = (pixels * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    t = F.adaptive_avg_pool2d(gray[None, None], 16).flatten()
    return (t - t.mean()) / (t.std() + 1e-6)


def check_disjoint(
    hr: Sequence[Photo], real_lr: Sequence[Photo], threshold: float = 0.95
) -> None:
    """Raise DataError when an HR photo and a real-LR photo share a source.

    Three tests, any of which flags a pair: identical bytes, the same file stem,
    or near-identical content (correlation of 16x16 thumbnails above
    ``threshold`` with the same aspect ratio), which catches an LR photo that is
    a blurred, noisy, downscaled copy of an HR one. Crops of the same photo are
    not detected.
    """
    lr_thumbs = [(p, _thumbnail(p.pixels)) for p in real_lr]
    for h in hr:
        th = _thumbnail(h.pixels)
        ah = h.pixels.shape[2] / h.pixels.shape[1]
        for lr, tl in lr_thumbs:
            al = lr.pixels.shape[2] / lr.pixels.shape[1]
            reason = None
            if h.digest == lr.digest:
                reason = "identical files"
            elif h.path.stem == lr.path.stem:
                reason = "the same file name"
            elif abs(ah - al) / ah < 0.03:
                corr = float((th * tl).mean())
                if corr > threshold:
                    reason = f"the same picture (thumbnail correlation {corr:.3f})"
            if reason:
                raise DataError(
                    f"{h.path} (HR) and {lr.path} (real LR) look like {reason}: the "
                    "two folders must come from different photos"
                )


@dataclass(frozen=True, eq=False)
class Batch:
    """One training batch, all float32 in [0, 1].

    Attributes
    ----------
    x : Tensor
        Real-LR patches (B, 3, P, P).
    y : Tensor
        HR patches from the other photos (B, 3, sP, sP).
    y_down : Tensor
        The clean LR of ``y`` (B, 3, P, P).
    z : Tensor
        A noise map (B, 1, P/4, P/4), standard normal.
    """

    x: torch.Tensor
    y: torch.Tensor
    y_down: torch.Tensor
    z: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        """The same batch on ``device``."""
        return Batch(*(t.to(device) for t in (self.x, self.y, self.y_down, self.z)))


class UnpairedData:
    """Random patches from two disjoint photo sets.

    Parameters
    ----------
    hr, real_lr
        The clean HR photos and the real LR photos.
    scale
        SR factor; HR patches are ``scale * lr_patch`` pixels.
    lr_patch
        LR patch edge (a multiple of 4, for the quarter-size noise map).
    clean_op
        How ``y_down`` is made from ``y``.
    """

    def __init__(
        self,
        hr: Sequence[Photo],
        real_lr: Sequence[Photo],
        scale: int,
        lr_patch: int,
        clean_op: CleanOp = "gauss_bicubic",
    ) -> None:
        if lr_patch % 4:
            raise DataError("the LR patch must be a multiple of 4")
        check_disjoint(hr, real_lr)
        for p in hr:
            if min(p.pixels.shape[1:]) < scale * lr_patch:
                raise DataError(
                    f"{p.path}: smaller than the HR patch {scale * lr_patch}"
                )
        self.hr, self.real_lr = list(hr), list(real_lr)
        self.scale, self.lr_patch, self.clean_op = scale, lr_patch, clean_op

    @staticmethod
    def _crop(
        img: torch.Tensor, size: int, g: torch.Generator, align: int = 1
    ) -> torch.Tensor:
        _, h, w = img.shape
        i = int(torch.randint(0, (h - size) // align + 1, (1,), generator=g)) * align
        j = int(torch.randint(0, (w - size) // align + 1, (1,), generator=g)) * align
        return img[:, i : i + size, j : j + size]

    def _patches(
        self, photos: Sequence[Photo], n: int, size: int, g: torch.Generator
    ) -> torch.Tensor:
        out = []
        for _ in range(n):
            p = photos[int(torch.randint(0, len(photos), (1,), generator=g))]
            crop = self._crop(
                p.pixels, size, g, self.scale if size > self.lr_patch else 1
            )
            out.append(dihedral(crop, int(torch.randint(0, 8, (1,), generator=g))))
        return torch.stack(out)

    def sample(self, batch: int, g: torch.Generator) -> Batch:
        """Draw a batch with random crops, flips and 90-degree rotations."""
        p = self.lr_patch
        x = self._patches(self.real_lr, batch, p, g)
        y = self._patches(self.hr, batch, p * self.scale, g)
        z = torch.randn(batch, 1, p // 4, p // 4, generator=g)
        return Batch(x, y, clean_lr(y, self.scale, self.clean_op), z)


def load_unpaired(
    real_lr_dir: Path,
    hr_dir: Path,
    scale: int,
    lr_patch: int,
    clean_op: CleanOp = "gauss_bicubic",
) -> tuple[UnpairedData, list[str]]:
    """Read both folders, check them, and return the data and skip messages."""
    real, skipped_lr = load_folder(real_lr_dir, lr_patch)
    hr, skipped_hr = load_folder(hr_dir, lr_patch * scale)
    return UnpairedData(hr, real, scale, lr_patch, clean_op), skipped_lr + skipped_hr


__all__ = [
    "IMAGE_SUFFIXES",
    "Batch",
    "DataError",
    "Photo",
    "UnpairedData",
    "check_disjoint",
    "list_images",
    "load_folder",
    "load_unpaired",
]
