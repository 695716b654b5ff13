"""`braze-cdi report`: the terminal table and the HTML page, checked against the simulator's history."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest

from braze_cdi_source.analytics.report import load_report_data
from braze_cdi_source.analytics.report_html import render_html
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import load_as_cli
from tests.conftest import FAST_LIMITS
from tests.test_health import cli
from tests.test_views import build_cases, duration, load, model_health, names, paused, truth


class Elements(HTMLParser):
    """Every start tag with its attributes (a chart mark also gets its lane's `data-integration`), and the
    document's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.lane: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "g":
            self.lane = values.get("data-integration")
        elif self.lane is not None:
            values.setdefault("data-integration", self.lane)
        self.tags.append((tag, values))

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self.lane = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and cls in a.get("class", "").split()]


def parse(text: str) -> Elements:
    parser = Elements()
    parser.feed(text)
    return parser


@pytest.mark.slow
def test_html_report_charts_match_the_history_and_load_nothing_external(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    with BrazeSimulator((7, 45, 137), seed=11, rate_limits=FAST_LIMITS) as sim:
        cases = build_cases(sim, now)
        load_as_cli(tmp_path, sim, data_dir="dlt")
        history, name, stopped = truth(sim), names(sim), paused(sim)
    before = datetime.now(timezone.utc)
    result = cli(tmp_path, None, "report", "--html", "report.html")
    after = datetime.now(timezone.utc)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")

    # self-contained: no script, no stylesheet link, no URL of any scheme, no CSS url()
    assert not re.search(r"(?i)https?:|<script|<link|<img|<iframe|url\(|\bsrc=|//[a-z0-9]", page)
    html = parse(page)
    assert {a.get("id") for t, a in html.tags if t == "svg"} >= {
        "timeline", "durations", "rows-synced-per-day", "rows-failed-per-day"
    }

    # timeline: one bar per sync of the last 30 days, with its status; nothing older
    bars = defaultdict(dict)
    for attrs in html.having("rect", "sync"):
        bars[attrs["data-integration"]][datetime.fromisoformat(attrs["data-start"])] = attrs["data-status"]
    for integration_id, syncs in history.items():
        shown = bars.get(integration_id, {})
        for s in syncs:
            start = s["sync_start_time"]
            if start >= after - timedelta(days=30):
                assert shown.get(start) == s["job_status"], (integration_id, start)
            elif start < before - timedelta(days=30):
                assert start not in shown
    assert len(bars[cases["healthy"]]) == 10 and not bars.get(cases["no_syncs"])

    # durations: one point per finished sync in the window, at its duration
    points = defaultdict(list)
    for attrs in html.having("circle", "duration-point"):
        points[attrs["data-integration"]].append(float(attrs["data-seconds"]))
    for integration_id, syncs in history.items():
        def finished_since(edge: datetime, syncs: list[dict] = syncs) -> Counter:
            return Counter(round(duration(s), 3) for s in syncs
                           if duration(s) is not None and s["sync_start_time"] >= edge - timedelta(days=30))

        got = Counter(points.get(integration_id, []))
        assert finished_since(after) <= got <= finished_since(before), integration_id

    # rows per UTC day: every bar equals the history's total of that day
    per_day: dict[str, dict[str, int]] = {"rows_synced": defaultdict(int), "rows_failed": defaultdict(int)}
    for syncs in history.values():
        for s in syncs:
            day = s["sync_start_time"].date().isoformat()
            per_day["rows_synced"][day] += s["rows_synced"] or 0
            per_day["rows_failed"][day] += s["rows_failed_with_errors"] or 0
    day_bars = html.having("rect", "bar")
    assert len(day_bars) == 2 * 31
    for attrs in day_bars:
        assert int(attrs["data-value"]) == per_day[attrs["data-series"]].get(attrs["data-day"], 0), attrs
    assert sum(int(a["data-value"]) for a in day_bars if a["data-series"] == "rows_failed") > 0

    # the table: every integration once, with the class the rules give
    rows = {a["data-integration"]: a["data-health"] for t, a in html.tags if t == "tr" and "data-health" in a}
    expected = [
        {i: r["health"] for i, r in model_health(history, name, t, paused=stopped).items()} for t in (before, after)
    ]
    assert rows in expected
    text = " ".join(html.text)
    assert "4 failed syncs in a row" in text and cases["all_failures"] in text

    # the terminal shows the same table
    for integration_id, health in rows.items():
        label = name[integration_id]
        assert any(label in line and health in line for line in result.stdout.splitlines()), (label, health)


@pytest.mark.slow  # CLI subprocesses
def test_report_without_data_says_so_and_creates_nothing(tmp_path: Path) -> None:
    result = cli(tmp_path, None, "report", "--html", "report.html")
    assert result.returncode == 2
    assert "no DuckDB file" in result.stderr
    assert not (tmp_path / "braze_cdi.duckdb").exists() and not (tmp_path / "report.html").exists()


@pytest.mark.slow
def test_report_on_postgres_matches_duckdb(make_pipeline: Any, postgres_destination: Any, unique_dataset: str) -> None:
    now = datetime.now(timezone.utc)
    with BrazeSimulator((11, 45), seed=2, rate_limits=FAST_LIMITS) as sim:
        build_cases(sim, now)
        duck = make_pipeline()
        pg = make_pipeline(postgres_destination, name="braze_cdi_pg", dataset_name=unique_dataset)
        load(duck, sim)
        load(pg, sim)
    duck_data, pg_data = load_report_data(duck), load_report_data(pg)

    def figures(data: Any) -> Any:
        keep = ("integration_id", "health", "consecutive_failures", "rows_synced_30d", "rows_failed_30d",
                "finished_syncs_30d")
        rows = sorted(tuple(row[k] for k in keep) for row in data.integrations)
        return rows, data.charts.daily, len(data.charts.syncs)

    assert figures(duck_data) == figures(pg_data)
    assert "<svg" in render_html(pg_data)


@pytest.mark.slow
def test_demo_ends_with_the_report(tmp_path: Path) -> None:
    result = cli(tmp_path, None, "demo")
    assert result.returncode == 0, result.stderr
    tail = result.stdout[result.stdout.index("Loaded into"):]
    assert "Braze CDI sync health" in tail and "6 integrations:" in tail and "Users sync (new)" in tail
    # the demo's seed gives two integrations one name: the run summary tells them apart by the id's first block
    with duckdb.connect(str(tmp_path / "braze_cdi_demo.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT integration_id, integration_name FROM braze_cdi_data.integrations").fetchall()
    shared = [(i, n) for i, n in rows if Counter(n for _, n in rows)[n] > 1]
    assert shared, "the demo's seed no longer gives two integrations one name"
    summary = result.stdout[: result.stdout.index("Loaded into")]
    for integration_id, name in shared:
        assert f"{name} ({integration_id[:8]})" in summary.replace("\n", " ")


def test_report_reads_through_one_connection_and_renders_the_queries_once(
    make_pipeline: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    """The report's health details, syncs and daily totals come from one sql_client and one rendering of the
    views' SQL (not the health queries built twice over two connections); the HTML page reuses that data."""
    from braze_cdi_source.analytics import views
    from braze_cdi_source.analytics.report_html import write_html

    with BrazeSimulator((7, 45), seed=5, rate_limits=FAST_LIMITS) as sim:
        pipeline = make_pipeline()
        load(pipeline, sim)
    connections: list[Any] = []
    statements: list[str] = []
    renderings: list[str] = []
    open_client, render = pipeline.sql_client, views.render_queries

    def counting_client(*args: Any, **kwargs: Any) -> Any:
        client = open_client(*args, **kwargs)
        connections.append(client)
        execute = client.execute_sql
        client.execute_sql = lambda sql, *a, **k: (statements.append(sql), execute(sql, *a, **k))[1]
        return client

    def counting_render(dialect: str, *args: Any, **kwargs: Any) -> Any:
        renderings.append(dialect)
        return render(dialect, *args, **kwargs)

    monkeypatch.setattr(pipeline, "sql_client", counting_client)
    monkeypatch.setattr(views, "render_queries", counting_render)
    data = load_report_data(pipeline)
    assert len(data.integrations) == 2 and data.charts.syncs and data.charts.daily
    assert len(connections) == 1 and renderings == ["duckdb"]
    # has the dataset, details, the database clock, syncs per lane, the syncs (every lane fits), daily totals
    assert len(statements) == 6
    write_html(pipeline, tmp_path / "report.html", data=data)
    assert len(connections) == 1 and len(statements) == 6
    assert "<svg" in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_json_has_raw_values_under_health_s_keys(tmp_path: Path) -> None:
    """`report --format json` (and with --log-format json) carries numbers, ISO 8601 instants and null under
    snake_case keys, the same as `health --format json` for the same facts; an unwritable --html stops the
    command before it reads anything."""
    import json

    with BrazeSimulator((7, 45), seed=5, rate_limits=FAST_LIMITS) as sim:
        load_as_cli(tmp_path, sim, data_dir="dlt")
    report = json.loads(cli(tmp_path, None, "report", "--format", "json").stdout)["report"]
    logged = json.loads(cli(tmp_path, None, "--log-format", "json", "report").stdout)["report"]
    health = json.loads(cli(tmp_path, None, "health", "--format", "json").stdout)
    def timeless(row: dict[str, Any]) -> dict[str, Any]:  # without the figures that count from now
        return {k: v for k, v in row.items() if k not in ("seconds_since_last_sync", "running_seconds")}

    assert [timeless(row) for row in report["integrations"]] == [timeless(row) for row in logged["integrations"]]
    assert report["counts"] == health["counts"]
    by_id = {row["integration_id"]: timeless(row) for row in health["integrations"]}
    for row in report["integrations"]:
        assert all(re.fullmatch(r"[a-z0-9_]+", key) for key in row), sorted(row)
        assert {key: row[key] for key in by_id[row["integration_id"]]} == by_id[row["integration_id"]]
        assert row["success_rate_7d"] is None or isinstance(row["success_rate_7d"], float)
        assert isinstance(row["rows_synced_30d"], int) and row["integration_label"]
        datetime.fromisoformat(row["last_sync_start_time"])

    blocked = cli(tmp_path, None, "report", "--html", "/proc/r.html")
    assert blocked.returncode == 2 and "cannot write /proc/r.html" in blocked.stderr
    assert "Traceback" not in blocked.stderr and "Braze CDI sync health" not in blocked.stdout
