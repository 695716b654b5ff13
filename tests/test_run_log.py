"""What analysts can count on across runs: their own views survive, `extraction_runs` logs every run,
`extraction_errors` exists from the first run, and a destination with no verified dialect still loads."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import dlt
import pytest

from braze_cdi_source import __version__, braze_cdi_source, create_views
from braze_cdi_source.job import run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS
from tests.tables import count_rows


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.slow)])
def engine_pipeline(request: pytest.FixtureRequest, make_pipeline: Any) -> Any:
    if request.param == "duckdb":
        return make_pipeline()
    return make_pipeline(
        request.getfixturevalue("postgres_destination"), dataset_name=request.getfixturevalue("unique_dataset")
    )


def rows(pipeline: Any, sql: str) -> list[tuple]:
    with pipeline.sql_client() as client:
        return [tuple(row) for row in client.execute_sql(sql) or []]


RUNS = 3
"""The first run creates the views; each later one (two: the replacement repeated) replaces them under the analyst's
view and logs itself."""


@pytest.mark.slow
def test_an_analysts_view_survives_repeated_runs_and_each_run_is_logged(engine_pipeline: Any) -> None:
    pipeline = engine_pipeline
    with BrazeSimulator((0, 7, 45), rate_limits=FAST_LIMITS) as sim:
        def run() -> Any:
            return run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url))

        first = run()
        with pipeline.sql_client() as client:
            health = client.make_qualified_table_name("integration_health")
            mine = client.make_qualified_table_name("my_integrations")
            runs_table = client.make_qualified_table_name("extraction_runs")
            client.execute_sql(f"CREATE VIEW {mine} AS SELECT integration_id, health FROM {health}")
        assert count_rows(pipeline, "extraction_errors") == 0  # exists, empty, from the first run
        for _ in range(RUNS - 1):
            assert run().ok
    assert sorted(rows(pipeline, f"SELECT * FROM {mine}")) == sorted(
        rows(pipeline, f"SELECT integration_id, health FROM {health}")
    )
    assert len(rows(pipeline, f"SELECT * FROM {mine}")) == 3

    log = rows(
        pipeline,
        "SELECT run_id, started_at, finished_at, status, integrations, integrations_failed, requests, "
        f"throttled_429, rows_loaded, load_id, version FROM {runs_table} ORDER BY started_at",
    )
    assert len(log) == RUNS and len({row[0] for row in log}) == RUNS
    assert all(row[3] == "ok" and row[4] == 3 and row[5] == 0 and row[2] >= row[1] for row in log)
    loaded = sum(count for table, count in first.rows_per_table.items() if table != "extraction_errors")
    assert log[0][9] == first.load_ids[0] and log[0][8] == loaded >= 3 + 52  # at least integrations + syncs
    assert log[0][6] == first.requests > 0 and log[0][7] == 0
    assert {row[10] for row in log} == {__version__}


def test_a_partial_run_and_its_errors_are_logged(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    with BrazeSimulator((3, 12), rate_limits=FAST_LIMITS) as sim:
        broken = sim.integration_ids[1]
        sim.inject("wrong_shape", endpoint="job_sync_status", integration_id=broken, page=0)
        summary = run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url))
    assert not summary.ok
    with pipeline.sql_client() as client:
        runs = client.make_qualified_table_name("extraction_runs")
        errors = client.make_qualified_table_name("extraction_errors")
        log = client.execute_sql(f"SELECT status, integrations, integrations_failed FROM {runs}")
        failed = client.execute_sql(f"SELECT integration_id FROM {errors}")
    assert [tuple(row) for row in log] == [("partial", 2, 1)]
    assert [row[0] for row in failed] == [broken]


@pytest.mark.slow
def test_a_view_whose_columns_changed_is_recreated_unless_something_depends_on_it(
    make_pipeline: Any, postgres_destination: Any, unique_dataset: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refuses CREATE OR REPLACE when a view's columns change: drop (no CASCADE) and create,
    but never when an object depends on it."""
    pipeline = make_pipeline(postgres_destination, dataset_name=unique_dataset)
    with BrazeSimulator((3,), rate_limits=FAST_LIMITS) as sim:
        assert not pipeline.run(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url)).has_failed_jobs
    with pipeline.sql_client() as client:
        sync_runs = client.make_qualified_table_name("sync_runs")
        daily = client.make_qualified_table_name("daily_sync_summary")
        dependent = client.make_qualified_table_name("on_old_daily")
        client.execute_sql(f"CREATE VIEW {sync_runs} AS SELECT 1 AS old_column")
        client.execute_sql(f"CREATE VIEW {daily} AS SELECT 1 AS old_column")
        client.execute_sql(f"CREATE VIEW {dependent} AS SELECT old_column FROM {daily}")
    with caplog.at_level(logging.ERROR, logger="braze_cdi"):
        create_views(pipeline)
    assert len(rows(pipeline, f"SELECT integration_id FROM {sync_runs}")) == 3  # recreated
    assert rows(pipeline, f"SELECT * FROM {dependent}") == [(1,)]  # the user's view and what it reads: kept
    assert any("daily_sync_summary was not updated" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_a_destination_with_no_verified_dialect_loads_and_skips_the_views(tmp_path: Path) -> None:
    """SQLite through dlt's sqlalchemy destination stands for mssql, synapse, clickhouse, athena…"""
    with BrazeSimulator((3, 5), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url,
                      DESTINATION__SQLALCHEMY__CREDENTIALS=f"sqlite:///{tmp_path / 'cdi.sqlite'}")
        result = braze_cdi("run", "--destination", "sqlalchemy", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stderr.splitlines() if "views skipped" in line]
    assert len(skipped) == 1 and "sqlalchemy" in skipped[0], result.stderr
    check = dlt.pipeline("check", destination=dlt.destinations.sqlalchemy(f"sqlite:///{tmp_path / 'cdi.sqlite'}"),
                         dataset_name="braze_cdi_data", pipelines_dir=str(tmp_path / "check"))
    assert count_rows(check, "job_sync_status") == 8
    assert count_rows(check, "extraction_runs") == 1
