"""Light, dark, or the system's look, applied to the whole application."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_ORIGINAL: dict[str, object] = {}

_DARK = {
    QPalette.ColorRole.Window: "#232629",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1b1d20",
    QPalette.ColorRole.AlternateBase: "#2a2d31",
    QPalette.ColorRole.ToolTipBase: "#31363b",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#2f3338",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#3b8eea",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6cb4ff",
    QPalette.ColorRole.PlaceholderText: "#8a8f95",
}
_LIGHT = {
    QPalette.ColorRole.Window: "#f3f4f6",
    QPalette.ColorRole.WindowText: "#1d1f21",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#eef0f3",
    QPalette.ColorRole.ToolTipBase: "#ffffdc",
    QPalette.ColorRole.ToolTipText: "#1d1f21",
    QPalette.ColorRole.Text: "#1d1f21",
    QPalette.ColorRole.Button: "#e9ebee",
    QPalette.ColorRole.ButtonText: "#1d1f21",
    QPalette.ColorRole.BrightText: "#c0392b",
    QPalette.ColorRole.Highlight: "#2f7ed8",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#1a5fb4",
    QPalette.ColorRole.PlaceholderText: "#8a8f95",
}


def apply(app: QApplication, theme: str) -> None:
    """Apply "system", "light" or "dark" (Fusion style for the forced ones)."""
    if not _ORIGINAL:
        _ORIGINAL["palette"] = QPalette(app.palette())
        _ORIGINAL["style"] = app.style().name()
    if theme in ("light", "dark"):
        app.setStyle("Fusion")
        palette = QPalette()
        for role, colour in (_DARK if theme == "dark" else _LIGHT).items():
            palette.setColor(role, QColor(colour))
        disabled = QColor("#7a7f85")
        for role in (
            QPalette.ColorRole.WindowText,
            QPalette.ColorRole.Text,
            QPalette.ColorRole.ButtonText,
        ):
            palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
        app.setPalette(palette)
    else:
        app.setStyle(str(_ORIGINAL["style"]))
        app.setPalette(_ORIGINAL["palette"])  # type: ignore[arg-type]
