"""Pretrained model files: safe loading, the models library, inference, ncnn import."""

from engine.models.errors import LibraryError, ModelError
from engine.models.library import Entry, add, entries, find, remove
from engine.models.loading import (
    SUFFIXES,
    LoadedModel,
    ModelInfo,
    clear_cache,
    describe,
    load,
    read_state_dict,
)

__all__ = [
    "SUFFIXES",
    "Entry",
    "LibraryError",
    "LoadedModel",
    "ModelError",
    "ModelInfo",
    "add",
    "clear_cache",
    "describe",
    "entries",
    "find",
    "load",
    "read_state_dict",
    "remove",
]
