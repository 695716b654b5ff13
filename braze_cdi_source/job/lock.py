"""The pipeline lock: one run of a pipeline at a time, across processes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt

from ..errors import BrazeCdiError


class PipelineLockedError(BrazeCdiError):
    """Another run of the same pipeline is in progress."""


@contextmanager
def pipeline_lock(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Hold an exclusive lock on the pipeline's working folder for the whole run.

    Two runs of one pipeline at once would race on its state and load packages; the second one
    refuses instead. The OS releases the lock when the process dies, even on SIGKILL.
    """
    Path(pipeline.pipelines_dir).mkdir(parents=True, exist_ok=True)
    path = Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise PipelineLockedError(
                f"Another braze-cdi run of pipeline {pipeline.pipeline_name!r} is in progress ({holder}): "
                "this run did nothing; let that one finish."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()
