"""The main window: pages in tabs, menus, and the wiring between widgets.

Widgets emit intents; the slots here (``_on_<source>_<event>``) route them to
the batch runner, the viewer and the settings. Nothing heavy happens here:
engine look-ups run as jobs in worker threads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
)

from unsr_app import cluster, gc_guard, job_factories, settings, theme
from unsr_app.hold_key import HoldKey
from unsr_app.pages import ModelsPage, StudioPage, TrainPage
from unsr_app.queue_runner import ItemJobFactory, QueueRunner
from unsr_app.requests import QueueItem, RunRequest, RunRow, Status
from unsr_app.view_controller import ViewController
from unsr_app.widgets.progress_panel import Outcome
from unsr_app.widgets.settings_dialog import SettingsDialog
from unsr_app.worker import JobFactory, JobHandle


class MainWindow(QMainWindow):
    """unsr's studio window.

    Parameters
    ----------
    store
        Where settings live (tests pass a temporary one).
    factory
        Makes the job for one queue item (tests pass fakes).
    methods_job
        Lists the methods, run in a worker thread.
    paste_dir
        Where pasted images are saved; None is ``pasted/`` in the data folder.
    warm_up
        Import torch in the background after launch (tests skip it).
    """

    methods_loaded = Signal()
    history_loaded = Signal()
    #: The viewer shows what :meth:`show_item` asked for (read in a worker).
    view_loaded = Signal()

    def __init__(
        self,
        store: QSettings | None = None,
        factory: ItemJobFactory | None = None,
        methods_job: JobFactory = job_factories.list_methods_job,
        paste_dir: Path | None = None,
        warm_up: bool = True,
    ) -> None:
        super().__init__()
        gc_guard.install()  # Qt objects are collected on this thread only
        self.setWindowTitle("unsr · super-resolution studio")
        self.setWindowIcon(QIcon(str(_icon_path())))
        self.resize(1360, 860)
        self.setMinimumSize(960, 600)
        # Drops work anywhere: what no child takes (the viewer, the plots,
        # the log) comes up to the window and goes to the queue.
        self.setAcceptDrops(True)
        self._store = store if store is not None else settings.default_store()
        self._settings = settings.load(self._store)
        self._jobs: set[JobHandle] = set()
        self._methods_job = methods_job
        #: Paths being queued that start once added, with their request, and
        #: the items already queued that start with them.
        self._start_when_added: (
            tuple[frozenset[Path], RunRequest, list[QueueItem]] | None
        ) = None
        #: Ray's version, None when it is not installed (batches run here).
        self.ray_version = cluster.ray_version()
        self.settings_dialog: SettingsDialog | None = None

        self._paste_dir = paste_dir
        self.studio = StudioPage()
        # Both pages load the engine only when first shown (or on Start).
        self.train_page = TrainPage()
        self.models_page = ModelsPage()
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.studio, "Studio")
        self.pages.addTab(self.train_page, "Train")
        self.pages.addTab(self.models_page, "Models")
        self.setCentralWidget(self.pages)
        s = self.studio
        self.runner = QueueRunner(factory, self._needs_fit, self)
        self.view = ViewController(
            s.viewer, s.log, self._run, s.history.runs, parent=self
        )
        self.view.view_loaded.connect(self.view_loaded)
        self.view.scored.connect(self._on_view_scored)
        self._build_menus()
        # Hold A: side A where B is, for as long as the key is down.
        self._flick = HoldKey(
            Qt.Key.Key_A,
            s.viewer.flick,
            self,
            active=lambda: self.pages.currentWidget() is self.studio,
        )

        s.queue.current_changed.connect(self._on_queue_current_changed)
        s.queue.message.connect(s.log.append)
        s.queue.items_added.connect(self._on_queue_items_added)
        s.queue.paths_given.connect(self._on_queue_paths_given)
        s.queue.image_pasted.connect(self._on_queue_image_pasted)
        s.method.start_clicked.connect(self._on_method_start_clicked)
        s.method.stop_clicked.connect(self._on_method_stop_clicked)
        s.method.keep_clicked.connect(self._on_method_keep_clicked)
        s.method.changed.connect(self._on_method_changed)
        s.viewer.reference_requested.connect(self._on_viewer_reference_requested)
        s.history.refresh_requested.connect(self._on_history_refresh_requested)
        s.history.run_opened.connect(self._on_history_run_opened)
        s.history.run_again.connect(self._on_history_run_again)
        s.history.fit_applied.connect(self._on_history_fit_applied)
        r = self.runner
        r.item_changed.connect(s.queue.refresh)
        r.item_started.connect(self._on_runner_item_started)
        r.progressed.connect(self._on_runner_progressed)
        r.losses.connect(lambda _i, e: s.losses.add(e.step, e.values))
        r.preview.connect(self.view.show_preview)
        r.kernel.connect(lambda _i, e: s.kernel.set_kernel(e.kernel, e.step))
        r.message.connect(lambda _i, e: s.log.append(e.text, e.level))
        r.item_changed.connect(self._on_runner_item_changed)
        r.item_finished.connect(self._on_runner_item_finished)
        r.batch_finished.connect(self._on_runner_batch_finished)
        r.late_result.connect(self._on_runner_late_result)
        r.drained.connect(self._on_history_refresh_requested)
        self.models_page.models_changed.connect(self._on_models_page_models_changed)
        self.train_page.model_trained.connect(self._on_train_page_model_trained)

        s.method.set_request(self._settings.request)
        self._show_cluster()
        if self._settings.geometry:
            self.restoreGeometry(self._settings.geometry)
        s.restore_layout(self._settings.window_state)
        self._refresh_methods()
        if warm_up:
            self._run(job_factories.warm_up_job, self._on_engine_warmed_up)
        self._on_history_refresh_requested()

    # -- helpers -----------------------------------------------------------
    def _run(self, job: JobFactory, on_done: Any) -> JobHandle:
        """Run a small engine look-up in a thread; ``on_done(value)`` after."""
        handle = JobHandle(job, self)
        self._jobs.add(handle)
        handle.finished.connect(on_done)
        handle.failed.connect(lambda reason: self.studio.log.append(reason, "error"))
        for signal in (handle.finished, handle.failed, handle.cancelled):
            signal.connect(lambda *_: self._jobs.discard(handle))
        handle.start()
        return handle

    def _refresh_methods(self) -> None:
        self._run(self._methods_job, self._on_methods_listed)

    def is_idle(self) -> bool:
        """True when no batch, no training and no look-up is running."""
        return (
            not self.runner.is_running()
            and not self.train_page.is_busy()
            and not self.models_page.is_busy()
            and not self._jobs
        )

    def show_page(self, name: str) -> bool:
        """Bring the tab titled ``name`` (any case) forward; False if none is."""
        for i in range(self.pages.count()):
            if self.pages.tabText(i).lower() == name.lower():
                self.pages.setCurrentIndex(i)
                return True
        return False

    def _needs_fit(self, method_id: str) -> bool:
        info = self.studio.method.method_info(method_id)
        return bool(info and info.needs_fit)

    def _build_menus(self) -> None:
        s = self.studio
        menus = self.menuBar()

        def action(menu: Any, text: str, slot: Any, keys: str | None = None) -> QAction:
            act = QAction(text, self)
            if keys:
                act.setShortcut(QKeySequence(keys))
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        file = menus.addMenu("&File")
        action(file, "Add files…", s.queue.open_files_dialog, "Ctrl+O")
        action(file, "Add folder…", s.queue.open_folder_dialog, "Ctrl+Shift+O")
        action(file, "Paste image", s.queue.paste, "Ctrl+V")
        action(file, "Load reference…", self._on_viewer_reference_requested, "Ctrl+R")
        file.addSeparator()
        result = [
            action(file, "Save result as…", self.save_result_as, "Ctrl+Shift+S"),
            action(file, "Copy result", self.view.copy_result, "Ctrl+Shift+C"),
            action(file, "Open output folder", self.view.open_folder, "Ctrl+Shift+F"),
        ]
        s.viewer.set_context_actions(result)
        file.addSeparator()
        action(file, "Settings…", self.open_settings, "Ctrl+,")
        action(file, "Quit", self.close, "Ctrl+Q")
        view = menus.addMenu("&View")
        action(view, "Split", lambda: s.viewer.set_mode("split"), "S")
        action(view, "Side by side", lambda: s.viewer.set_mode("side"), "B")
        action(view, "Difference", lambda: s.viewer.set_mode("diff"), "D")
        action(view, "Fit to window", s.viewer.fit, "F")
        action(view, "Zoom 100%", lambda: s.viewer.state.set_zoom(1.0), "1")
        loupe = action(view, "Loupe", s.viewer.set_loupe, "L")
        loupe.setCheckable(True)
        s.viewer.loupe_button.toggled.connect(loupe.setChecked)
        view.addSeparator()
        themes = view.addMenu("Theme")
        for name in settings.THEMES:
            act = action(
                themes, name.title(), lambda _=False, n=name: self.set_theme(n)
            )
            act.setCheckable(True)
            act.setChecked(name == self._settings.theme)
            act.setData(name)
        self._theme_menu = themes
        run = menus.addMenu("&Run")
        action(run, "Start", self._on_method_start_clicked, "Ctrl+Return")
        action(run, "Stop", self._on_method_stop_clicked, "Esc")
        action(
            run,
            "Stop and keep the fit so far",
            self._on_method_keep_clicked,
            "Shift+Esc",
        )
        help_menu = menus.addMenu("&Help")
        action(help_menu, "About unsr", self._about)

    def set_theme(self, name: settings.Theme) -> None:
        """Switch the theme and remember it."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, name)
        for act in self._theme_menu.actions():
            act.setChecked(act.data() == name)
        self._settings = dataclasses.replace(self._settings, theme=name)
        settings.save(self._store, self._settings)

    def save_settings(self) -> None:
        """Write the run settings, theme, geometry and layout."""
        self._settings = dataclasses.replace(
            self._settings,
            request=self.studio.method.request(),
            geometry=bytes(self.saveGeometry().data()),
            window_state=self.studio.save_layout(),
        )
        settings.save(self._store, self._settings)

    def open_settings(self) -> SettingsDialog:
        """Show the Settings dialog (not blocking); applied when accepted."""
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            return self.settings_dialog
        dialog = SettingsDialog(self._settings.cluster, self.ray_version, self)
        dialog.accepted.connect(lambda: self.set_cluster(dialog.cluster()))

        def closed() -> None:
            self.settings_dialog = None
            dialog.deleteLater()

        dialog.finished.connect(closed)
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def set_cluster(self, address: str) -> None:
        """Remember where batches run ("" here) and say it on Start."""
        self._settings = dataclasses.replace(self._settings, cluster=address)
        settings.save(self._store, self._settings)
        self._show_cluster()

    def _show_cluster(self) -> None:
        address = self._settings.cluster
        self.studio.method.set_cluster(self.cluster_address())
        if address and self.ray_version is None:
            self.studio.log.append(
                f"cluster {address}: Ray is not installed here: batches run on "
                "this machine (install unsr[cluster])",
                "warning",
            )

    def cluster_address(self) -> str:
        """The cluster a batch goes to; "" (this machine) when Ray is missing."""
        return self._settings.cluster if self.ray_version is not None else ""

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About unsr",
            "<b>unsr</b>: real-world super-resolution.<br>Zero-shot DualSR fits, "
            "unpaired training and pretrained models, with a compare viewer "
            "and a run history.",
        )

    def show_item(self, item: QueueItem) -> None:
        """Show ``item`` in the viewer (see :meth:`ViewController.show_item`)."""
        self.view.show_item(item)

    def save_result_as(self) -> None:
        """Ask where, then write the result shown there (any image format)."""
        out = self.view.result_path()
        if out is None:
            self.studio.log.append("no result to save: select a finished item")
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the result as", str(out), _IMAGE_FILTER
        )
        if path:
            self.view.save_as(
                Path(path), lambda p: self.statusBar().showMessage(f"Saved {p}", 10000)
            )

    # -- slots -------------------------------------------------------------
    def _on_methods_listed(self, methods: Any) -> None:
        # set_methods keeps the selected method when it is still listed.
        self.studio.method.set_methods(methods)
        if self.runner.is_running():
            fitting = self._needs_fit(self.studio.method.request().method)
            fitting = fitting and not self.runner.on_cluster()
            self.studio.method.set_running(True, fitting)  # a refresh mid-batch
        self.studio.log.append(f"{len(methods)} methods available")
        self.methods_loaded.emit()

    def _on_models_page_models_changed(self) -> None:
        self._refresh_methods()

    def _on_train_page_model_trained(self, path: str) -> None:
        self.studio.log.append(f"trained model saved: {path}")
        self.models_page.invalidate()
        self._refresh_methods()

    def _on_engine_warmed_up(self, version: str) -> None:
        self.studio.log.append(f"engine ready (torch {version})")

    def _on_queue_items_added(self, items: list[QueueItem]) -> None:
        self.studio.log.append(f"queued {len(items)} image(s)")
        pending, self._start_when_added = self._start_when_added, None
        if pending is not None:
            paths, request, known = pending
            mine = [i for i in items if i.path in paths]
            if mine or known:
                self._start_items([*known, *mine], request)

    def _on_queue_paths_given(self, paths: list[Path]) -> None:
        request = self.studio.method.request()

        def expanded(found: job_factories.Expansion) -> None:
            for path, reason in found.problems:
                self.studio.log.append(f"not queued: {path}: {reason}", "warning")
            if found.problems:
                path, reason = found.problems[0]
                more = len(found.problems) - 1
                also = f" (and {more} more, see the log)" if more else ""
                self.statusBar().showMessage(
                    f"Not queued: {path.name}: {reason}{also}", 15000
                )
            self.studio.queue.add_items(found.files, found.thumbnails)

        self._run(lambda: job_factories.expand_job(paths, request), expanded)

    def _on_queue_image_pasted(self, image: QImage) -> None:
        def saved(path: Path) -> None:
            self.studio.log.append(f"pasted image saved as {path}")
            self.studio.queue.add_paths([path])

        folder = self._paste_dir
        picture = image.copy()  # the worker's own copy of the pixels
        self._run(lambda: job_factories.save_pasted_job(picture, folder), saved)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        """Take files, folders and images dropped anywhere on the window."""
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        """Queue what was dropped, and show the studio where it goes."""
        self.show_page("studio")
        self.studio.queue.add_from_mime(event.mimeData())
        event.acceptProposedAction()

    def _on_queue_current_changed(self, item: QueueItem | None) -> None:
        if item is not None:
            self.show_item(item)

    def _on_method_start_clicked(self) -> None:
        s = self.studio
        if self.runner.is_running():
            s.log.append(
                "a batch is running: Stop it first, or wait for it to finish",
                "warning",
            )
            return
        items = s.queue.pending()
        if not items:
            s.log.append("nothing to do: add images to the queue first", "warning")
            return
        self._start_items(items)

    def _start_items(
        self, items: list[QueueItem], request: RunRequest | None = None
    ) -> None:
        """Start ``items`` with ``request`` (the method panel's when None)."""
        s = self.studio
        request = request if request is not None else s.method.request()
        if self.runner.is_draining():
            s.log.append("waiting for the stopped job to end (at its next step)")
        # A reused fit lives in this machine's history: such a batch runs here.
        address = self.cluster_address() if request.reuse is None else ""
        if self.runner.start(items, request, address):
            # Stop & keep is a local fit's: a cluster batch stops as a whole;
            # a reused fit leaves nothing to stop early.
            fitting = (
                self._needs_fit(request.method)
                and not address
                and request.reuse is None
            )
            s.method.set_running(True, fitting)
            s.losses.clear()
            s.kernel.clear()
            started = f"started {request.method} ×{request.scale} on {len(items)}"
            if request.reuse is not None:
                started += f" with run {request.reuse}'s fit"
            if address:
                s.progress.start_batch(f"Ray cluster {address}")
                started += f", on {cluster.describe(address)}"
            s.log.append(started)
        else:
            s.log.append("a batch is already running", "warning")

    def _on_method_stop_clicked(self) -> None:
        if self.runner.is_running():
            self.studio.log.append("stopping…")
            self.runner.stop()

    def _on_method_keep_clicked(self) -> None:
        request = self.studio.method.request()
        if self.runner.on_cluster():
            return  # a cluster batch stops as a whole (Stop)
        if self.runner.is_running() and self._needs_fit(request.method):
            self.studio.log.append(
                "stopping the fit: the result so far is upscaled and saved"
            )
            self.studio.method.keep.setEnabled(False)
            self.runner.finish_now()

    def _on_method_changed(self) -> None:
        # Only the run settings: the geometry is saved when the window closes.
        if self.studio.method.methods():
            request = self.studio.method.request()
            self._settings = dataclasses.replace(self._settings, request=request)
            settings.save(self._store, self._settings)

    def _on_runner_item_started(self, item: QueueItem, index: int, count: int) -> None:
        s = self.studio
        s.progress.start_file(item.path.name, index, count)
        s.losses.clear()
        s.kernel.clear()
        if s.queue.current() is not item:
            s.queue.select(item)

    def _on_runner_progressed(self, item: QueueItem | None, event: Any) -> None:
        stage = event.stage
        if item is None and stage == "cluster batch":  # files, not steps
            stage = f"{event.step}/{event.total} files"
        self.studio.progress.update_progress(event.fraction, stage, event.eta_s)

    def _on_runner_item_changed(self, item: QueueItem) -> None:
        if item.status == "failed":
            self.studio.log.append(f"{item.path.name} failed: {item.detail}", "error")
            if self.studio.queue.current() is item:
                self.show_item(item)  # the reason, where the result would be

    def _on_runner_item_finished(self, item: QueueItem, outcome: Any) -> None:
        secs = getattr(outcome, "seconds", 0.0)
        self.studio.log.append(f"{item.path.name} -> {item.output} ({secs:.1f} s)")
        if self.studio.queue.current() is item:
            self.show_item(item)

    def _on_runner_batch_finished(self, done: int, failed: int, stopped: bool) -> None:
        s = self.studio
        s.method.set_running(False)
        kept = stopped and self.runner.is_finishing()
        if kept:
            how = "stopped, the fit so far kept"
        else:
            how = "stopped" if stopped else "finished"
        text = f"Batch {how}: {done} done, {failed} failed"
        outcome: Outcome = (
            "failed" if failed else "stopped" if stopped and not kept else "done"
        )
        s.progress.finish(text, outcome)
        s.log.append(text, "warning" if failed or outcome == "stopped" else "info")
        self.statusBar().showMessage(text, 10000)
        QApplication.alert(self)  # the completion notice: flash the taskbar entry
        self._on_history_refresh_requested()

    def _on_runner_late_result(self, item: QueueItem, outcome: Any) -> None:
        self.studio.log.append(
            f"{item.path.name}: Stop came as its result was being written; "
            f"it was kept: {item.output}",
            "warning",
        )
        self._on_history_refresh_requested()

    def _on_viewer_reference_requested(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Reference high-resolution image", "", _IMAGE_FILTER
        )
        if path:
            self.load_reference(Path(path))

    def load_reference(self, path: Path) -> None:
        """Score the current item's result against ``path`` (the true HR image)."""
        item = self.studio.queue.current() or self.view.item
        if item is None:
            self.studio.log.append("select an image before its reference", "warning")
            return
        self.view.load_reference(item, path)

    def _on_view_scored(self, item: QueueItem, metrics: dict[str, Any]) -> None:
        # A result scored against its reference: the figures join its run.
        run_id, reference = item.run_id, item.reference
        self._run(
            lambda: job_factories.record_metrics_job(run_id, metrics, reference),
            lambda _m: self._on_history_refresh_requested(),
        )

    def _on_history_refresh_requested(self) -> None:
        def done(runs: list[RunRow] | None) -> None:
            self.studio.history.set_runs(runs)
            self.history_loaded.emit()

        handle = self._run(job_factories.history_job, done)
        handle.failed.connect(lambda _reason: done(None))

    def _on_history_run_opened(self, run: RunRow) -> None:
        if run.input is None:
            return
        status: Status = "failed" if run.status == "failed" else "done"
        item = QueueItem(
            path=run.input,
            output=run.output,
            status=status,
            run_id=run.id,
            detail=run.error or "",
        )
        self.show_item(item)

    def _on_history_run_again(self, run: RunRow) -> None:
        """Queue the run's photo and start it with the run's method and settings."""
        s = self.studio
        if run.input is None or not run.input.exists():
            s.log.append(f"cannot run again: {run.input} is gone", "warning")
            return
        if self.runner.is_running():
            s.log.append("a batch is running: run again once it ends", "warning")
            return
        request = dataclasses.replace(
            s.method.request(), method=run.method, scale=run.scale, profile=run.profile
        )
        s.method.set_request(request)
        known = next((i for i in s.queue.items() if i.path == run.input), None)
        if known is not None:
            known.status, known.detail = "queued", ""
            s.queue.refresh(known)
            s.queue.select(known)
            self._start_items([known])
            return
        self._start_when_added = (frozenset({run.input}), request, [])
        s.queue.add_paths([run.input])

    def _on_history_fit_applied(self, run: RunRow) -> None:
        """Queue photos the user picks and upscale them with the run's saved fit.

        One fit for a whole shoot: photos from the same camera share its blur,
        so each costs a tiled pass instead of a fit. The method panel keeps its
        own settings; the batch runs with the fitted run's method and scale.
        """
        s = self.studio
        if self.runner.is_running():
            s.log.append("a batch is running: apply the fit once it ends", "warning")
            return
        name = run.input.name if run.input else f"run {run.id}"
        paths = self.choose_photos(f"Photos to upscale with the fit of {name}")
        if not paths:
            return
        request = dataclasses.replace(
            s.method.request(),
            method=run.method,
            scale=run.scale,
            profile=run.profile,
            reuse=run.id,
        )
        chosen = set(paths)
        known = [i for i in s.queue.items() if i.path in chosen]
        for item in known:
            item.status, item.detail = "queued", ""
            s.queue.refresh(item)
        fresh = chosen - {i.path for i in known}
        if not fresh:
            self._start_items(known, request)
            return
        self._start_when_added = (frozenset(fresh), request, known)
        s.queue.add_paths(sorted(fresh))

    def choose_photos(self, title: str) -> list[Path]:
        """Ask for image files (tests replace the dialog)."""
        files, _ = QFileDialog.getOpenFileNames(self, title, "", _IMAGE_FILTER)
        return [Path(f) for f in files]

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Ask first when work would be lost; then close everything.

        Settings are saved, the batch stopped, every worker thread awaited.
        """
        busy = self._busy_with()
        if busy and not self.confirm_quit(busy):
            event.ignore()
            return
        self._flick.remove()
        self.save_settings()
        self.runner.shutdown()
        self.train_page.shutdown()
        self.models_page.shutdown()
        for handle in list(self._jobs):
            handle.cancel()
            handle.wait(15000)  # look-ups don't yield; they end soon
        super().closeEvent(event)

    def _busy_with(self) -> str:
        """What quitting now would lose ("" when nothing)."""
        if self.runner.is_running():
            fitting = self._needs_fit(self.studio.method.request().method)
            return "A fit is running" if fitting else "A batch is running"
        if self.train_page.is_busy():
            return "A training is running"
        return ""

    def confirm_quit(self, busy: str) -> bool:
        """Ask whether to quit while ``busy`` (tests replace the question)."""
        answer = QMessageBox.question(
            self,
            "Quit unsr?",
            f"{busy}. Quitting stops it and loses its progress.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes


_IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)"


def _icon_path() -> Path:
    return Path(__file__).resolve().parent.parent / "resources" / "icons" / "unsr.svg"
