"""`braze-cdi`: run, demo, check (and the analyst commands report and health)."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from rich.console import Console
from rich.table import Table

from .errors import BrazeCdiError
from .job import PipelineLockedError, RunSummary, make_pipeline, root_cause, run_pipeline
from .settings import DEFAULT_DATASET_NAME, DEFAULT_PIPELINE_NAME

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


def _setup_logging(log_format: str, debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False


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
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _missing_config_message(error: ConfigFieldMissingException) -> str:
    fields = set(getattr(error, "fields", []) or [])
    if "api_key" in fields:
        return (
            "No Braze API key: set SOURCES__BRAZE_CDI__API_KEY, or api_key under [sources.braze_cdi] "
            "in .dlt/secrets.toml (see .dlt/secrets.toml.example)."
        )
    if "base_url" in fields:
        return (
            "No Braze base URL: set SOURCES__BRAZE_CDI__BASE_URL, or base_url under [sources.braze_cdi] "
            "in .dlt/config.toml (your instance's REST endpoint, e.g. https://rest.iad-03.braze.com)."
        )
    return f"Missing configuration: {', '.join(sorted(fields)) or error}."


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
            cause = root_cause(error)
            if isinstance(cause, PipelineLockedError):
                fail(str(cause), EXIT_LOCKED)
            if isinstance(cause, ConfigFieldMissingException):
                fail(_missing_config_message(cause))
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
    from .source import braze_cdi_source

    kwargs: dict[str, Any] = {"fail_fast": fail_fast}
    if integration_ids:
        kwargs["integration_ids"] = list(integration_ids)
    if start_date:
        kwargs["start_date"] = start_date
    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    source = braze_cdi_source(**kwargs)
    summary = run_pipeline(pipeline, source)
    print_summary(summary)
    sys.exit(EXIT_OK if summary.ok else EXIT_PARTIAL)


def print_summary(summary: RunSummary) -> None:
    """The last lines of every run: what landed where, what it cost, what failed."""
    table = Table(title=f"braze-cdi: {summary.pipeline_name} → {summary.destination}.{summary.dataset_name}")
    table.add_column("table")
    table.add_column("rows loaded", justify="right")
    for name, count in sorted(summary.rows_per_table.items()):
        table.add_row(name, str(count))
    out.print(table)
    out.print(
        f"{sum(summary.rows_per_integration.values())} sync rows from {len(summary.rows_per_integration)} "
        f"integration(s), {summary.requests} Braze request(s), {summary.throttled_429} rate-limited (429), "
        f"{summary.duration_seconds:.1f} s.",
        highlight=False,
    )
    if summary.failures:
        err.print(
            f"[bold red]{summary.failures} integration(s) failed[/]: their errors are above and in the "
            "extraction_errors table; the others loaded.",
            highlight=False,
        )
    logger.info("run finished", extra={"fields": {"summary": summary.as_dict()}})


@main.command()
@click.option("--integrations", default=6, show_default=True, help="How many simulated integrations.")
@click.option("--seed", default=7, show_default=True, help="Seed of the simulated history.")
@handle_errors
def demo(integrations: int, seed: int) -> None:
    """The whole job with no Braze account: simulator → local DuckDB → report."""
    import dlt

    from .simulator import BrazeSimulator
    from .source import braze_cdi_source

    pipeline_name = "braze_cdi_demo"
    counts = [0, 7, 11, 45, 137, 260][:integrations] + [30] * max(0, integrations - 6)
    with BrazeSimulator(counts, seed=seed) as sim:
        out.print(f"Braze simulator on {sim.base_url} with {len(counts)} integrations.", highlight=False)
        pipeline = dlt.pipeline(pipeline_name, destination="duckdb", dataset_name=DEFAULT_DATASET_NAME)
        pipeline.drop()  # a demo starts from nothing: no state, no old rows
        Path(f"{pipeline_name}.duckdb").unlink(missing_ok=True)
        pipeline = make_pipeline(pipeline_name, "duckdb", DEFAULT_DATASET_NAME)

        def source() -> Any:
            return braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url)

        out.rule("first run: full backfill")
        print_summary(run_pipeline(pipeline, source()))
        added = sum(len(sim.add_syncs(i, 3)) for i in sim.integration_ids[1:3])
        finished = sim.finish_running()
        out.rule(f"second run: {added} new syncs, {finished} running sync(s) finished meanwhile")
        print_summary(run_pipeline(pipeline, source()))
    out.print(f"\nLoaded into {Path(pipeline_name + '.duckdb').resolve()} (dataset {DEFAULT_DATASET_NAME}).")
    show_report(pipeline)


def show_report(pipeline: Any) -> None:
    """The analyst's first screen; provided by the report module."""
    from .report import print_report

    print_report(pipeline, out)
