"""Getting a catalogue model: download, verify every SHA-256, install atomically.

:func:`get` is a job (a generator of events, see :mod:`engine.jobs`). For each
source of the entry in turn it downloads the files into a staging folder,
checks each file's SHA-256, and only then installs: an ncnn pair is converted
into ``<id>.safetensors`` by :func:`engine.models.ncnn.import_model`, a
PyTorch file is checked and copied by :func:`engine.models.library.add`; both
write a temp file and rename it into the models folder.

Partial downloads stay in ``<data dir>/downloads`` as ``.part`` files, so a
cancelled or broken download resumes where it stopped; the models folder
never holds anything half-made. A file whose checksum does not match is
deleted at once and the next source is tried.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine import paths
from engine.events import Event, Message, Progress
from engine.models.catalogue import Entry, ModelFile, Source
from engine.models.errors import LibraryError, ModelError
from engine.models.fetch import (
    Endpoints,
    FetchError,
    Meter,
    NoRangesError,
    download,
    host,
    inflate,
    member_span,
    read_json,
    zip_members,
)
from engine.models.loading import SUFFIXES

Staged = dict[str, Path]


class GetError(Exception):
    """A model could not be got; ``str(exc)`` is one line for the user."""


@dataclass(frozen=True)
class Outcome:
    """What :func:`get` did.

    Attributes
    ----------
    entry_id : str
        The catalogue id.
    library_id : str
        The id the models library lists the installed file under.
    path : Path
        The installed file.
    already : bool
        True when the model was installed before and nothing was fetched.
    source : str
        Where the files came from (empty when ``already``).
    """

    entry_id: str
    library_id: str
    path: Path
    already: bool = False
    source: str = ""


def downloads_dir() -> Path:
    """Where partial downloads wait to be resumed (outside the models folder)."""
    path = paths.data_dir() / "downloads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def installed_path(entry: Entry) -> Path | None:
    """The models-folder file an earlier :func:`get` of ``entry`` wrote."""
    folder = paths.models_dir()
    for suffix in (".safetensors", *SUFFIXES):
        path = folder / f"{entry.installed_stem()}{suffix}"
        if path.is_file():
            return path
    return None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get(
    entry: Entry, endpoints: Endpoints | None = None
) -> Generator[Event, None, Outcome]:
    """Fetch, verify and install ``entry``; return what was installed.

    Raises
    ------
    GetError
        Not offered, every source failed (offline, refused, corrupt), or the
        files cannot be converted; one line saying which. Nothing is
        installed then.
    """
    endpoints = endpoints or Endpoints.from_env()
    if not entry.offered:
        raise GetError(f"{entry.id}: not offered ({entry.unavailable or 'no source'})")
    found = installed_path(entry)
    if found is not None:
        yield Message(f"{entry.id} is already installed ({found.name})")
        return Outcome(entry.id, _library_id(found), found, already=True)
    problems: list[str] = []
    for source in entry.sources:
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=downloads_dir()))
        try:
            staged = yield from _fetch(entry, source, staging, endpoints)
            return (yield from _install(entry, staged, source))
        except FetchError as exc:
            problems.append(str(exc))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if len(problems) == 1:
        raise GetError(f"cannot get {entry.id}: {problems[0]}")
    raise GetError(
        f"cannot get {entry.id}: every source failed: " + "; ".join(problems)
    )


def _library_id(path: Path) -> str:
    from engine.models.library import ID_PREFIX

    return ID_PREFIX + path.stem


# --- fetching ----------------------------------------------------------------


def _fetch(
    entry: Entry, source: Source, staging: Path, endpoints: Endpoints
) -> Generator[Event, None, Staged]:
    """Download ``entry``'s files from ``source`` into ``staging``, verified."""
    yield Progress(0, 0, f"looking up {entry.id}")
    if source.kind == "url":
        staged = yield from _fetch_urls(entry, source, staging, endpoints)
    else:
        url, size, digest = _archive(source, endpoints)
        staged = yield from _fetch_archive(
            entry, source, staging, url, size, digest, endpoints
        )
    for file in entry.files:
        _verify(staged[file.name], file, source)
    return staged


def _verify(path: Path, file: ModelFile, source: Source) -> None:
    got = sha256_of(path)
    if got != file.sha256:
        path.unlink(missing_ok=True)
        raise FetchError(
            f"{file.name} from {source.describe()} does not match its checksum "
            f"(SHA-256 {got[:12]}…, expected {file.sha256[:12]}…); it was deleted"
        )


def _part(url: str, label: str) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
    return downloads_dir() / f"{key}-{safe}.part"


def _fetch_urls(
    entry: Entry, source: Source, staging: Path, endpoints: Endpoints
) -> Generator[Event, None, Staged]:
    meter = Meter(entry.size, f"downloading {entry.id}")
    staged: Staged = {}
    for file in entry.files:
        url = source.locator(file.name)
        part = _part(url, file.name)
        yield from download(
            url, part, meter, length=file.size or None, timeout=endpoints.timeout_s
        )
        staged[file.name] = _take(part, staging / file.name, file, source)
    yield meter.progress()
    return staged


def _take(part: Path, target: Path, file: ModelFile, source: Source) -> Path:
    """Check a finished download and move it into the staging folder."""
    _verify(part, file, source)
    shutil.move(str(part), target)
    return target


def _archive(source: Source, endpoints: Endpoints) -> tuple[str, int, str | None]:
    """The archive's URL, size and SHA-256 (asked of the index for PyPI)."""
    if source.kind == "archive":
        assert source.url is not None
        return source.url, source.size, source.sha256
    index = f"{endpoints.pypi}/{source.dist}/json"
    doc = read_json(index, endpoints.timeout_s)
    releases = doc.get("releases") if isinstance(doc, dict) else None
    files = releases.get(source.version) if isinstance(releases, dict) else None
    for item in files or ():
        if isinstance(item, dict) and item.get("filename") == source.filename:
            url = urllib.parse.urljoin(index, str(item["url"]))
            digest = (item.get("digests") or {}).get("sha256")
            return url, int(item.get("size") or 0), digest
    raise FetchError(
        f"{host(index)} does not list {source.filename} "
        f"({source.dist} {source.version})"
    )


def _fetch_archive(
    entry: Entry,
    source: Source,
    staging: Path,
    url: str,
    size: int,
    digest: str | None,
    endpoints: Endpoints,
) -> Generator[Event, None, Staged]:
    if not source.is_tar and size > 0:
        try:
            return (
                yield from _fetch_members(entry, source, staging, url, size, endpoints)
            )
        except NoRangesError:
            pass  # the server sends whole files only: take the whole archive
    meter = Meter(size, f"downloading {entry.id} (whole archive)")
    part = _part(url, url.rsplit("/", 1)[-1])
    yield from download(
        url, part, meter, length=size or None, timeout=endpoints.timeout_s
    )
    if digest is not None and sha256_of(part) != digest.lower():
        part.unlink()
        raise FetchError(
            f"the archive from {host(url)} does not match its checksum; it was deleted"
        )
    yield Progress(meter.done, meter.total, f"unpacking {entry.id}")
    try:
        staged = _extract(part, source, staging, entry.files)
    finally:
        part.unlink(missing_ok=True)
    return staged


def _fetch_members(
    entry: Entry,
    source: Source,
    staging: Path,
    url: str,
    size: int,
    endpoints: Endpoints,
) -> Generator[Event, None, Staged]:
    """Take only the members out of a remote zip, with range requests."""
    directory = zip_members(url, size, endpoints.timeout_s)
    members = []
    for file in entry.files:
        name = source.locator(file.name)
        if name not in directory:
            raise FetchError(f"{url.rsplit('/', 1)[-1]} holds no {name}")
        members.append((file, directory[name]))
    meter = Meter(sum(m.compressed for _, m in members), f"downloading {entry.id}")
    staged: Staged = {}
    for file, member in members:
        start = member_span(url, member, endpoints.timeout_s)
        part = _part(url, f"{file.name}.z")
        yield from download(
            url,
            part,
            meter,
            start=start,
            length=member.compressed,
            timeout=endpoints.timeout_s,
        )
        try:
            staged[file.name] = inflate(part, member, staging / file.name)
        finally:
            part.unlink(missing_ok=True)
    yield meter.progress()
    return staged


def _extract(
    archive: Path, source: Source, staging: Path, files: Iterable[ModelFile]
) -> Staged:
    """Copy the named members of a downloaded archive into ``staging``."""
    staged: Staged = {}
    try:
        if source.is_tar:
            with tarfile.open(archive) as tar:
                for file in files:
                    member = tar.extractfile(source.locator(file.name))
                    if member is None:
                        raise KeyError(source.locator(file.name))
                    with member, (staging / file.name).open("wb") as out:
                        shutil.copyfileobj(member, out)
                    staged[file.name] = staging / file.name
        else:
            with zipfile.ZipFile(archive) as zf:
                for file in files:
                    with (
                        zf.open(source.locator(file.name)) as member,
                        (staging / file.name).open("wb") as out,
                    ):
                        shutil.copyfileobj(member, out)
                    staged[file.name] = staging / file.name
    except KeyError as exc:
        raise FetchError(f"the archive holds no {exc.args[0]}") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FetchError(f"the archive cannot be unpacked ({exc})") from None
    return staged


# --- installing --------------------------------------------------------------


def _install(
    entry: Entry, staged: Staged, source: Source
) -> Generator[Event, None, Outcome]:
    """Convert or check the verified files and rename them into place."""
    yield Progress(0, 0, f"installing {entry.id}")
    try:
        if entry.format == "ncnn":
            from engine.models import ncnn

            param = next(p for n, p in staged.items() if n.endswith(".param"))
            binary = next(p for n, p in staged.items() if n.endswith(".bin"))
            installed = ncnn.import_model(param, binary)
        else:
            from engine.models import library

            (only,) = staged.values()
            installed = library.add(only)
    except (ModelError, LibraryError) as exc:
        reason = getattr(exc, "reason", str(exc))
        raise GetError(
            f"{entry.id}: downloaded and verified, but unsr cannot use it "
            f"({reason}); nothing was installed"
        ) from None
    yield Message(f"installed {entry.id} as {installed.id}")
    return Outcome(entry.id, installed.id, installed.path, source=source.describe())


__all__ = [
    "GetError",
    "Outcome",
    "downloads_dir",
    "get",
    "installed_path",
    "sha256_of",
]
