"""What the studio remembers between sessions, stored with QSettings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QByteArray, QSettings

from unsr_app.cluster import address_problem
from unsr_app.requests import FORMATS, RunRequest

Theme = Literal["system", "light", "dark"]
THEMES: tuple[Theme, ...] = ("system", "light", "dark")
ORGANISATION = "unsr"
APPLICATION = "unsr"


@dataclass(frozen=True)
class StudioSettings:
    """Everything saved; defaults live here and nowhere else.

    Attributes
    ----------
    request : RunRequest
        Method, scale, profile, output folder, format and quality.
    theme : Theme
        "system" follows the desktop; "light" and "dark" force one.
    geometry, window_state : bytes
        Qt's own encodings of the window's size/position and splitters.
    cluster : str
        Where Start sends a batch: "" runs it on this machine; "local" on a
        private Ray cluster here; "auto", "HOST:PORT" or "ray://HOST:PORT"
        on that Ray cluster (see :mod:`unsr_app.cluster`).
    """

    request: RunRequest = field(default_factory=RunRequest)
    theme: Theme = "system"
    geometry: bytes = b""
    window_state: bytes = b""
    cluster: str = ""


def default_store() -> QSettings:
    """The user's settings (native format, per user)."""
    return QSettings(ORGANISATION, APPLICATION)


def load(store: QSettings) -> StudioSettings:
    """Read settings, falling back to defaults for anything missing or odd."""
    d = StudioSettings()
    r = d.request

    def text(key: str, default: str) -> str:
        value = store.value(key, default)
        return str(value) if value is not None else default

    def number(key: str, default: int) -> int:
        try:
            return int(str(store.value(key, default)))
        except (TypeError, ValueError):
            return default

    def blob(key: str) -> bytes:
        value = store.value(key, QByteArray())
        return bytes(value.data()) if isinstance(value, QByteArray) else b""

    fmt = text("run/format", r.fmt)
    theme = text("view/theme", d.theme)
    out = text("run/output_dir", "")
    request = RunRequest(
        method=text("run/method", r.method),
        scale=number("run/scale", r.scale),
        profile=text("run/profile", "") or None,
        output_dir=Path(out) if out else None,
        fmt=fmt if fmt in {f for f, _l, _q in FORMATS} else r.fmt,
        quality=min(100, max(1, number("run/quality", r.quality))),
    )
    return StudioSettings(
        request=request,
        theme=next((t for t in THEMES if t == theme), d.theme),
        geometry=blob("window/geometry"),
        window_state=blob("window/splitters"),
        cluster=_address(text("cluster/address", d.cluster)),
    )


def save(store: QSettings, settings: StudioSettings) -> None:
    """Write ``settings`` and flush them to disk."""
    r = settings.request
    store.setValue("run/method", r.method)
    store.setValue("run/scale", r.scale)
    store.setValue("run/profile", r.profile or "")
    store.setValue("run/output_dir", str(r.output_dir) if r.output_dir else "")
    store.setValue("run/format", r.fmt)
    store.setValue("run/quality", r.quality)
    store.setValue("view/theme", settings.theme)
    store.setValue("window/geometry", QByteArray(settings.geometry))
    store.setValue("window/splitters", QByteArray(settings.window_state))
    store.setValue("cluster/address", settings.cluster)
    store.sync()


def _address(text: str) -> str:
    """A saved cluster address, or "" (this machine) when it is not one."""
    text = text.strip()
    return text if address_problem(text) is None else ""
