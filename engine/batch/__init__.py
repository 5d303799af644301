"""Files in, files out: the layer the CLI and the app's queue share.

:func:`plan_outputs` turns the inputs a person gave (files and folders) into
(input, output) pairs and a list of problems (missing files, unreadable
folders) that do not stop the batch; :func:`process_file` is the job for one
file; :mod:`engine.batch.safety` holds the checks a batch makes before any
work (writable output folders, stale temp files of killed writers).
"""

from engine.batch.file import (
    FileResult,
    OutputTakenError,
    process_file,
    resolve,
    upscale_image,
)
from engine.batch.plan import (
    Owner,
    Plan,
    default_output_name,
    output_path,
    plan_outputs,
)
from engine.batch.reasons import FILE_ERRORS, failure_reason
from engine.batch.safety import (
    output_folders,
    remove_stale_parts,
    unwritable_folders,
)

__all__ = [
    "FILE_ERRORS",
    "FileResult",
    "OutputTakenError",
    "Owner",
    "Plan",
    "default_output_name",
    "failure_reason",
    "output_folders",
    "output_path",
    "plan_outputs",
    "process_file",
    "remove_stale_parts",
    "resolve",
    "unwritable_folders",
    "upscale_image",
]
