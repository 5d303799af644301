"""``python -m unsr_app`` and the ``unsr-app`` script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Open the main window."""
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    label = QLabel("unsr: the studio is coming.")
    label.resize(640, 400)
    label.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
