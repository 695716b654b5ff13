"""Batches of sync rows as Arrow tables with the declared column types, so dlt skips its per-row normalize and
writes each destination's best file; a batch that would land otherwise (a new field, a variant value, a text
timestamp) goes as rows (docs/ARCHITECTURE.md, "The source hands dlt Arrow tables")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.common.normalizers.utils import generate_dlt_ids
from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable

from ..settings import JOB_SYNC_STATUS_COLUMNS

# pyarrow (a dependency, through dlt[parquet]) is imported with the source, before dlt's worker threads: dlt reads
# sys.modules for it, and a module half imported by one worker made `is_arrow_object` raise in another thread
try:
    import pyarrow as pa
except ImportError:  # without it every batch goes as rows
    pa = None
else:
    _ARROW_TYPES = {"text": pa.string(), "bigint": pa.int64(), "timestamp": pa.timestamp("us", tz="UTC")}
    _SCHEMA = pa.schema(
        pa.field(name, _ARROW_TYPES[column["data_type"]], nullable=column.get("nullable", True))
        for name, column in JOB_SYNC_STATUS_COLUMNS.items()
    )

_PYTHON_TYPES = {"text": str, "timestamp": datetime, "bigint": int}
_NONE = type(None)


ARROW_ROWS = 1_000
"""Rows per Arrow table handed to dlt: dlt validates the schema of every Arrow item, so few large items."""


class ArrowBatches:
    """Turns batches of rows into the items the source yields: Arrow tables (gathered up to `ARROW_ROWS` rows)
    when the batch fits the declared columns, else the rows themselves. The tables carry dlt's `_dlt_load_id`
    and `_dlt_id`, which dlt adds to Arrow items only by a setting the source must not depend on."""

    def __init__(self, arrow_rows: int = ARROW_ROWS) -> None:
        self.arrow = pa is not None
        self.arrow_rows = arrow_rows
        self._pending: list[Any] = []
        self._pending_rows = 0
        self.arrow_batches = 0
        self.row_batches = 0

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def add(self, rows: list[dict[str, Any]]) -> Iterator[Any]:
        """The items to yield for `rows` now: none while Arrow rows gather, a table once enough did, the rows
        themselves when they do not fit (after the Arrow rows before them)."""
        table = self.to_arrow(rows) if self.arrow and rows else None
        if table is None:
            yield from self._send_pending()
            if rows:
                self.row_batches += 1
                yield rows
            return
        self.arrow_batches += 1
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.arrow_rows:
            yield from self._send_pending()

    def flush(self, rows: list[dict[str, Any]]) -> Iterator[Any]:
        """The items to yield for the last `rows` of a resource and whatever Arrow rows still wait."""
        yield from self.add(rows)
        yield from self._send_pending()
        if self.arrow_batches:  # what pyarrow's pool keeps for reuse: the destination loading next allocates its own
            pa.default_memory_pool().release_unused()

    def _send_pending(self) -> Iterator[Any]:
        if not self._pending:
            return
        tables, self._pending, self._pending_rows = self._pending, [], 0
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()
        yield _with_dlt_columns(table)

    def to_arrow(self, rows: list[dict[str, Any]]) -> Any:
        """`rows` as an Arrow table with the declared types, or None when any value would land differently."""
        if not rows or not set().union(*rows) <= JOB_SYNC_STATUS_COLUMNS.keys():
            return None  # an unknown field: a new column, dlt's job
        arrays = []
        for field, column in zip(_SCHEMA, JOB_SYNC_STATUS_COLUMNS.values(), strict=True):
            values = [row.get(field.name) for row in rows]
            if not {type(v) for v in values} <= {_PYTHON_TYPES[column["data_type"]], _NONE}:
                return None  # another type (bool, float, text timestamp, nested): a variant column
            if not field.nullable and None in values:
                return None
            try:
                arrays.append(pa.array(values, type=field.type))
            except (OverflowError, pa.ArrowException):
                return None  # does not fit (an integer beyond 64 bits): dlt decides what lands
        return pa.Table.from_arrays(arrays, schema=_SCHEMA)


def _with_dlt_columns(table: Any) -> Any:
    """`table` with this load's `_dlt_load_id` and a unique `_dlt_id` per row (unchanged outside an extract)."""
    try:
        load_id = dlt.current.load_package_state()["load_id"]
    except CurrentLoadPackageStateNotAvailable:
        return table
    rows = table.num_rows
    table = table.append_column(pa.field("_dlt_load_id", pa.string(), nullable=False), pa.array([load_id] * rows))
    return table.append_column(
        pa.field("_dlt_id", pa.string(), nullable=False), pa.array(generate_dlt_ids(rows), type=pa.string())
    )

