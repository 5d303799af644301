"""The window's three pages: each composes widgets and asks the worker for work."""

from unsr_app.pages.models import ModelsPage
from unsr_app.pages.studio import StudioPage
from unsr_app.pages.train import TrainPage

__all__ = ["ModelsPage", "StudioPage", "TrainPage"]
