"""The run history: one SQLite row per run, plus one folder per run.

The database is ``unsr.sqlite`` in :func:`engine.paths.data_dir` (WAL journal, so
the app can read while the CLI or a worker writes); each run gets a folder
``runs/<id>/`` for its artefacts (output, kernel, loss log, previews, weights).

One module per concern:

* :mod:`~engine.store.schema`: connections and migrations. Every call opens
  and closes its own connection (sqlite3 objects must not cross threads);
  WAL plus explicit ``BEGIN IMMEDIATE`` transactions, so a process killed
  mid-write leaves the last committed state and a second writer waits
  (``busy_timeout``) instead of failing. ``PRAGMA user_version`` counts the
  migrations applied.
* :mod:`~engine.store.records`: what a run is (:class:`RunRecord`,
  :class:`FinishedRun`, the statuses) and how a row becomes one.
* :mod:`~engine.store.runs`: :class:`Store`, recording and reading runs.
* :mod:`~engine.store.processes`: whether a row's writer still runs. ``begin``
  records the writer's pid and, where the OS tells it, its start time (a
  recycled pid is not the writer); rows still "running" whose process is gone
  become "interrupted" whenever the store is opened or listed. A run recorded
  from another machine sharing the folder cannot be checked and is left alone.
* :mod:`~engine.store.claims`: two runs over the same files do each file
  once; a claim whose writer is gone is taken over.
* :mod:`~engine.store.outputs`: every output is kept with its size,
  modification time and SHA-256, so :meth:`Store.wrote` tells an output unsr
  wrote (and nobody changed since) from a user's file of the same name.
* :mod:`~engine.store.files`: paths stored losslessly as the bytes the OS
  uses next to a readable text form (:func:`readable` escapes names that are
  not UTF-8), hashing, and the probe of a folder's writability.
"""

from engine.store.files import file_sha256, folder_unwritable, readable
from engine.store.processes import process_gone, process_started
from engine.store.records import (
    FINAL_STATUSES,
    STATUSES,
    FinishedRun,
    RunRecord,
    Status,
)
from engine.store.runs import Store
from engine.store.schema import (
    BUSY_TIMEOUT_MS,
    MIGRATIONS,
    SCHEMA_VERSION,
    StoreError,
    connect,
    migrate,
)

# The name the store's tests knew it by when the store was one module.
_process_started = process_started

__all__ = [
    "BUSY_TIMEOUT_MS",
    "FINAL_STATUSES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATUSES",
    "FinishedRun",
    "RunRecord",
    "Status",
    "Store",
    "StoreError",
    "connect",
    "file_sha256",
    "folder_unwritable",
    "migrate",
    "process_gone",
    "process_started",
    "readable",
]
