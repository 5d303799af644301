"""The one error a model file can cause, naming the file and the reason."""

from __future__ import annotations

from pathlib import Path


class ModelError(ValueError):
    """A model file cannot be used: corrupt, foreign, unsafe or not an upscaler.

    Attributes
    ----------
    path : Path
        The file concerned.
    reason : str
        What is wrong, in words a user can act on.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


class LibraryError(ValueError):
    """A models-library request cannot be met (unknown id, bundled file)."""


__all__ = ["LibraryError", "ModelError"]
