"""The headers of unsr's own training checkpoints (``*.unsr.pt``), remembered.

The library lists these files and the method registry offers them as methods;
both need to know whether a file is readable, which recipe trained it and its
scale. Reading that means unpickling the file (torch, about a second with the
import); the answer is kept in the models index under the file's identity, so
listing methods or models does it once per file, not per command.

``engine.train.checkpoint`` writes the files; the format tag and the recipe
names are repeated here because the models layer may not import training (a
test checks both against it).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from engine.models import index, sniff
from engine.models.errors import ModelError

#: What ``engine.train.checkpoint`` writes in the ``format`` field.
FORMAT = "unsr-trained/1"
#: The recipes this version of unsr can apply (``engine.train.recipes.RECIPES``).
RECIPES = ("bicubic", "csrgan", "cyclesr", "cyclesrgan", "da", "estimated", "maeda")


def _read(path: Path) -> dict[str, Any]:
    import torch

    problem = sniff.pickle_problem(path)
    if problem is not None:
        return {"error": problem}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        text = sniff.first_sentence(str(exc)) or type(exc).__name__
        return {"error": f"the file is damaged: torch cannot read it ({text})"}
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        return {"error": "not an unsr training checkpoint (no unsr format tag)"}
    recipe = obj.get("recipe")
    scale = obj.get("scale")
    if not isinstance(scale, int) or scale < 1:
        return {"error": "an unsr checkpoint without a valid scale"}
    if recipe not in RECIPES:
        return {
            "error": f"trained with recipe {recipe!r}, which this version of unsr "
            f"does not know (it knows {', '.join(RECIPES)})"
        }
    info = obj.get("info") or {}
    return {
        "recipe": str(recipe),
        "scale": scale,
        "info": {str(k): str(v) for k, v in dict(info).items()},
    }


def header(path: Path | str) -> dict[str, Any]:
    """The checkpoint's recipe, scale and info.

    Raises
    ------
    ModelError
        The file is missing, unreadable, not an unsr checkpoint, or trained
        with a recipe this version does not know; the reason says which.
    """
    from engine.models.loading import file_key

    path = Path(path)
    try:
        key = file_key(path)
    except OSError:
        raise ModelError(path, "no such file") from None
    known = index.checkpoint(key)
    if known is None:
        known = _read(path)
        index.remember_checkpoint(key, known)
    if "error" in known:
        raise ModelError(path, str(known["error"]))
    return known


def annotate(path: Path | str, facts: dict[str, str]) -> None:
    """Keep ``facts`` derived from a readable checkpoint beside its header.

    The method registry stores its recipe's label and inference path here, so
    the next listing needs neither the recipes nor torch.
    """
    from engine.models.loading import file_key

    try:
        key = file_key(Path(path))
    except OSError:
        return
    known = index.checkpoint(key)
    if known is not None and "error" not in known:
        index.remember_checkpoint(key, {**known, **facts})


__all__ = ["FORMAT", "RECIPES", "annotate", "header"]
