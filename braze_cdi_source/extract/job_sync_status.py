"""The `job_sync_status_<integration_id>` resources (one integration's sync history each, into one table) and
the reader of a history's pages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
from dlt.common.schema.utils import has_table_seen_data
from dlt.sources import DltResource

from ..errors import BrazeApiError
from ..http.client import BrazeClient, job_sync_status_path
from ..settings import (
    BACKFILL_COLUMNS,
    BACKFILL_TABLE,
    JOB_SYNC_STATUS_COLUMNS,
    JOB_SYNC_STATUS_LAYOUT,
    JOB_SYNC_STATUS_TABLE,
    JOB_SYNC_STATUS_TABLE_HINTS,
)
from ..timestamps import parse_instant
from .arrow_batch import ArrowBatches
from .backfill import Backfill
from .failures import RUN_ENDING, ExtractionFailures, with_errors_table
from .integration_state import IntegrationState, Stretch
from .rows import RowCleaner, rows_of_page
from .run_context import RunContext

logger = logging.getLogger("braze_cdi")

BATCH_ROWS = 100
"""Rows handed to dlt in one item: dlt's cost per item is paid once per 100 rows, not per 10-row page, while
every open resource holds at most this many rows."""


def job_sync_status_resource(
    client: BrazeClient,
    integration_id: str,
    start_date: datetime | None,
    max_running: timedelta,
    failures: ExtractionFailures,
    parallel: bool,
    context: RunContext,
    backfill: Backfill,
    future_tolerance: timedelta,
) -> DltResource:
    """One integration's sync history, newest first: a run's first slice reads the newest pages down to what
    earlier runs loaded, then older stretches go on from their cursors within the slice's share and the budget."""
    name = f"{JOB_SYNC_STATUS_TABLE}_{integration_id}"

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
            if backfill.needs_top(integration_id):  # a run's first look at the newest pages
                if saved.cursor.last_start is None:  # its newest page in the first load, as every other's
                    backfill.newest_page_only(integration_id)
                saved.begin(now)
                context.first_look(integration_id)
            read = StretchReader(client, integration_id, saved, backfill, context, now)
            for stretch in list(saved.stretches):
                if not stretch.active(start_date):
                    continue
                for rows in read(stretch):
                    batch += rows
                    if len(batch) >= BATCH_ROWS:
                        yield from items.add(batch)
                        batch = []
                if not read.more:
                    break
        except RUN_ENDING:
            raise  # base_url unreachable from the start, or Ctrl-C: the whole run, not this integration
        except Exception as error:  # noqa: BLE001 - anything else costs this integration only
            # rows read before the failure still load; the state stays, so the next run re-reads
            client.stats.finish(integration_id, failed=True)
            backfill.report(integration_id, None, failed=True)
            yield from items.flush(batch)
            yield failures.record(name, error, integration_id)
            return
        cursor = saved.cursor
        if batch or items.pending:
            yield from items.flush(batch)
        elif cursor.last_start is None and cursor.newest_seen is None and not _table_has_data():
            # nothing loaded yet, ever: create the table anyway, so analysts' SQL finds every column
            yield dlt.mark.materialize_table_schema()
        if read.unkeyed:
            skipped = f"{read.unkeyed} sync item(s) without a valid sync_start_time were skipped for integration"
            yield failures.record(name, f"{skipped} {integration_id}: the other rows loaded.", integration_id)
        note = read.cleaner.note()
        if note:
            yield failures.record(name, f"integration {integration_id}: {note}", integration_id)
        saved.save(state)
        progress = saved.progress(parse_instant(state.get("last_sync_start_time")), now)
        yield dlt.mark.with_table_name(progress, BACKFILL_TABLE)
        backfill.report(integration_id, progress)
        if not saved.pending():
            client.stats.finish(integration_id, failed=bool(read.unkeyed))

    job_sync_status.apply_hints(
        table_name=BACKFILL_TABLE,
        write_disposition="merge",
        primary_key="integration_id",
        columns=BACKFILL_COLUMNS,
        create_table_variant=True,
    )
    return with_errors_table(
        job_sync_status,
        table_name=JOB_SYNC_STATUS_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=("integration_id", "sync_start_time"),
        columns={name: {**hints, **JOB_SYNC_STATUS_LAYOUT.get(name, {})}
                 for name, hints in JOB_SYNC_STATUS_COLUMNS.items()},
        additional_table_hints=JOB_SYNC_STATUS_TABLE_HINTS,
    )


def _table_has_data() -> bool:
    """Whether `job_sync_status` already holds rows from an earlier load (so it exists with every column)."""
    try:
        table = dlt.current.source_schema().tables.get(JOB_SYNC_STATUS_TABLE)
    except Exception:  # no schema in this context: materialize, as before
        return False
    return table is not None and has_table_seen_data(table)


class StretchReader:
    """Reads stretches of one integration's history page by page, within the slice's share and the budget.

    `more` turns False when the slice must stop; an unfinished stretch keeps its next page's cursor. A saved
    cursor Braze refuses (400 Invalid cursor) is dropped for a read from the newest page down: nothing skipped.
    """

    def __init__(
        self,
        client: BrazeClient,
        integration_id: str,
        state: IntegrationState,
        backfill: Backfill,
        context: RunContext,
        now: datetime,
    ) -> None:
        self.client, self.integration_id, self.state, self.backfill = client, integration_id, state, backfill
        self.context, self.now, self.path = context, now, job_sync_status_path(integration_id)
        self.more = True
        self.unkeyed = 0
        self.cleaner = RowCleaner(JOB_SYNC_STATUS_COLUMNS, client.stats, JOB_SYNC_STATUS_TABLE)

    def __call__(self, stretch: Stretch) -> Iterator[list[dict[str, Any]]]:
        floor = stretch.until is None
        bound = self.state.cursor.start_date if floor else stretch.until
        fell_back = False
        while True:
            try:
                yield from self._read(stretch, bound, floor)
                return
            except BrazeApiError as error:
                refused = error.status == 400 and "cursor" in str(error).lower()
                if not (refused and stretch.cursor and not fell_back):
                    raise
                fell_back = True
                logger.warning(
                    "integration %s: Braze refused the saved cursor (400); reading again from the newest page "
                    "down to what is loaded.",
                    self.integration_id,
                )
                stretch.cursor = None
                self.context.cursors_read(self.integration_id, stretch.until).clear()  # from the top again

    def _read(self, stretch: Stretch, bound: datetime | None, floor: bool) -> Iterator[list[dict[str, Any]]]:
        state, cursor = self.state, self.state.cursor
        seen = self.context.cursors_read(self.integration_id, stretch.until)
        pages = self.client.pages(self.path, self.integration_id, cursor=stretch.cursor, seen=seen)
        try:
            while True:
                if not self.backfill.may_read(self.integration_id):
                    self.more = False
                    return
                page = next(pages, None)
                if page is None:  # no page at all: nothing further to read
                    self._finish(stretch, floor)
                    return
                self.backfill.page_read(self.integration_id)
                if floor or stretch is not state.top:  # pages of history, not a run's look at the newest
                    state.pages += 1
                rows, reached, bad = rows_of_page(page, self.integration_id, bound, self.cleaner)
                self.unkeyed += bad
                kinds = {"new": 0, "updated": 0, "reread": 0}
                for row in rows:
                    kinds[self._kind_of(stretch, row)] += 1
                    cursor.see(row["sync_start_time"], row.get("job_status"), self.now)
                    state.see(row["sync_start_time"])
                self.client.stats.rows(self.integration_id, **kinds)
                yield rows
                if reached:
                    if floor and bound is not None:
                        # stopped at start_date: keep this page's cursor for an earlier start_date later
                        stretch.cursor, stretch.covered_to, stretch.parked = page.cursor, bound, True
                    else:
                        state.drop(stretch)
                    return
                starts = [r["sync_start_time"] for r in rows]
                if starts:
                    stretch.covered_to = min(starts)
                if not page.has_next:
                    for _ in pages:  # no request: lets the client raise for a next link it refused
                        pass
                    self._finish(stretch, floor)
                    return
                if page.next_cursor is not None:  # else a link without cursor: resuming re-reads from the last
                    stretch.cursor = page.next_cursor
        finally:
            pages.close()

    def _kind_of(self, stretch: Stretch, row: dict[str, Any]) -> str:
        """New, updated or re-read: the newest pages as the cursor sees them; older history is new unless above
        where its stretch is covered already (a resumed offset cursor shifted by syncs on top)."""
        start = row["sync_start_time"]
        if stretch is self.state.top:
            return self.state.cursor.kind_of(start, row.get("job_status"))
        return "reread" if stretch.covered_to is not None and start >= stretch.covered_to else "new"

    def _finish(self, stretch: Stretch, floor: bool) -> None:
        """The last page of Braze's history was read."""
        if floor:
            self.state.complete = True
        self.state.drop(stretch)
