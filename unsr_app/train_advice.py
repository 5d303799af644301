"""What the Train page tells a user before they start: which method, how long.

Kept apart from the page so the words can be read and changed in one place.
The claims follow unsr's own benchmark (docs/benchmarks.md); when a figure
there changes, the sentence here changes with it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    """One method's advice: a bold headline and a sentence or two."""

    headline: str
    text: str


#: The adversarial methods of the literature: experimental on a CPU budget.
_SEED = Advice(
    "Experimental.",
    "In unsr's own benchmark (20 minutes per method on a 2-core CPU) none of "
    "the four adversarial methods beats bicubic upscaling yet. They were "
    "published with hours of GPU training: the Paper profile.",
)

ADVICE: dict[str, Advice] = {
    "estimated": Advice(
        "Recommended for photos from one camera.",
        "It measures the camera's blur, noise and JPEG settings on your real "
        "photos, then trains on the clean photos degraded the same way; in "
        "unsr's benchmark 20 minutes on a CPU beat bicubic upscaling by 0.8-1 "
        "dB. Give it the files as they came out of the camera.",
    ),
    "bicubic": Advice(
        "A baseline, not a camera model.",
        "It trains on clean photos shrunk by bicubic interpolation, so it "
        "learns nothing of your camera's blur or noise (the real photos are "
        "used only for the comparison at the end). Train it to compare with.",
    ),
    "maeda": _SEED,
    "da": _SEED,
    "cyclesr": _SEED,
    "cyclesrgan": _SEED,
    "csrgan": _SEED,
}

_NONE = Advice("", "")


def advice(recipe: str) -> Advice:
    """The advice for ``recipe`` (empty for one this list lacks)."""
    return ADVICE.get(recipe, _NONE)


def expectation(profile: str, minutes: int) -> str:
    """What happens during and after a run of ``minutes`` at ``profile``."""
    if profile == "paper":
        length = (
            f"The Paper profile's published network sizes are made for hours on "
            f"a GPU; {minutes} min on a CPU gets them far less far."
        )
    else:
        length = (
            f"It trains for {minutes} min (unsr's benchmark gives each method 20 "
            "on a 2-core CPU)."
        )
    return (
        f"{length} Stop keeps what it has learnt. Then the model is compared "
        "with bicubic upscaling on your last real photo (by name), held back "
        "from training when there are two or more."
    )


def html(recipe: str, profile: str, minutes: int) -> str:
    """The page's advice paragraph for this choice, in Qt rich text."""
    a = advice(recipe)
    head = f"<b>{a.headline}</b> " if a.headline else ""
    first = f"{head}{a.text}<br>" if a.text else ""
    return first + expectation(profile, minutes)


__all__ = ["ADVICE", "Advice", "advice", "expectation", "html"]
