"""What a model file's bytes say it is, before any library reads it.

torch and safetensors describe a bad file in their own terms ("failed finding
central directory", "header too large", "invalid load key"), cut off where a
log line ends. These checks look at the bytes first and give the reason in a
whole sentence a person can act on: cut short (copy or download it again), not
a model file at all, or text. They need neither torch nor safetensors.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

#: How much of the file's start is looked at for text and magic numbers.
_HEAD = 512
TRUNCATED = (
    "the file is cut short ({what}); it was probably not completely downloaded "
    "or copied, so get it again"
)
NOT_A_MODEL = "this is not a model file: {what}"


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(_HEAD)


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def pickle_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a PyTorch weights file (.pth/.pt/.ckpt), or None.

    A PyTorch file is a zip archive with a ``data.pkl`` inside (torch.save's
    format since 1.6) or a pickle stream (older files); None means it looks
    like one and torch should try.
    """
    head = _head(path)
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            return TRUNCATED.format(what="its zip archive has no end")
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return TRUNCATED.format(what="its zip archive is damaged")
        if not any(n.endswith("data.pkl") for n in names):
            return NOT_A_MODEL.format(
                what="a zip archive, but not one torch.save wrote (no data.pkl)"
            )
        return None
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return None  # a pickle stream: torch's weights-only reader decides
    if _looks_like_text(head):
        return NOT_A_MODEL.format(what="it holds text, not weights")
    return NOT_A_MODEL.format(
        what="its bytes are neither a PyTorch archive nor a pickle"
    )


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a .safetensors file, or None if it looks like one.

    The format is an 8-byte little-endian header length, a JSON header giving
    each tensor's byte range, then the bytes.
    """
    size = path.stat().st_size
    head = _head(path)
    if _looks_like_text(head):
        return NOT_A_MODEL.format(what="it holds text, not weights")
    if size < 8:
        return TRUNCATED.format(what=f"{size} bytes, less than a header")
    n = int.from_bytes(head[:8], "little")
    if len(head) > 8 and head[8:9] != b"{":
        return NOT_A_MODEL.format(what="it does not start with a safetensors header")
    if n > size - 8:
        return TRUNCATED.format(what="its header ends past the end of the file")
    with path.open("rb") as f:
        f.seek(8)
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except ValueError:
        return NOT_A_MODEL.format(what="its safetensors header is not readable")
    if not isinstance(header, dict):
        return NOT_A_MODEL.format(what="its safetensors header is not readable")
    ends = [
        int(v["data_offsets"][1])
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    needed = 8 + n + max(ends, default=0)
    if needed > size:
        return TRUNCATED.format(
            what=f"its header announces {needed:,} bytes, the file has {size:,}"
        )
    return None


def first_sentence(text: str, limit: int = 160) -> str:
    """A library's message, cut at a sentence or clause end, never mid-word."""
    text = " ".join(text.split())
    for end in (". ", "; "):
        cut = text.find(end)
        if 0 < cut < limit:
            return text[:cut]
    if len(text) <= limit:
        return text.rstrip(".")
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit] + " ..."


__all__ = [
    "NOT_A_MODEL",
    "TRUNCATED",
    "first_sentence",
    "pickle_problem",
    "safetensors_problem",
]
