"""What a run says while it waits and when it ends: rate-limit waits on a terminal and as log lines; the
summary names integrations and tells new, updated (finished since) and re-read rows apart."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import BRAZE_CDI, braze_cdi, cli_env
from tests.conftest import FAST_LIMITS

pytestmark = pytest.mark.slow  # CLI runs with real rate-limit waits

WAIT = re.compile(r"waiting (\d+) s for Braze's rate-limit window \(job sync status\)")
SLOW_LIMITS = {"list": (10_000, 60.0), "job_sync_status": (3, 4.0)}
"""Three job-status requests per 4 s window: a 60-sync integration (7 pages) must wait for the window."""


def test_a_rate_limit_wait_is_a_log_line_when_not_on_a_terminal(tmp_path):
    with BrazeSimulator((60,), rate_limits=SLOW_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        result = braze_cdi("--log-format", "json", "run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    waits = [r for r in records if WAIT.fullmatch(r["message"])]
    assert waits, result.stderr
    assert all(1 <= int(WAIT.fullmatch(r["message"]).group(1)) <= 5 for r in waits)
    assert waits[0]["waiting"]["endpoint"] == "job_sync_status"
    assert sim.throttled == 0  # it waited instead of being refused


def test_a_rate_limit_wait_shows_on_a_terminal(tmp_path):
    """The live progress line on a pseudo-terminal names the wait instead of freezing."""
    with BrazeSimulator((60,), rate_limits=SLOW_LIMITS) as sim:
        env = {**cli_env(tmp_path, sim.api_key, sim.base_url), "TERM": "xterm-256color"}
        env.pop("COLUMNS", None)
        primary, secondary = pty.openpty()
        process = subprocess.Popen([BRAZE_CDI, "run"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=secondary)
        os.close(secondary)
        screen = b""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # the terminal closed: the run is over
                    break
                if not chunk:
                    break
                screen += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=60)
        os.close(primary)
    assert process.returncode == 0, screen.decode(errors="replace")[-2000:]
    assert WAIT.search(screen.decode(errors="replace")), screen.decode(errors="replace")[-2000:]


def summary_of(result: subprocess.CompletedProcess[str]) -> dict:
    [summary] = [json.loads(line)["summary"] for line in result.stdout.splitlines() if '"summary"' in line]
    return summary


def test_the_summary_names_integrations_with_new_updated_and_reread_rows(tmp_path: Path):
    with BrazeSimulator((12, 5, 0), rate_limits=FAST_LIMITS, seed=3) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        first = braze_cdi("--log-format", "json", "run", cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        assert {i["integration_id"]: i["new"] for i in summary_of(first)["integrations"]} == {
            i: len(sim.truth(i)) for i in sim.integration_ids
        }
        was_running = {i: bool(sim.truth(i)) and sim.truth(i)[0]["job_status"] == "running"
                       for i in sim.integration_ids}
        assert any(was_running.values()) and not all(was_running.values())  # the seed gives both cases
        sim.finish_running()
        added = {sim.integration_ids[0]: 3}
        sim.add_syncs(sim.integration_ids[0], 3)

        second = braze_cdi("--log-format", "json", "run", cwd=tmp_path, env=env)
        text = braze_cdi("run", cwd=tmp_path, env=env)
        names = {i["integration_id"]: i["integration_name"] for i in sim.integrations_truth()}
    assert second.returncode == 0 and text.returncode == 0, second.stderr + text.stderr
    counts = {i["integration_id"]: i for i in summary_of(second)["integrations"]}
    for integration_id in sim.integration_ids:
        item = counts[integration_id]
        has_syncs = bool(sim.truth(integration_id))
        assert item["name"] == names[integration_id]
        assert item["new"] == added.get(integration_id, 0)
        assert item["updated"] == int(was_running[integration_id])
        assert item["reread"] == int(has_syncs and not was_running[integration_id])

    # the text summary of a run with nothing new: names, and re-reads that are not called new
    for name in names.values():
        assert name in text.stdout
    assert "0 new, 0 updated and 2 re-read sync row(s) from 3 integration(s)" in text.stdout
    assert f"Loaded into DuckDB file {tmp_path / 'braze_cdi.duckdb'}" in text.stdout


def test_progress_off_a_terminal_counts_the_whole_run_and_tells_each_change_once(tmp_path):
    """A backfill in slices: one line when the counts change (not one per dlt step, nor the same twice), with the
    time elapsed since the run started, not since the slice did."""
    with BrazeSimulator((60, 45), rate_limits=FAST_LIMITS) as sim:  # 11 pages: slices of at most 2 pages
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        result = braze_cdi("run", "--checkpoint-pages", "2", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = re.findall(
        r"INFO braze_cdi: \w+: (\d+ pages, \d+ rows, \d+/2 integrations done, \d+ x 429), (\d+) s", result.stderr
    )
    assert len(lines) >= 2, result.stderr
    counts = [count for count, _ in lines]
    assert len(set(counts)) == len(counts), result.stderr
    elapsed = [int(seconds) for _, seconds in lines]
    assert elapsed == sorted(elapsed), result.stderr


def test_a_budgeted_backfill_has_an_eta_before_any_integration_is_done():
    """A backfill reads every integration for the whole run, so none is done until the end: the time budget's
    end is the ETA then."""
    from braze_cdi_source.cli.progress import ProgressCollector
    from braze_cdi_source.run_stats import RunStats

    stats = RunStats()
    stats.expect(["a", "b", "c"])
    collector = ProgressCollector(stats, live=False, budget_seconds=3000)
    collector.step = "extract"
    line = collector._describe(stats.snapshot())
    assert "0/3 integrations done" in line
    assert 2990 <= int(re.search(r"ETA (\d+) s", line).group(1)) <= 3000, line
