"""Runs the Get models dialog: its intents become engine jobs in the worker.

:class:`ModelDownloads` owns the dialog and one job at a time: listing the
catalogue, getting models (:func:`engine.models.get.get`: download, SHA-256,
atomic install, ncnn conversion) or refreshing OpenModelDB's index. Progress,
messages and results go back to the dialog; ``installed`` tells the Models
page to list the library again.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from unsr_app.requests import CatalogueRow, ModelChange
from unsr_app.widgets.get_models_dialog import GetModelsDialog
from unsr_app.worker import JobFactory, JobHandle


def catalogue_rows_job() -> Generator[Any, None, tuple[CatalogueRow, ...]]:
    """A job listing the catalogue (bundled, then OpenModelDB's cached index)."""
    yield from ()
    from engine.models import get

    entries = _catalogue().entries
    return tuple(_row(e, get.installed_path(e) is not None) for e in entries)


def _catalogue() -> Any:
    from engine.models import openmodeldb

    return openmodeldb.full_catalogue()


def _row(entry: Any, installed: bool) -> CatalogueRow:
    from engine.models.library import human_bytes

    facts = {
        "id": entry.id,
        "architecture": entry.architecture,
        "description": entry.description,
        "licence": f"{entry.licence} ({entry.licence_source})",
    }
    if entry.sources:
        first = entry.sources[0]
        facts["source"] = first.describe()
        facts["download"] = human_bytes(first.download_bytes(entry.size))
        if len(entry.sources) > 1:
            facts["source"] += f" (+{len(entry.sources) - 1} more)"
    if entry.upstream:
        facts["first published"] = entry.upstream
    facts["catalogue"] = "OpenModelDB" if entry.origin == "openmodeldb" else "unsr"
    return CatalogueRow(
        id=entry.id,
        name=entry.name,
        scale=entry.scale,
        purpose=entry.purpose,
        licence=entry.licence,
        size=entry.size,
        installed=installed,
        unavailable=None if entry.offered else entry.unavailable or "no source",
        recommended=entry.recommended,
        facts=facts,
    )


def get_models_job(ids: Sequence[str]) -> Generator[Any, None, ModelChange]:
    """A job getting each model; a failure is one line and the others go on."""
    from engine.models.get import GetError, get

    catalogue = _catalogue()
    done, problems = [], []
    for model_id in ids:
        try:
            entry = catalogue.find(model_id)
            outcome = yield from get(entry)
        except KeyError as exc:
            problems.append(str(exc.args[0]))
        except GetError as exc:
            problems.append(str(exc))
        else:
            done.append(outcome.entry_id)
    return ModelChange("Installed", tuple(done), tuple(problems))


def refresh_index_job() -> Generator[Any, None, int]:
    """A job fetching OpenModelDB's index; returns how many models it lists."""
    from engine.models import openmodeldb

    entries = yield from openmodeldb.refresh()
    return len(entries)


class ModelDownloads(QObject):
    """The Get models dialog and the jobs behind it.

    Signals
    -------
    installed()
        At least one model was installed: the library should be listed again.
    idle()
        The running job ended (tests wait for it).
    """

    installed = Signal()
    idle = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.dialog: GetModelsDialog | None = None
        self._handle: JobHandle | None = None
        #: Job factories by intent; tests replace them to point at a local server.
        self.list_job: JobFactory = catalogue_rows_job
        self.get_job: Callable[[Sequence[str]], Generator[Any, None, Any]] = (
            get_models_job
        )
        self.refresh_job: JobFactory = refresh_index_job

    def open(self) -> GetModelsDialog:
        """Show the dialog (made on first use) and list the catalogue."""
        if self.dialog is None:
            self.dialog = GetModelsDialog(self._parent)
            self.dialog.download_requested.connect(self._on_dialog_download_requested)
            self.dialog.cancel_requested.connect(self._on_dialog_cancel_requested)
            self.dialog.refresh_requested.connect(self._on_dialog_refresh_requested)
        self.dialog.show()
        self.dialog.raise_()
        if self._handle is None:
            self._list()
        return self.dialog

    def is_busy(self) -> bool:
        """True while a job of the dialog runs."""
        return self._handle is not None

    def shutdown(self) -> None:
        """Cancel the running job and wait for it (the window is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle.wait(30000)

    # --- jobs -----------------------------------------------------------------

    def _start(
        self, factory: JobFactory, on_done: Callable[[Any], None], failure: str
    ) -> None:
        dialog = self.dialog
        assert dialog is not None
        handle = JobHandle(factory, self)
        handle.progressed.connect(
            lambda e: dialog.show_progress(e.step, e.total, e.stage, e.eta_s)
        )
        handle.finished.connect(on_done)
        handle.failed.connect(
            lambda reason: dialog.say(f"{failure}: {reason}", error=True)
        )
        handle.cancelled.connect(self._on_job_cancelled)
        for signal in (handle.finished, handle.failed, handle.cancelled):
            signal.connect(self._on_job_ended)
        self._handle = handle
        dialog.set_running(True)
        handle.start()

    def _list(self) -> None:
        assert self.dialog is not None
        self.dialog.show_progress(0, 0, "listing the catalogue", None)
        self._start(self.list_job, self._on_listed, "Could not list the catalogue")

    def _on_job_ended(self, *_: object) -> None:
        self._handle = None
        if self.dialog is not None:
            self.dialog.set_running(False)
        self.idle.emit()

    def _on_job_cancelled(self) -> None:
        if self.dialog is not None:
            self.dialog.say(
                "Cancelled: nothing was installed. The partial download is kept "
                "and resumes next time."
            )

    # --- results --------------------------------------------------------------

    def _on_listed(self, rows: tuple[CatalogueRow, ...]) -> None:
        if self.dialog is not None:
            self.dialog.set_rows(rows)

    def _on_got(self, change: ModelChange) -> None:
        if self.dialog is None:
            return
        parts = []
        if change.done:
            parts.append(f"Installed {', '.join(change.done)}.")
        parts.extend(change.problems)
        self.dialog.say("\n".join(parts), error=bool(change.problems))
        if change.done:
            self.installed.emit()
        # List again once this job has ended (installed marks, new rows).
        self.idle.connect(self._relist_once)

    def _relist_once(self) -> None:
        self.idle.disconnect(self._relist_once)
        if self._handle is None and self.dialog is not None:
            self._list()

    def _on_refreshed(self, count: int) -> None:
        if self.dialog is not None:
            self.dialog.say(f"OpenModelDB lists {count} models.")
        self.idle.connect(self._relist_once)

    # --- intents --------------------------------------------------------------

    def _on_dialog_download_requested(self, ids: tuple[str, ...]) -> None:
        if self._handle is not None or self.dialog is None:
            return
        self.dialog.say("")
        factory = self.get_job
        self._start(lambda: factory(ids), self._on_got, "Could not get the models")

    def _on_dialog_cancel_requested(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _on_dialog_refresh_requested(self) -> None:
        if self._handle is not None or self.dialog is None:
            return
        self.dialog.say("")
        self._start(self.refresh_job, self._on_refreshed, "Could not refresh the index")


__all__ = [
    "ModelDownloads",
    "catalogue_rows_job",
    "get_models_job",
    "refresh_index_job",
]
