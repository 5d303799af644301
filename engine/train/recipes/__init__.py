"""The explicit registry of training recipes."""

from __future__ import annotations

from engine.train.recipes import bicubic, csrgan, cyclesr, da, estimated, maeda
from engine.train.recipes.recipe import Recipe, Session

#: Every recipe by id; "bicubic" is the baseline, not an unpaired method.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        maeda.RECIPE,
        da.RECIPE,
        cyclesr.RECIPE,
        cyclesr.GAN_RECIPE,
        csrgan.RECIPE,
        estimated.RECIPE,
        bicubic.RECIPE,
    )
}


def get(name: str) -> Recipe:
    """Return the recipe ``name``; the error lists the known ones."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(
            f"unknown training method {name!r} (known: {', '.join(RECIPES)})"
        ) from None


__all__ = ["RECIPES", "Recipe", "Session", "get"]
