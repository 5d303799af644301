"""unsr's engine: images, jobs, methods, training, the run store. No Qt here."""

from engine.events import Event, Kernel, Losses, Message, Preview, Progress
from engine.jobs import Clock, Job, run

__all__ = [
    "Clock",
    "Event",
    "Job",
    "Kernel",
    "Losses",
    "Message",
    "Preview",
    "Progress",
    "run",
]
