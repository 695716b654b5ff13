"""The load-file format of the source's rows: the one place it is decided, and the settings it needs."""

from __future__ import annotations

from typing import Any

import dlt

from ..extract.arrow_batch import ARROW_FILE_FORMAT, arrow_available


def file_format_tuning(file_format: str | None) -> dict[str, Any]:
    """Settings the source's load-file format needs unless the user set them.

    With Parquet the source hands dlt Arrow tables, and a batch that does not fit the declared types goes as
    rows (extract/arrow_batch.py). dlt gives rows `_dlt_load_id` and `_dlt_id` (not null in the table) but
    leaves Arrow tables without them unless told, so both kinds of batch must get them for one table.
    """
    if file_format != ARROW_FILE_FORMAT:
        return {}
    return {"normalize.parquet_normalizer.add_dlt_load_id": True, "normalize.parquet_normalizer.add_dlt_id": True}


def configured_file_format() -> str | None:
    """`[normalize] loader_file_format` / NORMALIZE__LOADER_FILE_FORMAT (e.g. parquet for a lake), or None.

    dlt 1.x no longer reads this key itself; the job passes it to `pipeline.run` for every table.
    """
    return dlt.config.get("normalize.loader_file_format", str) or None


def run_file_format(pipeline: dlt.Pipeline) -> str | None:
    """The format `pipeline.run` puts on every table: the configured one (`configured_file_format`), except jsonl
    on DuckDB. There the files that only create an empty table (`job_sync_status` before any sync,
    `extraction_errors`) were empty jsonl files, which DuckDB's JSON reader binds to a single column `json`, and
    the load failed. The source's rows still go as jsonl (`hint_file_format` puts it on their batches); tables
    without such a hint take DuckDB's own format, which creates an empty table."""
    configured = configured_file_format()
    destination = pipeline.destination
    if configured == "jsonl" and destination is not None and destination.destination_type in _EMPTY_JSONL_FAILS:
        return None
    return configured


_EMPTY_JSONL_FAILS = ("dlt.destinations.duckdb", "dlt.destinations.motherduck")


def loader_file_format(pipeline: dlt.Pipeline) -> str | None:
    """The load-file format of the source's rows: the one place this is decided (None: dlt's own choice).

    The user's configured format wins. Otherwise, where the destination would write INSERT statements but
    reads other files (DuckDB): "parquet" when pyarrow is installed, so the source hands dlt Arrow tables and
    dlt skips its per-row normalize (extract/arrow_batch.py), else "jsonl". DuckDB loads dlt's default
    `insert_values` files by parsing them as SQL, which took 2.5 GB of RSS and most of the load time for
    100,000 syncs (benchmarks/README.md). Other destinations keep their own preferred format (Postgres has
    neither loader). `run_pipeline` hands the choice to the source (`hint_file_format`), which puts it on its
    batches of rows only: an empty table's jsonl file would have no columns for DuckDB.
    """
    configured = configured_file_format()
    if configured:
        return configured
    destination = pipeline.destination
    if destination is None:
        return None
    try:
        capabilities = destination.capabilities()
    except Exception:  # a destination that cannot say: leave dlt's choice
        return None
    supported = capabilities.supported_loader_file_formats or ()
    if capabilities.preferred_loader_file_format != "insert_values" or "jsonl" not in supported:
        return None  # Postgres lists parquet too, but loads it only through an optional ADBC driver
    return ARROW_FILE_FORMAT if ARROW_FILE_FORMAT in supported and arrow_available() else "jsonl"
