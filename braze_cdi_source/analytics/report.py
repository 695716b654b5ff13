"""`braze-cdi report`: its data (`integration_health_details` and, for the HTML page, `chart_data`), read through
one connection, and the analyst's first screen in the terminal and as JSON."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import dlt
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..settings import DEFAULT_PIPELINE_NAME
from ..terminal_text import markup_safe, plain
from .chart_data import Charts, read_charts, utc
from .health import NoDataError, describe_problem, human_duration, read_details, reading, when
from .thresholds import HEALTH_CLASSES, HealthThresholds
from .view_sql import present_tables
from .views import destination_dialect, loaded_schema

DEFAULT_DAYS = 30

_RICH_HEALTH = {"healthy": "green", "degraded": "yellow", "failing": "bold red", "stale": "dark_orange",
                "stuck": "magenta", "unknown": "dim"}


@dataclass
class ReportData:
    """Everything the report shows, read once from the destination (`charts` only for the HTML page)."""

    integrations: list[dict[str, Any]]
    window_start: datetime
    now: datetime
    thresholds: HealthThresholds
    dataset: str
    problems: list[str] = field(default_factory=list)
    charts: Charts | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {h: sum(1 for i in self.integrations if i["health"] == h) for h in HEALTH_CLASSES}


def load_report_data(pipeline: dlt.Pipeline, days: int = DEFAULT_DAYS, charts: bool = True) -> ReportData:
    """Read the health details and, with `charts`, the charts' bounded data for the last `days` days."""
    thresholds = HealthThresholds.from_config()
    with reading(pipeline, thresholds) as (client, queries):
        integrations = read_details(client, queries)
        now = utc(client.execute_sql("SELECT CURRENT_TIMESTAMP")[0][0])
        window_start = now - timedelta(days=days)
        data = ReportData(integrations, window_start, now, thresholds, pipeline.dataset_name)
        if charts:
            present = present_tables(loaded_schema(pipeline))
            dialect = destination_dialect(pipeline) or "duckdb"  # `reading` refused the unverified ones
            data.charts = read_charts(client, dialect, present, window_start, now, len(integrations))
    data.problems = [message for row in integrations
                     if row["health"] != "unknown" and (message := describe_problem(row, thresholds))]
    return data


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _last_sync(row: dict[str, Any], now: datetime) -> str:
    if row["last_sync_start_time"] is None:
        text = "never"
    elif (seconds := (now - row["last_sync_start_time"]).total_seconds()) < 0:  # ahead of the database clock
        text = f"{row['last_job_status']}, in {human_duration(-seconds)} (future)"
    else:
        text = f"{row['last_job_status']}, {human_duration(seconds)} ago"
    if row.get("backfill_in_progress"):  # older history is still being read: say how far back it goes
        covered = row.get("backfill_covered_back_to")
        text += f"; backfill in progress (back to {when(covered) if covered else 'nothing yet'})"
    return text


def summary_rows(data: ReportData) -> list[dict[str, str]]:
    """The report table's cells as text, one dict per integration (terminal and HTML show the same)."""
    return [
        {
            "Integration": row["integration_label"],  # the name, with the id's first block when two share it
            "Health": row["health"],
            "Last sync": _last_sync(row, data.now),
            "Success 7d": _percent(row["success_rate_7d"]),
            "Success 30d": _percent(row["success_rate_30d"]),
            "p50": human_duration(row["p50_duration_seconds"]),
            "p95": human_duration(row["p95_duration_seconds"]),
            "Failure streak": str(row["consecutive_failures"]),
            "Syncs 30d": str(row["finished_syncs_30d"]),
            "Rows synced 30d": f"{row['rows_synced_30d']:,}",
            "Rows failed 30d": f"{row['rows_failed_30d']:,}",
        }
        for row in data.integrations
    ]


COLUMN_PRIORITY = (
    "Integration", "Health", "Last sync", "Success 7d", "Failure streak", "p95", "Success 30d", "p50",
    "Rows failed 30d", "Syncs 30d", "Rows synced 30d",
)
"""Which columns a narrower terminal keeps first; the rest are named under the table."""

MIN_NAME_WIDTH = 16
"""The integration column wraps names down to this width before columns are dropped."""

MIN_TABLE_COLUMNS = 5
"""Below this many columns a table says too little: one block per integration instead."""


def fit_columns(cells: list[dict[str, str]], width: int) -> dict[str, int]:
    """The columns that fit in `width` without cutting a value, with their widths, in display order: each as wide
    as its longest value or header word, plus 3 for padding and border; room left unwraps headers, then names."""
    if not cells:
        return {}

    def need(column: str) -> int:
        longest = max(len(row[column]) for row in cells)
        if column == "Integration":
            longest = min(longest, MIN_NAME_WIDTH)
        return max([longest] + [len(word) for word in column.split()])

    chosen: dict[str, int] = {}
    used = 1  # the table's last border
    for column in COLUMN_PRIORITY:
        if used + need(column) + 3 <= width:
            chosen[column] = need(column)
            used += need(column) + 3
    for column in chosen:  # room to spare: headers on one line, most telling columns first
        extra = len(column) - chosen[column]
        if column != "Integration" and 0 < extra <= width - used:
            chosen[column] += extra
            used += extra
    if "Integration" in chosen:
        longest_name = max(max(len(row["Integration"]) for row in cells), len("Integration"))
        chosen["Integration"] = min(longest_name, chosen["Integration"] + width - used)
    return {c: chosen[c] for c in cells[0] if c in chosen}


def _print_blocks(console: Console, data: ReportData, cells: list[dict[str, str]]) -> None:
    """One block per integration, for terminals too narrow for a readable table (e.g. 80 columns)."""
    console.print(f"Braze CDI sync health ({data.dataset}, {when(data.now)})", highlight=False, markup=False)
    for row, cell in zip(data.integrations, cells, strict=True):
        console.print()
        console.print(f"[bold]{markup_safe(cell['Integration'])}[/]", highlight=False, soft_wrap=False)
        health = f"[{_RICH_HEALTH[row['health']]}]{row['health']}[/]"
        for line in (
            f"{health} · last sync {escape(cell['Last sync'])}",
            f"success 7d {cell['Success 7d']}, 30d {cell['Success 30d']} · failure streak {cell['Failure streak']}",
            f"duration p50 {cell['p50']}, p95 {cell['p95']} · syncs 30d {cell['Syncs 30d']}",
            f"rows 30d: {cell['Rows synced 30d']} synced, {cell['Rows failed 30d']} failed",
        ):
            console.print(f"  {line}", highlight=False)


def report_width(console: Console) -> int:
    """The width to lay the report out for: the terminal's, or COLUMNS; a pipe with neither gets 170."""
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console.width
    return max(console.width, 170)


def print_report(
    pipeline: dlt.Pipeline, console: Console, days: int = DEFAULT_DAYS, data: ReportData | None = None
) -> ReportData | None:
    """Print the integrations table and the problems; returns the data (None when nothing is loaded).

    All columns when they fit, the most telling ones otherwise (nothing is cut to "…"), one block per
    integration on a narrow terminal.
    """
    if data is None:
        try:
            data = load_report_data(pipeline, days, charts=False)
        except NoDataError as error:
            console.print(f"Nothing to report: {error}", highlight=False, markup=False)
            return None
    if not data.integrations:
        console.print("Nothing to report: no integrations in the loaded data.", highlight=False)
        return data
    cells = summary_rows(data)
    width = report_width(console)
    columns = fit_columns(cells, width)
    saved = console.width
    console.width = width
    try:
        if len(columns) < MIN_TABLE_COLUMNS:
            _print_blocks(console, data, cells)
        else:
            table = Table(title=f"Braze CDI sync health ({data.dataset}, {when(data.now)})", title_justify="left")
            for column, column_width in columns.items():
                left = column in ("Integration", "Health", "Last sync")
                table.add_column(column, justify="left" if left else "right", overflow="fold", width=column_width)
            for row, cell in zip(data.integrations, cells, strict=True):
                values = {**cell, "Integration": markup_safe(cell["Integration"])}  # names come from Braze
                values["Last sync"] = escape(cell["Last sync"])
                values["Health"] = f"[{_RICH_HEALTH[row['health']]}]{row['health']}[/]"
                table.add_row(*(values[c] for c in columns))
            console.print(table)
            hidden = [c for c in cells[0] if c not in columns]
            if hidden:
                console.print(f"Not shown at {width} columns: {', '.join(hidden)} (a wider terminal or --html shows "
                              "all).", highlight=False, markup=False)
        counts = ", ".join(f"{n} {h}" for h, n in data.counts.items() if n)
        console.print(f"{len(data.integrations)} integrations: {counts}.", highlight=False)
        for message in data.problems:
            console.print(f"  • {plain(message)}", highlight=False, markup=False)
        name = "" if pipeline.pipeline_name == DEFAULT_PIPELINE_NAME else f" --pipeline-name {pipeline.pipeline_name}"
        console.print("Views: sync_runs, daily_sync_summary, integration_health, integration_health_details "
                      f"(`braze-cdi report{name} --html report.html` for charts).", highlight=False, markup=False)
    finally:
        console.width = saved
    return data


def report_document(pipeline: dlt.Pipeline, data: ReportData | None = None, days: int = DEFAULT_DAYS) -> dict:
    """`{"report": {dataset, generated_at, counts, integrations, problems}}`: each integration's raw values under
    the keys `health --format json` uses."""
    data = data if data is not None else load_report_data(pipeline, days, charts=False)
    integrations = [{**row, "problem": describe_problem(row, data.thresholds)} for row in data.integrations]
    return {"report": {"dataset": data.dataset, "generated_at": data.now.isoformat(), "counts": data.counts,
                       "integrations": integrations, "problems": data.problems}}

