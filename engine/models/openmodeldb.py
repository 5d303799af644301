"""OpenModelDB's public model index, read as catalogue entries.

OpenModelDB (the community database chaiNNer's users rely on) publishes its
whole index as one JSON object, model id -> record, each record with the
architecture, scale, licence, tags, and ``resources``: files per platform
with size, SHA-256 and download URLs. :func:`refresh` fetches it into the
data folder; :func:`parse` turns records into :class:`Entry` objects.

A record is offered only when unsr can actually use it: a PyTorch file
(.pth / .safetensors) with a checksum, at a direct download URL, of an
architecture spandrel loads, scaling by 2 or more. Every other record is
listed with the reason in ``Entry.unavailable``, so a user browsing the
index sees why, and nothing is offered that would fail after the download.

The parser is tested against a fixture in the index's shape; the live site
could not be reached where this was written.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any

from engine import paths
from engine.events import Event, Progress
from engine.models.catalogue import Catalogue, Entry, ModelFile, Source
from engine.models.catalogue import load as load_bundled
from engine.models.fetch import Endpoints, FetchError, Meter, download
from engine.models.get import downloads_dir

INDEX_URL = "https://openmodeldb.info/api/v1/models.json"
#: Hosts whose links are pages (log-ins, viewers), not files.
PAGE_HOSTS = frozenset(
    {"drive.google.com", "mega.nz", "mega.co.nz", "www.mediafire.com", "pixeldrain.com"}
)
#: OpenModelDB architecture ids whose spandrel name differs beyond case/dashes.
ALIASES = {
    "esrgan+": "esrgan",
    "esrgan-2c2": "esrgan",
    "realplksr": "plksr",
    "cugan": "realcugan",
    "ultracompact": "compact",
    "superultracompact": "compact",
}
_SUFFIXES = {"pth": ".pth", "safetensors": ".safetensors", "pt": ".pt", "ckpt": ".ckpt"}
Supported = Callable[[str], bool]


def _norm(arch: str) -> str:
    arch = arch.strip().lower()
    arch = ALIASES.get(arch, arch)
    return re.sub(r"[^a-z0-9]", "", arch)


@functools.lru_cache(maxsize=1)
def spandrel_architectures() -> frozenset[str]:
    """Normalised ids of every architecture the installed spandrel loads."""
    from spandrel import MAIN_REGISTRY

    return frozenset(_norm(a.architecture.id) for a in MAIN_REGISTRY.architectures())


def spandrel_loads(arch: str) -> bool:
    """True when spandrel has the OpenModelDB architecture ``arch``."""
    return _norm(arch) in spandrel_architectures()


def cache_path() -> Path:
    """Where the last fetched index is kept."""
    return paths.data_dir() / "openmodeldb.json"


def parse(doc: Any, supported: Supported | None = None) -> tuple[Entry, ...]:
    """Entries for every record of an OpenModelDB index document.

    Parameters
    ----------
    doc
        The decoded index: an object of model id -> record.
    supported
        Says whether spandrel loads an architecture id (default: ask the
        installed spandrel).

    Raises
    ------
    FetchError
        ``doc`` is not an index of that shape.
    """
    if not isinstance(doc, Mapping) or not all(isinstance(k, str) for k in doc):
        raise FetchError("the OpenModelDB index is not an object of models")
    supported = supported or spandrel_loads
    out = []
    for key, record in doc.items():
        if isinstance(record, Mapping) and re.match(r"^[A-Za-z0-9][\w.+-]*$", key):
            out.append(_entry(key, record, supported))
    return tuple(sorted(out, key=lambda e: e.id.lower()))


def _purpose(tags: list[str]) -> str:
    for purpose, words in (
        ("anime", ("anime", "cartoon", "manga")),
        ("photo", ("photo", "faces", "realistic")),
        ("denoise", ("denoise", "jpeg", "compression")),
    ):
        if any(w in tag for tag in tags for w in words):
            return purpose
    return "general"


def _entry(key: str, record: Mapping[str, Any], supported: Supported) -> Entry:
    arch = str(record.get("architecture") or "unknown")
    scale = record.get("scale")
    tags = [str(t).lower() for t in record.get("tags") or ()]
    files, sources, why = _files(key, record.get("resources") or ())
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 2:
        why = f"a {scale}x model; unsr upscales by 2 or more"
        scale = scale if isinstance(scale, int) and not isinstance(scale, bool) else 1
    elif not supported(arch):
        why = f"spandrel cannot load the {arch} architecture"
    licence = record.get("license")
    return Entry(
        id=key,
        name=str(record.get("name") or key),
        architecture=arch,
        scale=scale,
        purpose=_purpose(tags),
        licence=str(licence) if licence else "unknown",
        licence_source=f"OpenModelDB record {key} (https://openmodeldb.info/models/{key})",
        format="pytorch",
        description=" ".join(str(record.get("description") or "").split())[:400],
        files=files,
        sources=sources,
        upstream=f"https://openmodeldb.info/models/{key}",
        tags=tuple(tags),
        origin="openmodeldb",
        unavailable=why,
    )


def _files(
    key: str, resources: Any
) -> tuple[tuple[ModelFile, ...], tuple[Source, ...], str | None]:
    """The first usable PyTorch resource, or why there is none."""
    platforms: set[str] = set()
    why = None
    for res in resources if isinstance(resources, list) else ():
        if not isinstance(res, Mapping):
            continue
        platforms.add(str(res.get("platform")))
        suffix = _SUFFIXES.get(str(res.get("type")).lower())
        if res.get("platform") != "pytorch" or suffix is None:
            continue
        sha = str(res.get("sha256") or "").lower()
        urls = [str(u) for u in res.get("urls") or ()]
        direct = [u for u in urls if _direct(u)]
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            why = why or "OpenModelDB gives no SHA-256 for its file"
        elif not direct:
            hosts = sorted(
                {h for u in urls if (h := urllib.parse.urlsplit(u).hostname)}
            )
            why = why or f"no direct download (only a page on {', '.join(hosts)})"
        else:
            name = f"{key}{suffix}"
            file = ModelFile(name, int(res.get("size") or 0), sha)
            return (file,), tuple(Source("url", ((name, u),)) for u in direct), None
    kinds = ", ".join(sorted(platforms)) or "no files"
    return (), (), why or f"no PyTorch file ({kinds}); unsr runs PyTorch weights"


def _direct(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname not in PAGE_HOSTS


def cached(supported: Supported | None = None) -> tuple[Entry, ...]:
    """Entries of the last fetched index; empty when none was fetched."""
    path = cache_path()
    if not path.is_file():
        return ()
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")), supported)
    except (OSError, ValueError, FetchError):
        return ()  # a damaged cache is as good as none: refresh again


def full_catalogue(supported: Supported | None = None) -> Catalogue:
    """The bundled catalogue, then the cached OpenModelDB entries."""
    return load_bundled().merged(cached(supported))


def refresh(
    url: str = INDEX_URL,
    endpoints: Endpoints | None = None,
    supported: Supported | None = None,
) -> Generator[Event, None, tuple[Entry, ...]]:
    """Fetch the index, keep it in the data folder, return its entries.

    The old cache stays until the new index has been read successfully.
    """
    timeout = (endpoints or Endpoints.from_env()).timeout_s
    yield Progress(0, 0, "fetching the OpenModelDB index")
    fd, tmp = tempfile.mkstemp(
        prefix=".openmodeldb-", suffix=".part", dir=downloads_dir()
    )
    os.close(fd)
    part = Path(tmp)
    try:
        part.unlink()
        yield from download(
            url, part, Meter(0, "fetching the OpenModelDB index"), timeout=timeout
        )
        try:
            doc = json.loads(part.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FetchError(f"the OpenModelDB index is not JSON ({exc})") from None
        entries = parse(doc, supported)
        os.replace(part, cache_path())
    finally:
        part.unlink(missing_ok=True)
    return entries


__all__ = [
    "ALIASES",
    "INDEX_URL",
    "PAGE_HOSTS",
    "cache_path",
    "cached",
    "full_catalogue",
    "parse",
    "refresh",
    "spandrel_architectures",
    "spandrel_loads",
]
