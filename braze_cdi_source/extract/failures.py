"""Failures that cost one integration, not the run: each becomes a row of `extraction_errors`."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import dlt
from dlt.sources import DltResource
from requests.exceptions import RequestException

from ..errors import BrazeApiError, BrazeCdiError, ConfigurationError
from ..http.cancel import RunInterrupted
from ..settings import EXTRACTION_ERROR_COLUMNS, EXTRACTION_ERRORS_TABLE

logger = logging.getLogger("braze_cdi")

RUN_ENDING = (ConfigurationError, RunInterrupted)
"""What ends the run; any other exception while reading an integration is that integration's failure."""


class ExtractionFailures:
    """Turns a failed resource into an `extraction_errors` row (or re-raises it with `fail_fast`)."""

    def __init__(self, fail_fast: bool) -> None:
        self.fail_fast = fail_fast
        self.run_started_at = datetime.now(timezone.utc)

    def record(self, resource: str, error: Exception | str, integration_id: str | None) -> Any:
        """Return the row to yield into `extraction_errors` (`error` may be a sentence on what was lost), or
        raise when failing fast."""
        if isinstance(error, str):
            error = BrazeCdiError(error)
        if self.fail_fast:
            raise error
        if isinstance(error, BrazeCdiError):
            message = str(error)
        elif isinstance(error, RequestException):  # its text holds URLs: say what it was
            message = f"network error ({type(error).__name__}) past the retry budget: re-run later."
        else:
            message = f"{type(error).__name__}: {error}"
        if integration_id and integration_id not in message:
            message = f"integration {integration_id}: {message}"
        row = {
            "run_started_at": self.run_started_at,
            "integration_id": integration_id,
            "resource": resource,
            "status": error.status if isinstance(error, BrazeApiError) else None,
            "path": error.path if isinstance(error, BrazeApiError) else None,
            "message": message,
        }
        logger.error(message)
        return dlt.mark.with_table_name(row, EXTRACTION_ERRORS_TABLE)


def with_errors_table(resource: DltResource, **hints: Any) -> DltResource:
    """Give `resource` its table hints plus an `extraction_errors` variant, declared first: a variant starts from
    the resource's hints of that moment, and must not inherit the sync table's key and columns."""
    resource.apply_hints(
        table_name=EXTRACTION_ERRORS_TABLE,
        write_disposition="append",
        columns=EXTRACTION_ERROR_COLUMNS,
        create_table_variant=True,
    )
    resource.apply_hints(**hints)
    return resource

