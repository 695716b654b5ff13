"""The `braze_cdi` dlt source: Braze CDI integrations and their job sync history."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
from dlt.common.schema.utils import has_table_seen_data
from dlt.sources import DltResource
from requests.exceptions import RequestException

from ..errors import BrazeApiError, BrazeCdiError, ConfigurationError
from ..http.client import BrazeClient, job_sync_status_path
from ..http.next_link import DEFAULT_MAX_PAGES
from ..http.retries import RetryBudget
from ..http.throttle import DEFAULT_MAX_RATE_LIMIT_WAIT
from ..http.transport import DEFAULT_MAX_BODY_BYTES
from ..run_stats import RunStats
from ..settings import (
    DEFAULT_FUTURE_TOLERANCE_MINUTES,
    DEFAULT_MAX_RUNNING_HOURS,
    EXTRACTION_ERRORS_TABLE,
    INTEGRATION_COLUMNS,
    INTEGRATION_TIMESTAMPS,
    INTEGRATIONS_TABLE,
    JOB_SYNC_STATUS_COLUMNS,
    JOB_SYNC_STATUS_TABLE,
    JOB_SYNC_STATUS_TIMESTAMPS,
    LIST_PATH,
    RATE_LIMITS_PER_MINUTE,
    SOURCE_NAME,
)
from ..timestamps import parse_instant, to_iso
from .arrow_batch import ArrowBatches
from .backfill import BACKFILL_COLUMNS, BACKFILL_TABLE, Backfill, History, Stretch, TimeBudget, parse_duration
from .rows import RowCleaner
from .sync_cursor import SyncCursor

logger = logging.getLogger("braze_cdi")

BATCH_ROWS = 100
"""Rows handed to dlt in one item. dlt's cost per item (a future per item from a parallel resource, the
extract pipe's bookkeeping) is paid once per 100 rows instead of once per 10-row Braze page. Up to this many
rows wait in memory per open resource, and dlt keeps every resource open while it takes items round-robin:
1,000 cost 50 MB more RSS at 100,000 syncs, 100 costs about 3 MB."""

EXTRACTION_ERROR_COLUMNS = {
    "run_started_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
    "integration_id": {"data_type": "text"},
    "resource": {"data_type": "text", "nullable": False},
    "status": {"data_type": "bigint"},
    "path": {"data_type": "text"},
    "message": {"data_type": "text", "nullable": False},
}


class ExtractionFailures:
    """Turns a failed resource into an `extraction_errors` row (or re-raises it with `fail_fast`)."""

    def __init__(self, fail_fast: bool) -> None:
        self.fail_fast = fail_fast
        self.run_started_at = datetime.now(timezone.utc)

    def record(self, resource: str, error: Exception, integration_id: str | None) -> Any:
        """Return the row to yield into `extraction_errors`, or re-raise when failing fast."""
        if self.fail_fast:
            raise error
        row = {
            "run_started_at": self.run_started_at,
            "integration_id": integration_id,
            "resource": resource,
            "status": error.status if isinstance(error, BrazeApiError) else None,
            "path": error.path if isinstance(error, BrazeApiError) else None,
            "message": describe(error, integration_id),
        }
        logger.error(row["message"])
        return dlt.mark.with_table_name(row, EXTRACTION_ERRORS_TABLE)


def with_errors_table(resource: DltResource, **hints: Any) -> DltResource:
    """Give `resource` its own table hints plus an `extraction_errors` variant for the rows `record` returns.

    The variant is declared first: dlt starts a variant from the resource's hints at that moment, and the
    errors table must not inherit the sync table's key and columns.
    """
    resource.apply_hints(
        table_name=EXTRACTION_ERRORS_TABLE,
        write_disposition="append",
        columns=EXTRACTION_ERROR_COLUMNS,
        create_table_variant=True,
    )
    resource.apply_hints(**hints)
    return resource


def describe(error: Exception, integration_id: str | None) -> str:
    """One sentence naming what failed; request errors from `requests` are rewritten without URLs' secrets."""
    if isinstance(error, BrazeCdiError):
        text = str(error)
    elif isinstance(error, RequestException):
        text = f"network error ({type(error).__name__}) past the retry budget: re-run later."
    else:
        text = f"{type(error).__name__}: {error}"
    if integration_id and integration_id not in text:
        text = f"integration {integration_id}: {text}"
    return text


def _parse_start_date(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise ConfigurationError(
            f"start_date {value!r} is not an ISO 8601 date or timestamp (e.g. 2026-01-31 or 2026-01-31T00:00:00Z)."
        ) from None


def _normalise(
    item: dict[str, Any], timestamp_fields: Sequence[str], key: str | None = None, cleaner: RowCleaner | None = None
) -> dict[str, Any]:
    """A copy of `item` with its timestamps as UTC instants, and values that cannot load repaired (rows.py).

    A timestamp that does not parse is kept as sent: dlt stores it in a variant column
    (e.g. `sync_finish_time__v_text`) instead of the row being lost. Only the `key` timestamp must
    parse, since the row's identity depends on it (ValueError otherwise).
    """
    row = cleaner.clean(item) if cleaner is not None else dict(item)
    for name in timestamp_fields:
        if name in row:
            try:
                row[name] = parse_instant(row[name])
            except ValueError:
                if name == key:
                    raise
                row[name] = (cleaner or RowCleaner(())).unparsed_timestamp(name, row[name])
    return row


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, max_table_nesting=0)
def braze_cdi_source(
    api_key: str = dlt.secrets.value,
    base_url: str = dlt.config.value,
    integration_ids: list[str] | None = None,
    start_date: str | datetime | None = None,
    max_running_hours: float = DEFAULT_MAX_RUNNING_HOURS,
    list_requests_per_minute: int = RATE_LIMITS_PER_MINUTE["list"],
    job_status_requests_per_minute: int = RATE_LIMITS_PER_MINUTE["job_sync_status"],
    request_timeout: float = 30.0,
    max_attempts: int = 8,
    backoff_factor: float = 1.0,
    max_retry_delay: float = 60.0,
    max_response_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
    max_pages: int = DEFAULT_MAX_PAGES,
    future_tolerance_minutes: float = DEFAULT_FUTURE_TOLERANCE_MINUTES,
    fail_fast: bool = False,
    parallel: bool = True,
    run_stats: RunStats | None = None,
    time_budget: str | float | None = None,
    checkpoint_pages: int | None = None,
) -> Iterator[DltResource]:
    """Braze CDI sync history: the `integrations` table and one `job_sync_status_<id>` resource per integration.

    Args:
        api_key: REST API key with `cdi.integration_list` and `cdi.integration_job_status` (a secret).
        base_url: the workspace's REST endpoint, e.g. https://rest.iad-03.braze.com.
        integration_ids: only these integrations (in the environment, a JSON list:
            `SOURCES__BRAZE_CDI__INTEGRATION_IDS='["id1", "id2"]'`); None or empty means every
            integration that `GET /cdi/integrations` lists.
        start_date: ignore syncs that started before it (bounds the first backfill).
        max_running_hours: how long a sync seen `running` is re-read on later runs until it finishes.
        list_requests_per_minute / job_status_requests_per_minute: the workspace's rate limits, used
            when Braze's responses carry no `X-RateLimit-*` headers.
        request_timeout / max_attempts / backoff_factor / max_retry_delay: the retry budget of one
            request (5xx, timeouts, dropped connections, truncated bodies); the default waits up to
            about two minutes in all, longer than a Braze rate-limit window. `request_timeout` is the total
            time of one attempt (connect, headers and body), not a per-read timeout.
        max_response_bytes: largest response body read, after decompression (a page is about 3 KB).
        max_rate_limit_wait: longest wait a 429's reset or Retry-After may ask for; beyond it the
            integration fails saying what Braze asked for (the next run goes on).
        max_pages: pages read per integration per run at most (a longer history goes on next run).
        future_tolerance_minutes: a sync that starts more than this after now loads but does not move the
            integration's cursor (a future-dated sync would hide every later one).
        fail_fast: raise on the first failed integration instead of loading the others and recording
            the failure in `extraction_errors`.
        parallel: extract integrations in parallel threads (one throttle is shared by all of them).
        run_stats: the counters this run reports requests, pages and rows into (the job's summary reads
            them); a fresh `RunStats` when not given, so two sources in one process never share counts.
        time_budget: stop paging when this much time is spent (`50m`, `1h30m`, `90s` or seconds), load what
            was read and keep each integration's resume point: the next run continues the backfill.
        checkpoint_pages: at most this many pages between two commits of rows and resume points, when the
            job (`braze-cdi run`, `job.run_pipeline`) loads in slices; default: about one minute of reading
            (100 pages at Braze's limit, more when Braze answers faster). A plain `pipeline.run` commits once.
    """
    client = BrazeClient(
        api_key,
        base_url,
        limits_per_minute={"list": list_requests_per_minute, "job_sync_status": job_status_requests_per_minute},
        budget=RetryBudget(
            max_attempts=int(max_attempts),
            backoff_factor=float(backoff_factor),
            max_delay=float(max_retry_delay),
            timeout=float(request_timeout),
        ),
        stats=run_stats,
        max_body_bytes=int(max_response_bytes),
        max_rate_limit_wait=float(max_rate_limit_wait),
        max_pages=int(max_pages),
    )
    future_tolerance = timedelta(minutes=float(future_tolerance_minutes))
    budget = TimeBudget(parse_duration(time_budget))
    bounded_from = _parse_start_date(start_date)
    if bounded_from is not None and bounded_from > datetime.now(timezone.utc):
        raise ConfigurationError(
            f"start_date {to_iso(bounded_from)} is in the future: no sync started after it, so nothing would load. "
            "Use a past date (or none: Braze's whole history)."
        )
    backfill = Backfill(
        int(checkpoint_pages) if checkpoint_pages else None,
        budget,
        wait_for_page=lambda: client.throttle.wait_needed("job_sync_status"),
        rate_per_minute=int(job_status_requests_per_minute),
        limit_per_minute=lambda: client.throttle.per_minute("job_sync_status"),
    )
    max_running = timedelta(hours=float(max_running_hours))
    failures = ExtractionFailures(fail_fast)
    wanted = _as_ids(integration_ids)
    file_format = FileFormatHint()

    listed: list[dict[str, Any]] | None = None
    if not wanted:
        # Discovery: the list is needed now to know which resources exist; the integrations
        # resource reuses it instead of asking Braze twice.
        listed = [item for page in client.pages(LIST_PATH) for item in page]
        wanted = [str(item["integration_id"]) for item in listed if item.get("integration_id")]

    integrations = integrations_resource(client, listed, wanted if integration_ids else None, failures, backfill)
    integrations.run_stats = client.stats  # type: ignore[attr-defined]  # read by `stats_of`
    integrations.file_format = file_format  # type: ignore[attr-defined]  # set by `hint_file_format`
    integrations.backfill = backfill  # type: ignore[attr-defined]  # read by `backfill_of`
    yield integrations
    client.stats.expect(list(dict.fromkeys(wanted)))
    backfill.expect(list(dict.fromkeys(wanted)))
    for integration_id in dict.fromkeys(wanted):
        yield job_sync_status_resource(
            client, integration_id, bounded_from, max_running, failures, parallel, file_format, backfill,
            future_tolerance,
        )


def stats_of(source: Any) -> RunStats | None:
    """The `RunStats` a `braze_cdi_source` reports into (None for any other source)."""
    resources = getattr(source, "resources", None) or {}
    resource = resources.get(INTEGRATIONS_TABLE) if hasattr(resources, "get") else None
    stats = getattr(resource, "run_stats", None)
    return stats if isinstance(stats, RunStats) else None


def backfill_of(source: Any) -> Backfill | None:
    """The `Backfill` coordinating the slices of a `braze_cdi_source` (None for any other source)."""
    resources = getattr(source, "resources", None) or {}
    resource = resources.get(INTEGRATIONS_TABLE) if hasattr(resources, "get") else None
    backfill = getattr(resource, "backfill", None)
    return backfill if isinstance(backfill, Backfill) else None


def _as_ids(value: Sequence[str] | str | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def integrations_resource(
    client: BrazeClient,
    listed: list[dict[str, Any]] | None,
    only: list[str] | None,
    failures: ExtractionFailures,
    backfill: Backfill | None = None,
) -> DltResource:
    """`GET /cdi/integrations`, every page, merged on `integration_id` (once per run: not again per slice)."""

    @dlt.resource(name=INTEGRATIONS_TABLE)
    def integrations() -> Iterator[Any]:
        cleaner = RowCleaner(INTEGRATION_COLUMNS)
        if backfill is not None and not backfill.first_slice():
            return
        try:
            items = listed if listed is not None else [i for p in client.pages(LIST_PATH) for i in p]
            client.stats.named(
                {
                    str(i["integration_id"]): str(i["integration_name"])
                    for i in items
                    if isinstance(i, dict) and i.get("integration_id") and i.get("integration_name")
                }
            )
            yield [
                _normalise(item, INTEGRATION_TIMESTAMPS, cleaner=cleaner)
                for item in items
                if isinstance(item, dict)
                and item.get("integration_id")
                and (only is None or str(item["integration_id"]) in only)
            ]
        except (BrazeCdiError, RequestException, ValueError) as error:
            yield failures.record(INTEGRATIONS_TABLE, error, None)
        if cleaner.note():
            yield failures.record(INTEGRATIONS_TABLE, BrazeCdiError(f"integration list: {cleaner.note()}"), None)

    return with_errors_table(
        integrations,
        table_name=INTEGRATIONS_TABLE,
        write_disposition="merge",
        primary_key="integration_id",
        columns=INTEGRATION_COLUMNS,
    )


def job_sync_status_resource(
    client: BrazeClient,
    integration_id: str,
    start_date: datetime | None,
    max_running: timedelta,
    failures: ExtractionFailures,
    parallel: bool,
    file_format_hint: FileFormatHint | None = None,
    backfill: Backfill | None = None,
    future_tolerance: timedelta = timedelta(minutes=DEFAULT_FUTURE_TOLERANCE_MINUTES),
) -> DltResource:
    """One integration's sync history, newest first, read back only as far as the cursor needs.

    Each run (first slice) reads the newest pages down to what earlier runs loaded; then the stretches of
    older history still to read (`History`) continue from their saved cursors, as far as the slice's page
    share and the time budget allow. The state is written at the end of each slice, with its rows.
    """
    name = f"{JOB_SYNC_STATUS_TABLE}_{integration_id}"
    backfill = backfill or Backfill(10**9, TimeBudget(None))

    @dlt.resource(name=name, parallelized=parallel)
    def job_sync_status() -> Iterator[Any]:
        if not backfill.chosen(integration_id):
            return
        state = dlt.current.resource_state()
        cursor = SyncCursor.from_state(state, start_date, max_running, future_tolerance)
        history = History.from_state(state)
        now = datetime.now(timezone.utc)
        path = job_sync_status_path(integration_id)
        top_read = backfill.needs_top(integration_id)
        if top_read:
            if cursor.last_start is None:
                # nothing loaded yet: the whole history (to start_date) is one stretch read from the top
                history.stretches = [Stretch()]
                backfill.newest_page_only(integration_id)
            else:
                history.stretches.insert(0, Stretch(until=cursor.boundary(now)))
        top = history.stretches[0] if top_read else None
        read = _StretchReader(client, path, integration_id, cursor, history, backfill, now, top)
        items = ArrowBatches(file_format_hint.value if file_format_hint else None)  # read at extract time
        batch: list[dict[str, Any]] = []
        try:
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
        except ConfigurationError:
            raise  # base_url unreachable from the start: the whole run's configuration, not this integration
        except (BrazeCdiError, RequestException) as error:
            # Rows read before the failure still load; the state stays where it was so the next run re-reads.
            client.stats.finish(integration_id, failed=True)
            backfill.report(integration_id, None, failed=True)
            yield from items.flush(batch)
            yield failures.record(name, error, integration_id)
            return
        if batch or items.pending:
            yield from items.flush(batch)
        elif cursor.last_start is None and cursor.newest_seen is None and not _table_has_data():
            # Nothing loaded yet, ever: create the table anyway, so analysts' SQL finds every column. Only
            # then: an empty file of a table whose rows go as jsonl fails DuckDB's JSON reader (no columns).
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
        top_finished = top is not None and not any(s is top for s in history.stretches)
        if top is not None and not top_finished and top.until is not None and top.cursor is None:
            # a look at the newest pages that never started (budget spent): the next run's covers it
            history.stretches[:] = [s for s in history.stretches if s is not top]
        open_before = state.get("open_sync_start_times", [])
        state.update(cursor.to_state())
        if not top_finished:
            # the syncs still open that this slice did not read past stay open
            state["open_sync_start_times"] = sorted(set(open_before) | set(state["open_sync_start_times"]))
        state["backfill"] = history.to_state()
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
        columns=JOB_SYNC_STATUS_COLUMNS,
    )
    return resource


def _table_has_data() -> bool:
    """Whether `job_sync_status` already holds rows from an earlier load (so it exists with every column)."""
    try:
        table = dlt.current.source_schema().tables.get(JOB_SYNC_STATUS_TABLE)
    except Exception:  # no schema in this context: materialize, as before
        return False
    return table is not None and has_table_seen_data(table)


class _StretchReader:
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
        cursor: SyncCursor,
        history: History,
        backfill: Backfill,
        now: datetime,
        top: Stretch | None,
    ) -> None:
        self.client, self.path, self.integration_id = client, path, integration_id
        self.cursor, self.history, self.backfill, self.now, self.top = cursor, history, backfill, now, top
        self.more = True
        self.unkeyed = 0
        self.cleaner = RowCleaner(JOB_SYNC_STATUS_COLUMNS)

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

    def _read(self, stretch: Stretch, bound: datetime | None, floor: bool) -> Iterator[list[dict[str, Any]]]:
        pages = self.client.pages(self.path, self.integration_id, cursor=stretch.cursor)
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
                rows, reached, bad = _rows_of_page(page, self.integration_id, bound, self.cleaner)
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


@dataclass
class FileFormatHint:
    """The load-file format chosen for the source's rows; None leaves dlt's choice.

    The job decides it (`job.loader_file_format`) and hands it over with `hint_file_format`; the source only
    puts it on its batches of rows, never on the marker that creates an empty table: on DuckDB an empty jsonl
    file has no columns for its JSON reader, and the load fails.
    """

    value: str | None = None


def hint_file_format(source: Any, file_format: str | None) -> bool:
    """Have a `braze_cdi_source` write its rows in `file_format`; False for any other source."""
    resources = getattr(source, "resources", None) or {}
    resource = resources.get(INTEGRATIONS_TABLE) if hasattr(resources, "get") else None
    hint = getattr(resource, "file_format", None)
    if not isinstance(hint, FileFormatHint):
        return False
    hint.value = file_format
    return True


def _rows_of_page(
    page: list[Any], integration_id: str, boundary: datetime | None, cleaner: RowCleaner | None = None
) -> tuple[list[dict[str, Any]], bool, int]:
    """The page's rows at or after the boundary, whether paging can stop, and how many items had no key.

    Paging stops at a page that reaches the boundary, but only while the page is in
    newest-first order: if Braze ever pages oldest first, every page is read.
    """
    rows: list[dict[str, Any]] = []
    starts: list[datetime] = []
    bad = 0
    for item in page:
        try:
            row = _normalise(item, JOB_SYNC_STATUS_TIMESTAMPS, key="sync_start_time", cleaner=cleaner)
        except (ValueError, TypeError, AttributeError):
            bad += 1
            continue
        start = row.get("sync_start_time")
        if start is None:
            bad += 1
            continue
        starts.append(start)
        if boundary is None or start >= boundary:
            row["integration_id"] = integration_id
            rows.append(row)
    newest_first = all(a >= b for a, b in zip(starts, starts[1:], strict=False))
    reached = boundary is not None and newest_first and any(s <= boundary for s in starts)
    return rows, reached, bad
