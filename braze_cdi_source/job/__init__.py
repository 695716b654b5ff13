"""The whole job, shared by the CLI, the pipeline script and library users: lock, extract and load, views,
summary, run log.

`run.py` runs it; what a run decides about its destination lives in modules named for it: `location.py`
(where it loads), `lock.py`, `file_format.py`, `summary.py`, `run_log.py` (`extraction_runs`)
and `signals.py` (Ctrl-C / SIGTERM). The names below are the job's API: `from braze_cdi_source.job import …`.
"""

from ..extract.run_context import RunContext
from .file_format import run_file_format
from .location import describe_location
from .lock import PipelineLockedError, pipeline_lock
from .run import LoadFailedError, make_pipeline, reset_state, run_pipeline, views_supported
from .signals import EXIT_INTERRUPTED, stop_on_signals
from .summary import RunSummary

__all__ = [
    "EXIT_INTERRUPTED",
    "LoadFailedError",
    "PipelineLockedError",
    "RunContext",
    "RunSummary",
    "describe_location",
    "make_pipeline",
    "pipeline_lock",
    "reset_state",
    "run_file_format",
    "run_pipeline",
    "stop_on_signals",
    "views_supported",
]
