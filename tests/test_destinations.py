"""Every destination that runs here, loaded from the simulator and compared table by table.

DuckDB and PostgreSQL (real servers, never skipped) through `run_pipeline` and through the CLI's
`--destination`; a filesystem lake of parquet files, where dlt has no merge: rows are appended, and the
dedup query docs/warehouses.md documents must give back exactly what the databases hold.
"""

from __future__ import annotations

import os
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.analytics.views import VIEWS
from braze_cdi_source.job import run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.tables import SYNC_FIELDS, _utc, count_rows, loaded_syncs, truth_syncs

pytestmark = pytest.mark.slow  # other engines: PostgreSQL, a parquet lake

INTEGRATION_FIELDS = ("integration_id", "app_group_id", "integration_name", "integration_type", "warehouse_type")

LAKE_DEDUP = """
SELECT {fields} FROM read_parquet('{folder}/*.parquet', union_by_name = true)
QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _dlt_load_id DESC) = 1
"""
"""The query over the lake in docs/warehouses.md: the newest version of each row (latest load wins)."""


def source_of(sim: BrazeSimulator) -> Any:
    return partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url)


def two_runs(sim: BrazeSimulator, load: Any) -> None:
    """A backfill with a sync still running, then a run after it finished and new syncs came."""
    sim.start_sync(sim.integration_ids[3])
    load()
    sim.finish_running()
    sim.add_syncs(sim.integration_ids[1], 4)
    sim.add_syncs(sim.integration_ids[4], 12)
    load()


def loaded_integrations(pipeline: Any) -> list[tuple]:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("integrations")
        return sorted(client.execute_sql(f"SELECT {', '.join(INTEGRATION_FIELDS)} FROM {table}"))


def truth_integrations(sim: BrazeSimulator) -> list[tuple]:
    return sorted(tuple(item[f] for f in INTEGRATION_FIELDS) for item in sim.integrations_truth())


def view_counts(pipeline: Any) -> dict[str, int]:
    return {view: count_rows(pipeline, view) for view in VIEWS}


def lake_rows(folder: Path, fields: tuple[str, ...], key: str, dedup: bool) -> list[tuple]:
    select = ", ".join(fields)
    if dedup:
        sql = LAKE_DEDUP.format(fields=select, folder=folder, key=key)
    else:
        sql = f"SELECT {select} FROM read_parquet('{folder}/*.parquet', union_by_name = true)"
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(sql).fetchall()
    # the order of tests.tables: by the row's key (integration_id, then sync_start_time when there is one)
    return sorted((tuple(_utc(v) for v in row) for row in rows), key=lambda r: (r[0], r[2]))


def test_duckdb_and_postgres_hold_the_same_tables_and_views(sim, make_pipeline, postgres_destination, unique_dataset):
    duck = make_pipeline()
    pg = make_pipeline(postgres_destination, name="braze_cdi_pg", dataset_name=unique_dataset)

    def load() -> None:
        for pipeline in (duck, pg):
            summary = run_pipeline(pipeline, source_of(sim))
            assert summary.ok

    two_runs(sim, load)
    truth = truth_syncs(sim)
    assert all(row[1] != "running" for row in truth)
    assert loaded_syncs(duck) == truth
    assert loaded_syncs(pg) == truth
    assert loaded_integrations(duck) == loaded_integrations(pg) == truth_integrations(sim)
    # the views exist on both and agree
    counts = view_counts(duck)
    assert counts == view_counts(pg)
    assert counts["sync_runs"] == len(truth)
    assert counts["integration_health"] == len(sim.integration_ids)


def test_filesystem_parquet_lake_appends_and_the_dedup_query_gives_the_merged_tables(sim, make_pipeline, tmp_path):
    lake = tmp_path / "lake"
    files = make_pipeline(
        dlt.destinations.filesystem(bucket_url=str(lake)), name="braze_cdi_lake", dataset_name="braze_cdi_data"
    )
    duck = make_pipeline()

    def load() -> None:
        os.environ["NORMALIZE__LOADER_FILE_FORMAT"] = "parquet"
        try:
            assert run_pipeline(files, source_of(sim)).ok
        finally:
            del os.environ["NORMALIZE__LOADER_FILE_FORMAT"]
        assert run_pipeline(duck, source_of(sim)).ok

    two_runs(sim, load)
    folder = lake / "braze_cdi_data"
    assert list((folder / "job_sync_status").glob("*.parquet")), "no parquet files: the file format was not used"
    assert not list(folder.glob("sync_runs*")), "views are not files: none should be made on a lake"

    raw = lake_rows(folder / "job_sync_status", SYNC_FIELDS, "integration_id, sync_start_time", dedup=False)
    merged = lake_rows(folder / "job_sync_status", SYNC_FIELDS, "integration_id, sync_start_time", dedup=True)
    # append: the sync that was running is there twice (running, then success), the rest once or more
    assert len(raw) > len(merged)
    started_running = [r for r in raw if r[1] == "running"]
    assert started_running and all(r[2] in {m[2] for m in merged} for r in started_running)
    assert merged == truth_syncs(sim) == loaded_syncs(duck)

    integrations = lake_rows(folder / "integrations", INTEGRATION_FIELDS, "integration_id", dedup=True)
    assert integrations == loaded_integrations(duck) == truth_integrations(sim)


def run_braze_cdi(
    sim: BrazeSimulator, cwd: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return braze_cdi(*args, cwd=cwd, env=cli_env(cwd, sim.api_key, sim.base_url, **env), timeout=240)


def test_cli_destination_postgres_from_the_environment(sim, tmp_path, postgres_url, unique_dataset):
    result = run_braze_cdi(
        sim,
        tmp_path,
        "run",
        "--destination",
        "postgres",
        "--dataset-name",
        unique_dataset,
        env={"DESTINATION__POSTGRES__CREDENTIALS": postgres_url},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check = dlt.pipeline(
        "braze_cdi_check",
        destination=dlt.destinations.postgres(credentials=postgres_url),
        dataset_name=unique_dataset,
        pipelines_dir=str(tmp_path / "check"),
    )
    assert loaded_syncs(check) == truth_syncs(sim)
    assert count_rows(check, "sync_runs") == len(truth_syncs(sim))
    assert not (tmp_path / "braze_cdi.duckdb").exists()


def test_cli_destination_filesystem_writes_parquet_when_configured(sim, tmp_path):
    lake = tmp_path / "lake"
    result = run_braze_cdi(
        sim,
        tmp_path,
        "run",
        "--destination",
        "filesystem",
        env={"DESTINATION__FILESYSTEM__BUCKET_URL": str(lake), "NORMALIZE__LOADER_FILE_FORMAT": "parquet"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    folder = lake / "braze_cdi_data"
    rows = lake_rows(folder / "job_sync_status", SYNC_FIELDS, "integration_id, sync_start_time", dedup=True)
    assert rows == truth_syncs(sim)
    assert "views skipped" in result.stderr
