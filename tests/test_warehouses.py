"""The same views on every warehouse, verified by execution on one data set with the same answers.

One history (the scripted health cases of test_views plus a random one) is loaded by dlt into DuckDB and
a real PostgreSQL; DuckDB's answers (checked against an independent model in test_views) are the reference.
The same base rows are then created in a real local Apache Spark (Databricks' dialect), in fakesnow
(Snowflake's dialect on DuckDB), and, for BigQuery and Redshift, which have no local engine, the views
rendered in their dialect are parsed strictly and transpiled back to DuckDB. Every view's rows must equal
the reference (floats within tolerance). "Now" is each engine's clock: the reference is read before and
after the engine's query and each row must equal one of the two.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import sqlglot
from sqlglot import expressions as exp
from sqlglot.errors import ErrorLevel

from braze_cdi_source import braze_cdi_source, render_views
from braze_cdi_source.analytics.views import VIEWS
from braze_cdi_source.settings import BACKFILL_COLUMNS, BACKFILL_TABLE, INTEGRATION_COLUMNS, JOB_SYNC_STATUS_COLUMNS
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS
from tests.test_views import build_cases, load

pytestmark = pytest.mark.slow  # the views on PostgreSQL, Spark, fakesnow and through BigQuery/Redshift SQL

BASE_COLUMNS = {
    "job_sync_status": JOB_SYNC_STATUS_COLUMNS,
    "integrations": INTEGRATION_COLUMNS,
    BACKFILL_TABLE: BACKFILL_COLUMNS,
}
KEYS = {
    "sync_runs": ("integration_id", "sync_start_time"),
    "daily_sync_summary": ("integration_id", "day"),
    "integration_health": ("integration_id",),
    "integration_health_details": ("integration_id",),
}
CLOCK_COLUMNS = {"seconds_since_last_sync", "running_seconds"}
"""Seconds since a sync started, measured with each engine's own clock at its own query time."""
CLOCK_TOLERANCE_SECONDS = 600.0

Rows = dict[tuple, dict[str, Any]]


def normal(value: Any) -> Any:
    """One comparable form: aware UTC datetimes (a naive one is the local time Spark hands back), floats."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    if isinstance(value, Decimal):
        return float(value)
    return value


def keyed(view: str, columns: list[str], rows: list[tuple]) -> Rows:
    names = [c.lower() for c in columns]
    result: Rows = {}
    for row in rows:
        item = {name: normal(value) for name, value in zip(names, row, strict=True)}
        result[tuple(item[k] for k in KEYS[view])] = item
    assert len(result) == len(rows), f"{view}: key not unique"
    return result


def same(column: str, actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if column in CLOCK_COLUMNS:
        return abs(float(actual) - float(expected)) <= CLOCK_TOLERANCE_SECONDS
    if isinstance(expected, float) or isinstance(actual, float):
        return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(expected, date) and not isinstance(expected, datetime):
        return actual == expected
    return actual == expected


def assert_same_answers(engine: str, view: str, actual: Rows, *references: Rows) -> None:
    assert set(actual) == set(references[0]), f"{engine} {view}: other rows than the reference"
    for key, row in actual.items():
        candidates = [reference[key] for reference in references]
        assert set(row) == set(candidates[0]), f"{engine} {view}: columns {sorted(row)}"
        differ = {c: (row[c], candidates[0][c]) for c in row if not same(c, row[c], candidates[0][c])}
        assert any(all(same(c, row[c], ref[c]) for c in ref) for ref in candidates), (engine, view, key, differ)


# --- the one data set -----------------------------------------------------------------------------


@dataclass
class Reference:
    duckdb: dlt.Pipeline
    postgres: dlt.Pipeline
    base: dict[str, tuple[list[str], list[tuple]]]
    schema_json: str

    def answers(self, view: str) -> Rows:
        return read_pipeline(self.duckdb, view)


def read_pipeline(pipeline: dlt.Pipeline, view: str) -> Rows:
    return keyed(view, *_pipeline_rows(pipeline, view))


SHARED = pytest.mark.xdist_group("warehouses_reference")
"""The tests of the module-scoped `reference` run on one pytest-xdist worker, which loads it once."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Reference:
    folder = tmp_path_factory.mktemp("warehouses")
    now = datetime.now(timezone.utc)
    with BrazeSimulator((0, 7, 45, 137), seed=5, rate_limits=FAST_LIMITS) as sim:
        build_cases(sim, now)
        native = dlt.pipeline("wh_duckdb", destination=dlt.destinations.duckdb(str(folder / "wh.duckdb")),
                              dataset_name="braze_cdi_data", pipelines_dir=str(folder / "pipelines"))
        load(native, sim)
        postgres = dlt.pipeline("wh_postgres", destination=dlt.destinations.postgres(credentials=postgres_url),
                                dataset_name=f"wh_{uuid.uuid4().hex[:10]}", pipelines_dir=str(folder / "pipelines"))
        load(postgres, sim)
    base = {}
    with native.sql_client() as client:
        for table, columns in BASE_COLUMNS.items():
            names = list(columns)
            rows = client.execute_sql(f"SELECT {', '.join(names)} FROM {client.make_qualified_table_name(table)}")
            base[table] = (names, [tuple(normal(v) for v in row) for row in rows])
    assert len(base["job_sync_status"][1]) > 200
    assert len(base[BACKFILL_TABLE][1]) == len(base["integrations"][1])  # every engine reads the backfill rows
    return Reference(native, postgres, base, json.dumps(native.default_schema.to_dict()))


def run_and_compare(engine: str, reference: Reference, query: Callable[[str], tuple[list[str], list[tuple]]]) -> None:
    """Query every view on the engine, between two reads of the reference, and compare."""
    for view in VIEWS:
        before = reference.answers(view)
        columns, rows = query(view)
        after = reference.answers(view)
        assert_same_answers(engine, view, keyed(view, columns, rows), before, after)


# --- DuckDB and PostgreSQL, loaded by dlt --------------------------------------------------------------


@SHARED
def test_postgres_gives_duckdb_s_answers(reference: Reference) -> None:
    run_and_compare("postgres", reference, lambda view: _pipeline_rows(reference.postgres, view))


@SHARED
def test_a_non_utc_postgres_session_gets_the_same_answers(reference: Reference) -> None:
    """The views as a Los Angeles (DST) or Kathmandu (+05:45) session reads them: days, durations, windows and
    'now' do not move. (DuckDB's non-UTC session: the round trip below.)"""
    for zone in ("America/Los_Angeles", "Asia/Kathmandu"):
        with reference.postgres.sql_client() as client:
            client.execute_sql(f"SET TIME ZONE '{zone}'")

            def query(view: str) -> tuple[list[str], list[tuple]]:
                with client.execute_query(f"SELECT * FROM {client.make_qualified_table_name(view)}") as cursor:
                    return [c[0] for c in cursor.description], cursor.fetchall()  # noqa: B023

            run_and_compare(f"postgres in {zone}", reference, query)


def _pipeline_rows(pipeline: dlt.Pipeline, view: str) -> tuple[list[str], list[tuple]]:
    with pipeline.sql_client() as client, client.execute_query(
        f"SELECT * FROM {client.make_qualified_table_name(view)}"
    ) as cursor:
        return [c[0] for c in cursor.description], cursor.fetchall()


# --- Databricks' dialect on a real local Apache Spark ------------------------------------------------


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One local Spark for the whole session (it takes seconds to start). Its session time zone is not UTC,
    so a view that took days or durations in the session's zone would give other answers."""
    assert shutil.which("java"), "Spark needs a Java runtime: .ci/run installs default-jre-headless"
    from pyspark.sql import SparkSession

    folder = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("braze-cdi-tests")
        .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
        # a short-lived JVM: the quick compiler only and one GC thread halve its CPU (62 → 31 s here); the
        # SQL Spark runs is the same
        .config("spark.driver.extraJavaOptions",
                f"-Dderby.system.home={folder} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.adaptive.enabled", "false")
        # the views' small tables: interpreted plans, not Java code generated and compiled for each query
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.session.timeZone", "America/Los_Angeles")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@SHARED
def test_databricks_views_run_on_spark(reference: Reference, spark: Any) -> None:
    from pyspark.sql import types as T

    spark_types = {
        "text": T.StringType(), "timestamp": T.TimestampType(), "bigint": T.LongType(), "bool": T.BooleanType()
    }
    spark.sql("CREATE DATABASE IF NOT EXISTS braze_cdi_data")
    for table, (names, rows) in reference.base.items():
        schema = T.StructType([T.StructField(n, spark_types[BASE_COLUMNS[table][n]["data_type"]]) for n in names])
        spark.createDataFrame(rows, schema).write.mode("overwrite").saveAsTable(f"braze_cdi_data.{table}")
    for statement in render_views("databricks", "braze_cdi_data").values():
        spark.sql(statement)

    def query(view: str) -> tuple[list[str], list[tuple]]:
        frame = spark.sql(f"SELECT * FROM braze_cdi_data.{view}")
        return frame.columns, [tuple(row) for row in frame.collect()]

    run_and_compare("spark", reference, query)

    # the report's chart reads on Spark (percentiles by ranks there): a budget of two marks per lane bins every
    # lane, so the bin and daily-percentile queries run, and they give DuckDB's cells
    from braze_cdi_source.analytics.chart_data import MAX_MARKS, read_charts

    class SparkClient:
        def make_qualified_table_name(self, table: str) -> str:
            return f"braze_cdi_data.{table}"

        def execute_sql(self, sql: str) -> list[tuple]:
            return [tuple(row) for row in spark.sql(sql).collect()]

    now = datetime.now(timezone.utc)
    charts = {}
    for dialect, client in (("databricks", SparkClient()), ("duckdb", None)):
        with reference.duckdb.sql_client() as duckdb_client:
            charts[dialect] = read_charts(client or duckdb_client, dialect, None, now - timedelta(days=30), now,
                                          MAX_MARKS // 2)
    spark_charts, duckdb_charts = charts["databricks"], charts["duckdb"]
    assert spark_charts.bins == duckdb_charts.bins and len(spark_charts.bins) > 3
    assert len(spark_charts.duration_days) == len(duckdb_charts.duration_days) > 3
    for on_spark, on_duckdb in zip(spark_charts.duration_days, duckdb_charts.duration_days, strict=True):
        assert on_spark == pytest.approx(on_duckdb), (on_spark, on_duckdb)


# --- Snowflake's dialect through fakesnow ------------------------------------------------------------------

SNOWFLAKE_TYPES = {"text": "VARCHAR", "timestamp": "TIMESTAMP_TZ", "bigint": "BIGINT", "bool": "BOOLEAN"}


def create_snowflake_tables(cursor: Any, reference: Reference) -> None:
    """What dlt's snowflake loader would have made: upper-case tables and columns, and its schema row."""
    cursor.execute("CREATE SCHEMA IF NOT EXISTS BRAZE.BRAZE_CDI_DATA")
    for table, (names, rows) in reference.base.items():
        columns = ", ".join(f"{n.upper()} {SNOWFLAKE_TYPES[BASE_COLUMNS[table][n]['data_type']]}" for n in names)
        cursor.execute(f"CREATE OR REPLACE TABLE BRAZE.BRAZE_CDI_DATA.{table.upper()} ({columns})")
        marks = ", ".join(["%s"] * len(names))
        cursor.executemany(f"INSERT INTO BRAZE.BRAZE_CDI_DATA.{table.upper()} VALUES ({marks})", rows)
    cursor.execute(
        "CREATE OR REPLACE TABLE BRAZE.BRAZE_CDI_DATA._DLT_VERSION (VERSION BIGINT, ENGINE_VERSION BIGINT, "
        "INSERTED_AT TIMESTAMP_TZ, SCHEMA_NAME VARCHAR, VERSION_HASH VARCHAR, SCHEMA VARCHAR)"
    )
    schema = json.loads(reference.schema_json)
    cursor.execute(
        "INSERT INTO BRAZE.BRAZE_CDI_DATA._DLT_VERSION VALUES (%s, %s, %s, %s, %s, %s)",
        (schema["version"], schema["engine_version"], datetime.now(timezone.utc), schema["name"],
         schema["version_hash"], reference.schema_json),
    )


@SHARED
def test_snowflake_views_health_and_report_on_fakesnow(reference: Reference, tmp_path: Path) -> None:
    import fakesnow
    import snowflake.connector

    from braze_cdi_source.analytics.health import check_health
    from braze_cdi_source.analytics.report import load_report_data

    with fakesnow.patch(create_schema_on_connect=False):
        connection = snowflake.connector.connect(database="BRAZE")
        cursor = connection.cursor()
        create_snowflake_tables(cursor, reference)
        statements = render_views("snowflake", "braze_cdi_data")
        assert '"BRAZE_CDI_DATA"."INTEGRATION_HEALTH" COPY GRANTS AS' in statements["integration_health"]
        for statement in statements.values():
            cursor.execute(statement)

        def query(view: str) -> tuple[list[str], list[tuple]]:
            cursor.execute(f"SELECT * FROM BRAZE_CDI_DATA.{view}")  # unquoted: Snowflake upper-cases it
            return [c[0] for c in cursor.description], cursor.fetchall()

        run_and_compare("snowflake", reference, query)

        # health and report through dlt's snowflake sql_client, on a machine with no local pipeline state
        pipeline = dlt.pipeline(
            "wh_snowflake",
            destination=dlt.destinations.snowflake(credentials="snowflake://loader:unused@account/BRAZE"),
            dataset_name="braze_cdi_data",
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        result = check_health(pipeline)
        report = load_report_data(pipeline)
    expected = reference.answers("integration_health")
    assert {(r["integration_id"],): r["health"] for r in result.integrations} == {
        key: row["health"] for key, row in expected.items()
    }
    assert result.exit_code == 1 and result.problems  # the scripted cases include failing, stale and stuck
    native = load_report_data(reference.duckdb)
    assert [r["health"] for r in report.integrations] == [r["health"] for r in native.integrations]
    assert report.charts.daily == native.charts.daily and len(report.charts.syncs) == len(native.charts.syncs) > 200


# --- BigQuery and Redshift: strict parse in their dialect, transpiled back to DuckDB --------------------------


def strictly_parsed(statement: str, dialect: str) -> exp.Expression:
    """Parse with errors raised, and refuse a function sqlglot does not know in that dialect."""
    tree = sqlglot.parse_one(statement, read=dialect, error_level=ErrorLevel.IMMEDIATE)
    unknown = [node.sql(dialect) for node in tree.find_all(exp.Anonymous)
               if (dialect, node.name.upper()) != ("duckdb", "EPOCH_US")]  # sqlglot writes it, does not read it
    assert not unknown, f"{dialect}: functions unknown to the dialect: {unknown}"
    code = tree.sql(dialect, comments=False).upper()
    for forbidden in (r"\bFILTER\s*\(", r"\bWITHIN\s+GROUP\b", r"\bEPOCH\b", r"\bINTERVAL\s*'"):
        assert not re.search(forbidden, code), f"{dialect}: {forbidden}"
    return tree


@SHARED
@pytest.mark.parametrize(("dialect", "session_zone"), [
    ("bigquery", "UTC"), ("redshift", "America/Los_Angeles"), ("duckdb", "America/Los_Angeles"),
    ("duckdb", "Asia/Kathmandu"),
])
def test_views_round_trip_through_the_dialect(reference: Reference, dialect: str, session_zone: str) -> None:
    """Rendered, strictly parsed back and run on DuckDB. Redshift's and DuckDB's renderings run in non-UTC
    sessions: their answers must not depend on the session's time zone (BigQuery's TIMESTAMP has none, and
    sqlglot's DuckDB form of its DATE(ts, 'UTC') goes through a cast that does, so that one runs in UTC)."""
    connection = duckdb.connect()
    connection.execute(f"SET TimeZone = '{session_zone}'")
    connection.execute("CREATE SCHEMA braze_cdi_data")
    duck_types = {"text": "VARCHAR", "timestamp": "TIMESTAMPTZ", "bigint": "BIGINT", "bool": "BOOLEAN"}
    for table, (names, rows) in reference.base.items():
        columns = ", ".join(f"{n} {duck_types[BASE_COLUMNS[table][n]['data_type']]}" for n in names)
        connection.execute(f"CREATE TABLE braze_cdi_data.{table} ({columns})")
        connection.executemany(f"INSERT INTO braze_cdi_data.{table} VALUES ({', '.join(['?'] * len(names))})", rows)
    for statement in render_views(dialect, "braze_cdi_data").values():
        connection.execute(strictly_parsed(statement, dialect).sql("duckdb"))

    def query(view: str) -> tuple[list[str], list[tuple]]:
        cursor = connection.execute(f"SELECT * FROM braze_cdi_data.{view}")
        return [c[0] for c in cursor.description], cursor.fetchall()

    run_and_compare(dialect, reference, query)


def test_cli_prints_valid_bigquery(tmp_path: Path) -> None:
    from tests.cli import braze_cdi, cli_env

    result = braze_cdi("views", "--dialect", "bigquery", "--dataset-name", "cdi", "--project", "p-1", cwd=tmp_path,
                       env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    statements = [s for s in result.stdout.split(";") if s.strip()]
    assert len(statements) == len(VIEWS)
    for statement, view in zip(statements, VIEWS, strict=True):
        tree = strictly_parsed(statement, "bigquery")
        assert isinstance(tree, exp.Create) and tree.args.get("replace")
        assert tree.this.sql("bigquery") == f"`p-1`.`cdi`.`{view}`"
        # every name is qualified with the project: the view reads the same tables from any project
        assert {t.catalog for t in tree.expression.find_all(exp.Table) if t.db} == {"p-1"}
    # without --project: the destination's configured project; as JSON, the same statements
    conf = {**cli_env(tmp_path), "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID": "conf-2"}
    configured = braze_cdi("views", "--dialect", "bigquery", "--dataset-name", "cdi", cwd=tmp_path, env=conf)
    assert "CREATE OR REPLACE VIEW `conf-2`.`cdi`.`sync_runs` AS" in configured.stdout
    statements = [s for s in configured.stdout.split(";") if s.strip()]
    as_json = braze_cdi("views", "--dialect", "bigquery", "--dataset-name", "cdi", "--log-format", "json", cwd=tmp_path,
                        env=conf)
    [document] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [f"{s};" for s in document["views"].values()] == [f"{s.strip()};" for s in statements]


# --- Table layout for time-pruned reads: rendered by dlt's own loaders where no engine runs here ----------------


def test_job_sync_status_is_laid_out_for_time_pruned_reads(tmp_path: Path) -> None:
    """Snowflake: dlt's CREATE TABLE clusters by (integration_id, sync_start_time), timestamps TIMESTAMP_LTZ (dlt's
    default: the views convert every instant to UTC explicitly). BigQuery and Databricks: the hints dlt's loaders
    turn into PARTITION BY DATE(sync_start_time) CLUSTER BY integration_id, sync_start_time and CLUSTER BY (their
    client libraries are not installed here)."""
    with BrazeSimulator((3,), seed=1, rate_limits=FAST_LIMITS) as sim:
        pipeline = dlt.pipeline("layout", destination=dlt.destinations.snowflake(credentials="snowflake://u:p@a/DB"),
                                dataset_name="cdi", pipelines_dir=str(tmp_path))
        pipeline.extract(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))
    pipeline.normalize()
    table = pipeline.default_schema.tables["job_sync_status"]
    assert table["x-bigquery-cluster-columns"] == ["integration_id", "sync_start_time"]
    assert table["columns"]["sync_start_time"]["x-bigquery-partition"] is True
    assert [c for c, hints in table["columns"].items() if hints.get("cluster")] == ["integration_id", "sync_start_time"]
    statement = "\n".join(pipeline.destination_client()._get_table_update_sql(
        "job_sync_status", list(table["columns"].values()), False
    ))
    assert statement.endswith('CLUSTER BY ("INTEGRATION_ID","SYNC_START_TIME")')
    assert '"SYNC_START_TIME" TIMESTAMP_LTZ' in statement
