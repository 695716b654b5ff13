"""The `integrations` resource: Braze's list of CDI integrations, merged on `integration_id`."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from ..http.client import BrazeClient
from ..settings import INTEGRATION_COLUMNS, INTEGRATION_TIMESTAMPS, INTEGRATIONS_TABLE, LIST_ENDPOINT, LIST_PATH
from .backfill import Backfill
from .failures import RUN_ENDING, ExtractionFailures, with_errors_table
from .rows import RowCleaner

logger = logging.getLogger("braze_cdi")

MAX_LIST_PAGES = 1_000  # pages of `GET /cdi/integrations` read at most
MAX_LIST_BYTES = 64 * 1024 * 1024  # bytes of the list's pages kept at most


Listed = tuple[list[dict[str, Any]], list[str]]
"""The list's items that name an integration (an object with a text id), and what the list lost, a sentence each."""


def list_integrations(client: BrazeClient, time_left: Callable[[], float] = lambda: math.inf) -> Listed:
    """Every page of the integration list, within half of the run's paging time and the list's page and size
    bounds: a list that pages on forever stops at one and says so."""
    items: list[dict[str, Any]] = []
    notes: list[str] = []
    skipped, size, floor = 0, 0, time_left() / 2
    for number, page in enumerate(client.pages(LIST_PATH), 1):
        for item in page:
            if isinstance(item, dict) and isinstance(item.get("integration_id"), str) and item["integration_id"]:
                items.append(item)
            else:
                skipped += 1
        size += page.size
        bound = (
            "the time budget" if time_left() - floor <= client.throttle.wait_needed(LIST_ENDPOINT) else
            f"{MAX_LIST_PAGES} pages" if number >= MAX_LIST_PAGES else
            f"{MAX_LIST_BYTES // 2**20} MiB" if size >= MAX_LIST_BYTES else None
        )
        if bound is not None and page.has_next:
            notes.append(
                f"integration list: stopped listing at {bound} ({number} pages, {len(items)} integrations) while "
                "Braze still announced more pages; the integrations listed load. Report it to Braze if it persists."
            )
            logger.warning(notes[-1])
            break
    if skipped:
        notes.append(
            f"integration list: {skipped} item(s) that are not an object with a text integration_id were skipped "
            "(Braze sent another shape); the other integrations load."
        )
    return items, notes


def integrations_resource(
    client: BrazeClient,
    listed: Listed | None,
    only: list[str] | None,
    failures: ExtractionFailures,
    backfill: Backfill,
) -> DltResource:
    """`GET /cdi/integrations`, every page, merged on `integration_id` (once per run: not again per slice)."""

    @dlt.resource(name=INTEGRATIONS_TABLE)
    def integrations() -> Iterator[Any]:
        cleaner = RowCleaner(INTEGRATION_COLUMNS, client.stats, INTEGRATIONS_TABLE)
        if backfill.slice_number > 1:
            return
        try:
            items, notes = listed if listed is not None else list_integrations(client)
            client.stats.named(
                {i["integration_id"]: str(i["integration_name"]) for i in items if i.get("integration_name")}
            )
            yield [cleaner.row(i, INTEGRATION_TIMESTAMPS) for i in items if only is None or i["integration_id"] in only]
            for note in notes:
                yield failures.record(INTEGRATIONS_TABLE, note, None)
        except RUN_ENDING:
            raise
        except Exception as error:  # noqa: BLE001 - whatever the list's answers cause costs the list only
            yield failures.record(INTEGRATIONS_TABLE, error, None)
        if cleaner.note():
            yield failures.record(INTEGRATIONS_TABLE, f"integration list: {cleaner.note()}", None)

    return with_errors_table(
        integrations,
        table_name=INTEGRATIONS_TABLE,
        write_disposition="merge",
        primary_key="integration_id",
        columns=INTEGRATION_COLUMNS,
    )
