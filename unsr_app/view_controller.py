"""What the compare viewer shows, and the engine look-ups behind it.

The window hands this controller the item to show, the live previews and the
references; it reads images in workers, asks for the metrics (of a result, of
a preview's region, of the baseline), keeps the baseline (side A) and offers
the result's actions (copy, save as, open its folder). Widgets stay dumb: the
viewer draws what it is given and emits intents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication

from unsr_app import job_factories
from unsr_app.requests import QueueItem, RunRow
from unsr_app.widgets.compare_viewer import DROP_HINT, INPUT_BASELINE, CompareViewer
from unsr_app.widgets.log_pane import LogPane
from unsr_app.worker import JobFactory, JobHandle, PreviewFrame

#: Runs a look-up in a worker: (job, on_done(value)) -> its handle.
RunJob = Callable[[JobFactory, Callable[[Any], None]], JobHandle]
BICUBIC = "bicubic"


@dataclass(frozen=True, eq=False)
class Baseline:
    """Side A when it is not the input: its label and float pixels."""

    key: str
    label: str
    rgb: np.ndarray | None


class ViewController(QObject):
    """Feeds the compare viewer for the window.

    Parameters
    ----------
    viewer, log
        The studio's viewer and log.
    run_job
        Runs a look-up in a worker (the window's, so it counts as busy).
    runs
        The history rows shown (other results of the same photo).

    Signals
    -------
    view_loaded()
        The viewer shows what :meth:`show_item` asked for.
    scored(object, object)
        A recorded result was scored against its reference: (the item,
        the metrics), to be stored with its run.
    """

    view_loaded = Signal()
    scored = Signal(object, object)

    def __init__(
        self,
        viewer: CompareViewer,
        log: LogPane,
        run_job: RunJob,
        runs: Callable[[], Sequence[RunRow]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.log = log
        self._run = run_job
        self._runs = runs
        # The engine's float data of what is shown, for the metrics.
        self.view: job_factories.ViewImages | None = None
        self.item: QueueItem | None = None
        self._asks = 0  # only the latest show_item's result is shown
        self.preview: PreviewFrame | None = None
        self.baseline: Baseline | None = None
        self._baseline_key = INPUT_BASELINE
        self._scoring = self._score_again = False
        viewer.metrics_wanted.connect(self._on_viewer_metrics_wanted)
        viewer.baseline_chosen.connect(self._on_viewer_baseline_chosen)

    # -- the item ----------------------------------------------------------
    def show_item(self, item: QueueItem) -> None:
        """Show ``item``'s input, its output once done, and its reference.

        The engine reads them in a worker (the float data the metrics use),
        converted once for display; ``view_loaded`` says when they are shown.
        """
        self.item = item
        self._asks += 1
        ask = self._asks
        self.preview = None
        viewer = self.viewer
        if item.status == "failed":
            viewer.set_notice(f"{item.path.name} failed: {item.detail}")
            viewer.set_placeholder(f"{item.path.name} failed:\n{item.detail}")
        else:
            viewer.set_notice("")
            viewer.set_placeholder(DROP_HINT)
        output, reference = item.output, item.reference

        def shown(view: job_factories.ViewImages) -> None:
            if ask != self._asks:
                return  # asked again meanwhile (another item, a reference)
            self._show(item, view, reference)

        self._run(lambda: job_factories.view_job(item.path, output, reference), shown)

    def _show(
        self, item: QueueItem, view: job_factories.ViewImages, reference: Path | None
    ) -> None:
        viewer = self.viewer
        for problem in view.problems:
            self.log.append(problem, "error")
        if view.before is None and item.status != "failed":
            reason = view.problems[0] if view.problems else "it cannot be read"
            viewer.set_placeholder(f"{item.path.name} cannot be shown:\n{reason}")
        if reference is not None and view.reference is None:
            item.reference = None  # unreadable: said above, not retried
        self.view = view
        before = view.before
        label = f"After · {item.output.name}" if item.output else "After"
        size = f" · {before.width()}×{before.height()}" if before else ""
        viewer.set_images(before, view.after, (f"Before{size}", label))
        # The reference belongs to its item: another photo is not scored by it.
        viewer.set_reference(view.reference)
        viewer.set_baseline_choices(self._baseline_choices(item))
        self.baseline = None
        viewer.set_baseline(None)
        if self._baseline_key != INPUT_BASELINE:
            viewer.choose_baseline(self._baseline_key)  # the user's last pick
        frame = self.preview  # one that came while the input was read
        if frame is not None and item.status in ("fitting", "upscaling"):
            self.show_preview(item, frame)
        self.view_loaded.emit()

    def show_preview(self, item: QueueItem, frame: PreviewFrame) -> None:
        """Place a live preview of ``item`` (when it is the one shown)."""
        if self.item is not item:
            return
        self.preview = frame
        label = f"Preview · {frame.label} · step {frame.step}"
        self.viewer.set_preview(frame.image, frame.box, label)

    def load_reference(self, item: QueueItem, path: Path) -> None:
        """Score ``item``'s result against ``path`` (the true HR image)."""
        item.reference = path
        self.show_item(item)

    def scale(self) -> int:
        """The scale of the result shown (2 until there is one)."""
        view = self.view
        if view is None or view.before is None or view.after is None:
            return 2
        return max(1, round(view.after.width() / view.before.width()))

    # -- side A ------------------------------------------------------------
    def _baseline_choices(self, item: QueueItem) -> list[tuple[str, str]]:
        choices = [(BICUBIC, "Bicubic")]
        seen = {item.output}
        for run in self._runs():
            out = run.output
            if run.input != item.path or out is None or out in seen:
                continue
            if out.exists():
                seen.add(out)
                when = run.when.split(" ")[-1]
                choices.append((f"file:{out}", f"{run.method} ×{run.scale} · {when}"))
        return choices

    def _on_viewer_baseline_chosen(self, key: str) -> None:
        self._baseline_key = key
        item, viewer = self.item, self.viewer
        if key == INPUT_BASELINE or item is None:
            self.baseline = None
            viewer.set_baseline(None)
            self._ask_metrics()
            return
        if key == BICUBIC:
            scale = self.scale()
            label = f"Bicubic ×{scale}"
            job = lambda: job_factories.bicubic_job(item.path, scale)  # noqa: E731
        else:
            path = Path(key.removeprefix("file:"))
            label = viewer.baseline_box.currentText()
            job = lambda: job_factories.picture_job(path)  # noqa: E731
        asked_for = item

        def read(picture: job_factories.Picture) -> None:
            if self.item is not asked_for or self._baseline_key != key:
                return
            self.baseline = Baseline(key, label, picture.rgb)
            viewer.set_baseline(picture.image, label)
            self._ask_metrics()

        self._run(job, read)

    # -- metrics -----------------------------------------------------------
    def _ask_metrics(self) -> None:
        if self.view is not None and self.view.reference_rgb is not None:
            self._on_viewer_metrics_wanted()

    def _on_viewer_metrics_wanted(self) -> None:
        if self._scoring:
            self._score_again = True  # one at a time: previews come quickly
            return
        viewer, view = self.viewer, self.view
        region = ""
        pair: tuple[Any, Any] | None = None
        if view is not None and view.reference_rgb is not None:
            if viewer.preview is not None and self.preview is not None:
                pair, region = preview_pair(self.preview, view)
            elif view.after_rgb is not None:
                pair = (view.after_rgb, view.reference_rgb)
        if pair is None:
            viewer.set_metrics(None)
            if region:
                viewer.metrics_label.setText(region)
            return
        sr, hr = pair
        base = self.baseline
        a = base.rgb if base is not None and not region else None
        item = self.item

        def scored(result: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
            self._scoring = False
            metrics, of_a = result
            shown_a = (base.label, of_a) if base is not None and of_a else None
            viewer.set_metrics(metrics, region, shown_a)
            if not region and item is not None and item.run_id is not None:
                self.scored.emit(item, metrics)
            if self._score_again:
                self._score_again = False
                self._on_viewer_metrics_wanted()

        self._scoring = True
        handle = self._run(lambda: job_factories.metrics_pair_job(sr, a, hr), scored)
        handle.failed.connect(lambda _r: setattr(self, "_scoring", False))

    # -- the result's actions ------------------------------------------------
    def result_path(self) -> Path | None:
        """The written result shown, if any."""
        item = self.item
        out = item.output if item is not None else None
        return out if out is not None and out.exists() else None

    def copy_result(self) -> bool:
        """Put the result shown on the clipboard; False without one."""
        after = self.viewer.after
        if after is None:
            self.log.append("no result to copy: select a finished item", "warning")
            return False
        QGuiApplication.clipboard().setImage(after)
        self.log.append("result copied to the clipboard")
        return True

    def open_folder(self) -> bool:
        """Open the result's folder in the file manager; False without one."""
        out = self.result_path()
        if out is None:
            self.log.append("no result yet: nothing to open", "warning")
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(out.parent)))

    def save_as(self, target: Path, on_saved: Callable[[Path], None]) -> bool:
        """Write the result to ``target`` (its format from the suffix)."""
        out, item = self.result_path(), self.item
        if out is None or item is None:
            self.log.append("no result to save: select a finished item", "warning")
            return False
        source = item.path

        def saved(path: Path) -> None:
            self.log.append(f"saved {path}")
            on_saved(path)

        self._run(lambda: job_factories.save_as_job(out, target, (source,)), saved)
        return True


def preview_pair(
    frame: PreviewFrame, view: job_factories.ViewImages
) -> tuple[tuple[Any, Any] | None, str]:
    """The preview and the reference's region under it, and what that region is.

    Live metrics score only the pixels the preview covers: the reference is
    cut at the preview's box (scaled from input to reference pixels). When the
    reference is not at the preview's scale there is nothing fair to score:
    (None, the reason).
    """
    ref, before = view.reference_rgb, view.before
    if frame.box is None or frame.pixels is None or ref is None or before is None:
        return None, ""
    k = ref.shape[1] / before.width()
    x, y, w, h = (round(v * k) for v in frame.box)
    crop = ref[y : y + h, x : x + w]
    if crop.shape[:2] != frame.pixels.shape[:2]:
        return None, (
            "Live metrics need a reference at the preview's scale "
            f"({frame.pixels.shape[1]}×{frame.pixels.shape[0]} px for this region)"
        )
    bx, by, bw, bh = (round(v) for v in frame.box)
    return (frame.pixels, crop), f"on the preview's {bw}×{bh} px region at ({bx}, {by})"
