"""`braze-cdi`: the command group, its global options (--debug, --log-format: with json, every stdout and stderr
line is one JSON object, docs/operate.md), where output goes in the chosen format, logging, and the error handling
every command shares (one plain sentence and an exit code)."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from ..errors import BrazeCdiError, find_cause, missing_config_message, missing_destination_message, root_cause
from ..http.cancel import RunInterrupted
from ..settings import DEFAULT_DATASET_NAME, DEFAULT_PIPELINE_NAME, package_version
from ..terminal_text import markup_safe, plain

EXIT_OK = 0
EXIT_PARTIAL = 1
"""Some integrations failed; the others loaded (`extraction_errors` names the failed ones)."""
EXIT_ERROR = 2
"""Nothing was loaded: configuration, credentials, the destination or Braze as a whole failed."""
EXIT_LOCKED = 75
"""Another run of the same pipeline holds the lock (EX_TEMPFAIL: try again later)."""

logger = logging.getLogger("braze_cdi")
out = Console()
err = Console(stderr=True)
_options = {"log_format": "text", "debug": False}
"""The global options of this process, set once they are parsed."""


def is_json() -> bool:
    """Whether stdout and stderr carry only JSON lines."""
    return _options["log_format"] == "json"


def json_value(value: Any) -> Any:
    """A value JSON cannot hold as it is: instants as ISO 8601 text, decimals as numbers."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def emit(document: dict[str, Any]) -> None:
    """One JSON document as one line on stdout (JSON mode only)."""
    print(json.dumps(document, default=json_value), flush=True)


def say(text: str, *, markup: bool = True) -> None:
    """A line for people on stdout (text mode); in JSON mode a `{"message": …}` document."""
    if is_json():
        emit({"message": Console().render_str(text, markup=markup).plain if markup else text})
    else:
        out.print(text, highlight=False, markup=markup, soft_wrap=True)


class _PlainFormatter(logging.Formatter):
    """Text log lines whose message holds no terminal control characters (Braze text goes into messages)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = plain(record.message)
        return super().formatMessage(record)


_TEXT = _PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Text lines, or one JSON object a line (for orchestrators' log collectors), in a format dlt cannot replace
    (it re-formats the first handler of its logger). It writes to the `sys.stderr` of the moment, so while the
    live progress bar redirects stderr its lines are printed above the bar, not through it."""

    stream = property(lambda self: sys.stderr, lambda self, value: None)  # type: ignore[assignment]

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 - logging's name
        return None

    def format(self, record: logging.LogRecord) -> str:
        if not is_json():
            return _TEXT.format(record)
        time = _TEXT.formatTime(record, "%Y-%m-%dT%H:%M:%S%z")
        entry = {"time": time, "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        return json.dumps({**entry, **getattr(record, "fields", {})}, default=str)


def _setup_logging(log_format: str, debug: bool) -> None:
    """Our logger, dlt's and Python's warnings (a DltDeprecationWarning, say) write the same format to stderr."""
    _options.update(log_format=log_format, debug=debug)
    logging.captureWarnings(True)
    for name in ("braze_cdi", "dlt", "py.warnings"):
        named = logging.getLogger(name)
        named.handlers[:] = [_StderrHandler()]
        named.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.INFO)


def say_error(message: str, code: int = EXIT_ERROR) -> None:
    """One plain sentence on stderr (a JSON record with --log-format json); Braze text in it made printable."""
    if is_json():
        logger.error(message, extra={"fields": {"exit_code": code}})
    else:
        err.print(f"[bold red]error:[/] {markup_safe(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    say_error(message, code)
    sys.exit(code)


INTERRUPTED = ("interrupted: this run stopped; what it loaded stays, nothing is doubled: run `braze-cdi run` again "
               "to finish.")


def describe_error(error: BaseException) -> str:
    """One sentence for any failure: missing settings name their section; otherwise the root cause's first line."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    cause = root_cause(error)
    if isinstance(cause, ConfigFieldMissingException):
        return missing_destination_message(cause.config) or missing_config_message(set(cause.fields))
    if isinstance(cause, BrazeCdiError):
        return str(cause)
    first_line = (str(cause).splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first_line}"


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known failures into one plain sentence and an exit code; `--debug` adds the traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigValueCannotBeCoercedException

        from ..job import EXIT_INTERRUPTED, PipelineLockedError

        debug = _options["debug"]
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (KeyboardInterrupt, Exception) as error:  # the top of the CLI: every failure becomes a message
            if find_cause(error, RunInterrupted) or find_cause(error, KeyboardInterrupt):
                fail(INTERRUPTED, EXIT_INTERRUPTED)
            if debug and is_json():
                logger.debug("traceback", extra={"fields": {"traceback": traceback.format_exc()}})
            elif debug:
                traceback.print_exc()
            coercion = find_cause(error, ConfigValueCannotBeCoercedException)
            if coercion is not None:
                type_name = getattr(coercion.hint, "__name__", str(coercion.hint)).replace("Sequence", "a list")
                fail(f"Configured value of {coercion.field_name} cannot be read as {type_name}: in the environment, "
                     "lists are JSON, e.g. SOURCES__BRAZE_CDI__INTEGRATION_IDS='[\"id1\"]'.")
            cause = root_cause(error)
            if isinstance(cause, PipelineLockedError):
                fail(str(cause), EXIT_LOCKED)
            known = isinstance(cause, (ConfigFieldMissingException, BrazeCdiError))
            fail(describe_error(error) + ("" if known else " (run with --debug for the details)."))

    return wrapper


GLOBAL_OPTIONS = {"--debug": 0, "--log-format": 1}
"""The group's own options and how many values each takes: accepted after the command name too."""


class _Group(click.Group):
    """The command group. Global options given after the command name are moved before it, so click parses
    them once, as the group's, before the command's own options: a usage error in those then follows the
    chosen log format like every other line. Each command's module (which adds it with `@main.command()`) is
    imported when the command is looked up: `--version` and `health` do not import what `run` needs.
    """

    lazy_commands = {"run": "run_command", "reset": "run_command", "demo": "demo", "check": "check",
                     "report": "reports", "health": "reports", "views": "reports"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            importlib.import_module(f"{__package__}.{self.lazy_commands[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.epilog = "--debug and --log-format text|json (see braze-cdi --help) may also be given here."
        super().add_command(cmd, name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        front: list[str] = []
        rest: list[str] = []
        index = 0
        while index < len(args) and args[index] != "--":
            name = args[index].split("=", 1)[0]
            takes = 1 + (GLOBAL_OPTIONS.get(name, 0) if "=" not in args[index] else 0)
            (front if name in GLOBAL_OPTIONS else rest).extend(args[index : index + takes])
            index += takes
        return super().parse_args(ctx, front + rest + args[index:])

    def main(self, args: Any = None, *pargs: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """click's standalone mode, but a usage error is a JSON record too with --log-format json."""
        _setup_logging("text", False)
        try:
            code = super().main(args, *pargs, **{**kwargs, "standalone_mode": False})
        except click.ClickException as error:
            if not is_json():
                error.show()
                sys.exit(error.exit_code)
            fail(error.format_message(), error.exit_code)
        except click.exceptions.Abort as error:
            interrupted = find_cause(error, KeyboardInterrupt) is not None
            fail("interrupted" if interrupted else "aborted", 130 if interrupted else 1)
        sys.exit(code if isinstance(code, int) else 0)


def _set_log_format(ctx: click.Context, param: click.Parameter, value: str) -> None:
    """Set up logging as soon as the group's options are read: before the command's are (`--debug` is eager)."""
    _setup_logging(value, bool(ctx.params.get("debug")))


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, is_eager=True, help="Show tracebacks and debug logs.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              callback=_set_log_format, help="text, or json: every stdout and stderr line is one JSON object.")
@click.version_option(package_version(), prog_name="braze-cdi")
def main(debug: bool, log_format: str) -> None:
    """Load Braze Cloud Data Ingestion sync history into DuckDB or any dlt destination.

    --debug and --log-format may come before or after the command name.
    """


def _set_duckdb_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """`--duckdb-file` is the DuckDB credentials setting for this process, so every command honours it."""
    if value is not None:
        os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = str(value.expanduser().resolve())


def pipeline_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every command that opens a pipeline."""
    options = [
        click.option("--pipeline-name", default=DEFAULT_PIPELINE_NAME, show_default=True,
                     help="dlt pipeline name (state, lock)."),
        click.option("--destination", default="duckdb", show_default=True,
                     help="Any dlt destination: duckdb, postgres, snowflake, bigquery, motherduck, databricks, "
                     "filesystem, …"),
        click.option("--dataset-name", default=DEFAULT_DATASET_NAME, show_default=True,
                     help="Dataset (schema) to load into."),
        click.option("--duckdb-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     expose_value=False, callback=_set_duckdb_file,
                     help="DuckDB file to load or read [default: <pipeline-name>.duckdb in the current folder]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func
