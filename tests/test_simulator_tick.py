"""`python -m braze_cdi_source.simulator --tick SECONDS`: the simulated workspace moves on its own, so
incremental runs find new syncs and running syncs that finished."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from braze_cdi_source.simulator import BrazeSimulator
from braze_cdi_source.simulator.ticker import Ticker
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS


def test_ticks_finish_running_syncs_and_start_new_ones_at_the_tick_time():
    with BrazeSimulator((5, 8, 0, 3), seed=2, rate_limits=FAST_LIMITS) as sim:
        active = [i["integration_id"] for i in sim.integrations_truth() if i["integration_status"] == "active"]
        before = {i: len(sim.truth(i)) for i in sim.integration_ids}
        ticker = Ticker(sim, seed=1)
        start = datetime.now(timezone.utc)
        totals = {"finished": 0, "started": 0}
        for step in range(8):
            now = start + timedelta(minutes=step)
            counts = ticker.tick(now)
            totals = {k: totals[k] + counts[k] for k in totals}
            for integration_id in active:
                history = sim.truth(integration_id)
                if not history:
                    continue
                newest = history[0]
                assert newest["sync_start_time"] <= now + timedelta(seconds=1)
                if newest["job_status"] != "running":
                    assert newest["sync_finish_time"] is None or newest["sync_finish_time"] <= now
        assert totals["started"] > 0 and totals["finished"] > 0
        assert sum(len(sim.truth(i)) for i in active) == sum(before[i] for i in active) + totals["started"]
        for integration_id in set(sim.integration_ids) - set(active):  # paused integrations do not sync
            assert len(sim.truth(integration_id)) == before[integration_id]


def listed(settings: dict[str, str]) -> list[dict] | None:
    """The simulator's integration list as served (None when it is not answered: a 429 of the list's limit)."""
    answer = requests.get(f"{settings['base_url']}/cdi/integrations", timeout=10,
                          headers={"Authorization": f"Bearer {settings['api_key']}"})
    return answer.json()["results"] if answer.status_code == 200 else None


def moved_since(settings: dict[str, str], before: list[dict] | None, tick: float = 0.3) -> None:
    """Wait, a tick at a time, until the list shows a sync started or finished (last_job_*) since `before`: each
    tick an active integration finishes its running sync or, one time in two, starts one. At most 40 looks, within
    the list's 50 requests a minute."""
    for _ in range(40):
        time.sleep(tick)
        now = listed(settings)
        if before is None:
            before = now
        elif now is not None and now != before:
            return
    raise AssertionError("the ticking simulator did not move in 40 ticks")


@pytest.mark.slow
def test_incremental_runs_against_a_ticking_simulator_load_what_moved(tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-m", "braze_cdi_source.simulator", "--sync-counts", "6,9,4", "--seed", "5", "--tick", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        settings = dict(server.stdout.readline().strip().split("=", 1) for _ in range(3))
        assert settings["tick"] == "0.3s"
        env = cli_env(tmp_path, settings["api_key"], settings["base_url"])
        first = braze_cdi("--log-format", "json", "run", cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        moved_since(settings, listed(settings))  # a tick started or finished a sync after the first run read
        second = braze_cdi("--log-format", "json", "run", cwd=tmp_path, env=env)
        assert second.returncode == 0, second.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
    [summary] = [json.loads(line)["summary"] for line in second.stdout.splitlines() if '"summary"' in line]
    moved = sum(i["new"] + i["updated"] for i in summary["integrations"])
    assert moved > 0, summary["integrations"]
