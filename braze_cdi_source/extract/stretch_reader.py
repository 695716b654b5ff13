"""Reading one integration's history page by page, stretch by stretch, within a slice's share and the budget."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..errors import BrazeApiError
from ..http.client import BrazeClient
from ..settings import JOB_SYNC_STATUS_COLUMNS, JOB_SYNC_STATUS_TABLE
from .backfill import Backfill, Stretch
from .integration_state import IntegrationState
from .page_rows import rows_of_page
from .rows import RowCleaner
from .run_context import RunContext

logger = logging.getLogger("braze_cdi")


class StretchReader:
    """Reads stretches of one integration's history page by page, within the slice's share and the budget.

    `more` turns False when the slice must stop (share or budget spent); a stretch left unfinished keeps the
    cursor of its next page. An old cursor that Braze refuses (400 Invalid cursor) is dropped for a read from
    the newest page down to the same point: some pages again, nothing skipped.
    """

    def __init__(
        self,
        client: BrazeClient,
        path: str,
        integration_id: str,
        saved: IntegrationState,
        backfill: Backfill,
        now: datetime,
        top: Stretch | None,
        context: RunContext,
    ) -> None:
        self.client, self.path, self.integration_id, self.context = client, path, integration_id, context
        self.cursor, self.history, self.backfill, self.now, self.top = saved.cursor, saved.history, backfill, now, top
        self.more = True
        self.unkeyed = 0
        self.cleaner = RowCleaner(JOB_SYNC_STATUS_COLUMNS, client.stats, JOB_SYNC_STATUS_TABLE)

    def __call__(self, stretch: Stretch, start_date: datetime | None) -> Iterator[list[dict[str, Any]]]:
        floor = stretch.until is None
        bound = start_date if floor else stretch.until
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
                    "integration %s: Braze refused the saved cursor (%s); reading again from the newest page "
                    "down to what is loaded.",
                    self.integration_id,
                    error.status,
                )
                stretch.cursor = None
                self.context.cursors_read(self.integration_id, stretch.until).clear()  # from the top again

    def _read(self, stretch: Stretch, bound: datetime | None, floor: bool) -> Iterator[list[dict[str, Any]]]:
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
                if floor or stretch is not self.top:  # pages of history, not a run's look at the newest
                    self.history.pages += 1
                rows, reached, bad = rows_of_page(page, self.integration_id, bound, self.cleaner)
                self.unkeyed += bad
                kinds = {"new": 0, "updated": 0, "reread": 0}
                for row in rows:
                    kinds[self._kind_of(stretch, row)] += 1
                    self.cursor.see(row["sync_start_time"], row.get("job_status"), self.now)
                    self.history.see(row["sync_start_time"])
                self.client.stats.rows(self.integration_id, len(rows))
                self.client.stats.classified(self.integration_id, **kinds)
                yield rows
                if reached:
                    if floor and bound is not None:
                        # stopped at start_date: keep this page's cursor for an earlier start_date later
                        stretch.cursor, stretch.covered_to, stretch.parked = page.cursor, bound, True
                    else:
                        self._drop(stretch)
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
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _kind_of(self, stretch: Stretch, row: dict[str, Any]) -> str:
        """New, updated or re-read: the newest pages as the cursor sees them; older history is new unless it is
        above where its stretch is covered already (a resumed offset cursor shifted by syncs on top)."""
        start = row["sync_start_time"]
        if stretch is self.top:
            return self.cursor.kind_of(start, row.get("job_status"))
        return "reread" if stretch.covered_to is not None and start >= stretch.covered_to else "new"

    def _finish(self, stretch: Stretch, floor: bool) -> None:
        """The last page of Braze's history was read."""
        if floor:
            self.history.complete = True
        self._drop(stretch)

    def _drop(self, stretch: Stretch) -> None:
        self.history.stretches[:] = [s for s in self.history.stretches if s is not stretch]
