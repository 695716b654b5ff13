"""The pipeline a run uses: made with an absolute DuckDB path, described for people, locked for one run at a time,
and the load-file format it is given."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt

from ..errors import BrazeCdiError
from ..settings import DEFAULT_DATASET_NAME, DEFAULT_PIPELINE_NAME

_DUCKDB_MARKERS = (":memory:", ":pipeline:", ":external:")
_EMPTY_JSONL_FAILS = ("dlt.destinations.duckdb", "dlt.destinations.motherduck")


class PipelineLockedError(BrazeCdiError):
    """Another run of the same pipeline is in progress."""


def make_pipeline(
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    destination: Any = "duckdb",
    dataset_name: str = DEFAULT_DATASET_NAME,
    pipelines_dir: str | None = None,
    duckdb_file: str | Path | None = None,
) -> dlt.Pipeline:
    """A dlt pipeline whose DuckDB file (`duckdb_file`, else the configured path, else `<pipeline_name>.duckdb`) is
    absolute: dlt would resolve a relative one against the folder where the pipeline first ran."""
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=_resolve_destination(destination, pipeline_name, duckdb_file),
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir,
    )


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


def _resolve_destination(destination: Any, pipeline_name: str, duckdb_file: str | Path | None) -> Any:
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
    try:
        config = pipeline.destination_client().config
    except Exception:  # noqa: BLE001 - unconfigured destination: its name is all there is to say
        return destination.destination_name
    bucket = getattr(config, "bucket_url", None)
    if isinstance(bucket, str) and bucket:
        head, sep, rest = bucket.partition("://")
        if sep and "@" in rest.split("/", 1)[0]:  # no userinfo
            rest = rest.split("@", 1)[1]
        return f"{destination.destination_name} {head}{sep}{rest}"
    credentials = getattr(config, "credentials", None)
    database = getattr(credentials, "database", None)
    if destination.destination_type == "dlt.destinations.duckdb" and isinstance(database, str):
        return f"DuckDB file {database}"
    host = getattr(credentials, "host", None) or getattr(credentials, "server_hostname", None)
    parts = [str(p) for p in (host, database) if p]
    return f"{destination.destination_name} {'/'.join(parts)}" if parts else destination.destination_name


@contextmanager
def pipeline_lock(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Hold an exclusive lock on the pipeline for the whole run (two would race on its state and packages): the
    second one refuses; the OS releases the lock when the process dies, even on SIGKILL."""
    Path(pipeline.pipelines_dir).mkdir(parents=True, exist_ok=True)
    path = Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.lock"
    with open(path, "a+") as handle:  # held for the duration of the run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise PipelineLockedError(
                f"Another braze-cdi run of pipeline {pipeline.pipeline_name!r} is in progress ({holder}): "
                "this run did nothing; let that one finish."
            ) from None
        handle.truncate(0)  # "a+": the holder's pid is appended at the (new) end
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield


def run_file_format(pipeline: dlt.Pipeline) -> str | None:
    """The user's `[normalize] loader_file_format` (dlt 1.x no longer reads it), except jsonl on DuckDB: its JSON
    reader binds a table-only (empty) file to one column `json` and the load fails."""
    configured = dlt.config.get("normalize.loader_file_format", str) or None
    destination = pipeline.destination
    if configured == "jsonl" and destination is not None and destination.destination_type in _EMPTY_JSONL_FAILS:
        return None
    return configured
