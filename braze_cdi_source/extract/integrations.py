"""The `integrations` resource: Braze's list of CDI integrations, merged on `integration_id`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource
from requests.exceptions import RequestException

from ..errors import BrazeCdiError
from ..http.client import BrazeClient
from ..settings import INTEGRATION_COLUMNS, INTEGRATION_TIMESTAMPS, INTEGRATIONS_TABLE, LIST_PATH
from .backfill import Backfill
from .failures import ExtractionFailures, with_errors_table
from .page_rows import normalise
from .rows import RowCleaner


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
                normalise(item, INTEGRATION_TIMESTAMPS, cleaner=cleaner)
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
