"""Braze's items as rows that load: a value that cannot load costs that field, never the run.

What a destination cannot store (integers beyond 64 bits, NaN, deep nesting, NUL) becomes text saying what it
was, in dlt's variant column next to ours. Fields Braze adds land, within a cap per table; one whose column name
is ours or dlt's, or normalises to nothing, is renamed `braze_extra__…`. Each repair is one note per resource.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import dlt
from dlt.common.data_types.type_helpers import coerce_value
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ..run_stats import RunStats
from ..settings import JOB_SYNC_STATUS_COLUMNS, JOB_SYNC_STATUS_TIMESTAMPS
from ..terminal_text import shown
from ..timestamps import parse_instant

MAX_DEPTH = 32
"""Deeper nesting is kept as JSON text: dlt's JSON writer refuses a few hundred levels."""

MAX_EXTRA_COLUMNS = 50
"""Columns beyond ours a table may hold, counting those earlier runs added; fields past it are dropped and counted
(hostile rows of new fields each must not make thousands of columns: PostgreSQL allows 1,600)."""

EXTRA_PREFIX = "braze_extra__"

_INT64 = (-(2**63), 2**63 - 1)
_BELOW_MICROSECOND = re.compile(r"[.,]\d{6}(\d+)")
_naming = NamingConvention()


class RowCleaner:
    """Cleans the items of one resource and remembers what it repaired, for one note at the end. With `stats`,
    the table's extra columns are capped for the whole run, shared by every resource writing the table."""

    def __init__(self, known_columns: Iterable[str], stats: RunStats | None = None, table: str = "") -> None:
        self.known = frozenset(known_columns)
        self._reserved = {_naming.normalize_identifier(name) for name in self.known}
        self._renamed: dict[str, str] = {}
        self._repaired: dict[str, str] = {}
        self._dropped: set[str] = set()
        self._columns: dict[str, str | None] = {}
        self._last_key: tuple[datetime, str, str] | None = None
        self._merged: list[tuple[str, str]] = []
        self._admit = None
        if stats is not None:
            existing = {c for c in _schema_columns(table) if c not in self._reserved and not c.startswith("_dlt")}
            self._admit = lambda column: stats.admit_column(table, column, existing, MAX_EXTRA_COLUMNS)

    def clean(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `item` that loads: values repaired, colliding or blank field names renamed, extras capped."""
        row: dict[str, Any] = {}
        for key, value in item.items():
            name: str | None = key if isinstance(key, str) else str(key)
            if name not in self.known:
                name = self._columns[name] if name in self._columns else self._extra_column(name)
                if name is None:
                    continue
            row[name], why = safe_value(value)
            if why is not None:
                self._repaired.setdefault(name, why)
        return row

    def _extra_column(self, name: str) -> str | None:
        """A new field's column: its name, `braze_extra__…` when that collides with ours or dlt's or normalises to
        nothing, None (dropped) once the table's extra columns are spent."""
        try:
            normalised = _naming.normalize_identifier(name)
        except ValueError:
            normalised = ""
        column = name
        if not normalised.strip("_"):
            column = EXTRA_PREFIX + ("_".join(f"u{ord(c):04x}" for c in name[:8]) or "empty")
        elif normalised in self._reserved or normalised.startswith("_dlt"):
            column = EXTRA_PREFIX + name
        if column != name:
            self._renamed[name] = column
        if self._admit is not None and not self._admit(_naming.normalize_identifier(column)):
            self._dropped.add(name)
            column = None
        self._columns[name] = column
        return column

    def row(self, item: Mapping[str, Any], timestamp_fields: Sequence[str], key: str | None = None) -> dict[str, Any]:
        """`item` cleaned, its timestamps as UTC instants; one that does not parse is kept as text (a variant
        column), except the `key` timestamp, the row's identity (ValueError)."""
        row = self.clean(item)
        for name in [name for name in timestamp_fields if name in row]:
            raw = row[name]
            try:
                row[name] = parse_instant(raw)
            except ValueError:
                if name == key:
                    raise
                row[name] = self._unparsed_timestamp(name, raw)
                continue
            if name == key and row[name] is not None:
                self.keyed(raw, row[name])
        return row

    def _unparsed_timestamp(self, field: str, value: Any) -> Any:
        """A timestamp we could not read, as text dlt will not coerce back into one (`"1e10"` would become year
        2286): text dlt could read gets a note appended, lands in the variant column and is noted."""
        if not isinstance(value, str):
            return value if value is None or isinstance(value, (dict, list)) else str(value)
        try:
            coerce_value("timestamp", "text", value)
        except Exception:  # noqa: BLE001 - dlt cannot read it: it stays text as it is
            return value
        self._repaired.setdefault(field, "timestamp out of range or not ISO 8601")
        return value + " (not a valid timestamp)"

    def keyed(self, raw: Any, instant: datetime) -> None:
        """Note a key that differs from the one before only below a microsecond (what destinations store): the
        two syncs share a row. Braze's order is by time, so such syncs are neighbours."""
        below = _BELOW_MICROSECOND.search(raw) if isinstance(raw, str) else None
        digits = below.group(1).rstrip("0") if below else ""
        last, self._last_key = self._last_key, (instant, digits, str(raw))
        if last is not None and last[0] == instant and last[1] != digits:
            self._merged.append((last[2], str(raw)))

    def note(self) -> str | None:
        """One sentence on what was repaired or merged, or None when every item loaded as sent."""
        parts = []
        if self._merged:
            first, second = self._merged[0]
            parts.append(
                f"{len(self._merged)} sync(s) whose sync_start_time differs from the one before only below a "
                f"microsecond ({shown(first)} and {shown(second)}) share its key and merged into one row"
            )
        if self._renamed:
            names = ", ".join(f"{shown(k)} -> {shown(v)}" for k, v in sorted(self._renamed.items())[:5])
            parts.append(f"field(s) whose column name collides with ours or dlt's were renamed ({names})")
        if self._repaired:
            fields = ", ".join(f"{shown(k)} ({v})" for k, v in sorted(self._repaired.items())[:5])
            parts.append(f"value(s) that cannot load were kept as text in a variant column: {fields}")
        if self._dropped:
            names = ", ".join(shown(k) for k in sorted(self._dropped)[:5])
            parts.append(
                f"{len(self._dropped)} field(s) were dropped, the table holding its {MAX_EXTRA_COLUMNS} extra columns "
                f"already ({names})"
            )
        return "; ".join(parts) + "; the rows loaded." if parts else None


def safe_value(value: Any, depth: int = 0) -> tuple[Any, str | None]:
    """`value` in a form every destination loads, and why it had to change (None if it did not)."""
    if isinstance(value, bool) or value is None:
        return value, None
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return value, None
        # plain digits would be read back as the integer by dlt's coercion: say what the text is
        return f"{value} (integer beyond 64 bits)", "integer beyond 64 bits"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value), "not a finite number"
        if abs(value) >= 2**63:  # in an integer column dlt would turn it into an int that no destination takes
            return f"{value!r} (number beyond 64 bits)", "number beyond 64 bits"
        return value, None
    if isinstance(value, str):
        return (value.replace("\x00", "\ufffd"), "NUL character") if "\x00" in value else (value, None)
    if isinstance(value, (dict, list)):
        if depth == 0 and _deeper_than(value, MAX_DEPTH):
            return _as_json_text(value), f"nested deeper than {MAX_DEPTH} levels"
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        cleaned = {key: safe_value(inner, depth + 1) for key, inner in pairs}
        why = next((reason for _, reason in cleaned.values() if reason), None)
        if isinstance(value, dict):
            return {key: kept for key, (kept, _) in cleaned.items()}, why
        return [kept for kept, _ in cleaned.values()], why
    return value, None


def _schema_columns(table: str) -> set[str]:
    """The columns `table` has in the source's schema (earlier runs'), when read inside a dlt resource."""
    try:
        return set(dlt.current.source_schema().tables.get(table, {}).get("columns", {}))
    except Exception:  # noqa: BLE001 - outside a pipeline's extract: no schema to count
        return set()


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels (iterative: the value may be thousands deep)."""
    stack = [(value, 1)]
    while stack:
        current, level = stack.pop()
        if level > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _as_json_text(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (RecursionError, ValueError, TypeError):
        return "(nested too deeply to keep)"


def rows_of_page(
    page: list[Any], integration_id: str, boundary: datetime | None, cleaner: RowCleaner | None = None
) -> tuple[list[dict[str, Any]], bool, int]:
    """The page's rows at or after the boundary, whether paging can stop there (only while the page is newest
    first: pages in another order are all read), and how many items had no valid key."""
    cleaner = cleaner or RowCleaner(JOB_SYNC_STATUS_COLUMNS)
    key = safe_value(integration_id)[0]  # the id as `integrations` holds it (NUL as U+FFFD)
    rows: list[dict[str, Any]] = []
    starts: list[datetime] = []
    bad = 0
    for item in page:
        try:
            row = cleaner.row(item, JOB_SYNC_STATUS_TIMESTAMPS, key="sync_start_time")
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
