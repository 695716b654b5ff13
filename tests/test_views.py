"""The analyst views against values computed here, independently, from the simulator's known history.

Every view is checked on DuckDB and on a real PostgreSQL server with the same data. "Now" is the
database's clock: expectations are computed at an instant before and after the query, and the view must
match one of them (a sync can cross a 7/30-day boundary while the test runs; nothing here waits).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from braze_cdi_source import braze_cdi_source, create_views
from braze_cdi_source.analytics.views import HealthThresholds
from braze_cdi_source.job import run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS
from tests.tables import table_exists

FAILED = ("error", "config_error")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

SYNC_RUNS_COLUMNS = [
    "integration_id", "integration_name", "job_status", "sync_start_time", "sync_finish_time",
    "duration_seconds", "rows_synced", "rows_failed_with_errors", "integration_label",
]
DAILY_COLUMNS = [
    "integration_id", "day", "syncs", "successes", "partials", "failures", "running", "rows_synced",
    "rows_failed_with_errors", "avg_duration_seconds", "integration_name", "integration_label",
]
HEALTH_COLUMNS = [
    "integration_id", "integration_name", "last_sync_start_time", "last_job_status", "last_success_time",
    "consecutive_failures", "success_rate_7d", "success_rate_30d", "p50_duration_seconds",
    "p95_duration_seconds", "health", "integration_label",
]


# --- scripted histories -------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sync(status: str, start: datetime, seconds: float | None = 60.0, rows: int | None = 100, failed: int = 0,
         watermark: datetime | None = None) -> dict[str, Any]:
    finish = None if status == "running" or seconds is None else start + timedelta(seconds=seconds)
    if status in ("success", "partial") and watermark is None:
        watermark = start - timedelta(minutes=5)
    return {
        "job_status": status,
        "sync_start_time": start,
        "sync_finish_time": finish,
        "last_timestamp_synced": watermark,
        "rows_synced": None if status == "running" else rows,
        "rows_failed_with_errors": None if status == "running" else failed,
    }


def scripted(sim: BrazeSimulator, rows: list[dict[str, Any]]) -> str:
    """A new integration serving exactly `rows` (newest first); returns its id."""
    integration_id = sim.add_integration(0)
    if rows:
        sim.add_syncs(integration_id, len(rows))
    for index, row in enumerate(rows):
        sim.set_job_status_raw(
            integration_id, index, {k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()}
        )
    return integration_id


def hourly(now: datetime, statuses: list[str], newest_ago: timedelta = timedelta(minutes=30)) -> list[dict]:
    """Syncs one hour apart, newest first, the newest started `newest_ago` before now."""
    return [sync(status, now - newest_ago - i * HOUR, seconds=30 + 7 * i) for i, status in enumerate(statuses)]


def build_cases(sim: BrazeSimulator, now: datetime) -> dict[str, str]:
    """One integration per health rule and edge case; returns case name → integration id."""
    stalled_mark = now - 20 * HOUR
    cases = {
        "healthy": hourly(now, ["success"] * 10),
        "one_failure": hourly(now, ["error"] + ["success"] * 8),
        "all_failures": hourly(now, ["error", "config_error", "error", "error"]),
        "stale": [sync("success", now - timedelta(days=10) - i * timedelta(days=1)) for i in range(5)],
        "stuck": [sync("running", now - 10 * HOUR)] + hourly(now, ["success"] * 5, newest_ago=11 * HOUR),
        "only_running": [sync("running", now - timedelta(minutes=10))],
        "running_ok": [sync("running", now - timedelta(minutes=5))] + hourly(now, ["success"] * 5, 65 * HOUR / 60),
        "future_watermark": [sync("success", now - 0.5 * HOUR, watermark=now + timedelta(days=30))]
        + hourly(now, ["success"] * 5, newest_ago=1.5 * HOUR),
        "stalled_watermark": [sync("success", now - (0.5 + i) * HOUR, rows=0, watermark=stalled_mark)
                              for i in range(8)] + hourly(now, ["success"] * 2, newest_ago=8.5 * HOUR),
        "low_success": hourly(now, ["success", "partial", "limit_exceeded", "partial", "success", "partial"]),
        "old_and_new": [sync("success", now - timedelta(days=d), seconds=10 * d) for d in (0.1, 3, 8, 20, 40, 60)],
        "no_syncs": [],
        # a long history the views must not cut at their windows: failing since a success 60 days ago,
        # stopped 40 days ago, and two successes that overlap (the newest by start finished first)
        "failing_60d": [sync("error", now - timedelta(days=d, hours=1)) for d in range(60)]
        + [sync("success", now - timedelta(days=60, hours=2))],
        "stopped_40d": [sync("success", now - timedelta(days=40) - i * HOUR) for i in range(6)],
        "overlapping": [sync("success", now - 40 * MINUTE, seconds=600),
                        sync("success", now - 100 * MINUTE, seconds=5400)]
        + hourly(now, ["success"] * 3, newest_ago=160 * MINUTE),
    }
    return {name: scripted(sim, rows) for name, rows in cases.items()}


# --- the independent model ----------------------------------------------------------------------


def utc(value: Any) -> Any:
    return value.astimezone(timezone.utc) if isinstance(value, datetime) else value


def percentile(values: list[float], share: float) -> float | None:
    """percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def duration(s: dict) -> float | None:
    if s["sync_finish_time"] is None:
        return None
    return (s["sync_finish_time"] - s["sync_start_time"]).total_seconds()


def truth(sim: BrazeSimulator) -> dict[str, list[dict]]:
    return {i: [{k: utc(v) for k, v in s.items()} for s in sim.truth(i)] for i in sim.integration_ids}


def names(sim: BrazeSimulator) -> dict[str, str]:
    return {i["integration_id"]: i["integration_name"] for i in sim.integrations_truth()}


def paused(sim: BrazeSimulator) -> frozenset[str]:
    return frozenset(i["integration_id"] for i in sim.integrations_truth() if i["integration_status"] == "paused")


def labels(name: dict[str, str]) -> dict[str, str]:
    """The report's display names: the name, with the id's first block where two integrations share it."""
    sharing = Counter(n or "" for n in name.values())
    return {i: f"{n or i} ({i[:8]})" if sharing[n or ""] > 1 else n or i for i, n in name.items()}


def model_sync_runs(history: dict[str, list[dict]], name: dict[str, str]) -> set[tuple]:
    label = labels(name)
    return {
        (i, name[i], s["job_status"], s["sync_start_time"], s["sync_finish_time"], duration(s), s["rows_synced"],
         s["rows_failed_with_errors"], label[i])
        for i, syncs in history.items()
        for s in syncs
    }


def model_daily(history: dict[str, list[dict]], name: dict[str, str]) -> dict[tuple, dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for i, syncs in history.items():
        for s in syncs:
            groups[(i, s["sync_start_time"].astimezone(timezone.utc).date())].append(s)
    result = {}
    for key, syncs in groups.items():
        durations = [d for d in map(duration, syncs) if d is not None]
        result[key] = {
            "syncs": len(syncs),
            "successes": sum(s["job_status"] == "success" for s in syncs),
            "partials": sum(s["job_status"] == "partial" for s in syncs),
            "failures": sum(s["job_status"] in FAILED for s in syncs),
            "running": sum(s["job_status"] == "running" for s in syncs),
            "rows_synced": sum(s["rows_synced"] or 0 for s in syncs),
            "rows_failed_with_errors": sum(s["rows_failed_with_errors"] or 0 for s in syncs),
            "avg_duration_seconds": sum(durations) / len(durations) if durations else None,
            "integration_name": name[key[0]],
            "integration_label": labels(name)[key[0]],
        }
    return result


def model_health(
    history: dict[str, list[dict]],
    name: dict[str, str],
    now: datetime,
    th: HealthThresholds | None = None,
    paused: frozenset[str] = frozenset(),
) -> dict[str, dict]:
    """integration_health from the rules of docs/analyze.md, written without the SQL."""
    th = th or HealthThresholds()
    result = {}
    for i in set(history) | set(name):
        syncs = sorted(history.get(i, []), key=lambda s: s["sync_start_time"], reverse=True)
        finished = [s for s in syncs if s["job_status"] != "running"]
        streak = 0
        for s in finished:
            if s["job_status"] not in FAILED:
                break
            streak += 1

        def age(s: dict) -> float:
            return (now - s["sync_start_time"]).total_seconds()

        def rate(days: int) -> float | None:
            window = [s for s in finished if age(s) <= days * 86400]  # noqa: B023
            return sum(s["job_status"] == "success" for s in window) / len(window) if window else None

        recent = [duration(s) for s in finished if duration(s) is not None and age(s) <= 30 * 86400]
        successes = [s["sync_finish_time"] for s in syncs if s["job_status"] == "success"]  # newest first
        # the typical interval: gaps between the starts of the last 30 days, or of the whole history when
        # fewer than two syncs started in those 30 days
        starts = sorted(s["sync_start_time"] for s in syncs if age(s) <= 30 * 86400)
        if len(starts) < 2:
            starts = sorted(s["sync_start_time"] for s in syncs)
        gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
        typical = percentile(gaps, 0.5)
        if th.stale_after_hours is not None:
            stale_after = th.stale_after_hours * 3600
        elif typical is None:
            stale_after = th.stale_fallback_hours * 3600
        else:
            stale_after = max(th.stale_interval_factor * typical, th.stale_min_hours * 3600)
        loaded = [s for s in syncs if s["job_status"] in ("success", "partial") and s["last_timestamp_synced"]]
        since_moved = 0
        future = False
        if loaded:
            mark = loaded[0]["last_timestamp_synced"]
            run = 0
            for s in loaded:
                if s["last_timestamp_synced"] != mark:
                    break
                run += 1
            since_moved = run - 1
            future = mark > now + timedelta(minutes=th.watermark_future_minutes)
        latest = syncs[0] if syncs else None
        rate_7d = rate(7)
        if latest is not None and latest["job_status"] == "running" and age(latest) > th.stuck_after_hours * 3600:
            health = "stuck"
        elif not syncs:
            health = "unknown"
        elif streak >= th.failing_after_failures:
            health = "failing"
        elif latest["job_status"] != "running" and age(latest) > stale_after and i not in paused:
            health = "stale"
        elif not finished:
            health = "unknown"
        elif (streak >= 1 or (rate_7d is not None and rate_7d < th.degraded_below_success_rate) or future
              or since_moved >= th.watermark_stall_syncs):
            health = "degraded"
        else:
            health = "healthy"
        result[i] = {
            "integration_id": i,
            "integration_name": name.get(i),
            "last_sync_start_time": latest["sync_start_time"] if latest else None,
            "last_job_status": latest["job_status"] if latest else None,
            "last_success_time": successes[0] if successes else None,
            "consecutive_failures": streak,
            "success_rate_7d": rate_7d,
            "success_rate_30d": rate(30),
            "p50_duration_seconds": percentile(recent, 0.5),
            "p95_duration_seconds": percentile(recent, 0.95),
            "health": health,
            "integration_label": labels(name)[i],
        }
    return result


# --- reading the views --------------------------------------------------------------------------


def query(pipeline: Any, view: str) -> tuple[list[str], list[dict]]:
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(view)
        with client.execute_query(f"SELECT * FROM {name}") as cursor:
            columns = [c[0] for c in cursor.description]
            rows = cursor.fetchall()
    return columns, [{c: utc(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        if actual is None or expected is None:
            return actual is expected
        return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-6)
    return actual == expected


def health_rows_match(actual: list[dict], model: Callable[[datetime], dict], before: datetime, after: datetime) -> None:
    """Each row equals the model at `before` or at `after` (the view's clock lies in between)."""
    expected_before, expected_after = model(before), model(after)
    assert {r["integration_id"] for r in actual} == set(expected_before)
    for row in actual:
        candidates = (expected_before[row["integration_id"]], expected_after[row["integration_id"]])
        assert any(all(same(row[k], e[k]) for k in HEALTH_COLUMNS) for e in candidates), (row, candidates[0])


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.slow)])
def destination_pipeline(request: pytest.FixtureRequest, make_pipeline: Any) -> Any:
    """A pipeline on DuckDB or on the real PostgreSQL server (never skipped)."""
    if request.param == "duckdb":
        return make_pipeline()
    return make_pipeline(
        request.getfixturevalue("postgres_destination"), dataset_name=request.getfixturevalue("unique_dataset")
    )


def load(pipeline: Any, sim: BrazeSimulator, thresholds: HealthThresholds | None = None) -> None:
    info = pipeline.run(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))
    assert not info.has_failed_jobs
    create_views(pipeline, thresholds)


# --- tests --------------------------------------------------------------------------------------


def test_views_equal_independent_computation(destination_pipeline: Any) -> None:
    now = datetime.now(timezone.utc)
    with BrazeSimulator((0, 7, 11, 45, 137, 260), seed=3, rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        load(destination_pipeline, sim)
        history, name, stopped = truth(sim), names(sim), paused(sim)
    before = datetime.now(timezone.utc)
    runs_columns, runs = query(destination_pipeline, "sync_runs")
    daily_columns, daily = query(destination_pipeline, "daily_sync_summary")
    health_columns, health = query(destination_pipeline, "integration_health")
    after = datetime.now(timezone.utc)

    assert (runs_columns, daily_columns, health_columns) == (SYNC_RUNS_COLUMNS, DAILY_COLUMNS, HEALTH_COLUMNS)

    expected_runs = model_sync_runs(history, name)
    assert len(runs) == len(expected_runs) == sum(len(s) for s in history.values())
    by_key = {(r[0], r[3]): r for r in expected_runs}
    for row in runs:
        expected = by_key[(row["integration_id"], row["sync_start_time"])]
        assert all(same(row[c], e) for c, e in zip(SYNC_RUNS_COLUMNS, expected, strict=True)), (row, expected)

    expected_daily = model_daily(history, name)
    assert {(r["integration_id"], r["day"]) for r in daily} == set(expected_daily)
    for row in daily:
        expected = expected_daily[(row["integration_id"], row["day"])]
        assert all(same(row[c], expected[c]) for c in DAILY_COLUMNS[2:]), (row, expected)

    health_rows_match(health, lambda t: model_health(history, name, t, paused=stopped), before, after)
    by_case = {case: next(r for r in health if r["integration_id"] == i) for case, i in cases.items()}
    # the rules name the class each scripted case was built for; the model agrees (checked above)
    assert {case: row["health"] for case, row in by_case.items()} == {
        "healthy": "healthy",
        "one_failure": "degraded",
        "all_failures": "failing",
        "stale": "stale",
        "stuck": "stuck",
        "only_running": "unknown",
        "running_ok": "healthy",
        "future_watermark": "degraded",
        "stalled_watermark": "degraded",
        "low_success": "degraded",
        "old_and_new": "healthy",
        "no_syncs": "unknown",
        "failing_60d": "failing",
        "stopped_40d": "stale",
        "overlapping": "healthy",
    }
    failing_60d, stopped = by_case["failing_60d"], by_case["stopped_40d"]
    assert failing_60d["consecutive_failures"] == 60
    assert abs((now - timedelta(days=60, hours=2, seconds=-60)) - failing_60d["last_success_time"]).total_seconds() < 1
    assert abs((now - timedelta(days=40)) - stopped["last_sync_start_time"]).total_seconds() < 1
    # the newest success by start finished 30 min ago; an older, longer one finished later (10 min ago)
    assert abs((now - 30 * MINUTE) - by_case["overlapping"]["last_success_time"]).total_seconds() < 1
    failing = by_case["all_failures"]
    assert (failing["consecutive_failures"], failing["last_success_time"], failing["success_rate_7d"]) == (4, None, 0)
    assert by_case["low_success"]["success_rate_7d"] == pytest.approx(2 / 6)
    assert by_case["old_and_new"]["success_rate_7d"] == 1 and by_case["old_and_new"]["p50_duration_seconds"] == 55
    assert by_case["no_syncs"]["last_sync_start_time"] is None and by_case["no_syncs"]["success_rate_30d"] is None
    assert by_case["only_running"]["last_job_status"] == "running"
    # two integrations share a name (the simulator repeats names), so the labels tell them apart
    shared = [r["integration_label"] for r in health if r["integration_label"] != (r["integration_name"] or "")]
    assert shared and all(label.endswith(")") for label in shared)
    # the random history holds every status, so the comparison above is not vacuous
    random_statuses = {s["job_status"] for i, syncs in history.items() if i not in cases.values() for s in syncs}
    assert {"success", "partial", "error", "config_error", "running", "limit_exceeded"} <= random_statuses


def test_details_view_explains_the_watermark_and_stale_rules(make_pipeline: Any) -> None:
    now = datetime.now(timezone.utc)
    pipeline = make_pipeline()
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        load(pipeline, sim)
    _, rows = query(pipeline, "integration_health_details")
    by_case = {case: next(r for r in rows if r["integration_id"] == i) for case, i in cases.items()}
    assert by_case["future_watermark"]["watermark_in_future"] is True
    assert by_case["healthy"]["watermark_in_future"] is False
    assert by_case["stalled_watermark"]["syncs_since_watermark_moved"] == 7
    assert by_case["stalled_watermark"]["watermark_stalled"] is True
    assert by_case["stalled_watermark"]["watermark_since"] == now - 7.5 * HOUR  # oldest sync carrying it
    assert by_case["stale"]["typical_interval_seconds"] == 86400
    assert by_case["stale"]["stale_after_seconds"] == 2 * 86400
    assert by_case["healthy"]["stale_after_seconds"] == 2 * 3600
    assert by_case["only_running"]["stale_after_seconds"] == 48 * 3600  # fewer than two syncs: the fallback
    assert by_case["all_failures"]["failing_since"] == utc(now - 3.5 * HOUR)
    assert by_case["stuck"]["running_since"] == utc(now - 10 * HOUR)


def test_thresholds_are_parameters_and_config(make_pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(timezone.utc)
    pipeline = make_pipeline()
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        history, name, stopped = truth(sim), names(sim), paused(sim)
        load(pipeline, sim)

    def classes() -> dict[str, str]:
        _, rows = query(pipeline, "integration_health")
        return {case: next(r["health"] for r in rows if r["integration_id"] == i) for case, i in cases.items()}

    relaxed = HealthThresholds(
        stuck_after_hours=12, failing_after_failures=5, stale_after_hours=24 * 30, watermark_stall_syncs=20,
        degraded_below_success_rate=0.3, watermark_future_minutes=60 * 24 * 60,
    )
    create_views(pipeline, relaxed)
    got = classes()
    assert got["stuck"] == "healthy"  # running 10 h < 12 h: not stuck, and a running sync is never stale
    assert got["all_failures"] == "degraded"  # 4 failures < 5
    assert got["stale"] == "healthy"  # fixed 30-day window
    assert got["stalled_watermark"] == got["future_watermark"] == got["low_success"] == "healthy"
    assert got == {c: model_health(history, name, datetime.now(timezone.utc), relaxed, stopped)[i]["health"]
                   for c, i in cases.items()}

    monkeypatch.setenv("BRAZE_CDI__HEALTH__FAILING_AFTER_FAILURES", "1")
    monkeypatch.setenv("BRAZE_CDI__HEALTH__STALE_AFTER_HOURS", "0.25")
    create_views(pipeline)  # reads [braze_cdi.health] from the config / environment
    got = classes()
    assert got["one_failure"] == "failing"
    assert got["healthy"] == "stale"  # newest sync 30 min ago > 15 min


def test_views_exist_with_no_syncs_at_all_and_fill_in_later(destination_pipeline: Any) -> None:
    with BrazeSimulator((0, 0), rate_limits=FAST_LIMITS) as sim:
        load(destination_pipeline, sim)
        # the source materializes the empty table with every column, so analysts' SQL works from day one
        assert table_exists(destination_pipeline, "job_sync_status")
        assert query(destination_pipeline, "sync_runs")[1] == []
        assert query(destination_pipeline, "daily_sync_summary")[1] == []
        _, health = query(destination_pipeline, "integration_health")
        assert sorted(r["integration_id"] for r in health) == sorted(sim.integration_ids)
        assert {r["health"] for r in health} == {"unknown"}
        assert all(r["consecutive_failures"] == 0 and r["last_sync_start_time"] is None for r in health)

        # the same workspace gains history: the next load creates the table and the views read it
        first = sim.integration_ids[0]
        now = datetime.now(timezone.utc)
        sim.add_syncs(first, 2)
        sim.set_job_status_raw(first, 0, {k: iso(v) if isinstance(v, datetime) else v
                                          for k, v in sync("error", now - HOUR).items()})
        sim.set_job_status_raw(first, 1, {k: iso(v) if isinstance(v, datetime) else v
                                          for k, v in sync("error", now - 2 * HOUR).items()})
        load(destination_pipeline, sim)
    _, health = query(destination_pipeline, "integration_health")
    by_id = {r["integration_id"]: r for r in health}
    assert by_id[first]["health"] == "failing" and by_id[first]["consecutive_failures"] == 2
    assert len(query(destination_pipeline, "sync_runs")[1]) == 2


def test_views_exist_before_job_sync_status_does(destination_pipeline: Any) -> None:
    """Every integration failed on the first run (no job status permission): no sync table, views still work."""
    with BrazeSimulator((3, 0), rate_limits=FAST_LIMITS, permissions=["cdi.integration_list"]) as sim:
        load(destination_pipeline, sim)
        assert not table_exists(destination_pipeline, "job_sync_status")
        assert query(destination_pipeline, "sync_runs")[1] == []
        _, health = query(destination_pipeline, "integration_health")
    assert sorted(r["integration_id"] for r in health) == sorted(sim.integration_ids)
    assert {r["health"] for r in health} == {"unknown"}


def test_views_can_be_recreated_repeatedly(destination_pipeline: Any) -> None:
    with BrazeSimulator((3,), rate_limits=FAST_LIMITS) as sim:
        load(destination_pipeline, sim)
    for thresholds in (HealthThresholds(stale_after_hours=1), None, HealthThresholds()):
        create_views(destination_pipeline, thresholds)
    assert len(query(destination_pipeline, "sync_runs")[1]) == 3


def analyst_queries() -> list[str]:
    """The SQL blocks of the analysts' manual, docs/analyze.md."""
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "analyze.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def test_analyst_queries_run_on_both_engines(destination_pipeline: Any) -> None:
    now = datetime.now(timezone.utc)
    with BrazeSimulator((45,), seed=4, rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        run_pipeline(destination_pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url))
    queries = analyst_queries()
    assert len(queries) == 5
    results = []
    with destination_pipeline.sql_client() as client:
        schema = client.make_qualified_table_name("x").rsplit(".", 1)[0]
        for sql in queries:
            results.append(client.execute_sql(sql.replace("braze_cdi_data.", f"{schema}.")) or [])
    last_runs, streaks, _, failed_rate, freshness = results
    assert [row[2] for row in last_runs] == ["ok"]
    assert any(row[0] == cases["all_failures"] and row[2] == 4 for row in streaks)
    assert {row[0] for row in freshness} == set(sim.integration_ids)
    assert all(row[3] is None or 0 <= row[3] <= 1 for row in failed_rate)


def test_a_paused_integration_is_not_stale(destination_pipeline: Any) -> None:
    """A paused integration is expected not to sync: its old last sync must not raise a stale alarm."""
    now = datetime.now(timezone.utc)
    old = [sync("success", now - timedelta(days=10) - i * timedelta(days=1)) for i in range(5)]
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        active, paused = scripted(sim, old), scripted(sim, old)
        load(destination_pipeline, sim)
    with destination_pipeline.sql_client() as client:
        client.execute_sql(
            f"UPDATE {client.make_qualified_table_name('integrations')} SET integration_status = 'paused' "
            "WHERE integration_id = %s",
            paused,
        )
    create_views(destination_pipeline)
    by_id = {r["integration_id"]: r for r in query(destination_pipeline, "integration_health")[1]}
    assert by_id[active]["health"] == "stale"
    assert by_id[paused]["health"] == "healthy"


def load_backfill(pipeline: Any, rows: list[dict[str, Any]]) -> None:
    """Rows of integration_backfill as a run's slices write them (the job's table, its columns)."""
    from braze_cdi_source.settings import BACKFILL_COLUMNS, BACKFILL_TABLE

    now = datetime.now(timezone.utc)
    info = pipeline.run(
        [{"pages_read": 3, "estimated_pages_left": 9, "updated_at": now, **row} for row in rows],
        table_name=BACKFILL_TABLE, columns=BACKFILL_COLUMNS, write_disposition="merge", primary_key="integration_id",
    )
    assert not info.has_failed_jobs
    create_views(pipeline)


def test_a_backfill_in_progress_is_not_judged_on_missing_history(destination_pipeline: Any) -> None:
    """While the first backfill runs: no `unknown` for nothing finished yet, no success-rate verdict on a 7-day
    window not covered yet; the details say so. Once complete (or covered past 7 days) the usual rules apply."""
    now = datetime.now(timezone.utc)
    only_running = [sync("running", now - timedelta(minutes=10))]
    low = hourly(now, ["success", "partial", "limit_exceeded", "partial", "success", "partial"])
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        ids = {name: scripted(sim, rows) for name, rows in {
            "running_backfilling": only_running, "running_done": only_running,
            "low_backfilling": low, "low_covered_8d": low, "low_done": low, "low_no_row": low,
        }.items()}
        load(destination_pipeline, sim)
    # before any integration_backfill row exists, the typed stand-in keeps the usual rules
    by_id = {r["integration_id"]: r for r in query(destination_pipeline, "integration_health_details")[1]}
    assert by_id[ids["running_backfilling"]]["health"] == "unknown"
    assert by_id[ids["low_backfilling"]]["health"] == "degraded"
    assert not any(r["backfill_in_progress"] for r in by_id.values())

    covered = now - 5 * HOUR
    load_backfill(destination_pipeline, [
        {"integration_id": ids["running_backfilling"], "backfill_complete": False, "covered_back_to": None},
        {"integration_id": ids["running_done"], "backfill_complete": True, "covered_back_to": now - HOUR},
        {"integration_id": ids["low_backfilling"], "backfill_complete": False, "covered_back_to": covered},
        {"integration_id": ids["low_covered_8d"], "backfill_complete": False,
         "covered_back_to": now - timedelta(days=8)},
        {"integration_id": ids["low_done"], "backfill_complete": True, "covered_back_to": covered},
    ])
    columns, rows = query(destination_pipeline, "integration_health_details")
    assert columns.index("backfill_in_progress") > columns.index("health")
    assert columns.index("backfill_covered_back_to") > columns.index("health")
    by_id = {r["integration_id"]: r for r in rows}
    health = {name: by_id[i]["health"] for name, i in ids.items()}
    assert health == {
        "running_backfilling": "healthy", "running_done": "unknown",
        "low_backfilling": "healthy", "low_covered_8d": "degraded", "low_done": "degraded", "low_no_row": "degraded",
    }
    progress = {name: by_id[i]["backfill_in_progress"] for name, i in ids.items()}
    assert [name for name, value in progress.items() if value] == [
        "running_backfilling", "low_backfilling", "low_covered_8d"
    ]
    assert same(utc(by_id[ids["low_backfilling"]]["backfill_covered_back_to"]), covered)
    assert by_id[ids["low_done"]]["backfill_covered_back_to"] is None

    # `health` and its one-line explanations read the same columns
    from braze_cdi_source.analytics.health import check_health, describe_problem

    result = check_health(destination_pipeline)
    rows_by_id = {r["integration_id"]: r for r in result.integrations}
    line = describe_problem(rows_by_id[ids["low_covered_8d"]], HealthThresholds())
    assert "success rate over 7 days" in line and "backfill in progress: covered back to" in line
    assert describe_problem(rows_by_id[ids["low_backfilling"]], HealthThresholds()) is None

    from braze_cdi_source.analytics.report import load_report_data, summary_rows

    data = load_report_data(destination_pipeline)
    cells = dict(zip((r["integration_id"] for r in data.integrations), summary_rows(data), strict=True))
    assert "backfill in progress (back to " in cells[ids["low_backfilling"]]["Last sync"]
    assert "backfill" not in cells[ids["low_done"]]["Last sync"]


def test_future_dated_syncs_degrade_and_are_left_out_of_the_other_checks(destination_pipeline: Any) -> None:
    """A sync dated beyond now + future_sync_minutes: degraded with the reason and its start in the details;
    last_sync_start_time, stale and stuck are judged without it. One within the tolerance is an ordinary sync."""
    now = datetime.now(timezone.utc)
    far, near = now + timedelta(days=400), now + timedelta(days=1)
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        ids = {name: scripted(sim, rows) for name, rows in {
            "future_on_top": [sync("success", far), sync("success", far - HOUR)] + hourly(now, ["success"] * 5),
            "only_future": [sync("success", far)],
            "stale_under_future": [sync("success", far)]
            + [sync("success", now - timedelta(days=10) - i * timedelta(days=1)) for i in range(5)],
            "stuck_under_future": [sync("success", far), sync("running", now - 10 * HOUR)]
            + hourly(now, ["success"] * 5, newest_ago=11 * HOUR),
            "within_tolerance": [sync("success", near, watermark=now - HOUR)] + hourly(now, ["success"] * 5),
        }.items()}
        load(destination_pipeline, sim)
    columns, rows = query(destination_pipeline, "integration_health_details")
    assert columns.index("future_syncs") > columns.index("health")
    assert columns.index("newest_future_sync_start_time") > columns.index("health")
    by_id = {r["integration_id"]: r for r in rows}
    row = {name: by_id[i] for name, i in ids.items()}
    assert {name: r["health"] for name, r in row.items()} == {
        "future_on_top": "degraded", "only_future": "degraded", "stale_under_future": "stale",
        "stuck_under_future": "stuck", "within_tolerance": "healthy",
    }
    assert {name: r["future_syncs"] for name, r in row.items()} == {
        "future_on_top": 2, "only_future": 1, "stale_under_future": 1, "stuck_under_future": 1, "within_tolerance": 0,
    }
    assert row["future_on_top"]["newest_future_sync_start_time"] == far
    assert same(utc(row["future_on_top"]["last_sync_start_time"]), now - 30 * timedelta(minutes=1))
    assert row["future_on_top"]["syncs_30d"] == 5
    assert row["only_future"]["last_sync_start_time"] is None
    assert row["within_tolerance"]["last_sync_start_time"] == near
    assert row["within_tolerance"]["newest_future_sync_start_time"] is None

    from braze_cdi_source.analytics.health import check_health

    result = check_health(destination_pipeline, fail_on=("degraded",))
    assert any(ids["future_on_top"] in p and "2 sync(s) dated in the future" in p for p in result.problems)
    # the tolerance is a threshold: one hour makes the sync a day ahead future-dated too
    create_views(destination_pipeline, HealthThresholds(future_sync_minutes=60))
    near_row = {r["integration_id"]: r for r in query(destination_pipeline, "integration_health_details")[1]}[
        ids["within_tolerance"]
    ]
    assert (near_row["health"], near_row["future_syncs"], near_row["newest_future_sync_start_time"]) == (
        "degraded", 1, near
    )


def test_postgres_health_reads_each_integration_through_the_index(make_pipeline: Any, postgres_destination: Any,
                                                                  unique_dataset: str) -> None:
    """create_views gives job_sync_status indexes on (integration_id, sync_start_time) and on (sync_start_time)
    (IF NOT EXISTS: a second run keeps them), and on a year of history the health query reads through them."""
    from braze_cdi_source.analytics.health import DETAIL_COLUMNS, reading
    from braze_cdi_source.analytics.views import SYNC_HISTORY_INDEX, SYNC_WINDOW_INDEX

    pipeline = make_pipeline(postgres_destination, dataset_name=unique_dataset)
    now = datetime.now(timezone.utc)
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        scripted(sim, hourly(now, ["success"] * 3))
        load(pipeline, sim)
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("job_sync_status")
        client.execute_sql(  # 40 integrations, one sync an hour for a year: the window is a twelfth
            f"INSERT INTO {table} (integration_id, job_status, sync_start_time, sync_finish_time, "
            "last_timestamp_synced, rows_synced, rows_failed_with_errors, _dlt_load_id, _dlt_id) "
            "SELECT 'bulk-' || i, 'success', now() - k * interval '1 hour', now() - k * interval '1 hour' "
            "+ interval '1 minute', now() - k * interval '1 hour', 1, 0, 'bulk', i || '-' || k "
            "FROM generate_series(0, 8759) AS k, generate_series(1, 40) AS i"
        )
        client.execute_sql(f"ANALYZE {table}")  # and the integrations: as autovacuum would
        client.execute_sql(f"ANALYZE {client.make_qualified_table_name('integrations')}")
    create_views(pipeline)
    create_views(pipeline)
    with reading(pipeline, HealthThresholds()) as (client, queries):
        indexes = client.execute_sql(
            "SELECT indexname FROM pg_indexes WHERE indexname IN (%s, %s) AND schemaname = %s", SYNC_HISTORY_INDEX,
            SYNC_WINDOW_INDEX, unique_dataset,
        )
        plan = "\n".join(row[0] for row in client.execute_sql(
            f"EXPLAIN SELECT {', '.join(DETAIL_COLUMNS)} FROM ({queries['integration_health_details']}) AS d"
        ))
        rows = client.execute_sql(f"SELECT health, syncs_30d FROM ({queries['integration_health_details']}) AS d")
    assert len(indexes) == 2
    # the reads go through the indexes (which one serves which read is the planner's choice: the heap is in load
    # order, which is time order, and PostgreSQL may read a twelfth of a small table faster by a scan)
    used = rf"(Index Scan|Index Only Scan|Bitmap Index Scan) (using|on) ({SYNC_HISTORY_INDEX}|{SYNC_WINDOW_INDEX})"
    assert re.search(used, plan), plan
    assert sorted(rows)[-1] == ("healthy", 720)
