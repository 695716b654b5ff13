"""The analyst views on a pipeline's destination: create or replace them, and the query `health` and `report`
run instead of them (the SQL, its rendering per dialect and the stand-ins for tables not loaded yet:
`view_sql.py`; thresholds: `thresholds.py`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import dlt
from dlt.common.schema import Schema

from ..errors import ConfigurationError
from ..settings import JOB_SYNC_STATUS_TABLE, SOURCE_NAME
from .thresholds import HealthThresholds
from .view_sql import VERIFIED_DIALECTS, VIEWS, Present, present_tables, render_queries, replace_view

logger = logging.getLogger("braze_cdi")

__all__ = ["VIEWS", "create_views", "destination_dialect", "loaded_schema", "pipeline_queries"]


def loaded_schema(pipeline: dlt.Pipeline) -> Schema | None:
    """The source's dlt schema: the pipeline's own copy, else the one stored in the destination (a fresh
    machine that only reads, e.g. `braze-cdi health`), else None (nothing was ever loaded)."""
    if SOURCE_NAME in pipeline.schemas:
        return pipeline.schemas[SOURCE_NAME]
    if pipeline.default_schema_name:
        return pipeline.default_schema
    with pipeline.destination_client() as job_client:
        stored = job_client.get_stored_schema(SOURCE_NAME) if hasattr(job_client, "get_stored_schema") else None
    return Schema.from_dict(json.loads(stored.schema)) if stored is not None else None


def destination_dialect(pipeline: dlt.Pipeline) -> str | None:
    """The pipeline destination's sqlglot dialect, when the views are verified for it."""
    if pipeline.destination is None:
        return None
    dialect = pipeline.destination.capabilities().sqlglot_dialect
    return dialect if dialect in VERIFIED_DIALECTS else None


def _verified_dialect(pipeline: dlt.Pipeline) -> str:
    """The destination's dialect; a ConfigurationError names the destination when the views are not verified there."""
    if (dialect := destination_dialect(pipeline)) is None:
        name = pipeline.destination.destination_name if pipeline.destination else None
        raise ConfigurationError(f"destination {name!r} has no verified SQL dialect for the analyst views "
                                 f"(verified: {', '.join(VERIFIED_DIALECTS)}).")
    return dialect


def pipeline_queries(
    pipeline: dlt.Pipeline, client: Any, thresholds: HealthThresholds, present: Present
) -> dict[str, str]:
    """The details view's SELECT for the pipeline's destination (keyed by its name), read through `client` (its
    sql_client): what `health` and `report` query, so they need no view of their own and only read rights."""
    details = ("integration_health_details",)
    return render_queries(_verified_dialect(pipeline), client.make_qualified_table_name, present, thresholds, details)


def _view_columns(client: Any, qualified: str) -> list[str] | None:
    """The columns of an existing view (or table), or None when there is none by that name."""
    try:
        with client.execute_query(f"SELECT * FROM {qualified} WHERE 1 = 0") as cursor:
            return [column[0].lower() for column in cursor.description or []]
    except Exception:  # noqa: BLE001 - no such relation (each driver says it its own way)
        return None


def create_views(pipeline: dlt.Pipeline, thresholds: HealthThresholds | None = None) -> list[str]:
    """Create or replace the analyst views in the pipeline's dataset; returns their names.

    CREATE OR REPLACE keeps what users built on the views. Only when an engine refuses to replace a view
    (PostgreSQL and Redshift do when its columns change) is it dropped — never with CASCADE — and created;
    if objects depend on it, it is left as it was and the log says what to do.
    `thresholds` defaults to `HealthThresholds.from_config()` (`[braze_cdi.health]`).
    """
    dialect = _verified_dialect(pipeline)
    thresholds = thresholds or HealthThresholds.from_config()
    present = present_tables(loaded_schema(pipeline))
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            client.create_dataset()
        if dialect == "postgres" and present.get(JOB_SYNC_STATUS_TABLE) is not None:
            _index_sync_history(client)
        queries = render_queries(dialect, client.make_qualified_table_name, present, thresholds)
        for view in VIEWS:
            name = client.make_qualified_table_name(view)
            statement = replace_view(name, queries[view], dialect)
            try:
                client.execute_sql(statement)
            except Exception as error:  # noqa: BLE001 - the engine refused to replace: see below
                if _view_columns(client, name) is None:
                    raise
                _recreate(client, name, view, statement, error)
    return list(VIEWS)


SYNC_HISTORY_INDEX = "braze_cdi_job_sync_status_by_time"
"""PostgreSQL: the index the health query's per-integration lookups (an integration's older history) read."""
SYNC_WINDOW_INDEX = "braze_cdi_job_sync_status_by_start"
"""PostgreSQL: the index the health query's 30-day window reads (one range over every integration)."""


def _index_sync_history(client: Any) -> None:
    """PostgreSQL: indexes on (integration_id, sync_start_time) and on (sync_start_time), for health's
    per-integration lookups and its 30-day window (one time range: the composite index cannot serve it).
    IF NOT EXISTS: an index a DBA made under these names is kept; a role that may not create them still gets
    its views."""
    table = client.make_qualified_table_name(JOB_SYNC_STATUS_TABLE)
    indexes = ((SYNC_HISTORY_INDEX, "integration_id, sync_start_time"), (SYNC_WINDOW_INDEX, "sync_start_time"))
    for name, columns in indexes:
        try:
            client.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
        except Exception as error:  # noqa: BLE001 - permissions: say so, and keep going
            logger.warning(
                "could not create index %s on %s (%s): health reads the whole history without it.",
                name, table, str(error).splitlines()[0],
            )


def _recreate(client: Any, name: str, view: str, statement: str, refused: Exception) -> None:
    """Drop (no CASCADE) and create a view the engine would not replace; leave it if something depends on it."""
    try:
        client.execute_sql(f"DROP VIEW {name}")
    except Exception as error:  # noqa: BLE001 - objects depend on the view: never drop those
        logger.error(
            "view %s was not updated: its columns changed and other objects depend on it (%s). Drop or "
            "recreate those objects, then run again.", view, str(error).splitlines()[0],
        )
        return
    logger.info("view %s recreated: its columns changed (%s)", view, str(refused).splitlines()[0])
    client.execute_sql(statement)
