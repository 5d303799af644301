"""Checks a batch makes once, before any work: writable folders, stale temp files.

A batch whose output folder cannot be written must say so before the first
file is upscaled, not after; and temp files left by a writer that was killed
outright (kill -9, a power cut) are removed, since their owner never will.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from engine.io.save import part_owner
from engine.store import folder_unwritable, process_gone


def output_folders(targets: Iterable[Path]) -> list[Path]:
    """The distinct folders of ``targets``, in first-seen order."""
    seen: dict[str, Path] = {}
    for target in targets:
        folder = Path(os.path.abspath(target)).parent
        seen.setdefault(str(folder), folder)
    return list(seen.values())


def unwritable_folders(targets: Iterable[Path]) -> dict[Path, str]:
    """Output folders where no file can be made, with the reason.

    A folder that does not exist yet is judged by its nearest existing parent
    (it will be created there). Each folder is probed once, however many
    outputs it receives.
    """
    problems: dict[Path, str] = {}
    for folder in output_folders(targets):
        reason = folder_unwritable(folder)
        if reason is not None:
            problems[folder] = reason
    return problems


def remove_stale_parts(folders: Iterable[Path]) -> list[Path]:
    """Remove unsr's temp files in ``folders`` whose writer process is gone.

    Only names unsr's own writer makes (``.NAME.unsr-<pid>-<hex>.part``) are
    touched, and only when no process with that pid runs; a live writer's
    file, and any file unsr did not name, is left alone.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed: list[Path] = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # missing or unreadable: nothing of ours can be there
        for entry in entries:
            pid = part_owner(entry.name)
            if pid is None or not process_gone(pid):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


__all__ = ["output_folders", "remove_stale_parts", "unwritable_folders"]
