"""Settings: where the studio's batches run (this machine or a Ray cluster)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from unsr_app.cluster import address_problem
from unsr_app.widgets.method_panel import WrappingLabel

#: What each kind of address does, under the field.
CLUSTER_HELP = (
    "Empty: this machine, one file after another. <b>local</b>: a private Ray "
    "cluster on this machine, every core at work (it listens on 127.0.0.1 "
    "only). <b>auto</b>, <b>HOST:PORT</b> or <b>ray://HOST:PORT</b>: a Ray "
    "cluster; every node must see the inputs and outputs under the same path."
)


class SettingsDialog(QDialog):
    """The studio's settings; the window reads them back once accepted.

    Parameters
    ----------
    cluster
        The saved cluster address ("" runs on this machine).
    ray_version
        Ray's version, or None when Ray is not installed (the field then
        says that batches run here, and how to get Ray).
    """

    def __init__(
        self, cluster: str, ray_version: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(460)
        self.address = QLineEdit(cluster)
        self.address.setPlaceholderText("empty: this machine")
        self.address.setClearButtonEnabled(True)
        self.address.setToolTip(CLUSTER_HELP)
        help_line = WrappingLabel()
        help_line.setObjectName("clusterHelp")
        help_line.setText(CLUSTER_HELP)
        #: One line: Ray's presence, or what is wrong with the address.
        self.status = QLabel()
        self.status.setObjectName("clusterStatus")
        self.status.setWordWrap(True)
        self._ray = ray_version
        form = QFormLayout()
        form.addRow("Address", self.address)
        form.addRow("", self.status)
        form.addRow("", help_line)
        group = QGroupBox("Cluster")
        group.setLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(group)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.address.textChanged.connect(self._on_address_changed)
        self._on_address_changed(cluster)

    def cluster(self) -> str:
        """The address as entered, trimmed ("" runs on this machine)."""
        return self.address.text().strip()

    def _on_address_changed(self, text: str) -> None:
        problem = address_problem(text)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(problem is None)
        if problem is not None:
            self._say(problem, "#d9534f")
        elif self._ray is None:
            self._say(
                "Ray is not installed here, so batches run on this machine: "
                "install unsr[cluster] (pip install 'unsr[cluster]').",
                "#b07d1b",
            )
        elif text.strip():
            self._say(f"Ray {self._ray}: Start sends the queue to this cluster.")
        else:
            self._say(f"Ray {self._ray} is installed; batches run on this machine.")

    def _say(self, text: str, colour: str | None = None) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {colour};" if colour else "")
