"""SQL views over the loaded tables, created or replaced after every load (DuckDB and PostgreSQL alike).

The SQL lives in `sql/*.sql` inside the package. Each file is a SELECT with `{job_sync_status}` and
`{integrations}` placeholders (the dataset's qualified table names) and, for the health view, threshold
placeholders rendered from `HealthThresholds`. When a base table (or one of its columns) does not exist
yet — a workspace with no syncs has no `job_sync_status` table — an empty, typed stand-in takes its place,
so the views can always be created and queried; the next load after the table appears recreates them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import dlt

from ..errors import ConfigurationError
from ..settings import INTEGRATION_COLUMNS, INTEGRATIONS_TABLE, JOB_SYNC_STATUS_COLUMNS, JOB_SYNC_STATUS_TABLE

VIEWS = ("sync_runs", "daily_sync_summary", "integration_health", "integration_health_details")
"""Created in this order. The first three are the public contract (README, Views); the details view adds the
facts behind each health class (streak start, stale window, running time, watermark checks)."""

HEALTH_CLASSES = ("healthy", "degraded", "failing", "stale", "stuck", "unknown")

CONFIG_SECTION = "braze_cdi.health"
"""Thresholds can be set in `.dlt/config.toml` under `[braze_cdi.health]`, or as `BRAZE_CDI__HEALTH__<NAME>`."""

_SQL_TYPES = {"text": "VARCHAR", "timestamp": "TIMESTAMP WITH TIME ZONE", "bigint": "BIGINT"}
_BASE_TABLES = {JOB_SYNC_STATUS_TABLE: JOB_SYNC_STATUS_COLUMNS, INTEGRATIONS_TABLE: INTEGRATION_COLUMNS}


@dataclass(frozen=True)
class HealthThresholds:
    """The knobs of `integration_health.health`; defaults are the documented rules (README).

    stuck_after_hours: the newest sync has been running longer than this → stuck.
    failing_after_failures: this many newest finished syncs in a row are error/config_error → failing.
    stale_after_hours: no sync started for this long → stale; None means automatic: `stale_interval_factor`
        × the integration's typical interval (median gap between sync starts), at least `stale_min_hours`,
        or `stale_fallback_hours` when there are fewer than two syncs to measure an interval from.
    degraded_below_success_rate: success_rate_7d below this → degraded.
    watermark_stall_syncs: `last_timestamp_synced` unchanged over this many successful syncs after the one
        that set it → degraded (a future-dated UPDATED_AT row blocks the sync; so does a source with no changes).
    watermark_future_minutes: `last_timestamp_synced` later than now plus this → degraded.
    """

    stuck_after_hours: float = 6.0
    failing_after_failures: int = 2
    stale_after_hours: float | None = None
    stale_interval_factor: float = 2.0
    stale_min_hours: float = 1.0
    stale_fallback_hours: float = 48.0
    degraded_below_success_rate: float = 0.8
    watermark_stall_syncs: int = 6
    watermark_future_minutes: float = 5.0

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None and item.name == "stale_after_hours":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigurationError(f"health threshold {item.name} must be a number, not {value!r}.")
            if value < 0 or (item.name in ("failing_after_failures", "watermark_stall_syncs") and value < 1):
                raise ConfigurationError(f"health threshold {item.name} must be positive, not {value!r}.")
        if self.degraded_below_success_rate > 1:
            raise ConfigurationError("degraded_below_success_rate is a share between 0 and 1.")

    @classmethod
    def from_config(cls, **overrides: Any) -> HealthThresholds:
        """Defaults, then `[braze_cdi.health]` config / `BRAZE_CDI__HEALTH__*` env, then `overrides` (not None)."""
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            kind = int if item.name in ("failing_after_failures", "watermark_stall_syncs") else float
            try:
                configured = dlt.config.get(f"{CONFIG_SECTION}.{item.name}", kind)
            except Exception as error:  # noqa: BLE001 - a malformed value: say which one
                raise ConfigurationError(
                    f"{CONFIG_SECTION}.{item.name} in the config is not a {kind.__name__}."
                ) from error
            if configured is not None:
                values[item.name] = configured
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def sql_params(self) -> dict[str, str]:
        """The SQL literals the health view's placeholders take."""
        if self.stale_after_hours is not None:
            stale = _number(self.stale_after_hours * 3600)
        else:
            typical = f"({_number(self.stale_interval_factor)} * st.typical_interval_seconds)"
            stale = (
                f"CASE WHEN st.typical_interval_seconds IS NULL THEN {_number(self.stale_fallback_hours * 3600)} "
                f"WHEN {typical} < {_number(self.stale_min_hours * 3600)} THEN {_number(self.stale_min_hours * 3600)} "
                f"ELSE {typical} END"
            )
        return {
            "stuck_after_seconds": _number(self.stuck_after_hours * 3600),
            "failing_after_failures": str(int(self.failing_after_failures)),
            "stale_after_seconds": stale,
            "degraded_below_success_rate": _number(self.degraded_below_success_rate),
            "watermark_stall_syncs": str(int(self.watermark_stall_syncs)),
            "watermark_future_seconds": str(int(round(self.watermark_future_minutes * 60))),
        }


def _number(value: float) -> str:
    """A float as a SQL numeric literal both engines read the same way."""
    return repr(float(value))


def view_sql(name: str) -> str:
    """The raw text of one packaged SQL file."""
    return resources.files("braze_cdi_source.analytics").joinpath("sql", f"{name}.sql").read_text()


def _existing_columns(client: Any, dataset_name: str) -> dict[str, set[str]]:
    rows = client.execute_sql(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
        dataset_name,
    )
    columns: dict[str, set[str]] = {}
    for table, column in rows or []:
        columns.setdefault(table, set()).add(column)
    return columns


def _table_source(client: Any, table: str, present: set[str] | None) -> str:
    """The qualified table name, or a typed subquery when the table or some of its columns are missing."""
    expected = _BASE_TABLES[table]
    if present is not None and set(expected) <= present:
        return client.make_qualified_table_name(table)
    select = ", ".join(
        (f"t.{column}" if present is not None and column in present else
         f"CAST(NULL AS {_SQL_TYPES[hints['data_type']]})") + f" AS {column}"
        for column, hints in expected.items()
    )
    if present is None:
        return f"(SELECT {select} WHERE 1 = 0)"
    return f"(SELECT {select} FROM {client.make_qualified_table_name(table)} AS t)"


def render_queries(client: Any, dataset_name: str, thresholds: HealthThresholds | None = None) -> dict[str, str]:
    """Every view's SELECT, with table names resolved and thresholds filled in, keyed by view name."""
    thresholds = thresholds or HealthThresholds.from_config()
    columns = _existing_columns(client, dataset_name)
    names = {table: _table_source(client, table, columns.get(table)) for table in _BASE_TABLES}
    queries: dict[str, str] = {}
    queries["sync_runs"] = view_sql("sync_runs").format(**names)
    queries["daily_sync_summary"] = view_sql("daily_sync_summary").format(**names)
    details = view_sql("integration_health_details").format(**names, **thresholds.sql_params())
    queries["integration_health_details"] = details
    queries["integration_health"] = view_sql("integration_health").format(integration_health_details=details)
    return queries


def missing_tables(client: Any, dataset_name: str) -> list[str]:
    """Base tables the dataset does not have (yet)."""
    columns = _existing_columns(client, dataset_name)
    return [table for table in _BASE_TABLES if table not in columns]


def create_views(pipeline: dlt.Pipeline, thresholds: HealthThresholds | None = None) -> list[str]:
    """Drop and create the analyst views in the pipeline's dataset; returns their names.

    Drop-and-create, not CREATE OR REPLACE: PostgreSQL refuses to replace a view whose columns change.
    CASCADE also drops views users built on top of ours; recreate those after a load.
    `thresholds` defaults to `HealthThresholds.from_config()` (`[braze_cdi.health]`).
    """
    thresholds = thresholds or HealthThresholds.from_config()
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            client.create_dataset()
        queries = render_queries(client, pipeline.dataset_name, thresholds)
        for view in reversed(VIEWS):
            client.execute_sql(f"DROP VIEW IF EXISTS {client.make_qualified_table_name(view)} CASCADE")
        for view in VIEWS:
            client.execute_sql(f"CREATE VIEW {client.make_qualified_table_name(view)} AS {queries[view]}")
    return list(VIEWS)
