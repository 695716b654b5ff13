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


@pytest.fixture
def loaded(tmp_path: Path) -> Any:
    """Scripted integrations (one per health class) plus random ones, loaded as `braze-cdi run` loads them."""
    now = datetime.now(timezone.utc)
    with BrazeSimulator((7, 45), seed=5, rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        load_as_cli(tmp_path, sim, data_dir="dlt")
        yield sim, cases, truth(sim), names(sim)


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


def test_exit_code_for_each_class(tmp_path: Path, loaded: Any) -> None:
    sim, cases, _, _ = loaded
    for case, code in EXPECTED_EXIT.items():
        result = cli(tmp_path, None, "health", "--integration-id", cases[case])
        assert result.returncode == code, (case, result.stdout, result.stderr)
        text = result.stdout + result.stderr
        if code:
            assert cases[case] in text  # the one-line summary names the integration
    degraded = cli(tmp_path, None, "health", "--integration-id", cases["one_failure"],
                   "--fail-on", "failing,stuck,stale,degraded")
    assert degraded.returncode == 1
    assert f"[{cases['one_failure']}]: degraded — the last finished sync failed (error)" in degraded.stdout
    # +degraded adds to the default classes; a plain list replaces them
    for case in ("one_failure", "all_failures", "stale", "stuck"):
        added = cli(tmp_path, None, "health", "--integration-id", cases[case], "--fail-on", "+degraded")
        assert added.returncode == 1, (case, added.stdout, added.stderr)
    only = cli(tmp_path, None, "health", "--integration-id", cases["all_failures"], "--fail-on", "degraded")
    assert only.returncode == 0, only.stdout + only.stderr
    both = cli(tmp_path, None, "health", "--fail-on", "failing,+degraded")
    assert both.returncode == 2 and "--fail-on" in both.stderr
    failing = cli(tmp_path, None, "health", "--integration-id", cases["all_failures"])
    lines = [line for line in failing.stdout.splitlines() if cases["all_failures"] in line]
    assert len(lines) == 1 and "failing — 4 failed syncs in a row" in lines[0] and "last success never" in lines[0]


def test_json_lists_every_integration_with_the_model_s_class(tmp_path: Path, loaded: Any) -> None:
    sim, cases, history, name = loaded
    before = datetime.now(timezone.utc)
    result = cli(tmp_path, None, "health", "--format", "json")
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


def test_thresholds_from_flags_and_config(tmp_path: Path, loaded: Any) -> None:
    _, cases, _, _ = loaded
    stuck = cases["stuck"]  # running for 10 h
    assert cli(tmp_path, None, "health", "--integration-id", stuck).returncode == 1
    assert cli(tmp_path, None, "health", "--integration-id", stuck, "--stuck-after-hours", "12").returncode == 0
    assert cli(tmp_path, None, "health", "--integration-id", stuck,
               BRAZE_CDI__HEALTH__STUCK_AFTER_HOURS="12").returncode == 0
    failing = cases["all_failures"]  # 4 failures in a row
    assert cli(tmp_path, None, "health", "--integration-id", failing, "--failing-after-failures", "5").returncode == 0
    healthy = cases["healthy"]  # newest sync started 30 min ago
    assert cli(tmp_path, None, "health", "--integration-id", healthy, "--stale-after-hours", "0.1").returncode == 1
    bad = cli(tmp_path, None, "health", "--failing-after-failures", "0")
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


def test_health_on_postgres(tmp_path: Path, postgres_url: str, unique_dataset: str) -> None:
    now = datetime.now(timezone.utc)
    env = {"DESTINATION__POSTGRES__CREDENTIALS": postgres_url}
    pg = ("--destination", "postgres", "--dataset-name", unique_dataset)
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        loaded = cli(tmp_path, sim, "run", *pg, **env)
        assert loaded.returncode == 0, loaded.stderr
    for case in ("healthy", "all_failures", "stuck", "no_syncs"):
        result = cli(tmp_path, None, "health", *pg, "--integration-id", cases[case], **env)
        assert result.returncode == EXPECTED_EXIT[case], (case, result.stdout, result.stderr)
