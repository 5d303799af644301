"""A key that does something while it is held (the viewer's A/B flick).

Menu shortcuts only know presses; a held key needs its release too. This
filter watches the application's key events for one key, whatever widget has
the focus, except where the key is typed (text fields): press turns it on,
release turns it off, auto-repeat is ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)


def _types_text(widget: QWidget | None) -> bool:
    if isinstance(widget, QLineEdit | QAbstractSpinBox):
        return True
    if isinstance(widget, QTextEdit | QPlainTextEdit):
        return not widget.isReadOnly()
    return isinstance(widget, QComboBox) and widget.isEditable()


class HoldKey(QObject):
    """Call ``held(True)`` while ``key`` is down in ``window``, ``held(False)`` after.

    Parameters
    ----------
    key
        The key (no modifier).
    held
        Told when the key goes down and up.
    window
        Only key events for this window's widgets count.
    active
        Whether the key means anything now (the studio page is shown); None
        is always.
    """

    def __init__(
        self,
        key: Qt.Key,
        held: Callable[[bool], None],
        window: QWidget,
        active: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(window)
        self._key = key
        self._held = held
        self._window = window
        self._active = active
        self._down = False
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Take the key's presses and releases meant for the window's widgets."""
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if not isinstance(event, QKeyEvent) or event.key() != self._key:
            return False
        if not isinstance(watched, QWidget) or watched.window() is not self._window:
            return False
        if event.isAutoRepeat():
            return True  # a held key repeats: still held
        down = kind == QEvent.Type.KeyPress
        if down and (event.modifiers() or _types_text(watched)):
            return False
        if down and self._active is not None and not self._active():
            return False
        if down == self._down:
            return False
        self._down = down
        self._held(down)
        return True

    def remove(self) -> None:
        """Stop watching (the window closes)."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
