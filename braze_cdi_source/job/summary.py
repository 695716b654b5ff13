"""What one run did: `RunSummary` (from dlt's trace and the run's own counters) and its `extraction_runs` row."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from ..run_stats import RunStats
from ..settings import (
    EXTRACTION_ERROR_COLUMNS,
    EXTRACTION_ERRORS_TABLE,
    EXTRACTION_RUN_COLUMNS,
    EXTRACTION_RUNS_TABLE,
    JOB_SYNC_STATUS_TABLE,
    package_version,
)
from .pipeline import describe_location, run_file_format

logger = logging.getLogger("braze_cdi")


@dataclass
class RunSummary:
    """What one run did, for people (the CLI's last lines) and machines (JSON logs, exit codes)."""

    pipeline_name: str
    destination: str
    dataset_name: str
    duration_seconds: float
    rows_per_table: dict[str, int] = field(default_factory=dict)
    rows_per_integration: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    requests: int = 0
    throttled_429: int = 0
    load_ids: list[str] = field(default_factory=list)
    location: str = ""
    """Where it loaded, for people: the DuckDB file, database host and name, or bucket (never a password)."""
    integrations: list[dict[str, Any]] = field(default_factory=list)
    """Per integration: id, name, new / updated / re-read sync rows, failed."""
    backfill_pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Integrations with history still to read (the next run resumes): pages read, covered back to, the target
    (start_date or Braze's 12 months), estimated pages and minutes left at the rate limit."""
    stopped_by_budget: bool = False
    slices: int = 1

    @property
    def backfill_minutes_left(self) -> float | None:
        """Minutes of reading at the rate limit that the pending backfills need, all together (None: unknown)."""
        pending = self.backfill_pending.values()
        if not pending or any(v.get("estimated_pages_left") is None for v in pending):
            return None
        return round(sum(v.get("estimated_minutes_left") or 0.0 for v in pending), 1)

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok, "backfill_minutes_left": self.backfill_minutes_left}


def add_row_counts(totals: dict[str, int], pipeline: dlt.Pipeline) -> None:
    trace = pipeline.last_trace
    if trace is None or trace.last_normalize_info is None:
        return
    for table, count in trace.last_normalize_info.row_counts.items():
        if not table.startswith("_dlt"):
            totals[table] = totals.get(table, 0) + count


def summarise(
    pipeline: dlt.Pipeline, loads: list[LoadInfo], duration: float, stats: RunStats, row_counts: dict[str, int]
) -> RunSummary:
    """Row counts per table from dlt's trace (what landed, summed over the run's slices); requests, 429s
    and rows per integration from the run's own counters (dlt's per-resource metrics merge parallel resources)."""
    figures = stats.snapshot()
    per_integration = stats.per_integration()
    return RunSummary(
        pipeline_name=pipeline.pipeline_name,
        destination=pipeline.destination.destination_name if pipeline.destination else "",
        dataset_name=pipeline.dataset_name,
        duration_seconds=round(duration, 3),
        rows_per_table=row_counts,
        rows_per_integration={i: of["new_rows"] + of["updated_rows"] + of["reread_rows"]
                              for i, of in per_integration.items()},
        failures=row_counts.get(EXTRACTION_ERRORS_TABLE, 0),
        requests=figures["requests"],
        throttled_429=figures["throttled_429"],
        load_ids=[load_id for load in loads for load_id in load.loads_ids],
        location=describe_location(pipeline),
        integrations=[
            {"integration_id": integration_id, "name": of["name"], "new": of["new_rows"], "updated": of["updated_rows"],
             "reread": of["reread_rows"], "failed": of["failed"]}
            for integration_id, of in per_integration.items()
        ],
    )


def stateless_integrations(pipeline: dlt.Pipeline, stats: RunStats) -> list[str]:
    """This run's integrations with no resume point (first run, new, or `reset`): the source counts all their
    rows as new, though the destination may hold them already (they are merged)."""
    schema = pipeline.default_schema_name
    resources = pipeline.state.get("sources", {}).get(schema or "", {}).get("resources", {})
    return [i for i in stats.per_integration() if f"{JOB_SYNC_STATUS_TABLE}_{i}" not in resources]


def count_syncs(pipeline: dlt.Pipeline, integration_ids: list[str]) -> dict[str, int] | None:
    """Loaded sync rows of these integrations (None: no table yet, so every row read is new)."""
    if not integration_ids or not pipeline.default_schema_name:
        return None
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name(JOB_SYNC_STATUS_TABLE)
            where = f"WHERE integration_id IN ({', '.join(['%s'] * len(integration_ids))})"
            sql = f"SELECT integration_id, COUNT(*) FROM {table} {where} GROUP BY integration_id"
            rows = client.execute_sql(sql, *integration_ids)
    except Exception:  # noqa: BLE001 - no table or dataset yet: nothing was loaded before
        return None
    counts = dict.fromkeys(integration_ids, 0)
    counts.update({str(i): int(n) for i, n in rows or []})
    return counts


def correct_new_rows(summary: RunSummary, before: dict[str, int] | None, after: dict[str, int] | None) -> None:
    """'New' is at most what the destination gained: the rest of a re-read history was there already."""
    if before is None or after is None:
        return
    for item in summary.integrations:
        if item["integration_id"] in before:
            gained = max(0, after.get(item["integration_id"], 0) - before[item["integration_id"]])
            if item["new"] > gained:
                item["reread"] += item["new"] - gained
                item["new"] = gained


def record_run(pipeline: dlt.Pipeline, started_at: datetime, stats: RunStats, summary: RunSummary | None) -> None:
    """Append this run's row to `extraction_runs`, and make sure `extraction_errors` exists (empty when no run
    ever failed), so analysts' queries on both work from the first run. A separate small load after the
    main one, so a failed run can still be recorded."""
    figures = stats.snapshot()
    failed = max(figures["integrations_failed"], summary.failures if summary else 0)
    every_one_failed = figures["integrations"] and failed >= figures["integrations"]  # raised, or all failed: failed
    row = {
        "run_id": uuid.uuid4().hex,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc),
        "status": "failed" if summary is None or every_one_failed else "ok" if summary.ok else "partial",
        "integrations": figures["integrations"],
        "integrations_failed": failed,
        "requests": figures["requests"],
        "throttled_429": figures["throttled_429"],
        "rows_loaded": sum(
            count for table, count in (summary.rows_per_table if summary else {}).items()
            if table != EXTRACTION_ERRORS_TABLE
        ),
        "load_id": summary.load_ids[0] if summary and summary.load_ids else None,
        "version": package_version(),
        **({} if summary is None else {  # the backfill columns stay NULL when the run raised before a summary
            "integrations_backfilling": len(summary.backfill_pending),
            "backfill_minutes_left": summary.backfill_minutes_left,
            "stopped_by_budget": summary.stopped_by_budget,
            "slices": summary.slices,
            "backfill_pending": json.dumps(
                {key: value.get("estimated_pages_left") for key, value in summary.backfill_pending.items()},
                sort_keys=True,
            ),
        }),
    }
    runs = dlt.resource([row], name=EXTRACTION_RUNS_TABLE, write_disposition="append", columns=EXTRACTION_RUN_COLUMNS)
    errors = dlt.resource([dlt.mark.materialize_table_schema()], name=EXTRACTION_ERRORS_TABLE,
                          write_disposition="append", columns=EXTRACTION_ERROR_COLUMNS)
    pipeline.run([runs, errors], loader_file_format=run_file_format(pipeline))


def record_failed_run(pipeline: dlt.Pipeline, started_at: datetime, stats: RunStats) -> None:
    """Best effort: a run that failed as a whole is logged too, unless the destination is what failed."""
    try:
        record_run(pipeline, started_at, stats, None)
    except Exception as error:  # noqa: BLE001 - the run's own error is the one to raise
        logger.warning("could not record the failed run in %s: %s", EXTRACTION_RUNS_TABLE, type(error).__name__)
