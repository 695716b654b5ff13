"""`braze-cdi`: run, demo, check (and the analyst commands report and health)."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
)
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import BrazeCdiError, find_cause, missing_config_message, root_cause
from ..job import PipelineLockedError, RunSummary, make_pipeline, run_pipeline
from ..run_stats import RunStats
from ..settings import DEFAULT_DATASET_NAME, DEFAULT_PIPELINE_NAME
from .progress import ProgressCollector

EXIT_OK = 0
EXIT_PARTIAL = 1
"""Some integrations failed; the others loaded (`extraction_errors` names the failed ones)."""
EXIT_ERROR = 2
"""Nothing was loaded: configuration, credentials, the destination or Braze as a whole failed."""
EXIT_LOCKED = 75
"""Another run of the same pipeline holds the lock (EX_TEMPFAIL: try again later)."""

out = Console()
err = Console(stderr=True)
logger = logging.getLogger("braze_cdi")


_log_format = "text"


class _FixedFormatHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler whose format cannot be replaced: dlt re-formats the first handler of its logger."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(sys.stderr)
        super().setFormatter(formatter)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 - logging's name
        return None


def _setup_logging(log_format: str, debug: bool) -> None:
    """Our logger and dlt's write the same format to stderr: text lines, or one JSON object a line."""
    global _log_format
    _log_format = log_format
    if log_format == "json":
        formatter: logging.Formatter = _JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.handlers[:] = [_FixedFormatHandler(formatter)]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.handlers[:] = [_FixedFormatHandler(formatter)]
    dlt_logger.propagate = False


class _JsonFormatter(logging.Formatter):
    """One JSON object a line, for orchestrators' log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, default=str)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """One plain sentence on stderr (a JSON record with --log-format json), then the exit code."""
    if _log_format == "json":
        logger.error(message, extra={"fields": {"exit_code": code}})
    else:
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint)).replace("Sequence", "a list")


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known failures into one plain sentence and an exit code; `--debug` adds the traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as error:  # noqa: BLE001 - the top of the CLI: every failure becomes a message
            if debug:
                traceback.print_exc()
            coercion = find_cause(error, ConfigValueCannotBeCoercedException)
            if coercion is not None:
                fail(
                    f"Configured value of {coercion.field_name} cannot be read as {_type_name(coercion.hint)}: "
                    "in the environment, lists are JSON, e.g. SOURCES__BRAZE_CDI__INTEGRATION_IDS='[\"id1\"]'."
                )
            cause = root_cause(error)
            if isinstance(cause, PipelineLockedError):
                fail(str(cause), EXIT_LOCKED)
            if isinstance(cause, ConfigFieldMissingException):
                fail(missing_config_message(set(cause.fields)))
            if isinstance(cause, BrazeCdiError):
                fail(str(cause))
            fail(
                f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''} "
                "(run with --debug for the details)."
            )

    return wrapper


@click.group()
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text or one JSON object per line.",
)
@click.version_option(package_name="braze-cdi-source")
def main(debug: bool, log_format: str) -> None:
    """Load Braze Cloud Data Ingestion sync history into DuckDB or any dlt destination."""
    _setup_logging(log_format, debug)


def _pipeline_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--dataset-name", default=DEFAULT_DATASET_NAME, show_default=True, help="Dataset (schema) to load into."
    )(func)
    func = click.option(
        "--destination",
        default="duckdb",
        show_default=True,
        help="Any dlt destination: duckdb, postgres, snowflake, bigquery, motherduck, databricks, filesystem, …",
    )(func)
    func = click.option(
        "--pipeline-name", default=DEFAULT_PIPELINE_NAME, show_default=True, help="dlt pipeline name (state, lock)."
    )(func)
    return func


@main.command()
@_pipeline_options
@click.option("--integration-id", "integration_ids", multiple=True, help="Only this integration (repeatable).")
@click.option("--start-date", default=None, help="Ignore syncs that started before this ISO 8601 date/time.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed integration, loading nothing.")
@handle_errors
def run(
    pipeline_name: str,
    destination: str,
    dataset_name: str,
    integration_ids: tuple[str, ...],
    start_date: str | None,
    fail_fast: bool,
) -> None:
    """Extract CDI integrations and sync history, load them, refresh the views."""
    from ..extract.source import braze_cdi_source

    kwargs: dict[str, Any] = {"fail_fast": fail_fast}
    if integration_ids:
        kwargs["integration_ids"] = list(integration_ids)
    if start_date:
        kwargs["start_date"] = start_date
    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    stats = RunStats()
    summary = run_pipeline(
        pipeline, lambda: braze_cdi_source(run_stats=stats, **kwargs), progress=_progress(stats), stats=stats
    )
    print_summary(summary)
    sys.exit(EXIT_OK if summary.ok else EXIT_PARTIAL)


def _progress(stats: RunStats) -> ProgressCollector:
    """Live on a terminal with text logs; otherwise a log line every 10 s (JSON with --log-format json)."""
    return ProgressCollector(stats, live=err.is_terminal and _log_format == "text", console=err)


def print_summary(summary: RunSummary) -> None:
    """The last lines of every run: what landed where, rows per integration, what it cost, what failed."""
    table = Table(title=f"braze-cdi: {summary.pipeline_name} → {summary.destination}.{summary.dataset_name}")
    table.add_column("table")
    table.add_column("rows loaded", justify="right")
    for name, count in sorted(summary.rows_per_table.items()):
        table.add_row(name, str(count))
    out.print(table)
    if 0 < len(summary.rows_per_integration) <= 50:
        per_integration = Table(title="sync rows read per integration (new, updated, or re-read at the boundary)")
        per_integration.add_column("integration_id")
        per_integration.add_column("rows", justify="right")
        for integration_id, rows in sorted(summary.rows_per_integration.items()):
            per_integration.add_row(integration_id, str(rows))
        out.print(per_integration)
    out.print(
        f"{sum(summary.rows_per_integration.values())} sync rows from {len(summary.rows_per_integration)} "
        f"integration(s), {summary.requests} Braze request(s), {summary.throttled_429} rate-limited (429), "
        f"{summary.duration_seconds:.1f} s.",
        highlight=False,
    )
    if summary.failures:
        message = (
            f"{summary.failures} integration(s) failed: their errors are above and in the "
            "extraction_errors table; the others loaded."
        )
        if _log_format == "json":
            logger.error(message, extra={"fields": {"failures": summary.failures}})
        else:
            err.print(f"[bold red]{escape(message)}[/]", highlight=False)
    logger.info("run finished", extra={"fields": {"summary": summary.as_dict()}})


@main.command()
@click.option("--integrations", default=6, show_default=True, help="How many simulated integrations.")
@click.option("--seed", default=7, show_default=True, help="Seed of the simulated history.")
@handle_errors
def demo(integrations: int, seed: int) -> None:
    """The whole job with no Braze account: simulator → local DuckDB → report."""
    import dlt

    from ..extract.source import braze_cdi_source
    from ..simulator import BrazeSimulator

    pipeline_name = "braze_cdi_demo"
    counts = [0, 7, 11, 45, 137, 260][:integrations] + [30] * max(0, integrations - 6)
    # History ends a little before now, so the syncs "run meanwhile" before the second run are in the past.
    anchor = datetime.now(timezone.utc) - timedelta(hours=2, minutes=30)
    with BrazeSimulator(counts, seed=seed, now=anchor) as sim:
        out.print(f"Braze simulator on {sim.base_url} with {len(counts)} integrations.", highlight=False)
        pipeline = dlt.pipeline(pipeline_name, destination="duckdb", dataset_name=DEFAULT_DATASET_NAME)
        pipeline.drop()  # a demo starts from nothing: no state, no old rows
        Path(f"{pipeline_name}.duckdb").unlink(missing_ok=True)
        pipeline = make_pipeline(pipeline_name, "duckdb", DEFAULT_DATASET_NAME)

        def run_once() -> RunSummary:
            stats = RunStats()
            source = braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, run_stats=stats)
            return run_pipeline(pipeline, source, progress=_progress(stats), stats=stats)

        out.rule("first run: full backfill")
        print_summary(run_once())
        finished = sim.finish_running()
        hourly = [i for i in sim.integration_ids if _median_gap_minutes(sim.truth(i)) <= 90]
        added = sum(len(sim.add_syncs(i, 2)) for i in hourly)
        out.rule(f"second run: {added} new syncs, {finished} running sync(s) finished meanwhile")
        print_summary(run_once())
    out.print(f"\nLoaded into {Path(pipeline_name + '.duckdb').resolve()} (dataset {DEFAULT_DATASET_NAME}).")
    show_report(pipeline)


def _median_gap_minutes(history: list[dict]) -> float:
    starts = [sync["sync_start_time"] for sync in history]
    gaps = sorted((a - b).total_seconds() / 60 for a, b in zip(starts, starts[1:], strict=False))
    return gaps[len(gaps) // 2] if gaps else float("inf")


@main.command()
@handle_errors
def check() -> None:
    """Verify configuration, instance, key and both permissions against the API."""
    import dlt

    from .check import run_checks

    api_key = dlt.secrets.get("sources.braze_cdi.api_key")
    base_url = dlt.config.get("sources.braze_cdi.base_url")
    missing = {name for name, value in (("api_key", api_key), ("base_url", base_url)) if value is None}
    if missing:
        fail(missing_config_message(missing))
    results = run_checks(api_key, base_url)
    for result in results:
        mark = "[green]ok[/]  " if result.ok else "[bold red]FAIL[/]"
        out.print(f"{mark} {result.name}: {escape(result.detail)}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_ERROR)


def show_report(pipeline: Any) -> None:
    """The analyst's first screen; provided by the report module."""
    from ..analytics.report import print_report

    print_report(pipeline, out)


def _threshold_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Health thresholds as flags; unset flags fall back to [braze_cdi.health] config, then the defaults."""
    options = [
        ("--stuck-after-hours", float, "A sync running longer than this is stuck [6]."),
        ("--failing-after-failures", int, "This many failed syncs in a row make an integration failing [2]."),
        ("--stale-after-hours", float, "No sync started for this long is stale [auto: 2 × the usual interval]."),
        ("--degraded-below-success-rate", float, "A 7-day success rate below this share is degraded [0.8]."),
        ("--watermark-stall-syncs", int, "A watermark unchanged over this many successful syncs is degraded [6]."),
    ]
    for flag, kind, text in reversed(options):
        func = click.option(flag, type=kind, default=None, help=text)(func)
    return func


def _thresholds(values: dict[str, Any]) -> Any:
    from ..analytics.views import HealthThresholds

    return HealthThresholds.from_config(**values)


@main.command()
@_pipeline_options
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a self-contained HTML page with charts to this file.")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660), help="Days the charts cover.")
@handle_errors
def report(pipeline_name: str, destination: str, dataset_name: str, html_file: Path | None, days: int) -> None:
    """What an analyst wants first: health, last sync, success rates, durations, streaks, rows."""
    from ..analytics.health import NoDataError, duckdb_file
    from ..analytics.report import print_report, write_html

    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    path = duckdb_file(pipeline)
    if path is not None and not path.exists():
        fail(f"no DuckDB file at {path}: run `braze-cdi run` here first (or pass --pipeline-name).")
    data = print_report(pipeline, out, days=days)
    if data is None:
        sys.exit(EXIT_ERROR)
    if html_file is not None:
        try:
            write_html(pipeline, html_file, days=days)
        except NoDataError as error:
            fail(str(error))
        out.print(f"HTML report written to {html_file.resolve()}", highlight=False)


@main.command()
@_pipeline_options
@_threshold_options
@click.option("--fail-on", default="failing,stuck,stale", show_default=True,
              help="Health classes that make the exit code 1 (comma-separated; add 'degraded' to alert on it).")
@click.option("--integration-id", "integration_ids", multiple=True, help="Only this integration (repeatable).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def health(
    pipeline_name: str,
    destination: str,
    dataset_name: str,
    fail_on: str,
    integration_ids: tuple[str, ...],
    output_format: str,
    **threshold_values: Any,
) -> None:
    """Exit 0 healthy, 1 unhealthy, 2 could not tell — for cron and orchestrator alerts."""
    from ..analytics.health import EXIT_UNKNOWN, check_health

    classes = tuple(c.strip() for c in fail_on.split(",") if c.strip())
    try:
        thresholds = _thresholds(threshold_values)
        pipeline = make_pipeline(pipeline_name, destination, dataset_name)
        result = check_health(pipeline, thresholds, classes, integration_ids)
    except (BrazeCdiError, ValueError) as error:
        fail(str(error), EXIT_UNKNOWN)
    except Exception as error:  # noqa: BLE001 - destination unreachable, bad credentials…: could not tell
        cause = root_cause(error)
        first_line = (str(cause).splitlines() or [""])[0]
        fail(f"could not read the destination: {type(cause).__name__}: {first_line}", EXIT_UNKNOWN)
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), default=str, indent=2))
    else:
        for line in result.problems:
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        for line in result.notes:
            err.print(line, highlight=False, markup=False, soft_wrap=True)
        counts = ", ".join(f"{n} {h}" for h, n in result.as_dict()["counts"].items() if n)
        out.print(f"{result.status}: {len(result.integrations)} integration(s){': ' + counts if counts else ''}.",
                  highlight=False)
    sys.exit(result.exit_code)
