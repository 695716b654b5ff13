"""The `job_sync_status_<integration_id>` resources: one integration's sync history each, into one table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
from dlt.common.schema.utils import has_table_seen_data
from dlt.sources import DltResource

from ..errors import BrazeCdiError
from ..http.client import BrazeClient, job_sync_status_path
from ..settings import (
    BACKFILL_COLUMNS,
    BACKFILL_TABLE,
    DEFAULT_FUTURE_TOLERANCE_MINUTES,
    JOB_SYNC_STATUS_COLUMNS,
    JOB_SYNC_STATUS_LAYOUT,
    JOB_SYNC_STATUS_TABLE,
    JOB_SYNC_STATUS_TABLE_HINTS,
)
from ..timestamps import parse_instant
from .arrow_batch import ArrowBatches
from .backfill import Backfill, TimeBudget
from .failures import RUN_ENDING, ExtractionFailures, with_errors_table
from .integration_state import IntegrationState
from .run_context import RunContext
from .stretch_reader import StretchReader

BATCH_ROWS = 100
"""Rows handed to dlt in one item. dlt's cost per item (a future per item from a parallel resource, the
extract pipe's bookkeeping) is paid once per 100 rows instead of once per 10-row Braze page. Up to this many
rows wait in memory per open resource, and dlt keeps every resource open while it takes items round-robin:
1,000 cost 50 MB more RSS at 100,000 syncs, 100 costs about 3 MB."""


def job_sync_status_resource(
    client: BrazeClient,
    integration_id: str,
    start_date: datetime | None,
    max_running: timedelta,
    failures: ExtractionFailures,
    parallel: bool,
    context: RunContext | None = None,
    future_tolerance: timedelta = timedelta(minutes=DEFAULT_FUTURE_TOLERANCE_MINUTES),
) -> DltResource:
    """One integration's sync history, newest first, read back only as far as the cursor needs.

    Each run (first slice) reads the newest pages down to what earlier runs loaded; then the stretches of
    older history still to read (`History`) continue from their saved cursors, as far as the slice's page
    share and the time budget allow. The state is written at the end of each slice, with its rows.
    """
    name = f"{JOB_SYNC_STATUS_TABLE}_{integration_id}"
    context = context or RunContext()
    backfill: Backfill = context.backfill or Backfill(10**9, TimeBudget(None))

    @dlt.resource(name=name, parallelized=parallel)
    def job_sync_status() -> Iterator[Any]:
        if not backfill.chosen(integration_id):
            return
        state = dlt.current.resource_state()
        now = datetime.now(timezone.utc)
        items = ArrowBatches()
        batch: list[dict[str, Any]] = []
        try:
            saved = IntegrationState.load(state, integration_id, start_date, max_running, future_tolerance)
            cursor, history = saved.cursor, saved.history
            fresh = cursor.last_start is None
            top = saved.begin(now, backfill.needs_top(integration_id))
            if top is not None:
                context.first_look(integration_id)
            if top is not None and fresh:
                backfill.newest_page_only(integration_id)  # its newest page in the first load, as every other's
            read = StretchReader(
                client, job_sync_status_path(integration_id), integration_id, saved, backfill, now, top, context
            )
            for stretch in list(history.stretches):
                if not stretch.active(start_date):
                    continue
                for rows in read(stretch, start_date):
                    batch += rows
                    if len(batch) >= BATCH_ROWS:
                        yield from items.add(batch)
                        batch = []
                if not read.more:
                    break
        except RUN_ENDING:
            raise  # base_url unreachable from the start, or Ctrl-C: the whole run, not this integration
        except Exception as error:  # anything else Braze's answers cause costs this integration only
            # Rows read before the failure still load; the state stays where it was so the next run re-reads.
            client.stats.finish(integration_id, failed=True)
            backfill.report(integration_id, None, failed=True)
            yield from items.flush(batch)
            yield failures.record(name, error, integration_id)
            return
        if batch or items.pending:
            yield from items.flush(batch)
        elif cursor.last_start is None and cursor.newest_seen is None and not _table_has_data():
            # Nothing loaded yet, ever: create the table anyway, so analysts' SQL finds every column.
            yield dlt.mark.materialize_table_schema()
        if read.unkeyed:
            yield failures.record(
                name,
                BrazeCdiError(
                    f"{read.unkeyed} sync item(s) without a valid sync_start_time were skipped for integration "
                    f"{integration_id}: the other rows loaded."
                ),
                integration_id,
            )
        note = read.cleaner.note()
        if note:
            yield failures.record(name, BrazeCdiError(f"integration {integration_id}: {note}"), integration_id)
        saved.save(state, top)
        newest = parse_instant(state.get("last_sync_start_time"))
        progress = history.progress(integration_id, newest, start_date, now)
        yield dlt.mark.with_table_name(progress, BACKFILL_TABLE)
        backfill.report(integration_id, progress)
        if not history.pending(start_date):
            client.stats.finish(integration_id, failed=bool(read.unkeyed))

    job_sync_status.apply_hints(
        table_name=BACKFILL_TABLE,
        write_disposition="merge",
        primary_key="integration_id",
        columns=BACKFILL_COLUMNS,
        create_table_variant=True,
    )
    resource = with_errors_table(
        job_sync_status,
        table_name=JOB_SYNC_STATUS_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=("integration_id", "sync_start_time"),
        columns={name: {**hints, **JOB_SYNC_STATUS_LAYOUT.get(name, {})}
                 for name, hints in JOB_SYNC_STATUS_COLUMNS.items()},
        additional_table_hints=JOB_SYNC_STATUS_TABLE_HINTS,
    )
    return resource


def _table_has_data() -> bool:
    """Whether `job_sync_status` already holds rows from an earlier load (so it exists with every column)."""
    try:
        table = dlt.current.source_schema().tables.get(JOB_SYNC_STATUS_TABLE)
    except Exception:  # no schema in this context: materialize, as before
        return False
    return table is not None and has_table_seen_data(table)
