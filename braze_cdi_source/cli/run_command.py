"""`braze-cdi run` and `braze-cdi reset`: the commands that move a pipeline's data and state, and the
summary a run ends with (rows per integration, what it cost, the backfill still to read)."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..extract.backfill import BRAZE_HISTORY
from ..job import (
    EXIT_INTERRUPTED,
    RunContext,
    RunSummary,
    describe_location,
    make_pipeline,
    reset_state,
    run_pipeline,
    stop_on_signals,
)
from ..run_stats import RunStats
from ..terminal_text import markup_safe
from ..timestamps import parse_instant
from .main import (
    EXIT_OK,
    EXIT_PARTIAL,
    INTERRUPTED,
    emit,
    err,
    fail,
    handle_errors,
    is_json,
    logger,
    main,
    out,
    pipeline_options,
    say_error,
)
from .progress import ProgressCollector

integration_ids_option = click.option("--integration-id", "integration_ids", multiple=True,
                                      help="Only this integration (repeatable).")


@main.command()
@pipeline_options
@integration_ids_option
@click.option("--start-date", default=None, help="Ignore syncs that started before this ISO 8601 date/time.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed integration, loading nothing.")
@click.option(
    "--time-budget",
    default=None,
    help="Stop reading after this long (e.g. 50m, 1h30m, 90s), load what was read, exit 0; the next run "
    "resumes the backfill. Default: [sources.braze_cdi] time_budget, else none.",
)
@click.option(
    "--checkpoint-pages",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many pages between two commits of rows and resume points (default: about one minute of "
    "reading at the rate limit).",
)
@handle_errors
def run(
    pipeline_name: str, destination: str, dataset_name: str, integration_ids: tuple[str, ...], start_date: str | None,
    fail_fast: bool, time_budget: str | None, checkpoint_pages: int | None,
) -> None:
    """Extract CDI integrations and sync history, load them, refresh the views."""
    from ..extract.backfill import parse_duration
    from ..extract.source import braze_cdi_source, parse_start_date

    budget = parse_duration(time_budget)  # bad input is refused before any destination is opened
    parse_start_date(start_date)
    given = {"integration_ids": list(integration_ids), "start_date": start_date, "time_budget": time_budget,
             "checkpoint_pages": checkpoint_pages}  # the others come from [sources.braze_cdi]
    kwargs: dict[str, Any] = {"fail_fast": fail_fast, **{key: value for key, value in given.items() if value}}
    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    context = RunContext()

    def source(run_context: RunContext) -> Any:  # made under the lock; settings checked before "loading into"
        made = braze_cdi_source(run_context=run_context, **kwargs)
        logger.info(f"loading into {describe_location(pipeline)}, dataset {dataset_name}")
        return made

    with stop_on_signals(lambda: say_error(INTERRUPTED, EXIT_INTERRUPTED)):
        summary = run_pipeline(pipeline, source, progress=progress_display(context.stats, budget), context=context)
    print_summary(summary)
    sys.exit(EXIT_OK if summary.ok else EXIT_PARTIAL)


def progress_display(stats: RunStats, budget_seconds: float | None = None) -> ProgressCollector:
    """Live on a terminal with text logs; otherwise a log line every 10 s (JSON with --log-format json)."""
    return ProgressCollector(stats, live=err.is_terminal and not is_json(), console=err, budget_seconds=budget_seconds)


def print_summary(summary: RunSummary) -> None:
    """The last lines of every run: where it loaded, rows per integration (new, updated, re-read), what it
    cost, what failed. With --log-format json: one `{"summary": …}` document on stdout and a log record."""
    new, updated, reread = (sum(i[kind] for i in summary.integrations) for kind in ("new", "updated", "reread"))
    where = f"Loaded into {summary.location}, dataset {summary.dataset_name} (pipeline {summary.pipeline_name})."
    if summary.failures:
        message = (f"{summary.failures} integration(s) failed: their errors are above and in the extraction_errors "
                   "table; the others loaded.")
        if is_json():
            logger.error(message, extra={"fields": {"failures": summary.failures}})
        else:
            err.print(f"[bold red]{escape(message)}[/]", highlight=False)
    if is_json():
        emit({"summary": summary.as_dict()})
        logger.info("run finished", extra={"fields": {"summary": summary.as_dict()}})
        return
    table = Table(title=f"braze-cdi: {summary.pipeline_name} → {summary.destination}.{summary.dataset_name}")
    table.add_column("table")
    table.add_column("rows written", justify="right")
    for name, count in sorted(summary.rows_per_table.items()):
        table.add_row(name, str(count))
    out.print(table)
    if 0 < len(summary.integrations) <= 50:
        per_integration = Table(title="sync rows per integration")
        per_integration.add_column("integration", overflow="fold")
        for column in ("new", "updated", "re-read"):
            per_integration.add_column(column, justify="right")
        rows = sorted(summary.integrations, key=lambda i: ((i["name"] or "").lower(), i["integration_id"]))
        names = Counter(item["name"] for item in rows if item["name"])
        for item in rows:
            name = item["name"] or item["integration_id"]
            if names[item["name"]] > 1:  # two integrations of one name: tell them apart by the id's first block
                name = f"{name} ({item['integration_id'][:8]})"
            label = markup_safe(name) + (" [bold red](failed)[/]" if item["failed"] else "")
            per_integration.add_row(label, str(item["new"]), str(item["updated"]), str(item["reread"]))
        out.print(per_integration)
    out.print(
        f"{new} new, {updated} updated and {reread} re-read sync row(s) from {len(summary.integrations)} "
        f"integration(s); {summary.requests} Braze request(s), {summary.throttled_429} rate-limited (429), "
        f"{summary.duration_seconds:.1f} s.", highlight=False,
    )
    print_backfill(summary)
    out.print(escape(where), highlight=False, soft_wrap=True)
    logger.info("run finished", extra={"fields": {"summary": summary.as_dict()}})


def print_backfill(summary: RunSummary) -> None:
    """Which integrations still have history to read, and about how long it takes at Braze's rate limit.

    Without start_date the target is Braze's 12-month horizon, though an integration's history may begin later:
    the estimate is then an upper bound, and said so. Ids and dates wrap, never cut, on a narrow terminal.
    """
    if not summary.backfill_pending:
        if summary.rows_per_integration and not any(summary.rows_per_integration.values()):
            out.print("No sync rows found: nothing new to load (the tables are in place).", highlight=False)
        return
    pending = summary.backfill_pending
    why = "the time budget ran out" if summary.stopped_by_budget else "not finished in this run"
    minutes = summary.backfill_minutes_left
    horizon = datetime.now(timezone.utc) - BRAZE_HISTORY
    to_horizon = any(
        row.get("backfill_target") and abs(parse_instant(row["backfill_target"]) - horizon) < timedelta(days=2)
        for row in pending.values()
    )
    estimate = "time left unknown"
    if minutes is not None:
        bound = "at most" if to_horizon else "about"
        estimate = f"{bound} {minutes:.0f} min of reading at the rate limit left"
        if to_horizon:
            estimate += " if the history reaches back Braze's 12 months"
    out.print(f"Backfill in progress for {len(pending)} integration(s) ({why}; {estimate}); the next run resumes it.",
              highlight=False, soft_wrap=True)
    for integration_id, row in list(pending.items())[:50]:  # one line each: wrapped, never cut, at any width
        left = row.get("estimated_pages_left")
        out.print(
            f"  {integration_id}: {row.get('pages_read')} page(s) read, loaded back to "
            f"{_minute(row.get('covered_back_to'))}, target {_minute(row.get('backfill_target'))}, "
            f"{'?' if left is None else f'{left:,}'} page(s) left{' at most' if to_horizon else ''}",
            highlight=False, soft_wrap=True,
        )


def _minute(value: str | None) -> str:
    """An instant to the minute, in UTC ("-" for none): what a person compares, in 20 characters."""
    return "-" if not value else parse_instant(value).strftime("%Y-%m-%d %H:%M UTC")


@main.command()
@pipeline_options
@integration_ids_option
@handle_errors
def reset(pipeline_name: str, destination: str, dataset_name: str, integration_ids: tuple[str, ...]) -> None:
    """Forget the incremental state (of these integrations) so the next run reads their history again."""
    from ..analytics.health import duckdb_file

    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    database = duckdb_file(pipeline)
    if database is not None and not database.exists():
        fail(f"Nothing to reset: no DuckDB file at {database}, so pipeline {pipeline_name!r} never loaded here "
             "(check --pipeline-name, --duckdb-file or the folder you run from).")
    dropped = reset_state(pipeline, list(integration_ids))
    missing = [i for i in integration_ids if i not in dropped]
    if dropped:
        out.print(f"Reset {len(dropped)} integration(s): the next run reads their history again (rows already "
                  "loaded are merged, not doubled).", highlight=False)
    if missing:
        fail(f"No state for integration(s) {', '.join(missing)} in pipeline {pipeline_name!r}: check the id(s).")
    if not dropped:
        out.print(f"Nothing to reset: pipeline {pipeline_name!r} has no integration state yet.", highlight=False)
