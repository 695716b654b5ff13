"""`braze-cdi`: run, demo, check (and the analyst commands report and health)."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections import Counter
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
from rich.markup import escape
from rich.table import Table

from ..errors import (
    BrazeCdiError,
    find_cause,
    missing_config_message,
    missing_destination_message,
    root_cause,
)
from ..http.cancel import RunInterrupted
from ..job import (
    EXIT_INTERRUPTED,
    PipelineLockedError,
    RunSummary,
    describe_location,
    make_pipeline,
    run_pipeline,
    stop_on_signals,
)
from ..run_stats import RunStats
from ..settings import DEFAULT_DATASET_NAME, DEFAULT_PIPELINE_NAME
from ..terminal_text import markup_safe, plain
from . import output
from .output import emit, err, is_json, out, say
from .progress import ProgressCollector

EXIT_OK = 0
EXIT_PARTIAL = 1
"""Some integrations failed; the others loaded (`extraction_errors` names the failed ones)."""
EXIT_ERROR = 2
"""Nothing was loaded: configuration, credentials, the destination or Braze as a whole failed."""
EXIT_LOCKED = 75
"""Another run of the same pipeline holds the lock (EX_TEMPFAIL: try again later)."""

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
    output.set_format(log_format)
    if log_format == "json":
        formatter: logging.Formatter = _JsonFormatter()
    else:
        formatter = _PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.handlers[:] = [_FixedFormatHandler(formatter)]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.handlers[:] = [_FixedFormatHandler(formatter)]
    dlt_logger.propagate = False


class _PlainFormatter(logging.Formatter):
    """Text log lines whose message holds no terminal control characters (Braze text goes into messages)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = plain(record.message)
        return super().formatMessage(record)


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


def say_error(message: str, code: int = EXIT_ERROR) -> None:
    """One plain sentence on stderr (a JSON record with --log-format json); Braze text in it made printable."""
    if _log_format == "json":
        logger.error(message, extra={"fields": {"exit_code": code}})
    else:
        err.print(f"[bold red]error:[/] {markup_safe(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """`say_error`, then the exit code."""
    say_error(message, code)
    sys.exit(code)


INTERRUPTED = (
    "interrupted: this run stopped; what it loaded stays, nothing is doubled: run `braze-cdi run` again "
    "to finish."
)


def describe_error(error: BaseException) -> str:
    """One sentence for any failure: missing settings name their section; otherwise the root cause's first line."""
    cause = root_cause(error)
    if isinstance(cause, ConfigFieldMissingException):
        return missing_destination_message(cause.config) or missing_config_message(set(cause.fields))
    if isinstance(cause, BrazeCdiError):
        return str(cause)
    first_line = (str(cause).splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first_line}"


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint)).replace("Sequence", "a list")


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known failures into one plain sentence and an exit code; `--debug` adds the traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = output.is_debug()
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            fail(INTERRUPTED, EXIT_INTERRUPTED)
        except Exception as error:  # noqa: BLE001 - the top of the CLI: every failure becomes a message
            if isinstance(root_cause(error), RunInterrupted) or find_cause(error, KeyboardInterrupt) is not None:
                fail(INTERRUPTED, EXIT_INTERRUPTED)
            if debug and output.is_json():
                logger.debug("traceback", extra={"fields": {"traceback": traceback.format_exc()}})
            elif debug:
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
                fail(missing_destination_message(cause.config) or missing_config_message(set(cause.fields)))
            if isinstance(cause, BrazeCdiError):
                fail(str(cause))
            fail(
                f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''} "
                "(run with --debug for the details)."
            )

    return wrapper


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        output.set_format(debug=True)
        _setup_logging(output.log_format(), True)


def _set_log_format(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _setup_logging(value, output.is_debug())


def _global_options() -> list[click.Parameter]:
    """`--debug` and `--log-format`, accepted before the command name and after it (fresh objects per use)."""
    return [
        click.Option(
            ["--debug"], is_flag=True, default=False, expose_value=False, is_eager=True, callback=_set_debug,
            help="Show tracebacks and debug logs.",
        ),
        click.Option(
            ["--log-format"], type=click.Choice(["text", "json"]), default=None, expose_value=False, is_eager=True,
            callback=_set_log_format,
            help="text, or json: every stdout and stderr line is one JSON object.  [default: text]",
        ),
    ]


class _Group(click.Group):
    """The command group: every command added to it also takes the global options, wherever they are given.

    Usage errors are one JSON record on stderr with `--log-format json`, like every other line.
    """

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.extend(_global_options())
        super().add_command(cmd, name)

    def main(self, args: Any = None, *pargs: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        output.reset()
        _setup_logging("text", False)
        for index, arg in enumerate(argv):  # before click parses: its own usage errors follow the format too
            if arg == "--log-format" and index + 1 < len(argv) and argv[index + 1] in ("text", "json"):
                _setup_logging(argv[index + 1], output.is_debug())
            elif arg.startswith("--log-format=") and arg.split("=", 1)[1] in ("text", "json"):
                _setup_logging(arg.split("=", 1)[1], output.is_debug())
        if not output.is_json():
            return super().main(argv, *pargs, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(argv, *pargs, **kwargs)
        except click.ClickException as error:
            fail(error.format_message(), error.exit_code)
        except click.exceptions.Abort as error:
            interrupted = isinstance(error.__cause__, KeyboardInterrupt)
            fail("interrupted" if interrupted else "aborted", 130 if interrupted else 1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
              help="Show tracebacks and debug logs.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_set_log_format,
    help="text, or json: every stdout and stderr line is one JSON object.  [default: text]",
)
@click.version_option(package_name="braze-cdi-source")
def main() -> None:
    """Load Braze Cloud Data Ingestion sync history into DuckDB or any dlt destination.

    --debug and --log-format may come before or after the command name.
    """


def _set_duckdb_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """`--duckdb-file` is the DuckDB credentials setting for this process, so every command honours it."""
    if value is not None:
        os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = str(value.expanduser().resolve())


def _pipeline_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--duckdb-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        callback=_set_duckdb_file,
        help="DuckDB file to load or read [default: <pipeline-name>.duckdb in the current folder].",
    )(func)
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
    help="Commit rows and resume points at least every this many pages (default: one minute at the rate limit).",
)
@handle_errors
def run(
    pipeline_name: str,
    destination: str,
    dataset_name: str,
    integration_ids: tuple[str, ...],
    start_date: str | None,
    fail_fast: bool,
    time_budget: str | None,
    checkpoint_pages: int | None,
) -> None:
    """Extract CDI integrations and sync history, load them, refresh the views."""
    from ..extract.source import braze_cdi_source

    kwargs: dict[str, Any] = {"fail_fast": fail_fast}
    if integration_ids:
        kwargs["integration_ids"] = list(integration_ids)
    if start_date:
        kwargs["start_date"] = start_date
    if time_budget:
        kwargs["time_budget"] = time_budget
    if checkpoint_pages:
        kwargs["checkpoint_pages"] = checkpoint_pages
    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    logger.info(f"loading into {describe_location(pipeline)}, dataset {dataset_name}")
    stats = RunStats()
    with stop_on_signals(lambda: say_error(INTERRUPTED, EXIT_INTERRUPTED)):
        summary = run_pipeline(
            pipeline, lambda: braze_cdi_source(run_stats=stats, **kwargs), progress=_progress(stats), stats=stats
        )
    print_summary(summary)
    sys.exit(EXIT_OK if summary.ok else EXIT_PARTIAL)


def _progress(stats: RunStats) -> ProgressCollector:
    """Live on a terminal with text logs; otherwise a log line every 10 s (JSON with --log-format json)."""
    return ProgressCollector(stats, live=err.is_terminal and _log_format == "text", console=err)


def print_summary(summary: RunSummary) -> None:
    """The last lines of every run: where it loaded, rows per integration (new, updated, re-read), what it
    cost, what failed. With --log-format json: one `{"summary": …}` document on stdout and a log record."""
    new = sum(i["new"] for i in summary.integrations)
    updated = sum(i["updated"] for i in summary.integrations)
    reread = sum(i["reread"] for i in summary.integrations)
    where = f"Loaded into {summary.location}, dataset {summary.dataset_name} (pipeline {summary.pipeline_name})."
    if summary.failures:
        message = (
            f"{summary.failures} integration(s) failed: their errors are above and in the "
            "extraction_errors table; the others loaded."
        )
        if _log_format == "json":
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
            label = markup_safe(name)
            if item["failed"]:
                label += " [bold red](failed)[/]"
            per_integration.add_row(label, str(item["new"]), str(item["updated"]), str(item["reread"]))
        out.print(per_integration)
    out.print(
        f"{new} new, {updated} updated and {reread} re-read sync row(s) from {len(summary.integrations)} "
        f"integration(s); {summary.requests} Braze request(s), {summary.throttled_429} rate-limited (429), "
        f"{summary.duration_seconds:.1f} s.",
        highlight=False,
    )
    print_backfill(summary)
    out.print(escape(where), highlight=False, soft_wrap=True)
    logger.info("run finished", extra={"fields": {"summary": summary.as_dict()}})


def print_backfill(summary: RunSummary) -> None:
    """Which integrations still have history to read, and about how long it takes at Braze's rate limit."""
    if not summary.backfill_pending:
        if summary.rows_per_integration and not any(summary.rows_per_integration.values()):
            out.print("No sync rows found: nothing new to load (the tables are in place).", highlight=False)
        return
    pending = summary.backfill_pending
    why = "the time budget ran out" if summary.stopped_by_budget else "not finished in this run"
    minutes = summary.backfill_minutes_left
    estimate = "time left unknown"
    if minutes is not None:
        estimate = f"about {minutes:.0f} min of reading at the rate limit left"
    out.print(
        f"Backfill in progress for {len(pending)} integration(s) ({why}; {estimate}); the next run resumes it.",
        highlight=False,
    )
    if len(pending) <= 50:
        table = Table(title="history still to read")
        for column in ("integration_id", "pages read", "covered back to", "target", "pages left (est.)"):
            table.add_column(column, justify="right" if column.startswith("pages") else "left")
        for integration_id, row in pending.items():
            left = row.get("estimated_pages_left")
            table.add_row(
                integration_id,
                str(row.get("pages_read")),
                str(row.get("covered_back_to") or "-"),
                str(row.get("backfill_target") or "-"),
                "?" if left is None else str(left),
            )
        out.print(table)


@main.command()
@_pipeline_options
@click.option("--integration-id", "integration_ids", multiple=True, help="Only this integration (repeatable).")
@handle_errors
def reset(pipeline_name: str, destination: str, dataset_name: str, integration_ids: tuple[str, ...]) -> None:
    """Forget the incremental state (of these integrations) so the next run reads their history again."""
    from ..job import reset_state

    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    dropped = reset_state(pipeline, list(integration_ids))
    missing = [i for i in integration_ids if i not in dropped]
    if dropped:
        out.print(
            f"Reset {len(dropped)} integration(s): the next run reads their history again "
            "(rows already loaded are merged, not doubled).",
            highlight=False,
        )
    if missing:
        fail(f"No state for integration(s) {', '.join(missing)} in pipeline {pipeline_name!r}: check the id(s).")
    if not dropped:
        out.print(f"Nothing to reset: pipeline {pipeline_name!r} has no integration state yet.", highlight=False)
    sys.exit(EXIT_OK)


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
        say(f"Braze simulator on {sim.base_url} with {len(counts)} integrations.", markup=False)
        pipeline = dlt.pipeline(pipeline_name, destination="duckdb", dataset_name=DEFAULT_DATASET_NAME)
        pipeline.drop()  # a demo starts from nothing: no state, no old rows
        Path(f"{pipeline_name}.duckdb").unlink(missing_ok=True)
        pipeline = make_pipeline(pipeline_name, "duckdb", DEFAULT_DATASET_NAME)

        def run_once() -> RunSummary:
            stats = RunStats()
            source = braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, run_stats=stats)
            return run_pipeline(pipeline, source, progress=_progress(stats), stats=stats)

        _rule("first run: full backfill")
        print_summary(run_once())
        finished = sim.finish_running()
        hourly = [i for i in sim.integration_ids if _median_gap_minutes(sim.truth(i)) <= 90]
        added = sum(len(sim.add_syncs(i, 2)) for i in hourly)
        _rule(f"second run: {added} new syncs, {finished} running sync(s) finished meanwhile")
        print_summary(run_once())
    show_report(pipeline)


def _rule(title: str) -> None:
    if is_json():
        emit({"message": title})
    else:
        out.rule(title)


def _median_gap_minutes(history: list[dict]) -> float:
    starts = [sync["sync_start_time"] for sync in history]
    gaps = sorted((a - b).total_seconds() / 60 for a, b in zip(starts, starts[1:], strict=False))
    return gaps[len(gaps) // 2] if gaps else float("inf")


@main.command()
@_pipeline_options
@click.option("--skip-destination", is_flag=True, help="Check only Braze, not the destination.")
@handle_errors
def check(pipeline_name: str, destination: str, dataset_name: str, skip_destination: bool) -> None:
    """Verify configuration, instance, key and both permissions, then the destination (connect, create the
    dataset, write and drop a probe table)."""
    import dlt

    from .check import Check, check_destination, run_checks

    api_key = dlt.secrets.get("sources.braze_cdi.api_key")
    base_url = dlt.config.get("sources.braze_cdi.base_url")
    missing = {name for name, value in (("api_key", api_key), ("base_url", base_url)) if value is None}
    results: list[Check] = []
    if missing:
        results.append(Check("configuration", False, missing_config_message(missing)))
    else:
        results += run_checks(api_key, base_url)
    if not skip_destination:
        try:
            pipeline = make_pipeline(pipeline_name, destination, dataset_name)
        except Exception as error:  # noqa: BLE001 - an unknown destination name is a finding like the others
            results.append(Check(f"destination {destination}", False, describe_error(error)))
        else:
            results += check_destination(pipeline, describe_error)
    for result in results:
        if is_json():
            emit({"check": result.name, "ok": result.ok, "detail": result.detail})
        else:
            mark = "[green]ok[/]  " if result.ok else "[bold red]FAIL[/]"
            out.print(f"{mark} {result.name}: {markup_safe(result.detail)}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_ERROR)


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
    from ..analytics.health import NoDataError
    from ..analytics.report import load_report_data, print_report, report_document, write_html

    pipeline = make_pipeline(pipeline_name, destination, dataset_name)
    try:
        data = load_report_data(pipeline, days)
    except NoDataError as error:
        fail(f"nothing to report: {error}")
    if is_json():
        emit(report_document(pipeline, data))
    else:
        print_report(pipeline, out, days=days, data=data)
    if html_file is not None:
        write_html(pipeline, html_file, days=days)
        say(f"HTML report written to {html_file.resolve()}", markup=False)


@main.command()
@_pipeline_options
@_threshold_options
@click.option("--fail-on", default="failing,stuck,stale", show_default=True,
              help="Health classes that make the exit code 1 (comma-separated; add 'degraded' to alert on it).")
@click.option("--integration-id", "integration_ids", multiple=True, help="Only this integration (repeatable).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--notify", "notify_url", default=None, metavar="URL", envvar="BRAZE_CDI_NOTIFY_URL",
              help="Post unhealthy integrations to this Slack-compatible incoming webhook (or BRAZE_CDI_NOTIFY_URL).")
@click.option("--notify-always", is_flag=True,
              help="Post on every run, not only when the set of unhealthy integrations changed.")
def health(
    pipeline_name: str,
    destination: str,
    dataset_name: str,
    fail_on: str,
    integration_ids: tuple[str, ...],
    output_format: str,
    notify_url: str | None,
    notify_always: bool,
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
        fail(f"could not read the destination: {describe_error(error)}", EXIT_UNKNOWN)
    if output_format == "json" or is_json():
        document = result.as_dict()
        if is_json():
            emit({"health": document})
        else:
            click.echo(json.dumps(document, default=str, indent=2))
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


def _notify(pipeline: Any, result: Any, url: str, always: bool) -> None:
    """Post the notice; a failure is logged and never changes health's exit code."""
    from .notify import notify

    where = f"{describe_location(pipeline)}, dataset {pipeline.dataset_name}"
    outcome = notify(url, result, Path(pipeline.working_dir), where, always=always)
    if outcome.status == "failed":
        logger.error(outcome.message, extra={"fields": {"notify": outcome.status}})
    else:
        logger.info(outcome.message, extra={"fields": {"notify": outcome.status}})


@main.command()
@click.option("--dialect", required=True,
              type=click.Choice(["duckdb", "postgres", "redshift", "snowflake", "bigquery", "databricks"]),
              help="SQL dialect of the warehouse (MotherDuck: duckdb).")
@click.option("--dataset-name", default=DEFAULT_DATASET_NAME, show_default=True,
              help="Dataset (schema) that holds the loaded tables and gets the views.")
@handle_errors
def views(dialect: str, dataset_name: str) -> None:
    """Print the analyst views' CREATE statements for a warehouse, one per `;` (for dbt users and DBAs)."""
    from ..analytics.views import render_views

    statements = render_views(dialect, dataset_name)
    if is_json():
        emit({"views": statements, "dialect": dialect, "dataset_name": dataset_name})
        return
    for statement in statements.values():
        click.echo(f"{statement};\n")
