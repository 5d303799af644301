"""Requests and records the window passes around.

Queue items, run and train requests, method facts, outcomes, history rows.
No Qt and no engine here, so widgets, the queue runner and tests share them
without importing anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["queued", "fitting", "upscaling", "done", "failed", "cancelled"]

#: Suffixes a dropped folder is searched for (case-insensitive).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)

#: Output formats offered, in display order: (id, label, has quality).
FORMATS: tuple[tuple[str, str, bool], ...] = (
    ("png", "PNG", False),
    ("jpeg", "JPEG", True),
    ("webp", "WebP", True),
    ("tiff", "TIFF", False),
)


@dataclass(eq=False)
class QueueItem:
    """One image waiting in (or done with) the queue.

    Attributes
    ----------
    path : Path
        The input file.
    root : Path or None
        The dropped folder it was found in, so outputs mirror the tree.
    status : Status
        Where it is in its life.
    detail : str
        The reason when failed, the output name when done.
    output : Path or None
        The written result once done.
    run_id : object
        The run store's id of the run, when recorded.
    reference : Path or None
        A true high-resolution image to score the result against.
    """

    path: Path
    root: Path | None = None
    status: Status = "queued"
    detail: str = ""
    output: Path | None = None
    run_id: object = None
    reference: Path | None = None


@dataclass(frozen=True)
class RunRequest:
    """What the method panel asks for; the same for every item of one batch.

    ``reuse`` is a history run id whose saved DualSR fit is applied instead of
    fitting each photo (one fit for a whole shoot); None fits as usual.
    """

    method: str = "dualsr"
    scale: int = 2
    profile: str | None = None
    output_dir: Path | None = None
    fmt: str = "png"
    quality: int = 95
    reuse: object = None


@dataclass(frozen=True)
class MethodInfo:
    """What the window needs to know about a registry entry (no callables)."""

    id: str
    label: str
    description: str
    scales: tuple[int, ...]
    profiles: tuple[str, ...]
    needs_fit: bool
    kind: str = "builtin"
    #: The network's own factor (an x4 model: 4); the scale box starts there.
    native_scale: int | None = None
    #: A demo checkpoint shipped with unsr (not a model to rely on).
    demo: bool = False


@dataclass(frozen=True)
class FileOutcome:
    """What one finished item produced."""

    output: Path
    seconds: float
    run_id: object = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRow:
    """One line of the run history."""

    id: object
    when: str
    input: Path | None
    output: Path | None
    method: str
    scale: int
    seconds: float | None
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    profile: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class TrainChoices:
    """What the Train page offers, looked up in a worker (recipes import torch).

    Attributes
    ----------
    recipes : tuple of (id, label)
        The unpaired training recipes, in display order.
    models_dir : Path
        The user models folder, where trained checkpoints are saved.
    suffix : str
        The file suffix of unsr's trained checkpoints.
    """

    recipes: tuple[tuple[str, str], ...]
    models_dir: Path
    suffix: str


@dataclass(frozen=True)
class TrainRequest:
    """One training run as set on the Train page."""

    real_lr: Path
    hr: Path
    recipe: str
    output: Path
    profile: str = "cpu"
    scale: int = 2
    budget_s: float | None = None
    iterations: int | None = None
    command: str = ""
    #: Keep the last real photo out of training, for the comparison at the end.
    holdout: bool = True


@dataclass(frozen=True)
class ModelRow:
    """One model file of the library, as the Models page shows it.

    Attributes
    ----------
    id : str
        The library id (``model:name``).
    cells : tuple of str
        The table's columns: name, architecture, scale, purpose, size,
        source, status.
    facts : dict
        Everything known about the file, label -> text, in display order.
    usable : bool
        False when the file cannot be run (its status says why).
    removable : bool
        True for files of the user models folder (bundled ones stay).
    path : Path
        The model file.
    """

    id: str
    cells: tuple[str, ...]
    facts: dict[str, str]
    usable: bool
    removable: bool
    path: Path


@dataclass(frozen=True)
class ModelListing:
    """The models library, listed in a worker: its rows and the user folder."""

    rows: tuple[ModelRow, ...]
    folder: Path


@dataclass(frozen=True)
class ModelChange:
    """What an add, import or remove on the Models page did.

    Attributes
    ----------
    verb : str
        "Added", "Imported" or "Removed", for the page's message.
    done : tuple of str
        The names of the models added, imported or removed.
    problems : tuple of str
        One reason per file that failed, naming the file.
    """

    verb: str
    done: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogueRow:
    """One model of the catalogue, as the Get models dialog shows it.

    Attributes
    ----------
    id, name : str
        The catalogue id and the display name.
    scale : int
        The model's native scale.
    purpose, licence : str
        What it is for; the licence of its weights.
    size : int
        Bytes of the model's files (0 when the source does not say).
    installed : bool
        Already in the models folder.
    unavailable : str or None
        Why it is listed but not offered (None when it can be got).
    recommended : bool
        The catalogue's pick for a fresh install.
    facts : dict of str to str
        Everything else, label -> text, for the details pane.
    """

    id: str
    name: str
    scale: int
    purpose: str
    licence: str
    size: int
    installed: bool
    unavailable: str | None = None
    recommended: bool = False
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def offered(self) -> bool:
        """True when the model can be downloaded."""
        return self.unavailable is None
