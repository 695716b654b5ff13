"""The analyst commands: `report` (terminal, JSON, HTML), `health` (exit codes for alerts, `--notify`) and
`views` (the views' SQL for a warehouse)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import BrazeCdiError
from ..job import describe_location, make_pipeline
from ..settings import DEFAULT_DATASET_NAME
from ..terminal_text import plain
from .main import (
    describe_error,
    emit,
    err,
    fail,
    handle_errors,
    is_json,
    json_value,
    logger,
    main,
    out,
    pipeline_options,
    say,
)


def show_report(pipeline: Any) -> None:
    """The analyst's first screen; provided by the report module."""
    from ..analytics.report import print_report, report_document

    if is_json():
        emit(report_document(pipeline))
    else:
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


@main.command()
@pipeline_options
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a self-contained HTML page with charts to this file.")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660), help="Days the charts cover.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: raw values under the keys `health --format json` uses.")
@handle_errors
def report(
    pipeline_name: str, destination: str, dataset_name: str, html_file: Path | None, days: int, output_format: str
) -> None:
    """What an analyst wants first: health, last sync, success rates, durations, streaks, rows."""
    from ..analytics.health import NoDataError
    from ..analytics.report import load_report_data, print_report, report_document
    from ..analytics.report_html import write_html

    if html_file is not None:
        _check_writable(html_file)
    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    try:
        data = load_report_data(pipeline, days, charts=html_file is not None)
    except NoDataError as error:
        fail(f"nothing to report: {error}")
    if is_json():
        emit(report_document(pipeline, data))
    elif output_format == "json":
        click.echo(json.dumps(report_document(pipeline, data), default=json_value, indent=2))
    else:
        print_report(pipeline, out, days=days, data=data)
    if html_file is not None:
        write_html(pipeline, html_file, data=data)
        say(f"HTML report written to {html_file.resolve()}", markup=False)


def _check_writable(path: Path) -> None:
    """Refuse an output file that cannot be written before any work starts (a new file is removed again)."""
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or type(error).__name__}; choose another file for --html.")
    if not existed:
        path.unlink()


@main.command()
@pipeline_options
@_threshold_options
@click.option("--fail-on", default="failing,stuck,stale", show_default=True,
              help="Health classes that make the exit code 1, comma-separated: a list replaces the default "
              "(--fail-on degraded fails on degraded only); +degraded adds to it.")
@click.option("--integration-id", "integration_ids", multiple=True, help="Only this integration (repeatable).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--notify", "notify_url", default=None, metavar="URL", envvar="BRAZE_CDI_NOTIFY_URL",
              help="Post unhealthy integrations to this Slack-compatible incoming webhook (or BRAZE_CDI_NOTIFY_URL).")
@click.option("--notify-always", is_flag=True,
              help="Post on every run, not only when the set of unhealthy integrations changed.")
def health(
    pipeline_name: str, destination: str, dataset_name: str, fail_on: str, integration_ids: tuple[str, ...],
    output_format: str, notify_url: str | None, notify_always: bool, **threshold_values: Any,
) -> None:
    """Exit 0 healthy, 1 unhealthy, 2 could not tell — for cron and orchestrator alerts."""
    from ..analytics.health import DEFAULT_FAIL_ON, EXIT_UNKNOWN, check_health
    from ..analytics.thresholds import HealthThresholds

    classes = fail_on_classes(fail_on, DEFAULT_FAIL_ON)
    try:
        thresholds = HealthThresholds.from_config(**threshold_values)
        pipeline = make_pipeline(pipeline_name, destination, dataset_name)
        result = check_health(pipeline, thresholds, classes, integration_ids)
    except (BrazeCdiError, ValueError) as error:
        fail(str(error), EXIT_UNKNOWN)
    except Exception as error:  # noqa: BLE001 - destination unreachable, bad credentials…: could not tell
        fail(f"could not read the destination: {describe_error(error)}", EXIT_UNKNOWN)
    if is_json():
        emit({"health": result.as_dict()})
    elif output_format == "json":
        click.echo(json.dumps(result.as_dict(), default=json_value, indent=2))
    else:
        for line in result.problems:
            out.print(plain(line), highlight=False, markup=False, soft_wrap=True)
        for line in result.notes:
            err.print(plain(line), highlight=False, markup=False, soft_wrap=True)
        counts = ", ".join(f"{n} {h}" for h, n in result.as_dict()["counts"].items() if n)
        out.print(f"{result.status}: {len(result.integrations)} integration(s){': ' + counts if counts else ''}.",
                  highlight=False)
    if notify_url and result.exit_code != EXIT_UNKNOWN:
        _notify(pipeline, result, notify_url, notify_always)
    sys.exit(result.exit_code)


def fail_on_classes(value: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """`failing,stale` replaces the default classes; `+degraded` (each class with a +) adds to them."""
    named = [c.strip() for c in value.split(",") if c.strip()]
    added = [c.lstrip("+").strip() for c in named if c.startswith("+")]
    if added and len(added) < len(named):
        raise click.BadParameter("list the classes, or add to the defaults with +, not both", param_hint="--fail-on")
    return tuple(dict.fromkeys([*default, *added])) if added else tuple(named)


def _notify(pipeline: Any, result: Any, url: str, always: bool) -> None:
    """Post the notice; a failure is logged and never changes health's exit code."""
    from ..analytics.health import EXIT_UNKNOWN
    from .notify import notify

    where = f"{describe_location(pipeline)}, dataset {pipeline.dataset_name}"
    try:
        outcome = notify(url, result, Path(pipeline.working_dir), where, always=always)
    except BrazeCdiError as error:  # a --notify URL that does not parse: configuration, exit 2
        fail(str(error), EXIT_UNKNOWN)
    log = logger.error if outcome.status == "failed" else logger.info
    log(outcome.message, extra={"fields": {"notify": outcome.status}})


@main.command()
@click.option("--dialect", required=True,
              type=click.Choice(["duckdb", "postgres", "redshift", "snowflake", "bigquery", "databricks"]),
              help="SQL dialect of the warehouse (MotherDuck: duckdb).")
@click.option("--dataset-name", default=DEFAULT_DATASET_NAME, show_default=True,
              help="Dataset (schema) that holds the loaded tables and gets the views.")
@click.option("--project", default=None,
              help="BigQuery: the project that holds the dataset [default: the destination's configured project].")
@handle_errors
def views(dialect: str, dataset_name: str, project: str | None) -> None:
    """Print the analyst views' CREATE statements for a warehouse, one per `;` (for dbt users and DBAs)."""
    from ..analytics.view_sql import render_views

    statements = render_views(dialect, dataset_name, project=project)
    if is_json():
        emit({"views": statements, "dialect": dialect, "dataset_name": dataset_name})
        return
    for statement in statements.values():
        click.echo(f"{statement};\n")
