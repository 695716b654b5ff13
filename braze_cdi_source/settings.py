"""Braze CDI API facts and the connector's defaults, in one place."""

from __future__ import annotations

from importlib import metadata
from urllib.parse import unquote


def package_version() -> str:
    """The version of this package as pip installed it (pyproject.toml is the one place it is written)."""
    try:
        return metadata.version("braze-cdi-source")
    except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        return "unknown"


SOURCE_NAME = "braze_cdi"  # the dlt source and its config section, `sources.braze_cdi`

DEFAULT_PIPELINE_NAME = "braze_cdi"
DEFAULT_DATASET_NAME = "braze_cdi_data"
"""Must differ from the DuckDB file's base name (`braze_cdi.duckdb`): dlt rejects an ambiguous catalog."""

LIST_PATH = "/cdi/integrations"
JOB_SYNC_STATUS_PATH = "/cdi/integrations/{integration_id}/job_sync_status"

LIST_PERMISSION = "cdi.integration_list"
JOB_STATUS_PERMISSION = "cdi.integration_job_status"

LIST_ENDPOINT = "list"
JOB_SYNC_STATUS_ENDPOINT = "job_sync_status"
OTHER_ENDPOINT = "other"  # endpoint kinds: Braze limits and permits each endpoint on its own

PERMISSIONS = {LIST_ENDPOINT: LIST_PERMISSION, JOB_SYNC_STATUS_ENDPOINT: JOB_STATUS_PERMISSION}

RATE_LIMITS_PER_MINUTE = {LIST_ENDPOINT: 50, JOB_SYNC_STATUS_ENDPOINT: 100}  # documented, per workspace


def endpoint_of(path: str) -> tuple[str, str | None]:
    """`("list", None)`, `("job_sync_status", id)` or `("other", None)` for a request path (exact match, query
    ignored): for the throttle, the error hints and the simulator's routing."""
    path = path.split("?", 1)[0]
    if path == LIST_PATH:
        return LIST_ENDPOINT, None
    parts = path.split("/")
    if len(parts) == 5 and parts[:3] == ["", "cdi", "integrations"] and parts[3] and parts[4] == "job_sync_status":
        return JOB_SYNC_STATUS_ENDPOINT, unquote(parts[3])
    return OTHER_ENDPOINT, None

DEFAULT_MAX_RUNNING_HOURS = 24.0
"""A sync seen `running` is re-read on later runs until it finishes, for at most this long after it started."""

DEFAULT_FUTURE_TOLERANCE_MINUTES = 30 * 24 * 60.0
"""A sync starting more than this after now loads but never moves the cursor: generous, since what freezes a
cursor for good is a year-9999 date; one dated days ahead holds it only until that day passes."""

INTEGRATIONS_TABLE = "integrations"
JOB_SYNC_STATUS_TABLE = "job_sync_status"
EXTRACTION_ERRORS_TABLE = "extraction_errors"
EXTRACTION_RUNS_TABLE = "extraction_runs"

INTEGRATION_COLUMNS = {
    "integration_id": {"data_type": "text", "nullable": False},
    "app_group_id": {"data_type": "text"},
    "integration_name": {"data_type": "text"},
    "integration_type": {"data_type": "text"},
    "integration_status": {"data_type": "text"},
    "contact_emails": {"data_type": "text"},
    "last_updated_at": {"data_type": "timestamp", "timezone": True},
    "warehouse_type": {"data_type": "text"},
    "last_job_start_time": {"data_type": "timestamp", "timezone": True},
    "last_job_status": {"data_type": "text"},
    "next_scheduled_run": {"data_type": "timestamp", "timezone": True},
}
INTEGRATION_TIMESTAMPS = ("last_updated_at", "last_job_start_time", "next_scheduled_run")

JOB_SYNC_STATUS_COLUMNS = {
    "integration_id": {"data_type": "text", "nullable": False},
    "job_status": {"data_type": "text"},
    "sync_start_time": {"data_type": "timestamp", "timezone": True, "nullable": False},
    "sync_finish_time": {"data_type": "timestamp", "timezone": True},
    "last_timestamp_synced": {"data_type": "timestamp", "timezone": True},
    "rows_synced": {"data_type": "bigint"},
    "rows_failed_with_errors": {"data_type": "bigint"},
}

JOB_SYNC_STATUS_LAYOUT = {
    "integration_id": {"cluster": True},
    "sync_start_time": {"cluster": True, "x-bigquery-partition": True},
}
"""Column hints for time-pruned reads where dlt creates the table (BigQuery partitions and clusters, Snowflake
and Databricks cluster; PostgreSQL gets an index from `create_views`)."""
JOB_SYNC_STATUS_TABLE_HINTS = {"x-bigquery-cluster-columns": ["integration_id", "sync_start_time"]}
JOB_SYNC_STATUS_TIMESTAMPS = ("sync_start_time", "sync_finish_time", "last_timestamp_synced")

EXTRACTION_RUN_COLUMNS = {
    "run_id": {"data_type": "text", "nullable": False},
    "started_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
    "finished_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
    "status": {"data_type": "text", "nullable": False},
    "integrations": {"data_type": "bigint"},
    "integrations_failed": {"data_type": "bigint"},
    "requests": {"data_type": "bigint"},
    "throttled_429": {"data_type": "bigint"},
    "rows_loaded": {"data_type": "bigint"},
    "load_id": {"data_type": "text"},
    "version": {"data_type": "text"},
    "integrations_backfilling": {"data_type": "bigint"},
    "backfill_minutes_left": {"data_type": "double"},
    "stopped_by_budget": {"data_type": "bool"},
    "slices": {"data_type": "bigint"},
    "backfill_pending": {"data_type": "text"},
}
"""`extraction_runs`: one row per run; `backfill_pending` is JSON text, integration id -> estimated pages left."""

EXTRACTION_ERROR_COLUMNS = {
    "run_started_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
    "integration_id": {"data_type": "text"},
    "resource": {"data_type": "text", "nullable": False},
    "status": {"data_type": "bigint"},
    "path": {"data_type": "text"},
    "message": {"data_type": "text", "nullable": False},
}
"""`extraction_errors`: one row per failure or loss in a run, with what to do."""

BACKFILL_TABLE = "integration_backfill"
BACKFILL_COLUMNS = {
    "integration_id": {"data_type": "text", "nullable": False},
    "backfill_complete": {"data_type": "bool", "nullable": False},
    "covered_back_to": {"data_type": "timestamp", "timezone": True},
    "oldest_sync_start_reached": {"data_type": "timestamp", "timezone": True},
    "backfill_target": {"data_type": "timestamp", "timezone": True},
    "pages_read": {"data_type": "bigint"},
    "estimated_pages_left": {"data_type": "bigint"},
    "updated_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
}
"""`integration_backfill`: per integration, how far back its history is loaded and what is left."""
