"""The `braze_cdi` dlt source: Braze CDI integrations and their job sync history."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
from dlt.sources import DltResource
from requests.exceptions import RequestException

from ..errors import BrazeApiError, BrazeCdiError, ConfigurationError
from ..http.client import BrazeClient
from ..http.retries import RetryBudget
from ..run_stats import RunStats
from ..settings import (
    DEFAULT_MAX_RUNNING_HOURS,
    EXTRACTION_ERRORS_TABLE,
    INTEGRATION_COLUMNS,
    INTEGRATION_TIMESTAMPS,
    INTEGRATIONS_TABLE,
    JOB_SYNC_STATUS_COLUMNS,
    JOB_SYNC_STATUS_PATH,
    JOB_SYNC_STATUS_TABLE,
    JOB_SYNC_STATUS_TIMESTAMPS,
    LIST_PATH,
    RATE_LIMITS_PER_MINUTE,
    SOURCE_NAME,
)
from ..timestamps import parse_instant
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


def _normalise(item: dict[str, Any], timestamp_fields: Sequence[str], key: str | None = None) -> dict[str, Any]:
    """A copy of `item` with its timestamps as UTC instants.

    A timestamp that does not parse is kept as sent: dlt stores it in a variant column
    (e.g. `sync_finish_time__v_text`) instead of the row being lost. Only the `key` timestamp must
    parse, since the row's identity depends on it (ValueError otherwise).
    """
    row = dict(item)
    for name in timestamp_fields:
        if name in row:
            try:
                row[name] = parse_instant(row[name])
            except ValueError:
                if name == key:
                    raise
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
    fail_fast: bool = False,
    parallel: bool = True,
    run_stats: RunStats | None = None,
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
            about two minutes in all, longer than a Braze rate-limit window.
        fail_fast: raise on the first failed integration instead of loading the others and recording
            the failure in `extraction_errors`.
        parallel: extract integrations in parallel threads (one throttle is shared by all of them).
        run_stats: the counters this run reports requests, pages and rows into (the job's summary reads
            them); a fresh `RunStats` when not given, so two sources in one process never share counts.
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
    )
    bounded_from = _parse_start_date(start_date)
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

    integrations = integrations_resource(client, listed, wanted if integration_ids else None, failures)
    integrations.run_stats = client.stats  # type: ignore[attr-defined]  # read by `stats_of`
    integrations.file_format = file_format  # type: ignore[attr-defined]  # set by `hint_file_format`
    yield integrations
    client.stats.expect(list(dict.fromkeys(wanted)))
    for integration_id in dict.fromkeys(wanted):
        yield job_sync_status_resource(
            client, integration_id, bounded_from, max_running, failures, parallel, file_format
        )


def stats_of(source: Any) -> RunStats | None:
    """The `RunStats` a `braze_cdi_source` reports into (None for any other source)."""
    resources = getattr(source, "resources", None) or {}
    resource = resources.get(INTEGRATIONS_TABLE) if hasattr(resources, "get") else None
    stats = getattr(resource, "run_stats", None)
    return stats if isinstance(stats, RunStats) else None


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
) -> DltResource:
    """`GET /cdi/integrations`, every page, merged on `integration_id`."""

    @dlt.resource(name=INTEGRATIONS_TABLE)
    def integrations() -> Iterator[Any]:
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
                _normalise(item, INTEGRATION_TIMESTAMPS)
                for item in items
                if isinstance(item, dict)
                and item.get("integration_id")
                and (only is None or str(item["integration_id"]) in only)
            ]
        except (BrazeCdiError, RequestException, ValueError) as error:
            yield failures.record(INTEGRATIONS_TABLE, error, None)

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
) -> DltResource:
    """One integration's sync history, newest first, read back only as far as the cursor needs."""
    name = f"{JOB_SYNC_STATUS_TABLE}_{integration_id}"

    @dlt.resource(name=name, parallelized=parallel)
    def job_sync_status() -> Iterator[Any]:
        state = dlt.current.resource_state()
        cursor = SyncCursor.from_state(state, start_date, max_running)
        now = datetime.now(timezone.utc)
        boundary = cursor.boundary(now)
        path = JOB_SYNC_STATUS_PATH.format(integration_id=integration_id)
        unkeyed = 0
        file_format = file_format_hint.value if file_format_hint else None  # read at extract time
        batch: list[dict[str, Any]] = []
        try:
            for page in client.pages(path, integration_id):
                rows, reached, bad = _rows_of_page(page, integration_id, boundary)
                unkeyed += bad
                kinds = {"new": 0, "updated": 0, "reread": 0}
                for row in rows:
                    kinds[cursor.kind_of(row["sync_start_time"], row.get("job_status"))] += 1
                    cursor.see(row["sync_start_time"], row.get("job_status"), now)
                client.stats.rows(integration_id, len(rows))
                client.stats.classified(integration_id, **kinds)
                batch += rows
                if len(batch) >= BATCH_ROWS:
                    yield _with_format(batch, file_format)
                    batch, file_format = [], None
                if reached:
                    break
        except (BrazeCdiError, RequestException) as error:
            # Rows read before the failure still load; the state stays where it was so the next run re-reads.
            client.stats.finish(integration_id, failed=True)
            if batch:
                yield _with_format(batch, file_format)
            yield failures.record(name, error, integration_id)
            return
        if batch:
            yield _with_format(batch, file_format)
        elif cursor.last_start is None and cursor.newest_seen is None:
            # Nothing loaded yet, ever: create the table anyway, so analysts' SQL finds every column.
            yield dlt.mark.materialize_table_schema()
        if unkeyed:
            yield failures.record(
                name,
                BrazeCdiError(
                    f"{unkeyed} sync item(s) without a valid sync_start_time were skipped for integration "
                    f"{integration_id}: the other rows loaded."
                ),
                integration_id,
            )
        state.update(cursor.to_state())
        client.stats.finish(integration_id, failed=bool(unkeyed))

    return with_errors_table(
        job_sync_status,
        table_name=JOB_SYNC_STATUS_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=("integration_id", "sync_start_time"),
        columns=JOB_SYNC_STATUS_COLUMNS,
    )


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


def _with_format(rows: list[dict[str, Any]], file_format: str | None) -> Any:
    """The first batch of a resource carries its file format hint; later ones go as they are."""
    return dlt.mark.with_hints(rows, dlt.mark.make_hints(file_format=file_format)) if file_format else rows


def _rows_of_page(
    page: list[Any], integration_id: str, boundary: datetime | None
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
            row = _normalise(item, JOB_SYNC_STATUS_TIMESTAMPS, key="sync_start_time")
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
