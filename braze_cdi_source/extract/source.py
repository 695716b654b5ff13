"""The `braze_cdi` dlt source: Braze CDI integrations and their job sync history."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone

import dlt
from dlt.sources import DltResource

from ..errors import ConfigurationError
from ..http.client import BrazeClient
from ..http.next_link import DEFAULT_MAX_PAGES
from ..http.retries import RetryBudget
from ..http.throttle import DEFAULT_MAX_RATE_LIMIT_WAIT
from ..http.transport import DEFAULT_MAX_BODY_BYTES
from ..settings import (
    DEFAULT_FUTURE_TOLERANCE_MINUTES,
    DEFAULT_MAX_RUNNING_HOURS,
    RATE_LIMITS_PER_MINUTE,
    SOURCE_NAME,
)
from ..timestamps import parse_instant, to_iso
from .backfill import Backfill, TimeBudget, parse_duration
from .failures import ExtractionFailures
from .integrations import Listed, integrations_resource, list_integrations
from .job_sync_status import job_sync_status_resource
from .run_context import RunContext


def parse_start_date(value: str | datetime | None) -> datetime | None:
    """start_date as an instant; refused when it is not ISO 8601 or lies in the future (nothing would load)."""
    if value is None or value == "":
        return None
    try:
        bounded_from = parse_instant(value)
    except ValueError:
        raise ConfigurationError(
            f"start_date {value!r} is not an ISO 8601 date or timestamp (e.g. 2026-01-31 or 2026-01-31T00:00:00Z)."
        ) from None
    if bounded_from > datetime.now(timezone.utc):
        raise ConfigurationError(
            f"start_date {to_iso(bounded_from)} is in the future: no sync started after it, so nothing would load. "
            "Use a past date (or none: Braze's whole history)."
        )
    return bounded_from


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
    run_context: RunContext | None = None,
    time_budget: str | float | None = None,
    checkpoint_pages: int | None = None,
) -> Iterator[DltResource]:
    """Braze CDI sync history: the `integrations` table and one `job_sync_status_<id>` resource per integration.

    Args:
        api_key: REST API key with `cdi.integration_list` and `cdi.integration_job_status` (a secret).
        base_url: the workspace's REST endpoint, e.g. https://rest.iad-03.braze.com.
        integration_ids: only these integrations (in the environment, a JSON list); None or empty: every one
            that `GET /cdi/integrations` lists.
        start_date: ignore syncs that started before it (bounds the first backfill).
        max_running_hours: how long a sync seen `running` is re-read on later runs until it finishes.
        list_requests_per_minute / job_status_requests_per_minute: the rate limits used when Braze's
            responses carry no `X-RateLimit-*` headers.
        request_timeout / max_attempts / backoff_factor / max_retry_delay: the retry budget of one request;
            `request_timeout` is the total time of one attempt (connect, headers and body).
        max_response_bytes: largest response body read, after decompression.
        max_rate_limit_wait: longest wait any rate-limit header may impose (Braze's window); a 429 asking for
            more than an hour fails that integration at once.
        max_pages: pages read per integration per run at most (a longer history goes on next run).
        future_tolerance_minutes: a sync starting more than this after now loads but does not move the cursor
            (a future-dated sync would hide every later one).
        fail_fast: raise on the first failed integration instead of recording it in `extraction_errors`.
        parallel: extract integrations in parallel threads (sharing one throttle).
        run_context: what this run shares with the job that runs it (counters, backfill plan).
        time_budget: stop paging when this much time is spent (`50m`, `1h30m`, `90s` or seconds), load what
            was read and keep each resume point: the next run continues the backfill.
        checkpoint_pages: at most this many pages between two commits of rows and resume points when the job
            loads in slices; default: about a minute of reading. A plain `pipeline.run` commits once.
    """
    context = run_context if run_context is not None else RunContext()
    client = BrazeClient(
        api_key,
        base_url,
        limits_per_minute={"list": list_requests_per_minute, "job_sync_status": job_status_requests_per_minute},
        budget=RetryBudget(max_attempts, backoff_factor, max_retry_delay, request_timeout),  # dlt coerces the types
        stats=context.stats,
        max_body_bytes=max_response_bytes,
        max_rate_limit_wait=max_rate_limit_wait,
        max_pages=max_pages,
    )
    future_tolerance = timedelta(minutes=float(future_tolerance_minutes))
    budget = TimeBudget(parse_duration(time_budget), started=context.started)
    bounded_from = parse_start_date(start_date)
    backfill = context.backfill = Backfill(
        int(checkpoint_pages) if checkpoint_pages else None,
        budget,
        wait_for_page=lambda: client.throttle.wait_needed("job_sync_status"),
        rate_per_minute=int(job_status_requests_per_minute),
        limit_per_minute=lambda: client.throttle.per_minute("job_sync_status"),
    )
    max_running = timedelta(hours=float(max_running_hours))
    failures = ExtractionFailures(fail_fast)
    wanted = _as_ids(integration_ids)

    listed: Listed | None = None
    if not wanted:
        # the list decides which resources exist; the integrations resource reuses it
        listed = list_integrations(client, budget.left)
        wanted = [item["integration_id"] for item in listed[0]]

    yield integrations_resource(client, listed, wanted if integration_ids else None, failures, backfill)
    wanted = list(dict.fromkeys(wanted))
    _room_for_resources(len(wanted))
    client.stats.expect(wanted)
    backfill.integrations = wanted
    for integration_id in wanted:
        yield job_sync_status_resource(
            client, integration_id, bounded_from, max_running, failures, parallel, context, backfill, future_tolerance
        )


def _room_for_resources(count: int) -> None:
    """Let dlt's extract recurse once per resource: its PipeIterator calls itself for each exhausted generator,
    so a thousand integrations passed Python's default limit (reported by dlt as "StopIteration:")."""
    needed = 2 * count + 1_000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def _as_ids(value: Sequence[str] | str | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]
