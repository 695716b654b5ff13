"""pipelines/braze_cdi_pipeline.py run as a script (a subprocess), against the simulator, into a DuckDB file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dlt
import duckdb
import pytest

from braze_cdi_source.job import make_pipeline, pipeline_lock
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import cli_env
from tests.tables import loaded_syncs, truth_syncs

SCRIPT = Path(__file__).resolve().parents[1] / "pipelines" / "braze_cdi_pipeline.py"


def run_script(
    sim: BrazeSimulator, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(cwd, sim.api_key, sim.base_url, **(env or {}))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_script_loads_the_duckdb_file_and_views_then_only_new_syncs(sim, tmp_path):
    first = run_script(sim, tmp_path)
    assert first.returncode == 0, first.stderr
    database = tmp_path / "braze_cdi.duckdb"
    assert database.exists()
    assert "job_sync_status: " in first.stdout

    added = sim.add_syncs(sim.integration_ids[1], 3)
    sim.finish_running()
    sim.reset_log()
    second = run_script(sim, tmp_path)
    assert second.returncode == 0, second.stderr
    # incremental: the integrations with nothing new cost one request each
    assert sim.count("job_sync_status", integration_id=sim.integration_ids[4]) == 1
    assert len(added) == 3

    # read the file the script wrote, through a pipeline attached to it
    pipeline = dlt.pipeline(
        "braze_cdi_check",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="braze_cdi_data",
        pipelines_dir=str(tmp_path / "check"),
    )
    assert loaded_syncs(pipeline) == truth_syncs(sim)
    with duckdb.connect(str(database), read_only=True) as con:
        synced = con.execute("SELECT COUNT(*) FROM braze_cdi_data.sync_runs").fetchone()[0]
        ids = {r[0] for r in con.execute("SELECT integration_id FROM braze_cdi_data.integrations").fetchall()}
    assert synced == len(truth_syncs(sim))
    assert ids == set(sim.integration_ids)


@pytest.mark.slow
def test_script_reads_where_to_load_from_config(sim, tmp_path):
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(
        '[braze_cdi_pipeline]\npipeline_name = "cdi_nightly"\ndataset_name = "cdi_history"\n'
    )
    result = run_script(sim, tmp_path)
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(tmp_path / "cdi_nightly.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT COUNT(*) FROM cdi_history.job_sync_status").fetchone()[0]
    assert rows == len(truth_syncs(sim))


@pytest.mark.slow
def test_script_exits_1_when_an_integration_fails_and_loads_the_others(sim, tmp_path):
    unknown = "00000000-0000-4000-8000-000000000000"  # the simulator answers 400 Invalid integration ID
    wanted = [*sim.integration_ids, unknown]
    result = run_script(sim, tmp_path, env={"SOURCES__BRAZE_CDI__INTEGRATION_IDS": json.dumps(wanted)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "extraction_errors" in result.stderr
    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb"), read_only=True) as con:
        failed = con.execute("SELECT integration_id FROM braze_cdi_data.extraction_errors").fetchall()
        loaded = con.execute("SELECT COUNT(*) FROM braze_cdi_data.job_sync_status").fetchone()[0]
    assert failed == [(unknown,)]
    assert loaded == len(truth_syncs(sim))


@pytest.mark.slow
def test_script_exits_2_naming_the_missing_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__BRAZE_CDI__")}
    env.update({"RUNTIME__DLTHUB_TELEMETRY": "false", "DLT_DATA_DIR": str(tmp_path / "dlt")})
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "api_key" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # script subprocesses
def test_script_runs_the_job_so_a_second_run_at_once_exits_75_without_calling_braze(sim, tmp_path):
    env = cli_env(tmp_path, sim.api_key, sim.base_url)
    # the script's pipeline, in the folder where dlt keeps it for the script
    held = make_pipeline("braze_cdi", pipelines_dir=str(Path(env["DLT_DATA_DIR"]) / "pipelines"))
    with pipeline_lock(held):
        result = run_script(sim, tmp_path)
    assert result.returncode == 75, result.stdout + result.stderr
    assert "in progress" in result.stderr
    assert sim.requests == []
