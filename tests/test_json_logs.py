"""`braze-cdi --log-format json run`: every stderr line is a JSON object; the last one summarises the run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env

pytestmark = pytest.mark.slow  # full CLI runs read line by line


def run_json(sim: BrazeSimulator, home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(home, sim.api_key, sim.base_url, **extra)
    return braze_cdi("--log-format", "json", "run", *args, cwd=home, env=env, timeout=240)


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Parse stderr line by line; a line that is not one JSON object fails the test, naming the line."""
    records = []
    for number, line in enumerate(stderr.splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"stderr line {number} is not JSON: {line!r}")
        assert isinstance(record, dict), line
        assert {"time", "level", "message"} <= record.keys(), line
        records.append(record)
    return records


def summary_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    summaries = [r["summary"] for r in records if "summary" in r]
    assert summaries, "no summary record"
    assert "summary" in records[-1], "the summary must be the last record"
    return summaries[-1]


def test_every_stderr_line_is_json_and_the_summary_counts_rows(sim, tmp_path):
    result = run_json(sim, tmp_path)
    assert result.returncode == 0, result.stderr
    summary = summary_of(json_lines(result.stderr))
    syncs = sum(len(sim.truth(i)) for i in sim.integration_ids)
    assert summary["ok"] is True
    assert summary["failures"] == 0
    assert summary["rows_per_table"]["job_sync_status"] == syncs
    assert summary["rows_per_table"]["integrations"] == len(sim.integration_ids)
    assert summary["pipeline_name"] == "braze_cdi" and summary["destination"] == "duckdb"

    # an incremental run logs JSON as well, and re-reads only each integration's newest sync
    again = run_json(sim, tmp_path)
    assert again.returncode == 0, again.stderr
    reread = summary_of(json_lines(again.stderr))["rows_per_table"].get("job_sync_status", 0)
    assert reread <= len(sim.integration_ids) < syncs


def test_a_failed_integration_is_a_json_error_record_and_the_summary_counts_it(sim, tmp_path):
    unknown = "00000000-0000-4000-8000-000000000000"  # answered 400 Invalid integration ID
    result = run_json(sim, tmp_path, "--integration-id", sim.integration_ids[4], "--integration-id", unknown)
    assert result.returncode == 1, result.stderr
    records = json_lines(result.stderr)  # a partial run writes only JSON on stderr, the summary last
    errors = [r for r in records if r["level"] == "error"]
    assert any(unknown in r["message"] for r in errors)
    summary = summary_of(records)
    assert summary["failures"] == 1 and summary["ok"] is False
    assert summary["rows_per_table"]["job_sync_status"] == len(sim.truth(sim.integration_ids[4]))
    assert {i["integration_id"] for i in summary["integrations"]} == {sim.integration_ids[4], unknown}
    assert sim.api_key not in result.stderr


def test_dlt_warnings_are_json_too(sim, tmp_path):
    result = run_json(
        sim,
        tmp_path,
        "--destination",
        "filesystem",
        DESTINATION__FILESYSTEM__BUCKET_URL=str(tmp_path / "lake"),
        NORMALIZE__LOADER_FILE_FORMAT="parquet",
    )
    assert result.returncode == 0, result.stderr
    json_lines(result.stderr)


def test_a_failed_load_keeps_every_stderr_line_json(sim, tmp_path):
    """The destination refuses the rows (a table made by hand with the wrong types): the load fails and dlt's
    deprecation warnings while the package is set aside are JSON records too, not raw `Warning:` lines."""
    import duckdb

    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb")) as connection:
        connection.execute("CREATE SCHEMA braze_cdi_data")
        connection.execute(
            "CREATE TABLE braze_cdi_data.job_sync_status(integration_id INTEGER, sync_start_time INTEGER)"
        )
    result = run_json(sim, tmp_path, "--duckdb-file", str(tmp_path / "braze_cdi.duckdb"))
    assert result.returncode == 2, result.stderr
    records = json_lines(result.stderr)
    assert "the load into duckdb failed" in records[-1]["message"]
