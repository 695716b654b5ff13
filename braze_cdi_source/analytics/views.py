"""SQL views over the loaded tables: one definition per view, rendered for each warehouse's SQL dialect.

The SQL lives in `sql/*.sql` inside the package, written once in DuckDB's dialect with three macros
(SECONDS_BETWEEN, UTC_DAY, RANKED_PERCENTILE: see `_expand_macros`) and bare base-table names
(`job_sync_status`, `integrations`). sqlglot parses it, the macros become each dialect's own date-diff,
time-zone and window expressions, the table names become the destination's qualified, cased and quoted
names (from dlt's sql_client), and sqlglot writes the result in the destination's dialect
(`capabilities().sqlglot_dialect`). The SQL avoids what some warehouse lacks: FILTER (WHERE …), ordered-set
aggregates (PERCENTILE_CONT … WITHIN GROUP), interval arithmetic and EXTRACT(EPOCH …).

Which base tables (and columns) exist comes from dlt's schema, not information_schema (Snowflake upper-cases
names). When a base table or column does not exist yet — a workspace with no syncs has no `job_sync_status`
table — an empty, typed stand-in takes its place, so the views can always be created and queried; the next
load after the table appears replaces them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import dlt
import sqlglot
from dlt.common.schema import Schema
from dlt.common.schema.utils import has_table_seen_data
from sqlglot import expressions as exp

from ..errors import ConfigurationError
from ..extract.backfill import BACKFILL_COLUMNS, BACKFILL_TABLE
from ..settings import (
    DEFAULT_FUTURE_TOLERANCE_MINUTES,
    INTEGRATION_COLUMNS,
    INTEGRATIONS_TABLE,
    JOB_SYNC_STATUS_COLUMNS,
    JOB_SYNC_STATUS_TABLE,
    SOURCE_NAME,
)

logger = logging.getLogger("braze_cdi")

VIEWS = ("sync_runs", "daily_sync_summary", "integration_health", "integration_health_details")
"""Created in this order. The first three are the public contract (README, Views); the details view adds the
facts behind each health class (streak start, stale window, running time, watermark checks)."""

HEALTH_CLASSES = ("healthy", "degraded", "failing", "stale", "stuck", "unknown")

CONFIG_SECTION = "braze_cdi.health"
"""Thresholds can be set in `.dlt/config.toml` under `[braze_cdi.health]`, or as `BRAZE_CDI__HEALTH__<NAME>`."""

VERIFIED_DIALECTS = ("duckdb", "postgres", "redshift", "snowflake", "bigquery", "databricks")
"""sqlglot dialects whose rendering is verified by the tests (executed, or round-tripped: README). Destinations
with another dialect (mssql, synapse, clickhouse, athena, …) load the data and skip the views."""

SOURCE_DIALECT = "duckdb"
"""The dialect `sql/*.sql` is written in."""

_SQL_TYPES = {"text": "VARCHAR", "timestamp": "TIMESTAMPTZ", "bigint": "BIGINT", "bool": "BOOLEAN"}
_BASE_TABLES = {
    JOB_SYNC_STATUS_TABLE: JOB_SYNC_STATUS_COLUMNS,
    INTEGRATIONS_TABLE: INTEGRATION_COLUMNS,
    BACKFILL_TABLE: BACKFILL_COLUMNS,
}


@dataclass(frozen=True)
class HealthThresholds:
    """The knobs of `integration_health.health`; defaults are the documented rules (README).

    stuck_after_hours: the newest sync has been running longer than this → stuck.
    failing_after_failures: this many newest finished syncs in a row are error/config_error → failing.
    stale_after_hours: no sync started for this long → stale; None means automatic: `stale_interval_factor`
        × the integration's typical interval (median gap between sync starts), at least `stale_min_hours`,
        or `stale_fallback_hours` when there are fewer than two syncs to measure an interval from.
    degraded_below_success_rate: success_rate_7d below this → degraded.
    watermark_stall_syncs: `last_timestamp_synced` unchanged over this many successful syncs after the one
        that set it → degraded (a future-dated UPDATED_AT row blocks the sync; so does a source with no changes).
    watermark_future_minutes: `last_timestamp_synced` later than now plus this → degraded.
    future_sync_minutes: a sync starting later than now plus this → degraded; such syncs are left out of
        last_sync_start_time and the stale/stuck checks (the same tolerance the cursor uses by default).
    """

    stuck_after_hours: float = 6.0
    failing_after_failures: int = 2
    stale_after_hours: float | None = None
    stale_interval_factor: float = 2.0
    stale_min_hours: float = 1.0
    stale_fallback_hours: float = 48.0
    degraded_below_success_rate: float = 0.8
    watermark_stall_syncs: int = 6
    watermark_future_minutes: float = 5.0
    future_sync_minutes: float = DEFAULT_FUTURE_TOLERANCE_MINUTES

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None and item.name == "stale_after_hours":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigurationError(f"health threshold {item.name} must be a number, not {value!r}.")
            if value < 0 or (item.name in ("failing_after_failures", "watermark_stall_syncs") and value < 1):
                raise ConfigurationError(f"health threshold {item.name} must be positive, not {value!r}.")
        if self.degraded_below_success_rate > 1:
            raise ConfigurationError("degraded_below_success_rate is a share between 0 and 1.")

    @classmethod
    def from_config(cls, **overrides: Any) -> HealthThresholds:
        """Defaults, then `[braze_cdi.health]` config / `BRAZE_CDI__HEALTH__*` env, then `overrides` (not None)."""
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            kind = int if item.name in ("failing_after_failures", "watermark_stall_syncs") else float
            try:
                configured = dlt.config.get(f"{CONFIG_SECTION}.{item.name}", kind)
            except Exception as error:  # noqa: BLE001 - a malformed value: say which one
                raise ConfigurationError(
                    f"{CONFIG_SECTION}.{item.name} in the config is not a {kind.__name__}."
                ) from error
            if configured is not None:
                values[item.name] = configured
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def sql_params(self) -> dict[str, str]:
        """The SQL literals the health view's placeholders take."""
        if self.stale_after_hours is not None:
            stale = _number(self.stale_after_hours * 3600)
        else:
            typical = f"({_number(self.stale_interval_factor)} * ti.typical_interval_seconds)"
            stale = (
                f"CASE WHEN ti.typical_interval_seconds IS NULL THEN {_number(self.stale_fallback_hours * 3600)} "
                f"WHEN {typical} < {_number(self.stale_min_hours * 3600)} THEN {_number(self.stale_min_hours * 3600)} "
                f"ELSE {typical} END"
            )
        return {
            "stuck_after_seconds": _number(self.stuck_after_hours * 3600),
            "failing_after_failures": str(int(self.failing_after_failures)),
            "stale_after_seconds": stale,
            "degraded_below_success_rate": _number(self.degraded_below_success_rate),
            "watermark_stall_syncs": str(int(self.watermark_stall_syncs)),
            "watermark_future_seconds": str(int(round(self.watermark_future_minutes * 60))),
            "future_sync_seconds": str(int(round(self.future_sync_minutes * 60))),
        }


def _number(value: float) -> str:
    """A float as a SQL numeric literal every engine reads the same way."""
    return repr(float(value))


def view_sql(name: str) -> str:
    """The raw text of one packaged SQL file."""
    return resources.files("braze_cdi_source.analytics").joinpath("sql", f"{name}.sql").read_text()


# --- macros: the few expressions that differ per dialect, built as sqlglot nodes ---------------------------


def _utc(value: exp.Expression) -> exp.Expression:
    """The instant as a UTC wall-clock timestamp: no session time zone (or DST) can shift a difference or a day."""
    return exp.ConvertTimezone(target_tz=exp.Literal.string("UTC"), timestamp=value)


_MICROSECONDS_PER_DAY = 86_400_000_000


def _seconds_between(start: exp.Expression, end: exp.Expression, dialect: str) -> exp.Expression:
    """end - start in seconds, as a double: a microsecond date diff that sqlglot writes per dialect.

    Taken between UTC wall-clock times, so that no engine works in its session's time zone. Two dialects
    differ: BigQuery's TIMESTAMP is always UTC and its DATE_DIFF takes dates only, so it gets TIMESTAMP_DIFF.
    Spark's TIMESTAMP is an instant that both CONVERT_TIMEZONE and DATEDIFF turn into the session's wall
    clock (measured with a Los Angeles session: a sync in the DST fall-back hour moved by an hour, and ages
    across the change were an hour off), so it subtracts the instants' UNIX_MICROS instead.
    """
    unit = exp.var("MICROSECOND")
    if dialect == "bigquery":
        diff: exp.Expression = exp.TimestampDiff(this=end, expression=start, unit=unit)
    elif dialect == "databricks":
        diff = exp.Sub(this=exp.UnixMicros(this=end), expression=exp.UnixMicros(this=start))
    else:
        diff = exp.DateDiff(this=_utc(end), expression=_utc(start), unit=unit)
    return exp.paren(exp.Div(this=exp.cast(diff, "DOUBLE"), expression=exp.Literal.number("1000000.0")))


def _utc_day(value: exp.Expression, dialect: str) -> exp.Expression:
    """The UTC calendar day of an instant. Spark: days since the epoch from its microseconds (its wall-clock
    conversions go through the session time zone, see `_seconds_between`)."""
    if dialect == "databricks":
        micros = exp.Div(this=exp.UnixMicros(this=value), expression=exp.Literal.number(_MICROSECONDS_PER_DAY))
        return exp.DateFromUnixDate(this=exp.cast(exp.Floor(this=micros), "INT"))
    return exp.cast(_utc(value), "DATE")


_PERCENTILE = (
    "CAST(MAX(CASE WHEN {r} = FLOOR({p} * ({n} - 1)) + 1 THEN {v} END)"
    " + (MAX(CASE WHEN {r} = CEIL({p} * ({n} - 1)) + 1 THEN {v} END)"
    " - MAX(CASE WHEN {r} = FLOOR({p} * ({n} - 1)) + 1 THEN {v} END))"
    " * MAX({p} * ({n} - 1) - FLOOR({p} * ({n} - 1))) AS DOUBLE)"
)


def _ranked_percentile(value: exp.Expression, rank: exp.Expression, count: exp.Expression,
                       share: exp.Expression) -> exp.Expression:
    """percentile_cont(share) from ranks: linear interpolation between the two closest ranks.

    Plain aggregates over ROW_NUMBER/COUNT windows, so it is exact and the same on every engine (BigQuery has
    PERCENTILE_CONT only as a window function, Redshift allows one ORDER BY per query's percentiles).
    The share is a DECIMAL so that FLOOR/CEIL of share × (n - 1) are exact everywhere.
    """
    share_sql = f"CAST({share.sql(SOURCE_DIALECT)} AS DECIMAL(9, 6))"
    text = _PERCENTILE.format(
        v=value.sql(SOURCE_DIALECT), r=rank.sql(SOURCE_DIALECT), n=count.sql(SOURCE_DIALECT), p=share_sql
    )
    return sqlglot.parse_one(text, read=SOURCE_DIALECT)


def _expand_macros(tree: exp.Expression, dialect: str) -> exp.Expression:
    def expand(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Anonymous):
            return node
        name, args = str(node.this).upper(), node.expressions
        if name == "SECONDS_BETWEEN":
            return _seconds_between(args[0], args[1], dialect)
        if name == "UTC_DAY":
            return _utc_day(args[0], dialect)
        if name == "RANKED_PERCENTILE":
            return _ranked_percentile(*args)
        return node

    return tree.transform(expand, copy=False)


# --- base tables: from dlt's schema, named by dlt's sql_client ---------------------------------------------

_BASE_TABLES = {
    JOB_SYNC_STATUS_TABLE: JOB_SYNC_STATUS_COLUMNS,
    INTEGRATIONS_TABLE: INTEGRATION_COLUMNS,
    BACKFILL_TABLE: BACKFILL_COLUMNS,
}

Present = dict[str, "set[str] | None"]
"""Base table -> the columns it has in the destination, or None when the table does not exist there."""


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


def present_tables(schema: Schema | None) -> Present:
    """Which base tables and columns dlt created, from its schema (tables it has seen data for)."""
    present: Present = {}
    for table in _BASE_TABLES:
        hints = schema.tables.get(table) if schema is not None else None
        if hints is None or not has_table_seen_data(hints):
            present[table] = None
        else:
            present[table] = {name for name, column in hints["columns"].items() if column.get("data_type")}
    return present


def _stand_in(table: str, qualified: exp.Table, columns: set[str] | None) -> exp.Expression:
    """The table itself, or a typed subquery when the table or some of its columns are missing."""
    expected = _BASE_TABLES[table]
    if columns is not None and set(expected) <= columns:
        return qualified
    select = ", ".join(
        (f"t.{column}" if columns is not None and column in columns else
         f"CAST(NULL AS {_SQL_TYPES[hints['data_type']]})") + f" AS {column}"
        for column, hints in expected.items()
    )
    if columns is None:
        subquery = sqlglot.parse_one(f"SELECT {select} FROM (SELECT 1 AS one) AS no_rows WHERE 1 = 0")
    else:
        subquery = sqlglot.parse_one(f"SELECT {select} FROM placeholder AS t", read=SOURCE_DIALECT)
        subquery.find(exp.Table).replace(qualified.copy().as_("t"))
    return subquery.subquery()


def _with_tables(tree: exp.Expression, tables: dict[str, exp.Expression]) -> exp.Expression:
    """Replace the bare base-table names by their qualified names (or stand-ins), keeping each alias."""

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in tables:
            alias = node.alias or node.name
            source = tables[node.name].copy()
            if isinstance(source, exp.Table):
                return source.as_(alias)
            return source.as_(alias) if isinstance(source, exp.Subquery) else exp.paren(source).as_(alias)
        return node

    return tree.transform(replace, copy=False)


def render_queries(
    dialect: str,
    table_name: Callable[[str], str],
    present: Present | None = None,
    thresholds: HealthThresholds | None = None,
) -> dict[str, str]:
    """Every view's SELECT in `dialect`, keyed by view name.

    `table_name` gives a base table's qualified name as the destination spells it (dlt's sql_client
    `make_qualified_table_name`); `present` says which tables and columns exist (all, when None).
    """
    thresholds = thresholds or HealthThresholds.from_config()
    sources: dict[str, exp.Expression] = {}
    for table in _BASE_TABLES:
        qualified = exp.to_table(table_name(table), dialect=dialect)
        columns = set(_BASE_TABLES[table]) if present is None else present.get(table)
        sources[table] = _stand_in(table, qualified, columns)
    details = _parse(view_sql("integration_health_details").format(**thresholds.sql_params()))
    trees = {
        "sync_runs": _parse(view_sql("sync_runs")),
        "daily_sync_summary": _parse(view_sql("daily_sync_summary")),
        "integration_health": _with_tables(
            _parse(view_sql("integration_health")), {"integration_health_details": details.subquery()}
        ),
        "integration_health_details": details,
    }
    return {
        view: _expand_macros(_with_tables(trees[view], sources), dialect).sql(dialect=dialect)
        for view in VIEWS
    }


def _parse(sql: str) -> exp.Expression:
    return _parsed(sql).copy()


@cache
def _parsed(sql: str) -> exp.Expression:
    """Parsed once per process (the same files and thresholds on every run): rendering stays well under the
    time a budgeted run keeps for its views."""
    return sqlglot.parse_one(sql, read=SOURCE_DIALECT)


def create_statement(dialect: str, view_name: str, query: str) -> str:
    """`CREATE OR REPLACE VIEW name AS query` in the dialect (no `;` inside: the CLI separates statements by it,
    so the SQL files keep it out of their comments)."""
    view = exp.Create(
        this=exp.to_table(view_name, dialect=dialect),
        kind="VIEW",
        replace=True,
        expression=sqlglot.parse_one(query, read=dialect),
    )
    return view.sql(dialect=dialect, pretty=True)


@cache
def _capabilities(dialect: str) -> Any:
    destination = {"postgres": "postgres", "duckdb": "duckdb"}.get(dialect, dialect)
    return getattr(dlt.destinations, destination)().capabilities()


def render_views(dialect: str, dataset_name: str, thresholds: HealthThresholds | None = None) -> dict[str, str]:
    """The CREATE OR REPLACE VIEW statements for `dialect` (one of VERIFIED_DIALECTS), keyed by view name.

    For dbt users and DBAs: names are `dataset.table` as dlt spells them on that warehouse (upper case on
    Snowflake), in the session's default database / project; the base tables are assumed loaded.
    """
    if dialect not in VERIFIED_DIALECTS:
        raise ConfigurationError(f"no verified SQL for dialect {dialect!r}: use one of {', '.join(VERIFIED_DIALECTS)}.")
    caps = _capabilities(dialect)

    def name(table: str) -> str:
        return f"{caps.escape_identifier(caps.casefold_identifier(dataset_name))}." + caps.escape_identifier(
            caps.casefold_identifier(table)
        )

    queries = render_queries(dialect, name, None, thresholds)
    return {view: create_statement(dialect, name(view), queries[view]) for view in VIEWS}


def destination_dialect(pipeline: dlt.Pipeline) -> str | None:
    """The pipeline destination's sqlglot dialect, when the views are verified for it."""
    if pipeline.destination is None:
        return None
    dialect = pipeline.destination.capabilities().sqlglot_dialect
    return dialect if dialect in VERIFIED_DIALECTS else None


def pipeline_queries(
    pipeline: dlt.Pipeline, client: Any, thresholds: HealthThresholds | None = None, present: Present | None = None
) -> dict[str, str]:
    """Every view's SELECT for the pipeline's destination, read through `client` (its sql_client): what
    `health` and `report` query, so they need no view of their own and only read rights. `present`: the
    tables dlt's schema has (read from the schema when not given)."""
    dialect = destination_dialect(pipeline)
    if dialect is None:
        raise ConfigurationError(_unverified(pipeline))
    if present is None:
        present = present_tables(loaded_schema(pipeline))
    return render_queries(dialect, client.make_qualified_table_name, present, thresholds)


def _unverified(pipeline: dlt.Pipeline) -> str:
    name = pipeline.destination.destination_name if pipeline.destination else None
    return (
        f"destination {name!r} has no verified SQL dialect for the analyst views "
        f"(verified: {', '.join(VERIFIED_DIALECTS)})."
    )


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
    dialect = destination_dialect(pipeline)
    if dialect is None:
        raise ConfigurationError(_unverified(pipeline))
    thresholds = thresholds or HealthThresholds.from_config()
    present = present_tables(loaded_schema(pipeline))
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            client.create_dataset()
        queries = render_queries(dialect, client.make_qualified_table_name, present, thresholds)
        for view in VIEWS:
            name = client.make_qualified_table_name(view)
            statement = create_statement(dialect, name, queries[view])
            try:
                client.execute_sql(statement)
            except Exception as error:  # noqa: BLE001 - the engine refused to replace: see below
                if _view_columns(client, name) is None:
                    raise
                _recreate(client, name, view, statement, error)
    return list(VIEWS)


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

