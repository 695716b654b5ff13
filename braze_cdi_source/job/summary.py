"""What one run did (`RunSummary`), built from dlt's trace and the run's own counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from ..run_stats import RunStats
from ..settings import EXTRACTION_ERRORS_TABLE, JOB_SYNC_STATUS_TABLE
from .location import describe_location


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
    """Integrations with history still to read (the time budget stopped them; the next run resumes):
    pages read so far, covered back to, the target (start_date or Braze's 12 months), an estimate of pages
    and minutes left at the rate limit."""
    stopped_by_budget: bool = False
    slices: int = 1

    @property
    def backfill_minutes_left(self) -> float | None:
        """Minutes of reading at the rate limit that the pending backfills need, all together (None: unknown)."""
        pages = [v.get("estimated_pages_left") for v in self.backfill_pending.values()]
        if not pages or any(p is None for p in pages):
            return None
        minutes = [v.get("estimated_minutes_left") or 0.0 for v in self.backfill_pending.values()]
        return round(sum(minutes), 1)

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok, "backfill_minutes_left": self.backfill_minutes_left}


def add_row_counts(totals: dict[str, int], pipeline: dlt.Pipeline) -> None:
    """Add the last load's rows per table (dlt's trace) to `totals`."""
    trace = pipeline.last_trace
    if trace is None or trace.last_normalize_info is None:
        return
    for table, count in trace.last_normalize_info.row_counts.items():
        if not table.startswith("_dlt"):
            totals[table] = totals.get(table, 0) + count


def summarise(
    pipeline: dlt.Pipeline,
    loads: list[LoadInfo] | LoadInfo,
    duration: float,
    stats: RunStats,
    row_counts: dict[str, int] | None = None,
) -> RunSummary:
    """Row counts per table from dlt's trace (what landed, summed over the run's slices); requests, 429s
    and rows per integration from the run's own counters (dlt's per-resource metrics merge parallel resources)."""
    if not isinstance(loads, list):
        loads = [loads]
    if row_counts is None:
        row_counts = {}
        add_row_counts(row_counts, pipeline)
    figures = stats.snapshot()
    per_integration = stats.per_integration()
    return RunSummary(
        pipeline_name=pipeline.pipeline_name,
        destination=pipeline.destination.destination_name if pipeline.destination else "",
        dataset_name=pipeline.dataset_name,
        duration_seconds=round(duration, 3),
        rows_per_table=row_counts,
        rows_per_integration={k: v["rows"] for k, v in per_integration.items()},
        failures=row_counts.get(EXTRACTION_ERRORS_TABLE, 0),
        requests=figures["requests"],
        throttled_429=figures["throttled_429"],
        load_ids=[load_id for load in loads for load_id in load.loads_ids],
        location=describe_location(pipeline),
        integrations=[
            {
                "integration_id": integration_id,
                "name": figures_of["name"],
                "new": figures_of["new_rows"],
                "updated": figures_of["updated_rows"],
                "reread": figures_of["reread_rows"],
                "failed": figures_of["failed"],
            }
            for integration_id, figures_of in per_integration.items()
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
            marks = ", ".join(["%s"] * len(integration_ids))
            rows = client.execute_sql(
                f"SELECT integration_id, COUNT(*) FROM {table} WHERE integration_id IN ({marks}) "
                "GROUP BY integration_id",
                *integration_ids,
            )
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
