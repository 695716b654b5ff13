"""`braze-cdi report --html` at any history size: lanes bin above their pixel budget, the page stays bounded, the
axes fit the data, and the chart SQL answers the same on DuckDB and PostgreSQL.

Each dataset starts from a real load of the simulator (real tables and dlt schema), then its syncs are
replaced by generated ones with one portable INSERT … SELECT over generate_series.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benchmarks.history import UNLIMITED, build_duckdb
from braze_cdi_source.analytics.chart_data import PLOT_WIDTH, WORST_FIRST
from braze_cdi_source.analytics.report import load_report_data
from braze_cdi_source.analytics.report_html import LABEL_WIDTH
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env, load_as_cli
from tests.conftest import FAST_LIMITS
from tests.test_health import cli
from tests.test_report import parse
from tests.test_views import load

GENERATE = """
INSERT INTO {dataset}.job_sync_status (integration_id, job_status, sync_start_time, sync_finish_time, rows_synced,
                                       rows_failed_with_errors, _dlt_load_id, _dlt_id)
SELECT i.integration_id,
       CASE WHEN s.n = 0 THEN 'running' WHEN s.n % 11 = 0 THEN 'config_error' WHEN s.n % 7 = 0 THEN 'error'
            WHEN s.n % 5 = 0 THEN 'partial' WHEN s.n % 13 = 0 THEN 'limit_exceeded' ELSE 'success' END,
       CAST('{now}' AS TIMESTAMPTZ) - s.n * {gap} * INTERVAL '1 second',
       CASE WHEN s.n > 0 THEN CAST('{now}' AS TIMESTAMPTZ) - (s.n * {gap} - 60 - s.n % 300) * INTERVAL '1 second' END,
       s.n % 1000, s.n % 3, 'generated', SUBSTR(i.integration_id, 1, 8) || CAST(s.n AS VARCHAR)
FROM {dataset}.integrations AS i CROSS JOIN generate_series(0, {count} - 1) AS s(n)
WHERE i.integration_id = '{integration_id}'
"""
"""`count` syncs of one integration, `gap` seconds apart back from `now`, the newest running; statuses by n, so
hour cells mix them (the same SQL on DuckDB and PostgreSQL)."""

pytestmark = pytest.mark.slow

LANES = {"at_budget": (PLOT_WIDTH, 2400), "over_budget": (PLOT_WIDTH + 1, 2400), "points": (PLOT_WIDTH // 4 + 1, 7200)}
"""Lane -> (syncs, seconds apart): every sync within the 30-day window. `points` has PLOT_WIDTH // 4 finished
syncs (its newest runs): as many duration points as the chart holds."""


def generated(execute: Any, ids: list[str], lanes: dict[str, tuple[int, int]], now: datetime,
              dataset: str = "braze_cdi_data") -> dict[str, str]:
    """Replace the loaded syncs by the generated lanes; returns lane name -> integration id."""
    execute(f"DELETE FROM {dataset}.job_sync_status")
    names = dict(zip(lanes, ids, strict=False))
    for lane, (count, gap) in lanes.items():
        execute(GENERATE.format(dataset=dataset, now=now.strftime("%Y-%m-%d %H:%M:%S+00"), gap=gap, count=count,
                                integration_id=names[lane]))
    return names


def marks(page: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Per integration: its timeline bars (`sync`), cells (`bin`, with their tooltip) and duration marks."""
    html = parse(page)
    found: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    titles = re.findall(r'<rect class="bin"[^>]*><title>([^<]*)</title>', page)
    cells = [a for t, a in html.tags if t == "rect" and a.get("class") == "bin"]
    for attrs, title in zip(cells, titles, strict=True):
        attrs["title"] = title
    for tag, attrs in html.tags:
        if tag in ("rect", "circle") and attrs.get("class") in ("sync", "bin", "duration-point", "duration-day"):
            found[attrs["data-integration"]][attrs["class"]].append(attrs)
    return found


def tooltip_counts(title: str) -> tuple[int, Counter]:
    """`2026-11-10 13:00 UTC: 2 syncs: 1 success, 1 error` -> (2, {success: 1, error: 1})."""
    total, rest = re.search(r": ([\d,]+) syncs: (.*)$", title).groups()
    statuses = Counter({s: int(n.replace(",", "")) for n, s in (part.split(" ") for part in rest.split(", "))})
    return int(total.replace(",", "")), statuses


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def test_lanes_bin_above_their_pixel_budget_and_not_below(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
    with BrazeSimulator((2, 2, 2), seed=4, rate_limits=FAST_LIMITS) as sim:
        load_as_cli(tmp_path, sim, data_dir="dlt")  # what `braze-cdi run` loads; the report is under test
    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb")) as db:
        ids = sorted(r[0] for r in db.execute("SELECT integration_id FROM braze_cdi_data.integrations").fetchall())
        lane = generated(db.execute, ids, LANES, now)
        rows = db.execute(
            "SELECT integration_id, job_status, sync_start_time, "
            "epoch(sync_finish_time) - epoch(sync_start_time) FROM braze_cdi_data.job_sync_status"
        ).fetchall()
    result = cli(tmp_path, None, "report", "--html", "report.html")
    assert result.returncode in (0, 1), result.stderr
    found = marks((tmp_path / "report.html").read_text(encoding="utf-8"))

    # at the budget: one bar per sync; one more: hour cells, none of its syncs drawn one by one
    assert len(found[lane["at_budget"]]["sync"]) == PLOT_WIDTH and not found[lane["at_budget"]]["bin"]
    over = found[lane["over_budget"]]
    assert not over["sync"] and over["bin"]

    # every cell: its tooltip's counts are the hour's syncs by status, they add up, and the worst status wins
    hours: dict[datetime, Counter] = defaultdict(Counter)
    for integration_id, status, start, _ in rows:
        if integration_id == lane["over_budget"]:
            known = status if status in WORST_FIRST else "other"
            hours[start.astimezone(timezone.utc).replace(minute=0, second=0)][known] += 1
    assert sum(tooltip_counts(c["title"])[0] for c in over["bin"]) == PLOT_WIDTH + 1
    assert len(over["bin"]) == len(hours)
    worst_seen = set()
    for cell in over["bin"]:
        expected = hours[datetime.fromisoformat(cell["data-start"])]
        total, statuses = tooltip_counts(cell["title"])
        assert total == sum(expected.values()) and +statuses == +expected, cell
        assert cell["data-status"] == next(s for s in WORST_FIRST if expected[s]), cell
        worst_seen.add(cell["data-status"])
    assert {"config_error", "error", "partial", "success"} <= worst_seen  # the cases above really occur

    # durations: points while they fit (PLOT_WIDTH // 4), daily p50/p95 beyond, equal to the syncs' own
    assert len(found[lane["points"]]["duration-point"]) == PLOT_WIDTH // 4
    assert not found[lane["points"]]["duration-day"]
    days: dict[str, list[float]] = defaultdict(list)
    for integration_id, _, start, seconds in rows:
        if integration_id == lane["over_budget"] and seconds is not None:
            days[start.astimezone(timezone.utc).date().isoformat()].append(seconds)
    shown = {d["data-day"]: d for d in over["duration-day"]}
    assert set(shown) == set(days) and not over["duration-point"]
    for day, values in days.items():
        assert abs(float(shown[day]["data-p50"]) - percentile(values, 0.5)) < 0.01
        assert abs(float(shown[day]["data-p95"]) - percentile(values, 0.95)) < 0.01


def test_chart_data_is_the_same_on_duckdb_and_postgres(
    make_pipeline: Any, postgres_destination: Any, unique_dataset: str
) -> None:
    """The bins, percentiles, syncs and daily totals come from SQL run on the destination: the same answers."""
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
    with BrazeSimulator((2, 2, 2), seed=4, rate_limits=FAST_LIMITS) as sim:
        duck = make_pipeline()
        pg = make_pipeline(postgres_destination, name="braze_cdi_pg", dataset_name=unique_dataset)
        load(duck, sim)
        load(pg, sim)
    charts = []
    for pipeline in (duck, pg):
        with pipeline.sql_client() as client:
            dataset = client.fully_qualified_dataset_name()
            ids = sorted(r[0] for r in client.execute_sql(f"SELECT integration_id FROM {dataset}.integrations"))
            generated(client.execute_sql, ids, LANES, now, dataset)
        charts.append(load_report_data(pipeline).charts)
    on_duckdb, on_postgres = charts
    assert on_duckdb.bins and on_duckdb.duration_days and on_duckdb.syncs
    assert on_duckdb.bins == on_postgres.bins and on_duckdb.daily == on_postgres.daily
    assert on_duckdb.syncs == on_postgres.syncs and on_duckdb.bin_seconds == on_postgres.bin_seconds == 3600
    for a, b in zip(on_duckdb.duration_days, on_postgres.duration_days, strict=True):
        assert a.keys() == b.keys() and a["day"] == b["day"] and a["finished"] == b["finished"]
        assert abs(a["p50"] - b["p50"]) < 1e-6 and abs(a["p95"] - b["p95"]) < 1e-6


def test_axes_fit_a_workspace_seven_days_old(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
    with BrazeSimulator((2, 2), seed=6, rate_limits=FAST_LIMITS) as sim:
        load_as_cli(tmp_path, sim, data_dir="dlt")
    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb")) as db:
        ids = sorted(r[0] for r in db.execute("SELECT integration_id FROM braze_cdi_data.integrations").fetchall())
        generated(db.execute, ids, {"week": (7 * 24, 3600), "other": (7 * 24, 3600)}, now)
    result = cli(tmp_path, None, "report", "--html", "report.html")
    assert result.returncode in (0, 1), result.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    html = parse(page)
    day_bars = [a for t, a in html.tags if t == "rect" and a.get("class") == "bar"]
    assert 2 * 7 <= len(day_bars) <= 2 * 8  # the 7 or 8 UTC days the history covers, not the 31 of the window
    oldest = min(float(a["x"]) for t, a in html.tags if t == "rect" and a.get("class") == "sync")
    assert oldest < LABEL_WIDTH + 0.02 * PLOT_WIDTH  # the first sync starts the axis: no empty weeks before it


def test_page_stays_under_5_mb_for_300_integrations_every_15_minutes(tmp_path: Path) -> None:
    """300 integrations every 15 minutes (860k syncs in the window): cells, not 860k marks, and the cells'
    tooltips account for every sync of the window."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    with BrazeSimulator([2] * 302, seed=19, rate_limits=UNLIMITED) as sim:  # benchmarks.history's real run
        load_as_cli(tmp_path, sim)  # what `braze-cdi run` loads; the report is under test
    env, _ = build_duckdb(tmp_path, now, 31, 300, cli_env(tmp_path))
    result = braze_cdi("report", "--html", "report.html", cwd=tmp_path, env=env)
    assert result.returncode in (0, 1), result.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) <= 5_000_000
    found = marks(page)
    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb"), read_only=True) as db:
        in_window = dict(db.execute(
            "SELECT integration_id, COUNT(*) FROM braze_cdi_data.job_sync_status "
            "WHERE sync_start_time >= CAST(? AS TIMESTAMPTZ) - INTERVAL 30 DAY GROUP BY 1", [now]
        ).fetchall())
    shown = {i: sum(tooltip_counts(c["title"])[0] for c in m["bin"]) + len(m["sync"]) for i, m in found.items()}
    assert len(shown) == len(in_window) == 301  # the stopped integration has nothing in the window
    for integration_id, count in in_window.items():
        assert abs(shown[integration_id] - count) <= 1, integration_id  # the window's edge moved by a second
