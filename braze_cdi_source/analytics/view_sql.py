"""The views' SQL: one definition per view (`sql/*.sql`, DuckDB's dialect, bare base-table names and the macros
of `_expand_macros`), rendered by sqlglot for each warehouse's dialect with dlt's names for the tables, or a typed
empty stand-in for a table or column not loaded yet, so the views always exist (no destination needed). The why
and the traps: docs/ARCHITECTURE.md, "Views are SQL files rendered per destination".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

import dlt
import sqlglot
from dlt.common.schema import Schema
from dlt.common.schema.utils import has_table_seen_data
from sqlglot import expressions as exp

from ..errors import ConfigurationError
from ..settings import (
    BACKFILL_COLUMNS,
    BACKFILL_TABLE,
    INTEGRATION_COLUMNS,
    INTEGRATIONS_TABLE,
    JOB_SYNC_STATUS_COLUMNS,
    JOB_SYNC_STATUS_TABLE,
)
from .thresholds import HealthThresholds

VIEWS = ("sync_runs", "daily_sync_summary", "integration_health", "integration_health_details")
"""Created in this order. The first three are the public contract (docs/analyze.md, Views); the details view adds the
facts behind each health class (streak start, stale window, running time, watermark checks)."""

VERIFIED_DIALECTS = ("duckdb", "postgres", "redshift", "snowflake", "bigquery", "databricks")
"""sqlglot dialects whose rendering is verified by the tests (executed, or round-tripped: docs/warehouses.md).
Destinations with another dialect (mssql, synapse, clickhouse, athena, …) load the data and skip the views."""

SOURCE_DIALECT = "duckdb"
"""The dialect `sql/*.sql` is written in."""

_SQL_TYPES = {"text": "VARCHAR", "timestamp": "TIMESTAMPTZ", "bigint": "BIGINT", "bool": "BOOLEAN"}


def view_sql(name: str) -> str:
    """The raw text of one packaged SQL file."""
    return resources.files("braze_cdi_source.analytics").joinpath("sql", f"{name}.sql").read_text()


# --- macros: the few expressions that differ per dialect, built as sqlglot nodes ---------------------------


def _utc(value: exp.Expression, dialect: str) -> exp.Expression:
    """The instant as a UTC wall-clock timestamp: no session time zone (or DST) can shift a difference or a day.

    Redshift's CONVERT_TIMEZONE reads a timestamptz in the session's time zone; `AT TIME ZONE 'UTC'` is defined
    on a timestamptz as its UTC wall clock."""
    if dialect == "redshift":
        return exp.AtTimeZone(this=value, zone=exp.Literal.string("UTC"))
    return exp.ConvertTimezone(target_tz=exp.Literal.string("UTC"), timestamp=value)


def _now(dialect: str) -> exp.Expression:
    """Now, as an instant. Redshift's GETDATE() is the session's wall clock (a TIMESTAMP): cast to TIMESTAMPTZ
    it is read in that same time zone, which gives the instant back whatever the session's setting."""
    if dialect == "redshift":
        return exp.cast(exp.CurrentTimestamp(), "TIMESTAMPTZ")
    return exp.CurrentTimestamp()


def _add_seconds(value: exp.Expression, seconds: exp.Expression, dialect: str) -> exp.Expression:
    """The instant `seconds` after `value`: a plain expression an engine compares with a column, so that
    `sync_start_time >= <this>` prunes by zone maps, partitions and indexes (a difference of the two would not)."""
    unit, seconds = exp.var("SECOND"), exp.paren(seconds)  # BigQuery: INTERVAL (n) SECOND stays an INT64
    if dialect == "bigquery":  # DATE_ADD there takes dates only
        return exp.TimestampAdd(this=value, expression=seconds, unit=unit)
    return exp.DateAdd(this=value, expression=seconds, unit=unit)


_MICROSECONDS_PER_DAY = 86_400_000_000


def _seconds_between(start: exp.Expression, end: exp.Expression, dialect: str) -> exp.Expression:
    """end - start in seconds, as a double: a microsecond date diff that sqlglot writes per dialect.

    Taken between UTC wall-clock times, so that no engine works in its session's time zone. Two dialects
    differ: BigQuery's TIMESTAMP is always UTC and its DATE_DIFF takes dates only, so it gets TIMESTAMP_DIFF.
    Spark's TIMESTAMP is an instant that both CONVERT_TIMEZONE and DATEDIFF turn into the session's wall
    clock (measured with a Los Angeles session: a sync in the DST fall-back hour moved by an hour, and ages
    across the change were an hour off), so it subtracts the instants' UNIX_MICROS instead; so does DuckDB, where
    they are the same microseconds without a time-zone conversion per row (a third of the health query's CPU).
    PostgreSQL subtracts the instants' epochs (doubles, each within a quarter microsecond until 2106) rounded to
    the microsecond: the same value, where its EXTRACT of an interval is a NUMERIC (slow on every row).
    """
    unit = exp.var("MICROSECOND")
    if dialect == "postgres":
        epochs = "ROUND((DATE_PART('epoch', {}) - DATE_PART('epoch', {})) * 1000000)"
        diff: exp.Expression = sqlglot.parse_one(epochs.format(end.sql(SOURCE_DIALECT), start.sql(SOURCE_DIALECT)))
    elif dialect == "bigquery":
        diff = exp.TimestampDiff(this=end, expression=start, unit=unit)
    elif dialect in ("databricks", "duckdb"):
        diff = exp.Sub(this=exp.UnixMicros(this=end), expression=exp.UnixMicros(this=start))
    else:
        diff = exp.DateDiff(this=_utc(end, dialect), expression=_utc(start, dialect), unit=unit)
    return exp.paren(exp.Div(this=exp.cast(diff, "DOUBLE"), expression=exp.Literal.number("1000000.0")))


def _utc_day(value: exp.Expression, dialect: str) -> exp.Expression:
    """The UTC calendar day of an instant. Spark: days since the epoch from its microseconds (its wall-clock
    conversions go through the session time zone, see `_seconds_between`)."""
    if dialect == "databricks":
        micros = exp.Div(this=exp.UnixMicros(this=value), expression=exp.Literal.number(_MICROSECONDS_PER_DAY))
        return exp.DateFromUnixDate(this=exp.cast(exp.Floor(this=micros), "INT"))
    if dialect == "bigquery":  # DATE(timestamp, time zone) says it directly
        return exp.Date(this=value, zone=exp.Literal.string("UTC"))
    return exp.cast(_utc(value, dialect), "DATE")


_PERCENTILE = (
    "CAST(MAX(CASE WHEN {r} = FLOOR({p} * ({n} - 1)) + 1 THEN {v} END)"
    " + (MAX(CASE WHEN {r} = CEIL({p} * ({n} - 1)) + 1 THEN {v} END)"
    " - MAX(CASE WHEN {r} = FLOOR({p} * ({n} - 1)) + 1 THEN {v} END))"
    " * MAX({p} * ({n} - 1) - FLOOR({p} * ({n} - 1))) AS DOUBLE)"
)


def _ranked_percentile(value: exp.Expression, rank: exp.Expression, count: exp.Expression,
                       share: exp.Expression) -> exp.Expression:
    """percentile_cont(share) from ranks: plain aggregates over ROW_NUMBER/COUNT windows, interpolated between
    the two closest ranks, exact on every engine (the share is a DECIMAL: FLOOR/CEIL of share × (n - 1) exact)."""
    v, r, n = (e.sql(SOURCE_DIALECT) for e in (value, rank, count))
    p = f"CAST({share.sql(SOURCE_DIALECT)} AS DECIMAL(9, 6))"
    return sqlglot.parse_one(_PERCENTILE.format(v=v, r=r, n=n, p=p), read=SOURCE_DIALECT)


NATIVE_PERCENTILE = ("duckdb", "postgres", "snowflake")
"""Dialects whose exact percentile_cont aggregate PERCENTILE(v, p) becomes. The others rank (BigQuery's is a window
function, sqlglot writes Spark's as an approximate one, Redshift allows one ORDER BY for all percentiles)."""


def _percentiles(select: exp.Select, dialect: str) -> None:
    """Expand the PERCENTILE(v, p) aggregates of one grouped SELECT over one source: percentile_cont, or the
    source becomes a subquery that adds each value's rank and count per group (NULLs last and not counted)."""
    ranked: dict[str, int] = {}
    for call in [c for c in select.find_all(exp.Anonymous) if c.name.upper() == "PERCENTILE"]:
        value, share = call.expressions
        if dialect == "duckdb":
            call.replace(exp.Anonymous(this="QUANTILE_CONT", expressions=[value, share]))
        elif dialect in NATIVE_PERCENTILE:
            order = exp.Order(expressions=[exp.Ordered(this=value)])
            call.replace(exp.WithinGroup(this=exp.PercentileCont(this=share), expression=order))
        else:
            i = ranked.setdefault(value.sql(SOURCE_DIALECT), len(ranked))
            call.replace(_ranked_percentile(exp.column(f"v{i}"), exp.column(f"r{i}"), exp.column(f"n{i}"), share))
    if not ranked:
        return
    keys = ", ".join(k.sql(SOURCE_DIALECT) for k in select.args["group"].expressions)
    windows = "".join(
        f", {v} AS v{i}, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {v} NULLS LAST) AS r{i},"
        f" COUNT({v}) OVER (PARTITION BY {keys}) AS n{i}" for v, i in ranked.items()
    )
    inner = sqlglot.parse_one(f"SELECT *{windows} FROM placeholder", read=SOURCE_DIALECT)
    inner.find(exp.Table).replace(select.args["from_"].this.copy())
    if select.args.get("where"):
        inner.set("where", select.args["where"].pop())
    select.set("from_", exp.From(this=inner.subquery("ranked")))


def _integration_label(integration_id: exp.Expression, name: exp.Expression, sharing: exp.Expression) -> exp.Expression:
    """The report's display name: the name (else the id), plus the id's first block when `sharing` > 1."""
    i, n, k = (e.sql(SOURCE_DIALECT) for e in (integration_id, name, sharing))
    label = f"COALESCE({n}, {i})"
    text = f"CASE WHEN {k} > 1 THEN {label} || ' (' || SUBSTRING({i}, 1, 8) || ')' ELSE {label} END"
    return sqlglot.parse_one(text, read=SOURCE_DIALECT)


def _expand_macros(tree: exp.Expression, dialect: str) -> exp.Expression:
    def expand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentTimestamp):
            return _now(dialect)
        if not isinstance(node, exp.Anonymous):
            return node
        name, args = str(node.this).upper(), node.expressions
        if name == "ADD_SECONDS":
            return _add_seconds(_expand_macros(args[0], dialect), args[1], dialect)
        if name == "SECONDS_BETWEEN":
            return _seconds_between(args[0], args[1], dialect)
        if name == "UTC_DAY":
            return _utc_day(args[0], dialect)
        if name == "INTEGRATION_LABEL":
            return _integration_label(*args)
        return node

    for cte in tree.find_all(exp.CTE) if dialect != "duckdb" else ():  # NOT MATERIALIZED: slower on PostgreSQL
        cte.set("materialized", None)
    for select in [s for s in tree.find_all(exp.Select) if s.args.get("group")]:
        _percentiles(select, dialect)
    return tree.transform(expand, copy=False)


# --- base tables: from dlt's schema, named by dlt's sql_client ---------------------------------------------

_BASE_TABLES = {
    JOB_SYNC_STATUS_TABLE: JOB_SYNC_STATUS_COLUMNS,
    INTEGRATIONS_TABLE: INTEGRATION_COLUMNS,
    BACKFILL_TABLE: BACKFILL_COLUMNS,
}
"""The tables the views read, with the columns they expect."""

Present = dict[str, "set[str] | None"]
"""Base table -> the columns it has in the destination, or None when the table does not exist there."""


def present_tables(schema: Schema | None) -> Present:
    """Which base tables and columns dlt created, from its schema (tables it has seen data for)."""
    tables = schema.tables if schema is not None else {}
    return {
        table: {name for name, column in tables[table]["columns"].items() if column.get("data_type")}
        if table in tables and has_table_seen_data(tables[table]) else None
        for table in _BASE_TABLES
    }


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
            return tables[node.name].copy().as_(alias, copy=False)  # a table or a subquery
        return node

    return tree.transform(replace, copy=False)


def render_queries(dialect: str, table_name: Callable[[str], str], present: Present | None = None,
                   thresholds: HealthThresholds | None = None, views: tuple[str, ...] = VIEWS) -> dict[str, str]:
    """The SELECT of each of `views` in `dialect`, keyed by view name.

    `table_name` gives a base table's qualified name as the destination spells it (dlt's sql_client
    `make_qualified_table_name`); `present` says which tables and columns exist (all, when None).
    """
    thresholds = thresholds or HealthThresholds.from_config()
    names = tuple(table_name(table) for table in _BASE_TABLES)
    columns = None if present is None else tuple(
        None if present.get(table) is None else frozenset(present[table])  # type: ignore[arg-type]
        for table in _BASE_TABLES
    )
    params = tuple(sorted(thresholds.sql_params().items()))
    return {view: _rendered(dialect, names, columns, params, view) for view in views}


@cache
def _rendered(dialect: str, names: tuple[str, ...], columns: tuple[frozenset[str] | None, ...] | None,
              params: tuple[tuple[str, str], ...], view: str) -> str:
    """One view's rendering, once per process for the same inputs: a process that runs many pipelines (an
    orchestrator, a notebook, the tests) renders each dialect's views once (mostly sqlglot tree copies)."""
    sources = _sources(dialect, dict(zip(_BASE_TABLES, names, strict=True)).__getitem__,
                       None if columns is None else dict(zip(_BASE_TABLES, columns, strict=True)))
    tree = _parse(view_sql(view if view != "integration_health" else "integration_health_details")
                  .format(**dict(params)))
    if view == "integration_health":
        tree = _with_tables(_parse(view_sql(view)), {"integration_health_details": tree.subquery()})
    return _expand_macros(_with_tables(tree, sources), dialect).sql(dialect=dialect)


def _sources(dialect: str, table_name: Callable[[str], str], present: Present | None) -> dict[str, exp.Expression]:
    """Each base table by its qualified name, or its stand-in (`present`: all tables and columns when None)."""
    return {
        table: _stand_in(table, exp.to_table(table_name(table), dialect=dialect),
                         set(columns) if present is None else present.get(table))
        for table, columns in _BASE_TABLES.items()
    }


def _parse(sql: str) -> exp.Expression:
    return _parsed(sql).copy()


@cache
def _parsed(sql: str) -> exp.Expression:
    """Parsed once per process (the same files and thresholds on every run)."""
    return sqlglot.parse_one(sql, read=SOURCE_DIALECT)


def replace_view(view_name: str, query: str, dialect: str) -> str:
    """`CREATE OR REPLACE VIEW name AS query` (`view_name` qualified and quoted): what every load runs, on the
    rendered query as it is. Snowflake's replace drops the view's grants unless it says COPY GRANTS."""
    grants = " COPY GRANTS" if dialect == "snowflake" else ""
    return f"CREATE OR REPLACE VIEW {view_name}{grants} AS\n{query}"


@cache
def create_statement(dialect: str, view_name: str, query: str) -> str:
    """`replace_view` around the query re-parsed and pretty-printed, for people (no `;` inside: the CLI
    separates statements by it, so the SQL files keep it out of their comments). Cached: it re-parses."""
    name = exp.to_table(view_name, dialect=dialect).sql(dialect=dialect)
    return replace_view(name, sqlglot.parse_one(query, read=dialect).sql(dialect=dialect, pretty=True), dialect)


def render_views(
    dialect: str, dataset_name: str, thresholds: HealthThresholds | None = None, project: str | None = None
) -> dict[str, str]:
    """The CREATE OR REPLACE VIEW statements for `dialect` (one of VERIFIED_DIALECTS), keyed by view name.

    For dbt users and DBAs: names are `dataset.table` as dlt spells them on that warehouse (upper case on
    Snowflake), in the session's default database; on BigQuery `project` (default: the configured
    `destination.bigquery.credentials.project_id`) qualifies every name, so the views point at the same tables
    from whatever project a DBA runs them. The base tables are assumed loaded.
    """
    if dialect not in VERIFIED_DIALECTS:
        raise ConfigurationError(f"no verified SQL for dialect {dialect!r}: use one of {', '.join(VERIFIED_DIALECTS)}.")
    caps = getattr(dlt.destinations, dialect)().capabilities()  # every verified dialect names a dlt destination
    if dialect == "bigquery" and not project:
        project = dlt.config.get("destination.bigquery.credentials.project_id", str)
    prefix = f"{caps.escape_identifier(project)}." if dialect == "bigquery" and project else ""

    def name(table: str) -> str:
        return prefix + ".".join(caps.escape_identifier(caps.casefold_identifier(n)) for n in (dataset_name, table))

    queries = render_queries(dialect, name, None, thresholds)
    return {view: create_statement(dialect, name(view), queries[view]) for view in VIEWS}


def render_select(sql: str, dialect: str, table_name: Callable[[str], str], present: Present | None = None) -> str:
    """One SELECT written as the views are (DuckDB dialect, the macros, bare base-table names), in `dialect`:
    the report's chart reads, which carry their window as a literal so the engine prunes by time."""
    sources = _sources(dialect, table_name, present)
    return _expand_macros(_with_tables(_parse(sql), sources), dialect).sql(dialect=dialect)
