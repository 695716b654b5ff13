"""The user's `[normalize] loader_file_format` (e.g. parquet for a lake), which dlt 1.x no longer reads itself."""

from __future__ import annotations

import dlt

_EMPTY_JSONL_FAILS = ("dlt.destinations.duckdb", "dlt.destinations.motherduck")


def run_file_format(pipeline: dlt.Pipeline) -> str | None:
    """The format `pipeline.run` puts on every table: the configured one, if any, except jsonl on DuckDB.

    There the files that only create an empty table (`job_sync_status` before any sync, `extraction_errors`)
    would be empty jsonl files, which DuckDB's JSON reader binds to a single column `json`: the load failed.
    Without it each item takes the destination's best format (the source's Arrow tables: Parquet on DuckDB).
    """
    configured = dlt.config.get("normalize.loader_file_format", str) or None
    destination = pipeline.destination
    if configured == "jsonl" and destination is not None and destination.destination_type in _EMPTY_JSONL_FAILS:
        return None
    return configured
