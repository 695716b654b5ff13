"""`braze-cdi health`: classify every integration from the loaded data, for cron and orchestrator alerts.

The classification is the `integration_health_details` view's SQL rendered for the destination with the
thresholds given here (flags apply without recreating views; read-only credentials suffice). Exit codes: 0
healthy, 1 unhealthy (a class in `fail_on`), 2 could not tell (no DuckDB file, tables or integrations, every
integration unknown, or the destination unreachable — the CLI maps that last one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dlt

from ..errors import ConfigurationError
from ..settings import INTEGRATIONS_TABLE, JOB_SYNC_STATUS_TABLE
from .chart_data import utc
from .thresholds import HEALTH_CLASSES, HealthThresholds
from .view_sql import present_tables
from .views import loaded_schema, pipeline_queries

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_UNKNOWN = 2

DEFAULT_FAIL_ON = ("failing", "stuck", "stale")
"""Classes that make `health` exit 1. `degraded` is reported but does not fail unless listed (`--fail-on`)."""

DETAIL_COLUMNS = (
    "integration_id", "integration_name", "health", "last_sync_start_time", "last_job_status", "last_success_time",
    "consecutive_failures", "failing_since", "success_rate_7d", "success_rate_30d", "p50_duration_seconds",
    "p95_duration_seconds", "syncs_30d", "finished_syncs_30d", "failures_30d", "rows_synced_30d", "rows_failed_30d",
    "last_finished_status", "running_since", "running_seconds", "seconds_since_last_sync",
    "typical_interval_seconds", "stale_after_seconds", "last_timestamp_synced", "watermark_since",
    "syncs_since_watermark_moved", "watermark_in_future", "watermark_stalled", "backfill_in_progress",
    "backfill_covered_back_to", "future_syncs", "newest_future_sync_start_time", "integration_label",
)


class NoDataError(Exception):
    """There is nothing to judge: no destination file, no tables, or no integrations."""


@dataclass
class HealthResult:
    """What `health` found: the overall verdict, its exit code, and one row per integration."""

    status: str  # healthy | unhealthy | unknown
    exit_code: int
    integrations: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    checked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def as_dict(self) -> dict[str, Any]:
        counts = {name: sum(1 for row in self.integrations if row["health"] == name) for name in HEALTH_CLASSES}
        return {  # instants stay datetimes: the CLI's JSON writer (json_value) makes them ISO 8601
            "status": self.status,
            "exit_code": self.exit_code,
            "checked_at": self.checked_at,
            "fail_on": list(self.fail_on),
            "thresholds": self.thresholds.__dict__,
            "counts": counts,
            "problems": self.problems,
            "notes": self.notes,
            "integrations": self.integrations,
        }


def human_duration(seconds: float | None) -> str:
    """Seconds as the unit a person reads at a glance: 45 s, 12 min, 3.2 h, 4.1 d."""
    if seconds is None:
        return "–"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 90:
        return f"{sign}{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{sign}{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{sign}{seconds / 3600:.1f} h"
    return f"{sign}{seconds / 86400:.1f} d"


def when(value: datetime | None) -> str:
    """A timestamp as UTC text to the minute, or 'never'."""
    if value is None:
        return "never"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def duckdb_file(pipeline: dlt.Pipeline) -> Path | None:
    """The DuckDB file the pipeline reads, when its destination is a local DuckDB file."""
    if pipeline.destination is None or pipeline.destination.destination_name != "duckdb":
        return None
    database = getattr(pipeline.destination_client().config.credentials, "database", None)
    return Path(database) if isinstance(database, str) and database != ":memory:" else None


@contextmanager
def reading(pipeline: dlt.Pipeline, thresholds: HealthThresholds) -> Iterator[tuple[Any, dict[str, str]]]:
    """One open sql_client on the loaded dataset, with the details view's SELECT rendered for it: what `health`
    and `report` read through. Raises NoDataError when there is no DuckDB file, dataset or loaded table."""
    path = duckdb_file(pipeline)
    if path is not None and not path.exists():
        raise NoDataError(f"no DuckDB file at {path}: run `braze-cdi run` in this folder first, or pass "
                          "--duckdb-file (or --pipeline-name).")
    where = f" in {path}" if path is not None else ""
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            raise NoDataError(f"dataset {pipeline.dataset_name!r} does not exist{where}: nothing has been loaded yet.")
        present = present_tables(loaded_schema(pipeline))
        if {INTEGRATIONS_TABLE, JOB_SYNC_STATUS_TABLE} <= {t for t, columns in present.items() if columns is None}:
            raise NoDataError(f"dataset {pipeline.dataset_name!r}{where} has no integrations or sync tables yet.")
        try:
            queries = pipeline_queries(pipeline, client, thresholds, present)
        except ConfigurationError as error:
            raise NoDataError(str(error)) from None
        yield client, queries


def read_details(client: Any, queries: dict[str, str]) -> list[dict[str, Any]]:
    """One dict per integration (DETAIL_COLUMNS), read through an open `reading` connection."""
    rows = client.execute_sql(
        f"SELECT {', '.join(DETAIL_COLUMNS)} FROM ({queries['integration_health_details']}) AS d "
        "ORDER BY d.integration_name, d.integration_id"
    )
    result = []
    for row in rows or []:
        item = dict(zip(DETAIL_COLUMNS, row, strict=True))
        for key, value in item.items():
            if isinstance(value, datetime):
                item[key] = utc(value)  # a driver's naive timestamp is UTC, not this machine's time
            elif key.endswith("_seconds") or key.startswith("success_rate"):
                item[key] = None if value is None else float(value)
        result.append(item)
    return result


def describe_problem(row: dict[str, Any], thresholds: HealthThresholds) -> str | None:
    """One line saying what is wrong with an integration and since when; None when healthy."""
    if row["health"] == "healthy":
        return None
    covered = when(row["backfill_covered_back_to"]) if row.get("backfill_in_progress") else None
    return _problem(row, thresholds) + (f" (backfill in progress: covered back to {covered})" if covered else "")


def _problem(row: dict[str, Any], thresholds: HealthThresholds) -> str:
    name, health = f"{row['integration_name'] or '(unnamed)'} [{row['integration_id']}]", row["health"]
    if health == "stuck":
        return (
            f"{name}: stuck — a sync has been running for {human_duration(row['running_seconds'])} "
            f"(since {when(row['running_since'])}; limit {human_duration(thresholds.stuck_after_hours * 3600)})."
        )
    if health == "failing":
        return (
            f"{name}: failing — {row['consecutive_failures']} failed syncs in a row since "
            f"{when(row['failing_since'])} (last: {row['last_finished_status']}); "
            f"last success {when(row['last_success_time'])}."
        )
    if health == "stale":
        return (
            f"{name}: stale — no sync started for {human_duration(row['seconds_since_last_sync'])} "
            f"(last {when(row['last_sync_start_time'])}, {row['last_job_status']}; expected within "
            f"{human_duration(row['stale_after_seconds'])})."
        )
    if health == "unknown":
        started = row["last_sync_start_time"] is not None
        what = "only a running sync so far, nothing finished" if started else "no syncs loaded yet"
        return f"{name}: unknown — {what}."
    reasons = []
    if row["consecutive_failures"]:
        reasons.append(f"the last finished sync failed ({row['last_finished_status']})")
    rate = row["success_rate_7d"]
    if rate is not None and rate < thresholds.degraded_below_success_rate and not _rate_unjudged(row):
        reasons.append(f"success rate over 7 days {rate:.0%} (below {thresholds.degraded_below_success_rate:.0%})")
    if row["watermark_in_future"]:
        reasons.append(
            f"last_timestamp_synced {when(row['last_timestamp_synced'])} is in the future: a future-dated "
            "UPDATED_AT row blocks every older row"
        )
    if row["watermark_stalled"]:
        reasons.append(
            f"last_timestamp_synced has not moved for {row['syncs_since_watermark_moved']} successful syncs "
            f"(stuck at {when(row['last_timestamp_synced'])} since {when(row['watermark_since'])})"
        )
    if row.get("future_syncs"):
        newest = when(row["newest_future_sync_start_time"])
        tolerance = human_duration(thresholds.future_sync_minutes * 60)
        reasons.append(
            f"{row['future_syncs']} sync(s) dated in the future (newest starts {newest}, more than {tolerance} "
            "ahead): left out of the last sync and the stale and stuck checks"
        )
    return f"{name}: degraded — {'; '.join(reasons) or 'see integration_health_details'}."


def _rate_unjudged(row: dict[str, Any]) -> bool:
    """The view skips the 7-day success rate while a backfill has not yet covered those 7 days."""
    covered = row.get("backfill_covered_back_to")
    return bool(row.get("backfill_in_progress")) and (
        covered is None or (datetime.now(timezone.utc) - covered).total_seconds() < 7 * 86400
    )


def check_health(
    pipeline: dlt.Pipeline,
    thresholds: HealthThresholds | None = None,
    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON,
    integration_ids: tuple[str, ...] = (),
) -> HealthResult:
    """Classify every integration (or only `integration_ids`) and decide the exit code."""
    thresholds = thresholds or HealthThresholds.from_config()
    if unknown_classes := set(fail_on) - set(HEALTH_CLASSES):
        raise ValueError(f"unknown health class(es) {sorted(unknown_classes)}; use {', '.join(HEALTH_CLASSES)}")
    result = HealthResult(status="unknown", exit_code=EXIT_UNKNOWN, fail_on=tuple(fail_on), thresholds=thresholds)
    try:
        with reading(pipeline, thresholds) as (client, queries):  # creates nothing in the destination
            rows = read_details(client, queries)
    except NoDataError as error:
        result.notes.append(f"could not tell: {error}")
        return result
    if integration_ids:
        missing = sorted(set(integration_ids) - {row["integration_id"] for row in rows})
        rows = [row for row in rows if row["integration_id"] in integration_ids]
        result.notes.extend(f"could not tell: integration {i} is not in the loaded data." for i in missing)
    result.integrations = rows
    for row in rows:
        row["problem"] = message = describe_problem(row, thresholds)
        if message is not None:
            (result.problems if row["health"] in fail_on else result.notes).append(message)
    if not rows:
        result.notes.append("could not tell: no integrations in the loaded data.")
    elif result.problems:
        result.status, result.exit_code = "unhealthy", EXIT_UNHEALTHY
    elif all(row["health"] == "unknown" for row in rows) or len(rows) < len(integration_ids):
        result.status, result.exit_code = "unknown", EXIT_UNKNOWN
    else:
        result.status, result.exit_code = "healthy", EXIT_HEALTHY
    return result
