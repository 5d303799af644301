"""The models library: the user models folder plus the models bundled with unsr.

Every file gets a stable id, ``model:<stem>``. Stems are unique in the user
folder for files added through :func:`add` (a clash gets ``-2``, ``-3`` ...);
for files dropped in by hand that share a stem, the user folder wins
``model:<stem>`` and the others get ``model:<file name>``. unsr's own training
checkpoints (``*.unsr.pt``) are listed but never opened here: another provider
turns them into methods, and they carry that method's id, ``trained-<stem>``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine import paths
from engine.models import checkpoints
from engine.models.errors import LibraryError, ModelError
from engine.models.files import normal_permissions
from engine.models.loading import (
    SUFFIXES,
    UNSR_SUFFIX,
    ModelInfo,
    clear_cache,
    describe,
    know,
    load_uncached,
)

Source = Literal["user", "bundled"]
ID_PREFIX = "model:"
#: The id prefix of unsr's own checkpoints, as the method registry names them.
TRAINED_PREFIX = "trained-"


@dataclass(frozen=True)
class Entry:
    """One file of the library.

    Attributes
    ----------
    id : str
        Stable id ("model:<stem>"), also the method id of usable models.
    path : Path
        The file.
    source : str
        "user" (the user models folder) or "bundled" (shipped with unsr).
    kind : str
        "spandrel" for model files, "unsr" for unsr's training checkpoints.
    info : ModelInfo or None
        What spandrel read; None for unsr checkpoints and unreadable files.
    error : str or None
        Why the file cannot be used, if it cannot.
    recipe : str or None
        The training recipe of a readable unsr checkpoint.
    trained_scale : int or None
        The scale of a readable unsr checkpoint.
    """

    id: str
    path: Path
    source: Source
    kind: Literal["spandrel", "unsr"]
    info: ModelInfo | None
    error: str | None = None
    recipe: str | None = None
    trained_scale: int | None = None

    @property
    def name(self) -> str:
        """The file name without its model extension."""
        return _stem(self.path)

    @property
    def usable(self) -> bool:
        """True when unsr can run the file (an SR model, or a readable checkpoint)."""
        if self.kind == "unsr":
            return self.error is None
        return self.info is not None and self.info.unusable_reason is None

    @property
    def scale(self) -> int | None:
        """The model's own scale, when the file could be read."""
        return self.info.scale if self.info is not None else self.trained_scale

    @property
    def refusal(self) -> str | None:
        """Why unsr does not offer the file as a method, or None if it does."""
        if self.error is not None:
            return self.error
        if self.info is not None:
            return self.info.unusable_reason
        return None

    @property
    def status(self) -> str:
        """One line: "ready", or why the model is not offered."""
        reason = self.refusal
        if reason is not None:
            return reason
        if self.kind == "unsr":
            return f"unsr checkpoint ({self.recipe}): method {self.id}"
        return "ready"

    def facts(self) -> dict[str, str]:
        """Everything known about the file, as label -> text, in display order."""
        out = {"id": self.id, "file": str(self.path), "source": self.source}
        out["size"] = human_bytes(self.path.stat().st_size if self.path.exists() else 0)
        out["status"] = self.status
        if self.info is not None:
            out.update(info_facts(self.info))
        elif self.kind == "unsr" and self.error is None:
            out["recipe"] = str(self.recipe)
            out["scale"] = f"x{self.trained_scale}"
        return out


def human_bytes(n: int) -> str:
    """``12.3 MB`` style sizes."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


def size_text(info: ModelInfo) -> str:
    """The model's size requirements in words ("any", "multiple of 8, min 16")."""
    parts = []
    if info.multiple_of > 1:
        parts.append(f"multiple of {info.multiple_of}")
    if info.min_size > 0:
        parts.append(f"at least {info.min_size}px")
    if info.square:
        parts.append("square")
    return ", ".join(parts) or "any"


def info_facts(info: ModelInfo) -> dict[str, str]:
    """The facts of a :class:`ModelInfo` as label -> text."""
    precisions = ["fp32"]
    if info.supports_half:
        precisions.append("fp16")
    if info.supports_bfloat16:
        precisions.append("bf16")
    return {
        "architecture": info.architecture,
        "tags": ", ".join(info.tags) or "-",
        "purpose": info.purpose,
        "scale": f"x{info.scale}",
        "channels": f"{info.input_channels} in, {info.output_channels} out",
        "input size": size_text(info) + " (padded automatically)",
        "tiling": {
            "supported": "supported",
            "discouraged": "discouraged (large tiles, wide overlap)",
            "internal": "the model tiles itself (whole image)",
        }[info.tiling],
        "precision": ", ".join(precisions),
        "parameters": f"{info.parameters / 1e6:.2f} M",
    }


def _stem(path: Path) -> str:
    name = path.name
    if name.lower().endswith(UNSR_SUFFIX):
        return name[: -len(UNSR_SUFFIX)]
    return path.stem


def _is_model_file(path: Path) -> bool:
    # Dot files are our own half-copied temp files (and OS litter).
    return (
        path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in SUFFIXES
    )


def _scan(folder: Path) -> list[Path]:
    try:
        files = [p for p in folder.iterdir() if _is_model_file(p)]
    except OSError:
        return []
    return sorted(files, key=lambda p: (p.name.lower(), p.name))


def _folders() -> Iterator[tuple[Source, Path]]:
    yield "user", paths.models_dir()
    bundled = paths.bundled_models_dir()
    if bundled.is_dir():
        yield "bundled", bundled


def _checkpoint_entry(mid: str, path: Path, source: Source) -> Entry:
    try:
        head = checkpoints.header(path)
    except ModelError as exc:
        return Entry(mid, path, source, "unsr", None, exc.reason)
    return Entry(
        mid,
        path,
        source,
        "unsr",
        None,
        recipe=str(head["recipe"]),
        trained_scale=int(head["scale"]),
    )


def entries() -> tuple[Entry, ...]:
    """List every model file of the library, user folder first, by name.

    Unreadable files are listed with their ``error``, never raised: a bad file
    in the folder must not hide the good ones.
    """
    out: list[Entry] = []
    taken: set[str] = set()
    for source, folder in _folders():
        for path in _scan(folder):
            unsr = path.name.lower().endswith(UNSR_SUFFIX)
            # unsr checkpoints are methods of the registry: same id everywhere.
            prefix = TRAINED_PREFIX if unsr else ID_PREFIX
            mid = prefix + _stem(path)
            if mid in taken:
                mid = prefix + path.name
            if mid in taken:
                mid = f"{prefix}{source}/{path.name}"
            taken.add(mid)
            if unsr:
                out.append(_checkpoint_entry(mid, path, source))
                continue
            try:
                out.append(Entry(mid, path, source, "spandrel", describe(path)))
            except ModelError as exc:
                out.append(Entry(mid, path, source, "spandrel", None, exc.reason))
    return tuple(out)


def find(model_id: str) -> Entry:
    """Return the entry with ``model_id`` ("model:" or "trained-" may be left out).

    Raises
    ------
    LibraryError
        If no file has that id; the message lists the known ids.
    """
    known = entries()
    for wanted in (model_id, ID_PREFIX + model_id, TRAINED_PREFIX + model_id):
        for entry in known:
            if entry.id == wanted:
                return entry
    names = ", ".join(e.id for e in known) or "the library is empty"
    raise LibraryError(f"no model {model_id!r} (known: {names})")


def free_name(folder: Path, name: str) -> Path:
    """A file name in ``folder`` whose stem no other model file uses."""
    src = Path(name)
    suffix = UNSR_SUFFIX if name.lower().endswith(UNSR_SUFFIX) else src.suffix
    stem = _stem(src)
    used = {_stem(p).lower() for p in _scan(folder)}
    candidate, n = stem, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}-{n}"
    return folder / f"{candidate}{suffix}"


def install(src: Path, target: Path) -> Path:
    """Copy ``src`` to ``target`` through a temp file and an atomic rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        normal_permissions(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_of(src: Path, folder: Path) -> Path | None:
    """A file in ``folder`` with the same bytes as ``src`` (added before), if any."""
    size = src.stat().st_size
    same_size = [p for p in _scan(folder) if p.stat().st_size == size]
    if not same_size:
        return None
    digest = _digest(src)
    return next((p for p in same_size if _digest(p) == digest), None)


def add(file: Path | str) -> Entry:
    """Validate ``file`` and copy it into the user models folder.

    The file is read and recognised first; only an SR model unsr can run is
    copied. The copy goes to a temp file that is renamed into place, so a
    failed copy never leaves half a model in the folder. A file whose bytes
    are already in the folder is not copied again: its entry is returned.

    Returns
    -------
    Entry
        The new library entry.

    Raises
    ------
    ModelError
        The file is unreadable, unknown, unsafe or not an SR model.
    """
    src = Path(file)
    info = load_uncached(src).info
    reason = info.unusable_reason
    if reason is not None:
        raise ModelError(src, f"{reason}; unsr cannot use it")
    folder = paths.models_dir()
    if src.resolve().parent == folder.resolve():
        target = src
    else:
        target = _copy_of(src, folder) or install(src, free_name(folder, src.name))
        know(target, info)  # the same bytes: listing it needs no second load
    for entry in entries():
        if entry.path.resolve() == target.resolve():
            return entry
    raise LibraryError(
        f"{target.name} was copied but is not listed"
    )  # pragma: no cover


def remove(model_id: str) -> Path:
    """Delete a model from the user models folder; return the deleted path.

    Raises
    ------
    LibraryError
        Unknown id, or a bundled model (those ship with unsr and stay).
    """
    entry = find(model_id)
    if entry.source != "user":
        raise LibraryError(
            f"{entry.path.name} ships with unsr and cannot be removed "
            "(only files in the user models folder can)"
        )
    try:
        from engine.models import ncnn_backend

        ncnn_backend.forget(entry.path)
        entry.path.unlink()
    except OSError as exc:
        raise LibraryError(f"{entry.path.name}: could not delete ({exc})") from None
    clear_cache()
    return entry.path


__all__ = [
    "ID_PREFIX",
    "Entry",
    "add",
    "entries",
    "find",
    "free_name",
    "human_bytes",
    "info_facts",
    "install",
    "normal_permissions",
    "remove",
    "size_text",
]
