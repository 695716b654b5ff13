"""The whole job, shared by the CLI, the pipeline script and library users: lock, extract and load, views,
summary, run log. `from braze_cdi_source.job import …`."""

from ..extract.run_context import RunContext
from .pipeline import PipelineLockedError, describe_location, make_pipeline, pipeline_lock, run_file_format
from .run import reset_state, run_pipeline, views_supported
from .signals import EXIT_INTERRUPTED, stop_on_signals
from .summary import RunSummary

__all__ = [
    "EXIT_INTERRUPTED", "PipelineLockedError", "RunContext", "RunSummary", "describe_location",
    "make_pipeline", "pipeline_lock", "reset_state", "run_file_format", "run_pipeline", "stop_on_signals",
    "views_supported",
]
