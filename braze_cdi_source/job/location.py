"""Where a pipeline loads: the DuckDB file's absolute path (decided here), and a description for people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt

from ..errors import BrazeCdiError

_DUCKDB_MARKERS = (":memory:", ":pipeline:", ":external:")


def _configured_duckdb_path() -> Any:
    """`destination.duckdb.credentials` as the user configured it (a path, a dict with `database`, or None)."""
    for accessor in (dlt.secrets, dlt.config):
        for key in ("destination.duckdb.credentials.database", "destination.duckdb.credentials"):
            try:
                value = accessor.get(key)
            except Exception:  # noqa: BLE001 - an unreadable value is dlt's to report when it resolves
                value = None
            if value is not None:
                return value
    return None


def resolve_destination(destination: Any, pipeline_name: str, duckdb_file: str | Path | None = None) -> Any:
    """The destination to give dlt: for DuckDB, a factory with an absolute file path (see `make_pipeline`)."""
    if duckdb_file is None and destination != "duckdb":
        return destination
    if duckdb_file is None:
        configured = _configured_duckdb_path()
        if configured is None:
            duckdb_file = f"{pipeline_name}.duckdb"
        elif isinstance(configured, str) and configured not in _DUCKDB_MARKERS and "://" not in configured:
            duckdb_file = configured
        else:  # a connection string or a marker: dlt's own resolution
            return destination
    if destination not in ("duckdb", None):
        raise BrazeCdiError(f"--duckdb-file applies to --destination duckdb only, not {destination}.")
    database = str(Path(duckdb_file).expanduser().resolve())  # as a field, not a string dlt parses with sqlalchemy
    return dlt.destinations.duckdb({"database": database})


def describe_location(pipeline: dlt.Pipeline) -> str:
    """Where the pipeline loads, for people: the DuckDB file, the database host and name, or the bucket.

    Never the password: only named, non-secret parts of the credentials are read.
    """
    destination = pipeline.destination
    if destination is None:
        return "no destination"
    try:
        config = pipeline.destination_client().config
    except Exception:  # noqa: BLE001 - unconfigured destination: its name is all there is to say
        return destination.destination_name
    bucket = getattr(config, "bucket_url", None)
    if isinstance(bucket, str) and bucket:
        return f"{destination.destination_name} {_without_userinfo(bucket)}"
    credentials = getattr(config, "credentials", None)
    database = getattr(credentials, "database", None)
    if destination.destination_type == "dlt.destinations.duckdb" and isinstance(database, str):
        return f"DuckDB file {database}"
    host = getattr(credentials, "host", None) or getattr(credentials, "server_hostname", None)
    parts = [str(p) for p in (host, database) if p]
    return f"{destination.destination_name} {'/'.join(parts)}" if parts else destination.destination_name


def _without_userinfo(url: str) -> str:
    head, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{head}{sep}{rest}"
