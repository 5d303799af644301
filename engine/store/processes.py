"""Whether the process that wrote a row or holds a claim still runs.

A row records its writer's pid and, where the OS tells it, the process start
time, so a recycled pid is not mistaken for the writer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def process_started(pid: int) -> str | None:
    """Start time of ``pid`` as the OS reports it (Linux only), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after ')' are fixed.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    # os.kill(pid, 0) would terminate the process on Windows; ask the kernel.
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def writer_gone(pid: int | None, started: str | None) -> bool:
    """True when the process ``pid`` that started at ``started`` has ended."""
    if pid is None:
        return True  # a row from before pids were recorded cannot still run
    if not _pid_alive(pid):
        return True
    now = process_started(pid)
    return started is not None and now is not None and now != started


def process_gone(pid: int) -> bool:
    """True when no process ``pid`` runs on this machine (for stale files)."""
    return not _pid_alive(pid)
