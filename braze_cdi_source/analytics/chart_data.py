"""The HTML report's chart data, sized by the chart, not the history: aggregated by the destination.

Every query filters `sync_start_time` on a literal window start (the engine prunes by time). A lane gets one
mark per sync while its syncs fit its pixels and the page's mark budget, else hour or day cells counted in SQL;
durations become daily p50/p95 where points would overlap. The SQL is written as the views' (`render_select`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlglot

from .view_sql import Present, render_select

PLOT_WIDTH = 1060
"""Pixels of the charts' time axis (`report_html` lays its charts out to it)."""

MAX_MARKS = 10_000
"""Marks per chart over all lanes: the page's size stays bounded at any history size."""

POINT_PIXELS = 4
"""A duration point needs about this many pixels of the axis to itself (a 2.6 px radius)."""

BIN_SECONDS = (3600, 86400, 7 * 86400)
"""Timeline cells, finest first: the first whose count over the chart fits a lane's budget is used."""

WORST_FIRST = ("config_error", "error", "partial", "other", "running", "success")
"""A cell takes the colour of its worst status."""

_EPOCH = "CAST('1970-01-01 00:00:00+00:00' AS TIMESTAMPTZ)"

_LANES = """
SELECT s.integration_id, COUNT(*) AS syncs,
       SUM(CASE WHEN s.sync_finish_time IS NULL THEN 0 ELSE 1 END) AS finished,
       MIN(s.sync_start_time) AS first_start, MAX(COALESCE(s.sync_finish_time, s.sync_start_time)) AS last_end
FROM job_sync_status AS s WHERE s.sync_start_time >= {start} GROUP BY s.integration_id
"""

_SYNCS = """
SELECT s.integration_id, s.job_status, s.sync_start_time, s.sync_finish_time,
       SECONDS_BETWEEN(s.sync_start_time, s.sync_finish_time) AS duration_seconds, s.rows_synced,
       s.rows_failed_with_errors
FROM job_sync_status AS s WHERE s.sync_start_time >= {start} AND s.integration_id IN ({ids})
ORDER BY s.integration_id, s.sync_start_time
"""

_BINS = """
SELECT b.integration_id, b.cell, b.job_status, COUNT(*)
FROM (SELECT s.integration_id, s.job_status, FLOOR(SECONDS_BETWEEN({epoch}, s.sync_start_time) / {seconds}) AS cell
      FROM job_sync_status AS s WHERE s.sync_start_time >= {start} AND s.integration_id IN ({ids})) AS b
GROUP BY b.integration_id, b.cell, b.job_status ORDER BY b.integration_id, b.cell
"""

_PERCENTILES = """
SELECT integration_id, cell, COUNT(*) AS finished, PERCENTILE(duration_seconds, 0.5) AS p50,
       PERCENTILE(duration_seconds, 0.95) AS p95
FROM (SELECT s.integration_id, FLOOR(SECONDS_BETWEEN({epoch}, s.sync_start_time) / {seconds}) AS cell,
             SECONDS_BETWEEN(s.sync_start_time, s.sync_finish_time) AS duration_seconds
      FROM job_sync_status AS s
      WHERE s.sync_start_time >= {start} AND s.sync_finish_time IS NOT NULL AND s.integration_id IN ({ids})) AS d
GROUP BY integration_id, cell ORDER BY integration_id, cell
"""
"""PERCENTILE is the views' macro: the engine's exact aggregate, or ranks where there is none (`view_sql`)."""

_DAILY = """
SELECT d.day, COUNT(*) AS syncs, SUM(CASE WHEN d.job_status IN ('error', 'config_error') THEN 1 ELSE 0 END),
       COALESCE(SUM(d.rows_synced), 0), COALESCE(SUM(d.rows_failed_with_errors), 0)
FROM (SELECT UTC_DAY(s.sync_start_time) AS day, s.job_status, s.rows_synced, s.rows_failed_with_errors
      FROM job_sync_status AS s WHERE s.sync_start_time >= {start}) AS d
GROUP BY d.day ORDER BY d.day
"""


@dataclass
class Charts:
    """What the HTML charts draw: `syncs` of the lanes drawn sync by sync, `bins` (timeline cells) of the others,
    `duration_days` (daily p50/p95) of lanes too dense for points, `daily` rows. The axis runs from `start` (the
    window's, or the first sync's hour in a younger history) to `end` (now, or a later finish)."""

    start: datetime
    end: datetime
    bin_seconds: int = BIN_SECONDS[0]
    syncs: list[dict[str, Any]] = field(default_factory=list)
    bins: list[dict[str, Any]] = field(default_factory=list)
    duration_days: list[dict[str, Any]] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)
    point_lanes: set[str] = field(default_factory=set)


def read_charts(client: Any, dialect: str, present: Present, window_start: datetime, now: datetime,
                lanes: int) -> Charts:
    """The charts' data for `lanes` integrations over the window, in at most five bounded queries."""

    def query(sql: str, start: datetime = window_start, ids: list[str] | None = None, **values: Any) -> list:
        text = sql.format(start=_literal(start), epoch=_EPOCH, ids=_ids(ids or []), **values)
        return client.execute_sql(render_select(text, dialect, client.make_qualified_table_name, present)) or []

    stats = {row[0]: row[1:] for row in query(_LANES)}
    first = min((utc(row[2]) for row in stats.values()), default=window_start)
    end = max([now] + [utc(row[3]) for row in stats.values()])
    hour = first.replace(minute=0, second=0, microsecond=0)  # a younger history's axis starts at its first hour
    start = window_start if first - window_start <= timedelta(days=1) else hour
    charts = Charts(start, end)
    budget = min(PLOT_WIDTH, MAX_MARKS // max(lanes, 1))
    span = max((end - start).total_seconds(), 1.0)
    whole_days = math.ceil(span / budget / 86400) * 86400  # a window of years (`--days`): cells of N days
    charts.bin_seconds = next((s for s in BIN_SECONDS if span / s <= budget), whole_days)
    by_sync = [i for i, row in stats.items() if row[0] <= budget]
    binned = [i for i, row in stats.items() if row[0] > budget]
    point_budget = min(PLOT_WIDTH // POINT_PIXELS, budget)
    charts.point_lanes = {i for i in by_sync if int(stats[i][1] or 0) <= point_budget}
    dense = sorted(set(stats) - charts.point_lanes)
    if by_sync:
        keys = ("integration_id", "job_status", "start", "finish", "duration", "rows_synced", "rows_failed")
        for row in query(_SYNCS, ids=by_sync):
            item = dict(zip(keys, (utc(v) for v in row), strict=True))
            item["duration"] = None if item["duration"] is None else float(item["duration"])
            charts.syncs.append(item)
    cells: dict[tuple[str, datetime], dict[str, Any]] = {}
    for integration_id, cell, status, count in query(_BINS, ids=binned, seconds=charts.bin_seconds) if binned else ():
        begins = _instant(cell, charts.bin_seconds)  # a cell's syncs by status, `other` for those Braze may add
        counts = cells.setdefault((integration_id, begins), {"integration_id": integration_id, "start": begins,
                                                             "syncs": 0, **dict.fromkeys(WORST_FIRST, 0)})
        counts["syncs"] += int(count)
        counts[status if status in WORST_FIRST else "other"] += int(count)
    charts.bins = [{**cell, "worst": next(s for s in WORST_FIRST if cell[s])} for cell in cells.values()]
    if dense:
        seconds = max(86400, charts.bin_seconds)  # daily, or the timeline's N-day cells over years
        for integration_id, cell, finished, p50, p95 in query(_PERCENTILES, ids=dense, seconds=seconds):
            charts.duration_days.append({"integration_id": integration_id, "day": _instant(cell, seconds).date(),
                                         "finished": int(finished), "p50": float(p50), "p95": float(p95)})
    midnight = datetime.combine(start.date(), datetime.min.time(), timezone.utc)
    charts.daily = [
        {"day": day.date() if isinstance(day, datetime) else day, "syncs": int(s), "failures": int(f),
         "rows_synced": int(r), "rows_failed": int(rf)}
        for day, s, f, r, rf in query(_DAILY, start=midnight)
    ]
    return charts


def _literal(instant: datetime) -> str:
    return f"CAST('{instant.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00' AS TIMESTAMPTZ)"


def _ids(ids: list[str]) -> str:
    """Integration ids as SQL string literals, escaped by sqlglot (they come from the network)."""
    return ", ".join(sqlglot.exp.Literal.string(i).sql(dialect="duckdb") for i in ids) or "NULL"


def _instant(cell: Any, seconds: int) -> datetime:
    return datetime.fromtimestamp(int(cell) * seconds, timezone.utc)


def utc(value: Any) -> Any:
    """A timestamp from any driver as an aware UTC datetime (other values as they are)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value

