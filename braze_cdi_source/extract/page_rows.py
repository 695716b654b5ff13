"""One Braze page's items as rows: timestamps as UTC instants, values that cannot load repaired (rows.py), and
whether paging can stop at the cursor's boundary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..settings import JOB_SYNC_STATUS_TIMESTAMPS
from ..timestamps import parse_instant
from .rows import RowCleaner, safe_value


def normalise(
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



def rows_of_page(
    page: list[Any], integration_id: str, boundary: datetime | None, cleaner: RowCleaner | None = None
) -> tuple[list[dict[str, Any]], bool, int]:
    """The page's rows at or after the boundary, whether paging can stop, and how many items had no key.

    Paging stops at a page that reaches the boundary, but only while the page is in
    newest-first order: if Braze ever pages oldest first, every page is read.
    """
    key = safe_value(integration_id)[0]  # the id as `integrations` holds it (NUL as U+FFFD)
    rows: list[dict[str, Any]] = []
    starts: list[datetime] = []
    bad = 0
    for item in page:
        try:
            row = normalise(item, JOB_SYNC_STATUS_TIMESTAMPS, key="sync_start_time", cleaner=cleaner)
        except (ValueError, TypeError, AttributeError):
            bad += 1
            continue
        start = row.get("sync_start_time")
        if start is None:
            bad += 1
            continue
        starts.append(start)
        if boundary is None or start >= boundary:
            row["integration_id"] = key
            rows.append(row)
    newest_first = all(a >= b for a, b in zip(starts, starts[1:], strict=False))
    reached = boundary is not None and newest_first and any(s <= boundary for s in starts)
    return rows, reached, bad
