"""Long backfills through the real CLI: killed and resumed, cut by a time budget, moved start_date, reset.

Every test compares the final table with the simulator's truth and counts the pages the simulator served.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import dlt
import pytest

from braze_cdi_source.extract.backfill import parse_duration
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env, popen_braze_cdi
from tests.conftest import FAST_LIMITS
from tests.tables import count_rows, loaded_syncs, table_exists, truth_syncs
from tests.test_crash import kill_when

pytestmark = pytest.mark.slow  # SIGKILL, time budgets, start_date and reset through the CLI, DuckDB and PostgreSQL

HISTORY = (1200, 1000, 800)
"""300 pages of history."""
CHECKPOINT = 60
LOAD_TIME_SLACK = 3.0
"""How far past its budget a run may end: the budget keeps a reserve for the last load and the views, estimated
from the loads before it, and on a busy machine (tests run in parallel) the last load can take longer."""


def load_scale() -> float:
    """How many times the budgets, latencies and windows of the time-budget tests are stretched (1 to 4): by the
    machine's load beyond 1.5 per core. A run's own costs (the CLI's start, the first load and its reserve, the
    views) grow with the load while a budget does not: at load 8 on two cores the CLI's start took the first
    slice's whole quarter of an 8 s budget and the run read nothing. Stretched together, every figure keeps its
    ratio to the others, so each test proves the same at any load, and takes its idle time when idle."""
    return min(4.0, max(1.0, os.getloadavg()[0] / (1.5 * len(os.sched_getaffinity(0)))))


def pages(sim: BrazeSimulator, integration_id: str | None = None) -> int:
    return sim.count("job_sync_status", integration_id=integration_id, status=200)


def minimum_pages(sim: BrazeSimulator) -> int:
    """Pages one uninterrupted run reads for the simulator's whole history."""
    return sum(max(1, math.ceil(len(sim.truth(i)) / 10)) for i in sim.integration_ids)


def destination_args(destination: str, postgres_url: str | None, dataset: str) -> tuple[list[str], dict[str, str]]:
    if destination == "duckdb":
        return [], {}
    env = {"DESTINATION__POSTGRES__CREDENTIALS": str(postgres_url)}
    return ["--destination", "postgres", "--dataset-name", dataset], env


def reader(tmp_path: Path, destination: str, postgres_url: str | None, dataset: str, make_pipeline: Any) -> Any:
    if destination == "duckdb":
        return make_pipeline(dlt.destinations.duckdb(str(tmp_path / "braze_cdi.duckdb")), name="reader")
    return make_pipeline(dlt.destinations.postgres(credentials=postgres_url), name="reader", dataset_name=dataset)


def summary_of(stderr: str) -> dict[str, Any]:
    """The RunSummary that `--log-format json` logs with its last "run finished" line."""
    for line in reversed(stderr.splitlines()):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("message") == "run finished":
            return record["summary"]
    raise AssertionError(f"no run summary in:\n{stderr[-2000:]}")


@pytest.fixture(params=["duckdb", "postgres"])
def target(request, tmp_path, make_pipeline) -> Any:
    """(CLI args, environment additions, a pipeline that reads what landed) for DuckDB and PostgreSQL."""
    destination = request.param
    url = request.getfixturevalue("postgres_url") if destination == "postgres" else None
    dataset = request.getfixturevalue("unique_dataset") if destination == "postgres" else "braze_cdi_data"
    args, env = destination_args(destination, url, dataset)
    return args, env, lambda: reader(tmp_path, destination, url, dataset, make_pipeline)


def test_killed_backfill_loses_at_most_one_checkpoint_per_kill(tmp_path, target):
    args, env_extra, read = target
    with BrazeSimulator(HISTORY, rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url, **env_extra)
        first = sim.integration_ids[0]
        runs = kills = 0
        for more_pages in (45, 110, 80):
            process = popen_braze_cdi("run", "--checkpoint-pages", str(CHECKPOINT), *args, cwd=tmp_path, env=env)
            runs += 1
            goal = pages(sim) + more_pages
            assert kill_when(process, lambda goal=goal: pages(sim) >= goal), "the run finished before the kill"
            assert process.returncode == -signal.SIGKILL
            kills += 1
            # meanwhile syncs arrive on top, one still running: the resumed runs must pick them up
            sim.add_syncs(first, 3, running_last=True)
        sim.finish_running()
        result = braze_cdi("run", "--checkpoint-pages", str(CHECKPOINT), *args, cwd=tmp_path, env=env)
        runs += 1
        assert result.returncode == 0, result.stderr
        assert "Backfill in progress" not in result.stdout

        # each run after the first looks at every integration's newest page once, and rows that arrive on top
        # shift Braze's offsets by at most one page per integration and kill
        n = len(sim.integration_ids)
        allowed = minimum_pages(sim) + kills * CHECKPOINT + (runs - 1) * n + kills * n
        assert pages(sim) <= allowed, (pages(sim), minimum_pages(sim), kills)
        assert pages(sim) >= minimum_pages(sim)
        pipeline = read()
        assert loaded_syncs(pipeline) == truth_syncs(sim)
        assert count_rows(pipeline, "integration_backfill", "WHERE backfill_complete") == n


def test_a_time_budget_stops_in_time_and_runs_complete_the_backfill(tmp_path, target):
    args, env_extra, read = target
    scale = load_scale()
    budget = 8.0 * scale
    latency = 0.08 * scale
    with BrazeSimulator((800, 500, 300), rate_limits=FAST_LIMITS, latency=latency) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url, **env_extra)
        summaries = []
        for _ in range(12):
            before, requests_before = pages(sim), len(sim.requests)
            result = braze_cdi(
                "--log-format", "json", "run", "--time-budget", f"{budget:g}s", "--checkpoint-pages", "40", *args,
                cwd=tmp_path, env=env,
            )
            assert result.returncode == 0, result.stderr
            summary = summary_of(result.stderr)
            summaries.append(summary)
            # paging stops in time: the run's Braze requests span less than the budget (its start is before
            # the first of them); the end adds the last load, whose time follows the machine's load
            answered = [r.at for r in sim.requests[requests_before:]]
            assert max(answered) - min(answered) <= budget - 0.5, max(answered) - min(answered)
            assert summary["duration_seconds"] <= budget + LOAD_TIME_SLACK * scale, summary["duration_seconds"]
            assert pages(sim) > before
            if not summary["backfill_pending"]:
                break
        assert len(summaries) >= 2, "the budget did not stop the first run"
        first = summaries[0]
        assert first["stopped_by_budget"]
        assert first["backfill_pending"] and set(first["backfill_pending"]) <= set(sim.integration_ids)
        for row in first["backfill_pending"].values():
            assert row["pages_read"] > 0 and row["estimated_pages_left"] > 0
            assert row["estimated_minutes_left"] == round(row["estimated_pages_left"] / 100, 1)
        assert not summaries[-1]["backfill_pending"], "repeated budgeted runs did not complete the backfill"
        pipeline = read()
        assert loaded_syncs(pipeline) == truth_syncs(sim)
    # the run log carries each run's backfill figures, as its summary said them
    with pipeline.sql_client() as client:
        runs = client.make_qualified_table_name("extraction_runs")
        log = client.execute_sql(
            "SELECT integrations_backfilling, backfill_minutes_left, stopped_by_budget, slices, backfill_pending "
            f"FROM {runs} ORDER BY started_at"
        )
    assert len(log) == len(summaries)
    for (backfilling, minutes, stopped, slices, pending), summary in zip(log, summaries, strict=True):
        expected = {key: value["estimated_pages_left"] for key, value in summary["backfill_pending"].items()}
        assert json.loads(pending) == expected
        assert backfilling == len(expected)
        assert (minutes, bool(stopped), slices) == (
            summary["backfill_minutes_left"], summary["stopped_by_budget"], summary["slices"]
        )
    assert log[0][0] > 0 and log[0][1] > 0 and log[0][2] and log[0][3] >= 1
    assert (log[-1][0], log[-1][4]) == (0, "{}")


def test_the_budget_never_starts_a_rate_limit_wait_it_cannot_afford(tmp_path):
    scale = load_scale()
    budget, window = 15.0 * scale, 6.0 * scale
    # 25 pages per 6-second window: the throttle waits for the next window within the budget, and the run
    # stops before the wait for the window that opens 18 s after the first request
    with BrazeSimulator(HISTORY, rate_limits={"list": (100, window), "job_sync_status": (25, window)}) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        result = braze_cdi("--log-format", "json", "run", "--time-budget", f"{budget:g}s", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        summary = summary_of(result.stderr)
        # no wait past the budget was started: the last request comes before the budget ends (the run started
        # before the first request), and the run ends within the budget plus what its last load took
        answered = [r.at for r in sim.requests]
        assert max(answered) - min(answered) < budget, max(answered) - min(answered)
        assert summary["duration_seconds"] <= budget + LOAD_TIME_SLACK * scale
        assert summary["backfill_pending"] and summary["stopped_by_budget"]
        assert 25 < pages(sim) < 300, "read past one window, stopped before the end"


def test_the_first_slice_reads_every_integrations_newest_page_first_then_shares_fairly(make_pipeline):
    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.job import run_pipeline

    with BrazeSimulator((60, 60, 60, 60, 60), rate_limits=FAST_LIMITS) as sim:
        source = partial(
            braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url, checkpoint_pages=10, parallel=False
        )
        summary = run_pipeline(make_pipeline(), source, views=False)
        assert summary.slices == 1 + 3 and not summary.backfill_pending  # 5 newest pages, then 3 × 10 pages
        served = [r for r in sim.requests if r.endpoint == "job_sync_status"]
        first, second = served[:5], served[5:15]
        assert {r.integration_id for r in first} == set(sim.integration_ids)
        assert all("cursor" not in r.query for r in first)
        assert sorted(sum(1 for r in second if r.integration_id == i) for i in sim.integration_ids) == [2] * 5
        assert all("cursor" in r.query for r in second)


def test_an_earlier_start_date_reads_only_the_older_pages(tmp_path, target):
    args, env_extra, read = target
    with BrazeSimulator((400, 35), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url, **env_extra)
        big, small = sim.integration_ids
        history = sim.truth(big)
        later, earlier = history[150]["sync_start_time"], history[300]["sync_start_time"]

        def run(*extra: str) -> None:
            sim.reset_log()
            result = braze_cdi("run", *extra, *args, cwd=tmp_path, env=env)
            assert result.returncode == 0, result.stderr

        run("--start-date", later.isoformat())
        assert pages(sim, big) == 16  # indexes 0-159: the page holding the start_date is the last one
        expected = [row for row in truth_syncs(sim) if row[2] >= later]
        assert loaded_syncs(read()) == expected

        run("--start-date", earlier.isoformat())
        # the newest page, then from the page that crossed the first start_date down to the new one
        assert pages(sim, big) == 1 + (30 - 15 + 1)
        assert loaded_syncs(read()) == [row for row in truth_syncs(sim) if row[2] >= earlier]

        run("--start-date", later.isoformat())  # a later start_date: covered already
        assert pages(sim, big) == 1

        run()  # no start_date: the rest of Braze's history
        assert pages(sim, big) == 1 + (40 - 30)
        assert loaded_syncs(read()) == truth_syncs(sim)


def test_reset_re_reads_history_and_merges(tmp_path, target):
    args, env_extra, read = target
    with BrazeSimulator((137, 45), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url, **env_extra)
        big, small = sim.integration_ids
        assert braze_cdi("run", *args, cwd=tmp_path, env=env).returncode == 0

        sim.reset_log()
        reset = braze_cdi("reset", "--integration-id", big, *args, cwd=tmp_path, env=env)
        assert reset.returncode == 0, reset.stderr
        assert "Reset 1 integration(s)" in reset.stdout
        again = braze_cdi("--log-format", "json", "run", *args, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert (pages(sim, big), pages(sim, small)) == (14, 1)
        [summary] = [json.loads(line)["summary"] for line in again.stdout.splitlines() if '"summary"' in line]
        counts = {i["integration_id"]: (i["new"], i["reread"]) for i in summary["integrations"]}
        assert counts[big] == (0, 137), counts  # all loaded before the reset: re-read, not new
        pipeline = read()
        assert loaded_syncs(pipeline) == truth_syncs(sim)  # re-read rows merged, not doubled

        sim.reset_log()
        assert braze_cdi("reset", *args, cwd=tmp_path, env=env).returncode == 0
        assert braze_cdi("run", *args, cwd=tmp_path, env=env).returncode == 0
        assert (pages(sim, big), pages(sim, small)) == (14, 5)
        assert loaded_syncs(pipeline) == truth_syncs(sim)

        unknown = braze_cdi("reset", "--integration-id", "no-such-id", *args, cwd=tmp_path, env=env)
        assert unknown.returncode == 2 and "no-such-id" in unknown.stderr


def test_a_refused_old_cursor_falls_back_to_reading_from_the_top(tmp_path, make_pipeline):
    with BrazeSimulator((250,), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        (only,) = sim.integration_ids
        middle = sim.truth(only)[120]["sync_start_time"]
        assert braze_cdi("run", "--start-date", middle.isoformat(), cwd=tmp_path, env=env).returncode == 0
        sim.add_syncs(only, 4)
        sim.inject("invalid_cursor", endpoint="job_sync_status")
        result = braze_cdi("run", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "refused the saved cursor" in result.stderr and only in result.stderr
        assert sim.count("job_sync_status", status=400) == 1
        pipeline = make_pipeline(dlt.destinations.duckdb(str(tmp_path / "braze_cdi.duckdb")), name="reader")
        assert loaded_syncs(pipeline) == truth_syncs(sim)


def test_runs_that_find_no_rows_load_cleanly_and_say_so(tmp_path, make_pipeline):
    with BrazeSimulator((7, 12), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        after_every_sync = max(s["sync_start_time"] for i in sim.integration_ids for s in sim.truth(i))
        after_every_sync = (after_every_sync + timedelta(seconds=1)).isoformat()
        # a first load that finds nothing: the tables exist all the same
        first = braze_cdi("run", "--start-date", after_every_sync, cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        assert "No sync rows found" in first.stdout
        pipeline = make_pipeline(dlt.destinations.duckdb(str(tmp_path / "braze_cdi.duckdb")), name="reader")
        assert table_exists(pipeline, "job_sync_status") and count_rows(pipeline, "job_sync_status") == 0

        assert braze_cdi("run", cwd=tmp_path, env=env).returncode == 0
        new = sim.add_integration(0)  # never synced, run alone after a first load
        alone = braze_cdi("run", "--integration-id", new, cwd=tmp_path, env=env)
        assert alone.returncode == 0, alone.stderr
        assert "No sync rows found" in alone.stdout
        again = braze_cdi("run", "--start-date", after_every_sync, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert loaded_syncs(pipeline) == truth_syncs(sim)


def test_a_future_start_date_is_an_error(tmp_path):
    with BrazeSimulator((7,), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        result = braze_cdi("run", "--start-date", "2999-01-01", cwd=tmp_path, env=env)
        assert result.returncode == 2
        assert "start_date 2999-01-01" in result.stderr and "future" in result.stderr
        assert sim.count("job_sync_status") == 0


def test_time_budget_is_a_setting_and_an_argument_of_the_python_source(tmp_path, make_pipeline, monkeypatch):
    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.job import RunContext

    monkeypatch.setenv("SOURCES__BRAZE_CDI__TIME_BUDGET", "1h30m")
    monkeypatch.setenv("SOURCES__BRAZE_CDI__CHECKPOINT_PAGES", "7")
    with BrazeSimulator((30,), rate_limits=FAST_LIMITS) as sim:
        context = RunContext()
        braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, run_context=context)
        backfill = context.backfill
        assert backfill is not None
        assert (backfill.budget.seconds, backfill.checkpoint_pages) == (5400.0, 7)
        # a plain pipeline.run is one slice: everything within the budget, one commit
        pipeline = make_pipeline()
        pipeline.run(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, time_budget=0.001))
        assert count_rows(pipeline, "job_sync_status") == 0  # spent before the first page
        pipeline.run(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, time_budget="10m"))
        assert loaded_syncs(pipeline) == truth_syncs(sim)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("50m", 3000.0), ("1h30m", 5400.0), ("90s", 90.0), ("3600", 3600.0), ("1h 30m 10s", 5410.0), (2.5, 2.5)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5x", "-3m", "0", "h", "1h30", "30 30", "5m 10", "10s5m"])
def test_bad_durations_say_how_to_write_one(text):
    from braze_cdi_source.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="time_budget"):
        parse_duration(text)


def test_a_long_gap_on_top_and_an_unfinished_backfill_are_both_read_to_the_end(tmp_path, make_pipeline):
    """The newest pages are read in slices too (a gap above what is loaded), then the older backfill resumes."""
    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.job import run_pipeline

    with BrazeSimulator((90,), rate_limits=FAST_LIMITS) as sim:
        (only,) = sim.integration_ids
        middle = sim.truth(only)[40]["sync_start_time"]
        pipeline = make_pipeline()

        def run(**options: Any) -> Any:
            source = partial(
                braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url, checkpoint_pages=2, **options
            )
            return run_pipeline(pipeline, source, views=False)

        run(start_date=middle.isoformat())  # parks the backfill at start_date
        sim.add_syncs(only, 35, running_last=True)  # 4 pages on top: more than a slice's 2
        sim.reset_log()
        summary = run()
        assert summary.slices >= 3 and not summary.backfill_pending
        state = pipeline.state["sources"]["braze_cdi"]["resources"][f"job_sync_status_{only}"]
        assert state["backfill"]["stretches"] == [] and state["backfill"]["complete"]
        # 4 pages of new syncs, then the parked page onwards (its offset shifted by the 35 new rows)
        assert pages(sim) <= 4 + (math.ceil(len(sim.truth(only)) / 10) - 4) + 1
        sim.finish_running()
        run()
        assert loaded_syncs(pipeline) == truth_syncs(sim)


def test_the_backfill_left_is_told_whole_at_80_columns_and_bounded_without_start_date(tmp_path):
    """Ids and instants are never cut on a narrow terminal; with no start_date the estimate runs to Braze's 12
    months, which a younger history does not reach: it is told as an upper bound."""
    scale = load_scale()
    limits = {"list": (100, 6.0 * scale), "job_sync_status": (10, 6.0 * scale)}
    with BrazeSimulator((800, 500), rate_limits=limits) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url, COLUMNS="80")
        result = braze_cdi("run", "--time-budget", f"{4 * scale:g}s", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Backfill in progress for 2 integration(s)" in result.stdout
    assert "at most" in result.stdout and "12 months" in result.stdout
    for integration_id in sim.integration_ids:
        [line] = [line for line in result.stdout.splitlines() if integration_id in line]
        assert re.search(r"loaded back to \d{4}-\d\d-\d\d \d\d:\d\d UTC", line), line
