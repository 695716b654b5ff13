"""The run log: one `extraction_runs` row per run (ok, partial or failed), written by a small load of its own."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

import dlt

from ..run_stats import RunStats
from ..settings import (
    EXTRACTION_ERROR_COLUMNS,
    EXTRACTION_ERRORS_TABLE,
    EXTRACTION_RUN_COLUMNS,
    EXTRACTION_RUNS_TABLE,
    package_version,
)
from .file_format import run_file_format
from .summary import RunSummary

logger = logging.getLogger("braze_cdi")


def run_status(summary: RunSummary | None, integrations: int, integrations_failed: int) -> str:
    """failed: the run raised, or every integration failed; partial: some failed; ok: none failed."""
    if summary is None or (integrations and integrations_failed >= integrations):
        return "failed"
    return "ok" if summary.ok else "partial"


def record_run(
    pipeline: dlt.Pipeline,
    started_at: datetime,
    stats: RunStats,
    summary: RunSummary | None,
) -> None:
    """Append this run's row to `extraction_runs`, and make sure `extraction_errors` exists (empty when no run
    ever failed), so analysts' queries on both work from the first run. A separate small load after the
    main one, so a failed run can still be recorded."""
    figures = stats.snapshot()
    failed = max(figures["integrations_failed"], summary.failures if summary else 0)
    row = {
        "run_id": uuid.uuid4().hex,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc),
        "status": run_status(summary, figures["integrations"], failed),
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
        **_backfill_figures(summary),
    }
    runs = dlt.resource([row], name=EXTRACTION_RUNS_TABLE, write_disposition="append", columns=EXTRACTION_RUN_COLUMNS)
    errors = dlt.resource(
        [dlt.mark.materialize_table_schema()],
        name=EXTRACTION_ERRORS_TABLE,
        write_disposition="append",
        columns=EXTRACTION_ERROR_COLUMNS,
    )
    pipeline.run([runs, errors], loader_file_format=run_file_format(pipeline))


def _backfill_figures(summary: RunSummary | None) -> dict[str, Any]:
    """The run log's backfill columns from the summary (all None when the run raised before one existed)."""
    if summary is None:
        return {"integrations_backfilling": None, "backfill_minutes_left": None, "stopped_by_budget": None,
                "slices": None, "backfill_pending": None}
    pending = {key: value.get("estimated_pages_left") for key, value in summary.backfill_pending.items()}
    return {
        "integrations_backfilling": len(pending),
        "backfill_minutes_left": summary.backfill_minutes_left,
        "stopped_by_budget": summary.stopped_by_budget,
        "slices": summary.slices,
        "backfill_pending": json.dumps(pending, sort_keys=True),
    }


def record_failed_run(pipeline: dlt.Pipeline, started_at: datetime, stats: RunStats | None) -> None:
    """Best effort: a run that failed as a whole is logged too, unless the destination is what failed."""
    try:
        record_run(pipeline, started_at, stats or RunStats(), None)
    except Exception as error:  # noqa: BLE001 - the run's own error is the one to raise
        logger.warning("could not record the failed run in %s: %s", EXTRACTION_RUNS_TABLE, type(error).__name__)
