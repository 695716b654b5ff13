"""`braze-cdi report --html`: the report as one self-contained HTML page with inline SVG charts.

No script and no external resource, so it opens offline and can be mailed or archived as one file. It shows
the same numbers as the terminal table (`report.summary_rows`) and charts the syncs of the report window.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dlt

from .health import human_duration, when
from .report import DEFAULT_DAYS, ReportData, display_name, load_report_data, summary_rows
from .thresholds import HealthThresholds

STATUS_COLOURS = {
    "success": "#2e9d4f",
    "partial": "#e0a100",
    "error": "#d2302c",
    "config_error": "#8e1b6e",
    "running": "#2f6fdf",
}
OTHER_STATUS_COLOUR = "#8a8a8a"
HEALTH_COLOURS = {
    "healthy": "#2e9d4f",
    "degraded": "#e0a100",
    "failing": "#d2302c",
    "stale": "#8a6d3b",
    "stuck": "#7b3fbf",
    "unknown": "#8a8a8a",
}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px 32px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#59636e;margin-bottom:14px}
.badges span{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;margin-right:6px;font-weight:600}
table{border-collapse:collapse;margin-top:8px}
th,td{padding:5px 8px;border-bottom:1px solid #e3e6ea;white-space:nowrap}th{white-space:normal}
th{background:#f5f7f9;text-align:left;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.health{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
ul.problems li{margin:3px 0}
.legend span{margin-right:14px;white-space:nowrap}.legend i{display:inline-block;width:11px;height:11px;
margin-right:4px;vertical-align:-1px;border-radius:2px}
svg{display:block;margin:6px 0 2px;font:11px system-ui,sans-serif;width:100%;max-width:1300px;height:auto}
svg text{fill:#444}.axis line{stroke:#d0d4d9}.grid{stroke:#eef0f2}
"""


def _colour(status: str | None) -> str:
    return STATUS_COLOURS.get(status or "", OTHER_STATUS_COLOUR)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class _TimeAxis:
    """Maps instants of the report window to x pixels and draws day ticks."""

    def __init__(self, start: datetime, end: datetime, left: float, width: float) -> None:
        self.start, self.end, self.left, self.width = start, end, left, width
        self.span = max((end - start).total_seconds(), 1.0)

    def x(self, instant: datetime) -> float:
        return self.left + self.width * (instant - self.start).total_seconds() / self.span

    def ticks(self, top: float, bottom: float) -> str:
        days = self.span / 86400
        step = next(s for s in (1, 2, 5, 7, 14, 30, 60, 90, 180, 365, 10**6) if days / s <= 10)
        day = self.start.date() + timedelta(days=1)
        parts = []
        while True:
            instant = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            if instant > self.end:
                break
            if (day - date(2000, 1, 3)).days % step == 0:
                x = self.x(instant)
                parts.append(
                    f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>'
                    f'<text x="{x:.1f}" y="{bottom + 13}" text-anchor="middle">{day.strftime("%b %d")}</text>'
                )
            day += timedelta(days=1)
        return "".join(parts)


def _lane_label(name: str, y: float) -> str:
    """An integration's name left of its lane: cut to fit before the axis labels, full name on hover."""
    shown = name if len(name) <= 42 else name[:41] + "…"
    return f'<text x="4" y="{y}"><title>{_esc(name)}</title>{_esc(shown)}</text>'


def _timeline_svg(data: ReportData) -> str:
    """One lane per integration, one bar per sync from start to finish (at least 2 px), coloured by status."""
    label_width, width, lane = 330, 1400, 24
    axis = _TimeAxis(data.window_start, data.chart_end, label_width, width - label_width - 10)
    lanes = [row["integration_id"] for row in data.integrations]
    height = lane * len(lanes) + 30
    names = {row["integration_id"]: display_name(row) for row in data.integrations}
    parts = [f'<svg id="timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="Sync timeline">']
    parts.append(axis.ticks(0, lane * len(lanes)))
    by_integration: dict[str, list[dict]] = defaultdict(list)
    for item in data.syncs:
        by_integration[item["integration_id"]].append(item)
    for index, integration_id in enumerate(lanes):
        y = index * lane
        parts.append(_lane_label(names[integration_id], y + 16))
        parts.append(f'<line class="grid" x1="{label_width}" x2="{width - 10}" y1="{y + lane}" y2="{y + lane}"/>')
        for item in by_integration.get(integration_id, []):
            end = item["finish"] or (data.now if item["job_status"] == "running" else item["start"])
            x0 = axis.x(item["start"])
            w = max(axis.x(min(end, data.chart_end)) - x0, 2.0)
            tip = (
                f"{names[integration_id]}: {item['job_status']} {when(item['start'])}, "
                f"{human_duration(item['duration'])}, {item['rows_synced'] or 0:,} rows, "
                f"{item['rows_failed'] or 0:,} failed"
            )
            parts.append(
                f'<rect class="sync" data-integration="{_esc(integration_id)}" '
                f'data-status="{_esc(item["job_status"])}" data-start="{item["start"].isoformat()}" '
                f'x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{lane - 8}"'
                f' fill="{_colour(item["job_status"])}"><title>{_esc(tip)}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _duration_svg(data: ReportData) -> str:
    """Small multiples: per integration, each finished sync's duration (log scale) at its start time."""
    label_width, width, row_height = 330, 1400, 70
    axis = _TimeAxis(data.window_start, data.chart_end, label_width, width - label_width - 10)
    finished = [s for s in data.syncs if s["duration"] is not None]
    top = max([s["duration"] for s in finished] + [60.0])
    low, high = 0.0, math.log10(max(top, 1.0) * 1.2 + 1)  # log10(1 + seconds)
    names = {row["integration_id"]: display_name(row) for row in data.integrations}
    lanes = [row["integration_id"] for row in data.integrations]
    height = row_height * len(lanes) + 30
    parts = [f'<svg id="durations" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="Sync durations">']
    parts.append(axis.ticks(0, row_height * len(lanes)))
    by_integration: dict[str, list[dict]] = defaultdict(list)
    for item in finished:
        by_integration[item["integration_id"]].append(item)
    for index, integration_id in enumerate(lanes):
        y0 = index * row_height
        plot_top, plot_bottom = y0 + 6, y0 + row_height - 6

        def y(seconds: float, plot_top: float = plot_top, plot_bottom: float = plot_bottom) -> float:
            share = (math.log10(1 + max(seconds, 0.0)) - low) / (high - low)
            return plot_bottom - share * (plot_bottom - plot_top)

        parts.append(_lane_label(names[integration_id], y0 + 14))
        for mark in (60, 3600):
            if mark <= top * 1.2:
                parts.append(
                    f'<line class="grid" x1="{label_width}" x2="{width - 10}" y1="{y(mark):.1f}" y2="{y(mark):.1f}"/>'
                    f'<text x="{label_width - 4}" y="{y(mark) + 4:.1f}" text-anchor="end">'
                    f'{"1 min" if mark == 60 else "1 h"}</text>'
                )
        parts.append(f'<line class="grid" x1="{label_width}" x2="{width - 10}" y1="{plot_bottom + 5}" '
                     f'y2="{plot_bottom + 5}"/>')
        for item in by_integration.get(integration_id, []):
            parts.append(
                f'<circle class="duration-point" data-integration="{_esc(integration_id)}" '
                f'data-seconds="{item["duration"]:.3f}" data-status="{_esc(item["job_status"])}" '
                f'cx="{axis.x(item["start"]):.1f}" cy="{y(item["duration"]):.1f}" r="2.6" '
                f'fill="{_colour(item["job_status"])}"><title>{_esc(when(item["start"]))}: '
                f'{_esc(human_duration(item["duration"]))} ({_esc(item["job_status"])})</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(data: ReportData, key: str, colour: str, label: str) -> str:
    """Bars per UTC day of the window for one daily total (rows synced, rows failed)."""
    left, width, height, bottom = 80, 1300, 170, 140
    days = (data.now.date() - data.window_start.date()).days + 1
    slot = (width - left - 10) / days
    values = {d["day"]: d[key] for d in data.daily}
    top = max(list(values.values()) + [1])
    parts = [f'<svg id="{key.replace("_", "-")}-per-day" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" '
             f'aria-label="{_esc(label)}">']
    for fraction in (0.5, 1.0):
        yy = bottom - fraction * (bottom - 10)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
                     f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{round(top * fraction):,}</text>')
    parts.append(f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{bottom}" y2="{bottom}"/>')
    label_every = max(1, math.ceil(days / 12))
    for index in range(days):
        day = data.window_start.date() + timedelta(days=index)
        value = values.get(day, 0)
        x = left + index * slot
        bar = (bottom - 10) * value / top
        parts.append(
            f'<rect class="bar" data-series="{key}" data-day="{day.isoformat()}" data-value="{value}" '
            f'x="{x + 1:.1f}" y="{bottom - bar:.1f}" width="{max(slot - 2, 1):.1f}" height="{bar:.1f}" '
            f'fill="{colour}"><title>{day.isoformat()}: {value:,} {_esc(label.lower())}</title></rect>'
        )
        if index % label_every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{bottom + 14}" text-anchor="middle">'
                         f'{day.strftime("%b %d")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(colours: dict[str, str], other: str | None = None) -> str:
    items = [f'<span><i style="background:{c}"></i>{_esc(name)}</span>' for name, c in colours.items()]
    if other:
        items.append(f'<span><i style="background:{OTHER_STATUS_COLOUR}"></i>{_esc(other)}</span>')
    return f'<div class="legend">{"".join(items)}</div>'


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document: no script, no external URL."""
    rows = summary_rows(data)
    head = "".join(f"<th>{_esc(c)}</th>" for c in rows[0]) if rows else ""
    body = []
    for row, cells in zip(data.integrations, rows, strict=True):
        tds = []
        for column, value in cells.items():
            if column == "Health":
                tds.append(f'<td><span class="health" style="background:{HEALTH_COLOURS[row["health"]]}">'
                           f"{_esc(value)}</span></td>")
            elif column in ("Integration", "Last sync"):
                tds.append(f"<td>{_esc(value)}</td>")
            else:
                tds.append(f'<td class="num">{_esc(value)}</td>')
        body.append(f'<tr data-integration="{_esc(row["integration_id"])}" data-health="{row["health"]}">'
                    f'{"".join(tds)}</tr>')
    badges = "".join(
        f'<span class="count" data-health="{h}" data-count="{n}" style="background:{HEALTH_COLOURS[h]}">{n} {h}</span>'
        for h, n in data.counts.items()
        if n
    )
    problems = "".join(f"<li>{_esc(m)}</li>" for m in data.problems) or "<li>None: every integration is healthy."
    window = f"{when(data.window_start)} – {when(data.now)}"
    total_synced = sum(d["rows_synced"] for d in data.daily)
    total_failed = sum(d["rows_failed"] for d in data.daily)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Braze CDI sync health</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>Braze CDI sync health</h1>
<div class="meta">Dataset <b>{_esc(data.dataset)}</b> · generated {_esc(when(data.now))} · charts cover {_esc(window)}
 · health rules: stuck after {_esc(human_duration(data.thresholds.stuck_after_hours * 3600))}, failing after
 {data.thresholds.failing_after_failures} failures in a row (see docs/analyze.md)</div>
<div class="badges">{badges}</div>
<h2>Integrations</h2>
<table id="integrations"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<h2>Problems</h2><ul class="problems">{problems}</ul>
<h2>Sync timeline</h2>{_legend(STATUS_COLOURS, "other (e.g. limit_exceeded)")}
{_timeline_svg(data)}
<h2>Duration per sync (log scale)</h2>
{_duration_svg(data)}
<h2>Rows synced per day (UTC) — {total_synced:,} in all</h2>
{_bars_svg(data, "rows_synced", STATUS_COLOURS["success"], "Rows synced")}
<h2>Rows failed per day (UTC) — {total_failed:,} in all</h2>
{_bars_svg(data, "rows_failed", STATUS_COLOURS["error"], "Rows failed")}
</body></html>
"""


def write_html(
    pipeline: dlt.Pipeline,
    path: Path,
    days: int = DEFAULT_DAYS,
    thresholds: HealthThresholds | None = None,
    data: ReportData | None = None,
) -> ReportData:
    """Write the HTML report to `path` (of `data` when the caller has read it already, as `braze-cdi report`
    has); raises NoDataError when nothing is loaded."""
    data = data if data is not None else load_report_data(pipeline, days, thresholds)
    path.write_text(render_html(data), encoding="utf-8")
    return data
