"""Unattended runs: two overlapping `braze-cdi run` processes, and examples/cron/braze-cdi-cron.sh.

The simulator holds every job_sync_status request at a gate until the test opens it, so "the first run
is still going when the second starts" is a fact of the test, not a race against the clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS
from tests.tables import loaded_syncs, truth_syncs

pytestmark = pytest.mark.slow  # the cron wrapper and overlapping CLI runs

ROOT = Path(__file__).resolve().parents[1]
WRAPPER = ROOT / "examples" / "cron" / "braze-cdi-cron.sh"
BRAZE_CDI = str(Path(sys.executable).with_name("braze-cdi"))
EXIT_LOCKED = 75


class GatedSimulator:
    """A simulator whose job_sync_status answers wait until `open()`: runs stay in flight meanwhile."""

    def __init__(self, sim: BrazeSimulator) -> None:
        self.sim = sim
        self.gate = threading.Event()
        self.waiting = 0  # job_sync_status requests that arrived (the log records a request once answered)
        respond = sim._respond

        def gated(method: str, target: str, authorization: str | None) -> Any:
            if "/job_sync_status" in target:
                self.waiting += 1
                self.gate.wait(120)
            return respond(method, target, authorization)

        sim._respond = gated  # type: ignore[method-assign]

    def open(self) -> None:
        self.gate.set()


@pytest.fixture
def gated() -> Iterator[GatedSimulator]:
    with BrazeSimulator((3, 25, 40), rate_limits=FAST_LIMITS, latency=0.3) as sim:
        gate = GatedSimulator(sim)
        try:
            yield gate
        finally:
            gate.open()


def env_for(sim: BrazeSimulator, home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SOURCES__BRAZE_CDI__API_KEY": sim.api_key,
        "SOURCES__BRAZE_CDI__BASE_URL": sim.base_url,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DLT_DATA_DIR": str(home / "dlt"),
        **extra,
    }


def wait_until(condition: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    """Wait for a state of the system (not a duration); fail with the process's output if it died first."""
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the first run ended (exit {process.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what}")
        time.sleep(0.05)


def duckdb_pipeline(home: Path) -> Any:
    return dlt.pipeline(
        "braze_cdi_check",
        destination=dlt.destinations.duckdb(str(home / "braze_cdi.duckdb")),
        dataset_name="braze_cdi_data",
        pipelines_dir=str(home / "check"),
    )


def test_second_overlapping_cli_run_exits_75_with_a_clear_message(gated, tmp_path):
    sim = gated.sim
    first = subprocess.Popen(
        [BRAZE_CDI, "run"], cwd=tmp_path, env=env_for(sim, tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until(lambda: gated.waiting > 0, "the first run's first sync request", first)
        second = subprocess.run(
            [BRAZE_CDI, "run"], cwd=tmp_path, env=env_for(sim, tmp_path), capture_output=True, text=True, timeout=120
        )
        assert first.poll() is None, "the first run must still be loading while the second one starts"
    finally:
        gated.open()
        out, err = first.communicate(timeout=180)

    assert second.returncode == EXIT_LOCKED, second.stdout + second.stderr
    assert "in progress" in second.stderr and "braze_cdi" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, out + err
    assert loaded_syncs(duckdb_pipeline(tmp_path)) == truth_syncs(sim)


def run_wrapper(sim: BrazeSimulator, home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = env_for(sim, home, BRAZE_CDI_HOME=str(home), BRAZE_CDI=BRAZE_CDI, **extra)
    return subprocess.run(["bash", str(WRAPPER), *args], env=env, capture_output=True, text=True, timeout=240)


def test_cron_wrapper_skips_cleanly_while_the_previous_run_holds_its_lock(gated, tmp_path):
    sim = gated.sim
    env = env_for(sim, tmp_path, BRAZE_CDI_HOME=str(tmp_path), BRAZE_CDI=BRAZE_CDI, BRAZE_CDI_SKIP_HEALTH="1")
    first = subprocess.Popen(
        ["bash", str(WRAPPER)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: gated.waiting > 0, "the first run's first sync request", first)
        list_requests = sim.count("list")
        second = run_wrapper(sim, tmp_path, BRAZE_CDI_SKIP_HEALTH="1")
        assert first.poll() is None, "the first run must still be loading while the second one starts"
    finally:
        gated.open()
        out, err = first.communicate(timeout=180)

    # the second exits 0, prints nothing (cron would mail it), asks Braze nothing, and says why in the log
    assert second.returncode == 0, second.stderr
    assert second.stdout == "" and second.stderr == ""
    assert sim.count("list") == list_requests
    log = (tmp_path / "logs" / "braze-cdi.log").read_text()
    assert "skipped: the previous run still holds" in log
    assert first.returncode == 0, out + err + log
    assert "run exited 0" in log
    assert loaded_syncs(duckdb_pipeline(tmp_path)) == truth_syncs(sim)


def test_cron_wrapper_alerts_through_its_exit_code(sim, tmp_path):
    unknown = "00000000-0000-4000-8000-000000000000"  # answered 400 Invalid integration ID
    partial = run_wrapper(
        sim, tmp_path, "--integration-id", sim.integration_ids[1], "--integration-id", unknown,
        BRAZE_CDI_SKIP_HEALTH="1",
    )
    assert partial.returncode == 1
    assert "run failed (exit 1)" in partial.stderr and "braze-cdi.log" in partial.stderr

    broken = run_wrapper(sim, tmp_path, SOURCES__BRAZE_CDI__BASE_URL="https://", BRAZE_CDI_SKIP_HEALTH="1")
    assert broken.returncode == 2, broken.stderr
    log = (tmp_path / "logs" / "braze-cdi.log").read_text()
    assert "run exited 1" in log and "run exited 2" in log


def test_cron_wrapper_runs_health_after_the_run_and_returns_its_verdict(sim, tmp_path):
    result = run_wrapper(sim, tmp_path, BRAZE_CDI_LOG_FORMAT="json")
    health = subprocess.run(
        [BRAZE_CDI, "health"], cwd=tmp_path, env=env_for(sim, tmp_path), capture_output=True, text=True, timeout=120
    )
    log = (tmp_path / "logs" / "braze-cdi.log").read_text()
    assert "run exited 0" in log
    assert f"health exited {health.returncode}" in log
    assert result.returncode == health.returncode
    assert (result.stderr == "") == (health.returncode == 0)
    # the run's JSON log lines made it into the file
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(r.get("message") == "run finished" for r in records)
