"""The job's destination decisions: the tuning (a local DuckDB only, only during the run, never over a user's value)
and the user's configured load file format; and the source's own Arrow path, which needs neither."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs import PluggableRunContext
from dlt.load.configuration import LoaderConfiguration

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.job import destination_tuned, destination_tuning, run_file_format, run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS

TUNED_KEYS = ("data_writer.disable_compression", "normalize.data_writer.file_max_items", "load.workers")


def providers() -> list[Any]:
    return list(Container()[PluggableRunContext].providers.providers)


def loader_workers() -> int:
    return resolve_configuration(LoaderConfiguration(), sections=("load",), accept_partial=True).workers


def resolved(pipeline: Any) -> dict[str, Any]:
    """What dlt itself resolves for the tuned settings, inside the pipeline's config context."""
    values: dict[str, Any] = {key: dlt.config.get(key) for key in TUNED_KEYS}
    values["loader_workers"] = loader_workers()
    values["global_config"] = pipeline.destination_client().config.credentials.global_config
    return values


def test_duckdb_gets_uncompressed_split_files_one_load_worker_and_one_duckdb_thread(make_pipeline):
    pipeline = make_pipeline()
    before = providers()
    with destination_tuned(pipeline):
        values = resolved(pipeline)
    assert values["data_writer.disable_compression"] is True
    assert values["normalize.data_writer.file_max_items"] == 10_000
    assert values["loader_workers"] == 1
    assert values["global_config"] == {"threads": 1}
    # only for the run: nothing is left registered, dlt's defaults are back
    assert providers() == before
    assert loader_workers() == 20
    assert pipeline.destination_client().config.credentials.global_config is None


def test_a_duckdb_destination_with_its_own_name_is_tuned_under_that_name(make_pipeline, tmp_path):
    pipeline = make_pipeline(dlt.destinations.duckdb(str(tmp_path / "named.duckdb"), destination_name="warehouse"))
    with destination_tuned(pipeline):
        assert pipeline.destination_client().config.credentials.global_config == {"threads": 1}


@pytest.mark.parametrize(
    "destination",
    [
        dlt.destinations.postgres("postgresql://user:password@localhost:5432/braze"),
        dlt.destinations.filesystem(bucket_url="file:///tmp/braze_cdi_lake"),
        dlt.destinations.motherduck("md:braze?motherduck_token=not-a-token"),
    ],
    ids=["postgres", "filesystem", "motherduck"],
)
def test_other_destinations_keep_dlts_defaults(make_pipeline, destination):
    pipeline = make_pipeline(destination)
    assert destination_tuning(pipeline) == {}
    before = providers()
    with destination_tuned(pipeline):
        assert providers() == before
        assert not dlt.config.get("data_writer.disable_compression")
        assert loader_workers() == 20


def test_values_the_user_set_win(make_pipeline, monkeypatch):
    monkeypatch.setenv("LOAD__WORKERS", "3")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"threads": 2}')
    monkeypatch.setenv("DATA_WRITER__DISABLE_COMPRESSION", "false")
    pipeline = make_pipeline()
    with destination_tuned(pipeline):
        assert loader_workers() == 3
        assert pipeline.destination_client().config.credentials.global_config == {"threads": 2}
        assert dlt.config.get("data_writer.disable_compression", bool) is False
        # what the user left alone is still tuned
        assert dlt.config.get("normalize.data_writer.file_max_items", int) == 10_000


def load_files(pipeline: Any) -> list[Path]:
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    return [p for p in loaded.rglob("completed_jobs/job_sync_status.*") if p.suffix == ".parquet"]


def text_files(pipeline: Any) -> list[Path]:
    """Load files dlt may gzip (not Parquet, which compresses inside, nor the merge SQL)."""
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    return [p for p in loaded.rglob("completed_jobs/*") if p.suffix not in (".parquet", ".sql") and p.is_file()]


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def test_run_pipeline_writes_duckdb_load_files_uncompressed_unless_the_user_wants_them_compressed(
    sim, make_pipeline, monkeypatch
):
    pipeline = make_pipeline()
    assert run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url)).ok
    files = text_files(pipeline)
    assert files and not any(is_gzip(f) for f in files)

    # set for that pipeline only (dlt looks up pipeline-scoped keys first)
    monkeypatch.setenv("BRAZE_CDI_GZ__DATA_WRITER__DISABLE_COMPRESSION", "false")
    compressed = make_pipeline(name="braze_cdi_gz")
    assert run_pipeline(compressed, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url)).ok
    files = text_files(compressed)
    assert files and all(is_gzip(f) for f in files)


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
