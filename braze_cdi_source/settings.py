"""Braze CDI API facts and the connector's defaults, in one place (see shared/reference/braze-cdi-api.md)."""

from __future__ import annotations

SOURCE_NAME = "braze_cdi"
"""Name of the dlt source and of its config section: `sources.braze_cdi`."""

DEFAULT_PIPELINE_NAME = "braze_cdi"
DEFAULT_DATASET_NAME = "braze_cdi_data"
"""Must differ from the DuckDB file's base name (`braze_cdi.duckdb`): dlt rejects an ambiguous catalog."""

LIST_PATH = "/cdi/integrations"
JOB_SYNC_STATUS_PATH = "/cdi/integrations/{integration_id}/job_sync_status"

LIST_PERMISSION = "cdi.integration_list"
JOB_STATUS_PERMISSION = "cdi.integration_job_status"

RATE_LIMITS_PER_MINUTE = {"list": 50, "job_sync_status": 100}
"""Braze's documented limits per workspace, used when a response carries no X-RateLimit headers."""

DEFAULT_MAX_RUNNING_HOURS = 24.0
"""A sync seen `running` is re-read on later runs until it finishes, for at most this long after it started."""

INTEGRATIONS_TABLE = "integrations"
JOB_SYNC_STATUS_TABLE = "job_sync_status"
EXTRACTION_ERRORS_TABLE = "extraction_errors"

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
JOB_SYNC_STATUS_TIMESTAMPS = ("sync_start_time", "sync_finish_time", "last_timestamp_synced")
