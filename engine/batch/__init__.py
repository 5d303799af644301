"""Files in, files out: the layer the CLI and the app's queue share.

:func:`plan_outputs` turns the inputs a person gave (files and folders) into
(input, output) pairs and a list of problems (missing files, unreadable
folders) that do not stop the batch; :func:`process_file` is the job for one
file.
"""

from engine.batch.file import FileResult, process_file, resolve, upscale_image
from engine.batch.plan import Plan, default_output_name, output_path, plan_outputs

__all__ = [
    "FileResult",
    "Plan",
    "default_output_name",
    "output_path",
    "plan_outputs",
    "process_file",
    "resolve",
    "upscale_image",
]
