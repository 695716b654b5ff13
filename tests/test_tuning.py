"""Load file formats: the source's own Arrow path (no setting, no job needed) and the user's configured format,
which the job passes on (but not jsonl on DuckDB)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.job import run_file_format, run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS


def load_files(pipeline: Any) -> list[Path]:
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    return [p for p in loaded.rglob("completed_jobs/job_sync_status.*") if p.suffix == ".parquet"]


@pytest.mark.parametrize(
    ("configured", "destination", "expected"),
    [
        (None, None, None),  # nothing configured: each item takes the destination's best format
        ("parquet", None, "parquet"),
        ("parquet", dlt.destinations.filesystem(bucket_url="file:///tmp/braze_cdi_lake"), "parquet"),  # a lake
        ("jsonl", None, None),  # an empty table's jsonl file has no columns for DuckDB's JSON reader
        ("jsonl", dlt.destinations.filesystem(bucket_url="file:///tmp/braze_cdi_lake"), "jsonl"),
    ],
    ids=["none", "parquet-duckdb", "parquet-lake", "jsonl-duckdb", "jsonl-lake"],
)
def test_a_configured_file_format_goes_on_every_table_but_jsonl_on_duckdb(
    make_pipeline, monkeypatch, configured, destination, expected
):
    if configured:
        monkeypatch.setenv("NORMALIZE__LOADER_FILE_FORMAT", configured)
    assert run_file_format(make_pipeline(destination)) == expected


def test_the_source_alone_hands_duckdb_arrow_tables(sim, make_pipeline):
    """A bare `pipeline.run(source)` (the README's snippet, dagster-dlt) takes the Arrow path by itself: DuckDB
    gets Parquet files, not the INSERT statements it parses as SQL."""
    pipeline = make_pipeline()
    pipeline.run(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))
    assert load_files(pipeline)
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    assert not list(loaded.rglob("completed_jobs/job_sync_status.*.insert_values*"))


@pytest.mark.slow
def test_rows_go_as_parquet_but_a_load_with_no_sync_at_all_still_creates_the_table(make_pipeline):
    """Arrow goes on batches of rows only: a table created empty takes the destination's own format."""
    with BrazeSimulator((0, 0), rate_limits=FAST_LIMITS) as empty:
        pipeline = make_pipeline()
        assert run_pipeline(pipeline, partial(braze_cdi_source, api_key=empty.api_key, base_url=empty.base_url)).ok
        with pipeline.sql_client() as client:
            assert client.execute_sql(f"SELECT COUNT(*) FROM {client.make_qualified_table_name('job_sync_status')}")
        empty.add_syncs(empty.integration_ids[0], 3)
        assert run_pipeline(pipeline, partial(braze_cdi_source, api_key=empty.api_key, base_url=empty.base_url)).ok
    assert load_files(pipeline), "the rows did not go as parquet"


@pytest.mark.slow  # two CLI runs each
@pytest.mark.parametrize("sync_counts", [(0, 0), (0, 4)], ids=["no-sync-at-all", "one-empty-integration"])
def test_a_configured_jsonl_loads_into_duckdb_through_the_cli(tmp_path, sync_counts):
    """NORMALIZE__LOADER_FILE_FORMAT=jsonl went on every table, so the files that only create an empty table
    (`job_sync_status` with no sync yet, `extraction_errors` on every run) were empty jsonl files, which DuckDB's
    JSON reader binds to one column named `json`: the load failed. On DuckDB the setting is not used: every
    item takes DuckDB's best format (the source's rows as Parquet)."""
    with BrazeSimulator(sync_counts, rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url, NORMALIZE__LOADER_FILE_FORMAT="jsonl")
        result = braze_cdi("run", "--pipeline-name", "jsonl_run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    con = duckdb.connect(str(tmp_path / "jsonl_run.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT COUNT(*) FROM braze_cdi_data.job_sync_status").fetchone() == (sum(sync_counts),)
        assert con.execute("SELECT COUNT(*) FROM braze_cdi_data.extraction_errors").fetchone() == (0,)
        assert con.execute("SELECT COUNT(*) FROM braze_cdi_data.extraction_runs").fetchone() == (1,)
    finally:
        con.close()
    if sum(sync_counts):
        loaded = list((tmp_path / "dlt_data" / "pipelines" / "jsonl_run" / "load" / "loaded").rglob(
            "completed_jobs/job_sync_status.*"))
        assert any(path.name.endswith(".parquet") for path in loaded), [path.name for path in loaded]
