"""The studio's widgets, one per module; they take data and emit intents."""

from unsr_app.widgets.compare_viewer import CompareViewer
from unsr_app.widgets.history_panel import HistoryPanel
from unsr_app.widgets.kernel_view import KernelView
from unsr_app.widgets.log_pane import LogPane
from unsr_app.widgets.loss_plot import LossPlot
from unsr_app.widgets.method_panel import MethodPanel
from unsr_app.widgets.progress_panel import ProgressPanel
from unsr_app.widgets.queue_panel import QueuePanel
from unsr_app.widgets.train_check import TrainCheck

__all__ = [
    "CompareViewer",
    "HistoryPanel",
    "KernelView",
    "LogPane",
    "LossPlot",
    "MethodPanel",
    "ProgressPanel",
    "QueuePanel",
    "TrainCheck",
]
