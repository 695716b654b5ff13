"""`braze-cdi health` as cron runs it: the real CLI in a subprocess, over data the job loaded (`load_as_cli`: what
`braze-cdi run` loads, in-process; on PostgreSQL through the CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import load_as_cli
from tests.conftest import FAST_LIMITS
from tests.test_views import build_cases, model_health, names, paused, truth

pytestmark = pytest.mark.slow  # the classes over a loaded history, through the CLI

CLI = [str(Path(sys.executable).parent / "braze-cdi")]


def cli(tmp_path: Path, sim: BrazeSimulator | None, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `braze-cdi ARGS` in tmp_path with the simulator's key and URL; DLT_DATA_DIR isolates dlt's state."""
    environment = {
        **os.environ,
        "HOME": str(tmp_path),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "COLUMNS": "200",
        **env,
    }
    if sim is not None:
        environment["SOURCES__BRAZE_CDI__API_KEY"] = sim.api_key
        environment["SOURCES__BRAZE_CDI__BASE_URL"] = sim.base_url
    return subprocess.run(
        [*CLI, *args], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Scripted integrations (one per health class) plus random ones, loaded once for the module as `braze-cdi
    run` loads them (health only reads): returns the folder, the simulator, the cases, the truth and the names."""
    folder = tmp_path_factory.mktemp("health")
    now = datetime.now(timezone.utc)
    with BrazeSimulator((7, 45), seed=5, rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        load_as_cli(folder, sim, data_dir="dlt")
        yield folder, sim, cases, truth(sim), names(sim)


@pytest.fixture(scope="module")
def pipeline(loaded: Any) -> Any:
    """The pipeline `braze-cdi health` opens in the loaded folder, for the checks made in this process."""
    from braze_cdi_source.job import make_pipeline

    folder = loaded[0]
    return make_pipeline(pipelines_dir=str(folder / "dlt" / "pipelines"), duckdb_file=folder / "braze_cdi.duckdb")


def judged(pipeline: Any, *integration_ids: str, fail_on: str = "failing,stuck,stale", **thresholds: Any) -> Any:
    """What `braze-cdi health --integration-id … --fail-on … --<threshold> …` decides, in this process: the
    functions the command calls (`fail_on_classes`, `HealthThresholds.from_config`, `check_health`) on the
    pipeline it opens. The CLI's own parsing, printing and exit are run as a subprocess below, once each."""
    from braze_cdi_source.analytics.health import DEFAULT_FAIL_ON, check_health
    from braze_cdi_source.analytics.thresholds import HealthThresholds
    from braze_cdi_source.cli.reports import fail_on_classes

    classes = fail_on_classes(fail_on, DEFAULT_FAIL_ON)
    return check_health(pipeline, HealthThresholds.from_config(**thresholds), classes, integration_ids)


SHARED = pytest.mark.xdist_group("health_loaded")
"""The tests of the module-scoped `loaded` run on one pytest-xdist worker, which loads the history once."""

EXPECTED_EXIT = {
    "healthy": 0,
    "running_ok": 0,
    "one_failure": 0,  # degraded: reported, not failing by default
    "all_failures": 1,
    "stale": 1,
    "stuck": 1,
    "only_running": 2,
    "no_syncs": 2,
}


@SHARED
def test_exit_code_for_each_class(loaded: Any, pipeline: Any) -> None:
    folder, _, cases, _, _ = loaded
    for case, code in EXPECTED_EXIT.items():
        result = judged(pipeline, cases[case])
        assert result.exit_code == code, (case, result)
        if code:
            assert cases[case] in " ".join(result.problems + result.notes)  # the one-line summary names it
    # +degraded adds to the default classes; a plain list replaces them
    for case in ("one_failure", "all_failures", "stale", "stuck"):
        assert judged(pipeline, cases[case], fail_on="+degraded").exit_code == 1, case
    assert judged(pipeline, cases["one_failure"], fail_on="failing,stuck,stale,degraded").exit_code == 1
    assert judged(pipeline, cases["all_failures"], fail_on="degraded").exit_code == 0
    # the CLI, once for each exit code and each form of --fail-on
    healthy = cli(folder, None, "health", "--integration-id", cases["healthy"])
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    only_running = cli(folder, None, "health", "--integration-id", cases["only_running"])
    assert only_running.returncode == 2, only_running.stdout + only_running.stderr
    assert cases["only_running"] in only_running.stdout + only_running.stderr
    degraded = cli(folder, None, "health", "--integration-id", cases["one_failure"],
                   "--fail-on", "failing,stuck,stale,degraded")
    assert degraded.returncode == 1
    assert f"[{cases['one_failure']}]: degraded — the last finished sync failed (error)" in degraded.stdout
    added = cli(folder, None, "health", "--integration-id", cases["one_failure"], "--fail-on", "+degraded")
    assert added.returncode == 1, added.stdout + added.stderr
    both = cli(folder, None, "health", "--fail-on", "failing,+degraded")
    assert both.returncode == 2 and "--fail-on" in both.stderr
    failing = cli(folder, None, "health", "--integration-id", cases["all_failures"])
    assert failing.returncode == 1, failing.stdout + failing.stderr
    lines = [line for line in failing.stdout.splitlines() if cases["all_failures"] in line]
    assert len(lines) == 1 and "failing — 4 failed syncs in a row" in lines[0] and "last success never" in lines[0]


@SHARED
def test_json_lists_every_integration_with_the_model_s_class(loaded: Any) -> None:
    folder, sim, cases, history, name = loaded
    before = datetime.now(timezone.utc)
    result = cli(folder, None, "health", "--format", "json")
    after = datetime.now(timezone.utc)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "unhealthy" and report["exit_code"] == 1
    got = {row["integration_id"]: row["health"] for row in report["integrations"]}
    expected = [
        {i: r["health"] for i, r in model_health(history, name, t, paused=paused(sim)).items()}
        for t in (before, after)
    ]
    assert got in expected, [(i, got[i], expected[0].get(i)) for i in got if got[i] != expected[0].get(i)]
    assert sum(report["counts"].values()) == len(sim.integration_ids)
    assert report["counts"]["failing"] >= 1 and report["counts"]["stuck"] == 1 and report["counts"]["stale"] >= 1
    assert len(report["problems"]) == sum(report["counts"][c] for c in ("failing", "stuck", "stale"))
    by_id = {row["integration_id"]: row for row in report["integrations"]}
    assert by_id[cases["all_failures"]]["consecutive_failures"] == 4
    assert by_id[cases["future_watermark"]]["watermark_in_future"] is True


@SHARED
def test_thresholds_from_flags_and_config(loaded: Any, pipeline: Any) -> None:
    folder, _, cases, _, _ = loaded
    stuck, failing, healthy = cases["stuck"], cases["all_failures"], cases["healthy"]
    # stuck: running for 10 h; all_failures: 4 failures in a row; healthy: newest sync started 30 min ago
    assert judged(pipeline, stuck).exit_code == 1
    assert judged(pipeline, stuck, stuck_after_hours=12).exit_code == 0
    assert judged(pipeline, failing, failing_after_failures=5).exit_code == 0
    assert judged(pipeline, healthy, stale_after_hours=0.1).exit_code == 1
    # the CLI: each flag reaches the classification (one run, read back per integration), and so does the config
    flags = cli(folder, None, "health", "--format", "json", "--integration-id", stuck, "--integration-id", failing,
                "--integration-id", healthy, "--stuck-after-hours", "12", "--failing-after-failures", "5",
                "--stale-after-hours", "0.1")
    assert flags.returncode == 1, flags.stdout + flags.stderr
    health = {row["integration_id"]: row["health"] for row in json.loads(flags.stdout)["integrations"]}
    assert health[healthy] == "stale" and health[stuck] != "stuck" and health[failing] != "failing", health
    assert cli(folder, None, "health", "--integration-id", stuck,
               BRAZE_CDI__HEALTH__STUCK_AFTER_HOURS="12").returncode == 0
    bad = cli(folder, None, "health", "--failing-after-failures", "0")
    assert bad.returncode == 2 and "failing_after_failures" in bad.stderr


def test_could_not_tell_without_data_and_creates_nothing(tmp_path: Path) -> None:
    result = cli(tmp_path, None, "health")
    assert result.returncode == 2
    assert "no DuckDB file" in result.stderr
    assert not (tmp_path / "braze_cdi.duckdb").exists()
    as_json = cli(tmp_path, None, "health", "--format", "json")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["status"] == "unknown"


def test_could_not_tell_when_every_integration_is_unknown(tmp_path: Path) -> None:
    with BrazeSimulator((0, 0), rate_limits=FAST_LIMITS) as sim:
        load_as_cli(tmp_path, sim, data_dir="dlt")
    result = cli(tmp_path, None, "health")
    assert result.returncode == 2, result.stdout
    assert result.stdout.strip().endswith("unknown: 2 integration(s): 2 unknown.")


def test_could_not_tell_when_the_destination_is_unreachable(tmp_path: Path) -> None:
    result = cli(
        tmp_path, None, "health", "--destination", "postgres",
        DESTINATION__POSTGRES__CREDENTIALS="postgresql://loader:secret@127.0.0.1:9/nowhere?connect_timeout=5",
    )
    assert result.returncode == 2, result.stderr
    assert "could not read the destination" in result.stderr and "secret" not in result.stderr


def test_health_on_postgres(tmp_path: Path, postgres_url: str, postgres_destination: Any, unique_dataset: str) -> None:
    now = datetime.now(timezone.utc)
    env = {"DESTINATION__POSTGRES__CREDENTIALS": postgres_url}
    pg = ("--destination", "postgres", "--dataset-name", unique_dataset)
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        loaded = cli(tmp_path, sim, "run", *pg, **env)
        assert loaded.returncode == 0, loaded.stderr
    from braze_cdi_source.job import make_pipeline

    pipeline = make_pipeline(destination=postgres_destination, dataset_name=unique_dataset,
                             pipelines_dir=str(tmp_path / "dlt" / "pipelines"))
    for case in ("healthy", "all_failures", "stuck", "no_syncs"):  # the classification on PostgreSQL's SQL
        result = judged(pipeline, cases[case])
        assert result.exit_code == EXPECTED_EXIT[case], (case, result)
    health = cli(tmp_path, None, "health", *pg, "--integration-id", cases["all_failures"], **env)  # the CLI on it
    assert health.returncode == 1, (health.stdout, health.stderr)
    assert "failing — 4 failed syncs in a row" in health.stdout
