"""`braze-cdi report --html`: the report as one HTML page with inline SVG charts, no script nor external resource
(it opens offline, can be mailed or archived); the same numbers as the terminal table."""

from __future__ import annotations

import html
import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import dlt

from .chart_data import PLOT_WIDTH, WORST_FIRST, Charts
from .health import human_duration, when
from .report import ReportData, load_report_data, summary_rows

STATUS_COLOURS = {"success": "#2e9d4f", "partial": "#e0a100", "error": "#d2302c", "config_error": "#8e1b6e",
                  "running": "#2f6fdf"}
OTHER_STATUS_COLOUR = "#8a8a8a"
HEALTH_COLOURS = {"healthy": "#2e9d4f", "degraded": "#e0a100", "failing": "#d2302c", "stale": "#8a6d3b",
                  "stuck": "#7b3fbf", "unknown": "#8a8a8a"}

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
svg text{fill:#444}.duration-day{fill:#2f6fdf}.axis line{stroke:#d0d4d9}.grid{stroke:#eef0f2}
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
        """A line and a label at every `step`-th midnight (UTC) after the start: about ten over the axis."""
        step = next(s for s in (1, 2, 5, 7, 14, 30, 60, 90, 180, 365, 10**6) if self.span / 86400 / s <= 10)
        first = self.start.date() + timedelta(days=1)
        days = (first + timedelta(days=n) for n in range((self.end.date() - first).days + 1))
        xs = ((day, self.x(datetime.combine(day, time(), timezone.utc))) for day in days
              if (day - date(2000, 1, 3)).days % step == 0)
        return "".join(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>'
                       f'<text x="{x:.1f}" y="{bottom + 13}" text-anchor="middle">{day.strftime("%b %d")}</text>'
                       for day, x in xs)


LABEL_WIDTH = 330
WIDTH = LABEL_WIDTH + PLOT_WIDTH + 10


def _lanes(data: ReportData, key: str) -> dict[str, list[dict]]:
    by_integration: dict[str, list[dict]] = defaultdict(list)
    for item in getattr(data.charts, key):
        by_integration[item["integration_id"]].append(item)
    return by_integration


def _lane(row: dict[str, Any], y: float, height: float) -> str:
    """A lane's group (its marks carry no id or offset of their own: the page stays small), label, baseline.

    The name is cut to fit before the axis labels; hovering shows it whole."""
    name = row["integration_label"]
    shown = name if len(name) <= 42 else name[:41] + "…"
    return (f'<g data-integration="{_esc(row["integration_id"])}" transform="translate(0 {y})">'
            f'<text x="4" y="16"><title>{_esc(name)}</title>{_esc(shown)}</text>'
            f'<line class="grid" x1="{LABEL_WIDTH}" x2="{WIDTH - 10}" y1="{height}" y2="{height}"/>')


def _cell_tip(cell: dict[str, Any], seconds: int) -> str:
    """`2026-11-10: 96 syncs: 87 success, 5 partial, …` (an hour cell names its hour, a longer one its first day)."""
    counts = ", ".join(f"{cell[s]:,} {s}" for s in reversed(WORST_FIRST) if cell[s])
    span = {3600: when(cell["start"]), 86400: ""}.get(seconds, f"{seconds // 86400} days from ")
    day = "" if seconds == 3600 else cell["start"].date().isoformat()
    return f"{span}{day}: {cell['syncs']:,} syncs: {counts}"


def _opacity(cell: dict[str, Any]) -> str:
    """A cell with some syncs not successful is as opaque as their share of its finished syncs (at least 30 %):
    one failure in a day of 96 syncs shows pale, a day of failures solid."""
    finished = cell["syncs"] - cell["running"]
    if cell["worst"] in ("success", "running") or not finished:
        return ""
    return f' fill-opacity="{0.3 + 0.7 * (finished - cell["success"]) / finished:.2f}"'


def _timeline_svg(data: ReportData, charts: Charts) -> str:
    """One lane per integration: one bar per sync from start to finish (at least 2 px), coloured by status;
    a lane with more syncs than its pixels (or its share of the page) gets hour or day cells instead,
    coloured by their worst status, with the counts in the tooltip."""
    lane = 24
    axis = _TimeAxis(charts.start, charts.end, LABEL_WIDTH, PLOT_WIDTH)
    height = lane * len(data.integrations) + 30
    parts = [f'<svg id="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'role="img" aria-label="Sync timeline">', axis.ticks(0, lane * len(data.integrations))]
    syncs, cells = _lanes(data, "syncs"), _lanes(data, "bins")
    for index, row in enumerate(data.integrations):
        parts.append(_lane(row, index * lane, lane))
        for item in syncs.get(row["integration_id"], []):
            end = item["finish"] or (data.now if item["job_status"] == "running" else item["start"])
            x0 = axis.x(item["start"])
            w = max(axis.x(min(end, charts.end)) - x0, 2.0)
            tip = (f"{item['job_status']} {when(item['start'])}, {human_duration(item['duration'])}, "
                   f"{item['rows_synced'] or 0:,} rows, {item['rows_failed'] or 0:,} failed")
            parts.append(
                f'<rect class="sync" data-status="{_esc(item["job_status"])}" data-start="{item["start"].isoformat()}" '
                f'x="{x0:.1f}" y="4" width="{w:.1f}" height="{lane - 8}" fill="{_colour(item["job_status"])}">'
                f"<title>{_esc(tip)}</title></rect>"
            )
        for cell in cells.get(row["integration_id"], []):
            x0 = max(axis.x(cell["start"]), LABEL_WIDTH)
            x1 = min(axis.x(cell["start"] + timedelta(seconds=charts.bin_seconds)), LABEL_WIDTH + PLOT_WIDTH)
            colour = _colour(cell["worst"])
            parts.append(
                f'<rect class="bin" data-status="{cell["worst"]}" data-start="{cell["start"]:%Y-%m-%dT%H:%MZ}" '
                f'x="{x0:.1f}" y="4" width="{max(x1 - x0 - 0.5, 1.0):.1f}" height="{lane - 8}" '
                f'fill="{colour}"{_opacity(cell)}><title>{_esc(_cell_tip(cell, charts.bin_seconds))}</title></rect>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _duration_svg(data: ReportData, charts: Charts) -> str:
    """Small multiples: per integration, each finished sync's duration (log scale) at its start time; where the
    points would overlap, the daily p50 (line and dots) and p95 (pale line) instead."""
    row_height = 70
    axis = _TimeAxis(charts.start, charts.end, LABEL_WIDTH, PLOT_WIDTH)
    points, days = _lanes(data, "syncs"), _lanes(data, "duration_days")
    top = max([s["duration"] for s in charts.syncs if s["duration"] is not None]
              + [d["p95"] for d in charts.duration_days] + [60.0])
    low, high = 0.0, math.log10(max(top, 1.0) * 1.2 + 1)  # log10(1 + seconds)
    plot_top, plot_bottom = 6, row_height - 6

    def y(seconds: float) -> float:
        share = (math.log10(1 + max(seconds, 0.0)) - low) / (high - low)
        return plot_bottom - share * (plot_bottom - plot_top)

    grid = "".join(
        f'<line class="grid" x1="{LABEL_WIDTH}" x2="{WIDTH - 10}" y1="{y(mark):.1f}" y2="{y(mark):.1f}"/>'
        f'<text x="{LABEL_WIDTH - 4}" y="{y(mark) + 4:.1f}" text-anchor="end">{label}</text>'
        for mark, label in ((60, "1 min"), (3600, "1 h")) if mark <= top * 1.2
    )
    height = row_height * len(data.integrations) + 30
    parts = [f'<svg id="durations" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'role="img" aria-label="Sync durations">', axis.ticks(0, row_height * len(data.integrations))]
    for index, row in enumerate(data.integrations):
        integration_id = row["integration_id"]
        parts += [_lane(row, index * row_height, plot_bottom + 5), grid]
        if integration_id in charts.point_lanes:
            for item in points.get(integration_id, []):
                if item["duration"] is not None:
                    parts.append(
                        f'<circle class="duration-point" data-seconds="{item["duration"]:.3f}" '
                        f'data-status="{_esc(item["job_status"])}" cx="{axis.x(item["start"]):.1f}" '
                        f'cy="{y(item["duration"]):.1f}" r="2.6" fill="{_colour(item["job_status"])}"><title>'
                        f'{when(item["start"])}: {human_duration(item["duration"])} ({_esc(item["job_status"])})'
                        "</title></circle>"
                    )
        else:
            noons = ((datetime.combine(d["day"], time(12), timezone.utc), d) for d in days.get(integration_id, []))
            marks = [(max(axis.x(noon), LABEL_WIDTH), d) for noon, d in noons]  # in day order, as read
            for key, colour in (("p95", "#b8c2cc"), ("p50", "#2f6fdf")):
                path = "".join(f"{'L' if i else 'M'}{x:.1f} {y(d[key]):.1f}" for i, (x, d) in enumerate(marks))
                parts.append(f'<path class="duration-{key}" d="{path}" fill="none" stroke="{colour}" '
                             'stroke-width="1.5"/>')
            parts += [
                f'<circle class="duration-day" data-day="{d["day"]}" data-p50="{d["p50"]:g}" data-p95="{d["p95"]:g}" '
                f'cx="{x:.1f}" cy="{y(d["p50"]):.1f}" r="2">'
                f'<title>{d["day"]}: {d["finished"]:,} finished, p50 {human_duration(d["p50"])}, '
                f"p95 {human_duration(d['p95'])}</title></circle>"
                for x, d in marks
            ]
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(data: ReportData, charts: Charts, key: str, colour: str, label: str) -> str:
    """Bars per UTC day of the charts' span for one daily total (rows synced, rows failed)."""
    left, width, height, bottom = 80, 1300, 170, 140
    days = (data.now.date() - charts.start.date()).days + 1
    slot = (width - left - 10) / days
    values = {d["day"]: d[key] for d in charts.daily}
    top = max(list(values.values()) + [1])
    parts = [f'<svg id="{key.replace("_", "-")}-per-day" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{_esc(label)}">']
    for fraction in (0.5, 1.0):
        yy = bottom - fraction * (bottom - 10)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
                     f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{round(top * fraction):,}</text>')
    parts.append(f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{bottom}" y2="{bottom}"/>')
    label_every = max(1, math.ceil(days / 12))
    for index in range(days):
        day = charts.start.date() + timedelta(days=index)
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


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document: no script, no external URL."""
    rows = summary_rows(data)
    head = "".join(f"<th>{_esc(c)}</th>" for c in rows[0]) if rows else ""
    body = []
    for row, cells in zip(data.integrations, rows, strict=True):
        badge = f'<span class="health" style="background:{HEALTH_COLOURS[row["health"]]}">{_esc(row["health"])}</span>'
        tds = [f"<td>{badge}</td>" if column == "Health" else f"<td>{_esc(value)}</td>"
               if column in ("Integration", "Last sync") else f'<td class="num">{_esc(value)}</td>'
               for column, value in cells.items()]
        body.append(f'<tr data-integration="{_esc(row["integration_id"])}" data-health="{row["health"]}">'
                    f'{"".join(tds)}</tr>')
    badges = "".join(
        f'<span class="count" data-health="{h}" data-count="{n}" style="background:{HEALTH_COLOURS[h]}">{n} {h}</span>'
        for h, n in data.counts.items()
        if n
    )
    problems = "".join(f"<li>{_esc(m)}</li>" for m in data.problems) or "<li>None: every integration is healthy."
    charts = data.charts or Charts(data.window_start, data.now)
    window = f"{when(charts.start)} – {when(data.now)}"
    total_synced = sum(d["rows_synced"] for d in charts.daily)
    total_failed = sum(d["rows_failed"] for d in charts.daily)
    legend = "".join(f'<span><i style="background:{c}"></i>{_esc(name)}</span>' for name, c in
                     {**STATUS_COLOURS, "other (e.g. limit_exceeded)": OTHER_STATUS_COLOUR}.items())
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
<h2>Sync timeline</h2><div class="legend">{legend}</div>
<div class="meta">A lane with more syncs than pixels shows hour or day cells: the colour of the cell's worst status,
 paler the fewer of its syncs did not succeed; hover for the counts.</div>
{_timeline_svg(data, charts)}
<h2>Duration per sync (log scale)</h2>
{_duration_svg(data, charts)}
<h2>Rows synced per day (UTC) — {total_synced:,} in all</h2>
{_bars_svg(data, charts, "rows_synced", STATUS_COLOURS["success"], "Rows synced")}
<h2>Rows failed per day (UTC) — {total_failed:,} in all</h2>
{_bars_svg(data, charts, "rows_failed", STATUS_COLOURS["error"], "Rows failed")}
</body></html>
"""


def write_html(pipeline: dlt.Pipeline, path: Path, data: ReportData | None = None) -> ReportData:
    """Write the HTML report of `data` (read here when not given) to `path`; NoDataError when nothing is loaded."""
    data = data if data is not None and data.charts is not None else load_report_data(pipeline)
    path.write_text(render_html(data), encoding="utf-8")
    return data
