"""Rows from Braze made safe to load: a value that cannot load costs that field, never the run.

Every value of an item is untrusted. What a destination cannot store becomes text that says what it was, which
dlt puts in a variant column (e.g. `rows_synced__v_text`) next to ours: integers beyond 64 bits, NaN and
infinities; values nested deeper than `MAX_DEPTH` become their JSON text; NUL characters (PostgreSQL refuses
them in text) become U+FFFD. Fields Braze adds are kept, within a cap of new columns per table, but one
whose normalised column name is one of ours or dlt's (`SyncStartTime` and `sync_start_time` are one column to
dlt, `_dlt_id` is dlt's row key) or nothing at all (" ") is renamed `braze_extra__<name>`, so it can never
overwrite or null a column we own nor cost its row; each such repair is noted once per resource in `extraction_errors`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import dlt
from dlt.common.data_types.type_helpers import coerce_value
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ..run_stats import RunStats

MAX_DEPTH = 32
"""Deeper nesting is kept as JSON text: dlt's JSON writer refuses about 250 levels, a run must not die of it."""

MAX_EXTRA_COLUMNS = 50
"""Columns beyond ours a table may hold (counting those earlier runs added): fields Braze adds later land,
within a few dozen; fields past it are dropped and counted (PostgreSQL allows 1,600 columns a table; 100 new
fields on every row once made 10,018 columns and 7.6 GB of RSS)."""

EXTRA_PREFIX = "braze_extra__"

_INT64 = (-(2**63), 2**63 - 1)
_naming = NamingConvention()


class RowCleaner:
    """Cleans the items of one resource and remembers what it had to repair, for one note at the end.

    With `stats` and `table`, the table's extra columns are capped for the whole run (`RunStats.admit_column`,
    shared by every resource writing the table) at `MAX_EXTRA_COLUMNS`, counting what the schema holds already.
    """

    def __init__(self, known_columns: Iterable[str], stats: RunStats | None = None, table: str = "") -> None:
        self.known = frozenset(known_columns)
        self._reserved = {_naming.normalize_identifier(name) for name in self.known}
        self._renamed: dict[str, str] = {}
        self._repaired: dict[str, str] = {}
        self._dropped: set[str] = set()
        self._columns: dict[str, str | None] = {}
        self._admit = None
        if stats is not None:
            existing = {c for c in _schema_columns(table) if c not in self._reserved and not c.startswith("_dlt")}
            self._admit = lambda column: stats.admit_column(table, column, existing, MAX_EXTRA_COLUMNS)

    def clean(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `item` that loads: values repaired, colliding or blank field names renamed, extras capped."""
        row: dict[str, Any] = {}
        known = self.known
        for key, value in item.items():
            kind = type(value)
            if key in known and (
                value is None
                or (kind is str and "\x00" not in value)
                or (kind is int and _INT64[0] <= value <= _INT64[1])
            ):
                row[key] = value  # what Braze sends for our columns: nothing to repair (as `safe_value` says)
                continue
            name: str | None = key if isinstance(key, str) else str(key)
            if name not in known:
                name = self._columns[name] if name in self._columns else self._extra_column(name)
                if name is None:
                    continue
            row[name] = self._value(name, value)
        return row

    def _extra_column(self, name: str) -> str | None:
        """The column a field Braze added lands in: its own name; `braze_extra__…` when its name collides with
        ours or dlt's (`SyncStartTime`, `_dlt_id`) or normalises to nothing (" ", NBSP: dlt refuses those);
        None (dropped) once the table's extra columns are spent."""
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

    def _value(self, field: str, value: Any) -> Any:
        cleaned, why = safe_value(value)
        if why is not None:
            self._repaired.setdefault(field, why)
        return cleaned

    def unparsed_timestamp(self, field: str, value: Any) -> Any:
        """`unparsed_timestamp`, noting the field when its text had to be marked to stay text."""
        kept = unparsed_timestamp(value)
        if kept != value and isinstance(kept, str) and kept.endswith(_NOT_A_TIMESTAMP):
            self._repaired.setdefault(field, "timestamp out of range or not ISO 8601")
        return kept

    def note(self) -> str | None:
        """One sentence on what was repaired, or None when every item loaded as sent."""
        parts = []
        if self._renamed:
            names = ", ".join(f"{_shown(k)} -> {_shown(v)}" for k, v in sorted(self._renamed.items())[:5])
            parts.append(f"field(s) whose column name collides with ours or dlt's were renamed ({names})")
        if self._repaired:
            fields = ", ".join(f"{_shown(k)} ({v})" for k, v in sorted(self._repaired.items())[:5])
            parts.append(f"value(s) that cannot load were kept as text in a variant column: {fields}")
        if self._dropped:
            names = ", ".join(_shown(k) for k in sorted(self._dropped)[:5])
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
        why: str | None = None
        if isinstance(value, dict):
            out: Any = {}
            for key, inner in value.items():
                out[key], reason = safe_value(inner, depth + 1)
                why = why or reason
        else:
            out = []
            for inner in value:
                cleaned, reason = safe_value(inner, depth + 1)
                out.append(cleaned)
                why = why or reason
        return out, why
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


def _shown(text: str) -> str:
    return "".join(c for c in text if c.isprintable())[:60]


def unparsed_timestamp(value: Any) -> Any:
    """A timestamp we could not read, kept as text that dlt will not turn back into a timestamp.

    dlt coerces text into a timestamp column when it can (`"1e10"` becomes year 2286, an offset that takes
    year 9999 past the range fails the load), so such text gets a note appended and lands in the variant
    column instead. Text dlt cannot read either ("garbage") stays as sent.
    """
    cleaned, _ = safe_value(value)
    if not isinstance(cleaned, str):
        return cleaned if cleaned is None or isinstance(cleaned, (dict, list)) else str(cleaned)
    try:
        coerce_value("timestamp", "text", cleaned)
    except Exception:  # noqa: BLE001 - dlt cannot read it: it stays text as it is
        return cleaned
    return cleaned + _NOT_A_TIMESTAMP


_NOT_A_TIMESTAMP = " (not a valid timestamp)"
