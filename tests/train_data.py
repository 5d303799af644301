"""Two tiny disjoint photo folders (real LR, clean HR) for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def unpaired_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Write two smooth random images per side; return (real_lr_dir, hr_dir)."""
    rng = np.random.default_rng(0)
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    hr.mkdir()
    lr.mkdir()
    for i in range(2):
        for folder, size, tag in ((hr, 64, "h"), (lr, 32, "l")):
            small = rng.random((size // 8, size // 8, 3))
            img = Image.fromarray((small * 255).astype(np.uint8)).resize(
                (size, size), Image.Resampling.BICUBIC
            )
            img.save(folder / f"{tag}{i}.png")
    return lr, hr
