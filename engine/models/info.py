"""What a model file is: the facts the library, its index and the loader share.

Kept apart from :mod:`engine.models.loading` (which needs torch and spandrel) so
the on-disk index can read and write these facts without importing either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Tiling = Literal["supported", "discouraged", "internal"]
#: How a pretrained model computes: "auto" (bf16 where a check allows), or forced.
Precision = Literal["auto", "fp32", "bf16"]


@dataclass(frozen=True)
class ModelInfo:
    """What a model file is, as spandrel reads it.

    Attributes
    ----------
    path : Path
        The file.
    architecture : str
        Human name of the architecture ("ESRGAN", "RealESRGAN Compact", ...).
    arch_id : str
        spandrel's stable architecture id.
    purpose : str
        "SR", "FaceSR", "Inpainting" or "Restoration" (spandrel's words).
    scale : int
        The factor the network upscales by (1 for restoration models).
    input_channels, output_channels : int
        Image channels the network takes and gives (3 for RGB, 1 for grey).
    tags : tuple of str
        Size hints spandrel derives ("64nf", "23nb").
    min_size : int
        Smallest input edge in pixels; smaller inputs are padded.
    multiple_of : int
        Input edges must be a multiple of this; others are padded.
    square : bool
        The input must be square; others are padded.
    tiling : str
        spandrel's advice: "supported", "discouraged" (tiles may show
        artefacts) or "internal" (the model tiles itself; do not tile).
    supports_half, supports_bfloat16 : bool
        Whether fp16 / bf16 weights work with this architecture.
    parameters : int
        Number of weights.
    file_bytes : int
        Size of the file on disk.
    """

    path: Path
    architecture: str
    arch_id: str
    purpose: str
    scale: int
    input_channels: int
    output_channels: int
    tags: tuple[str, ...]
    min_size: int
    multiple_of: int
    square: bool
    tiling: Tiling
    supports_half: bool
    supports_bfloat16: bool
    parameters: int
    file_bytes: int

    @property
    def channels_ok(self) -> bool:
        """True when unsr can feed the model an RGB image (RGB or per-channel grey)."""
        return (self.input_channels, self.output_channels) in ((3, 3), (1, 1))

    @property
    def unusable_reason(self) -> str | None:
        """Why this model is not offered as an upscaling method, or None."""
        if self.purpose != "SR":
            what = {
                "FaceSR": "face restoration",
                "Inpainting": "inpainting",
                "Restoration": "restoration at 1x (denoise, deblur, JPEG)",
            }.get(self.purpose, self.purpose)
            return f"a {what} model, not a super-resolution model"
        if not self.channels_ok:
            return (
                f"takes {self.input_channels} and gives {self.output_channels} "
                "channels; unsr feeds RGB or grey images"
            )
        return None


__all__ = ["ModelInfo", "Precision", "Tiling"]
