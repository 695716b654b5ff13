"""Read what landed, and the simulator's truth, in one comparable form."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from braze_cdi_source.simulator import BrazeSimulator

SYNC_FIELDS = (
    "integration_id",
    "job_status",
    "sync_start_time",
    "sync_finish_time",
    "last_timestamp_synced",
    "rows_synced",
    "rows_failed_with_errors",
)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value


def loaded_syncs(pipeline: Any) -> list[tuple]:
    """Every job_sync_status row as a tuple of SYNC_FIELDS, timestamps as aware UTC datetimes, sorted."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("job_sync_status")
        rows = client.execute_sql(f"SELECT {', '.join(SYNC_FIELDS)} FROM {table}")
    return sorted((tuple(_utc(v) for v in row) for row in rows), key=lambda r: (r[0], r[2]))


def truth_syncs(sim: BrazeSimulator, integration_ids: list[str] | None = None) -> list[tuple]:
    """The simulator's history in the same form as `loaded_syncs`."""
    rows = []
    for integration_id in integration_ids or sim.integration_ids:
        for sync in sim.truth(integration_id):
            rows.append(tuple(integration_id if f == "integration_id" else _utc(sync[f]) for f in SYNC_FIELDS))
    return sorted(rows, key=lambda r: (r[0], r[2]))


def count_rows(pipeline: Any, table: str, where: str = "") -> int:
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(table)
        return client.execute_sql(f"SELECT COUNT(*) FROM {name} {where}")[0][0]


def table_exists(pipeline: Any, table: str) -> bool:
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            pipeline.dataset_name,
            table,
        )
    return rows[0][0] > 0
