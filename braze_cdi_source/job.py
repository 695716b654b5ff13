"""The whole job, shared by the CLI and the pipeline script: lock, extract and load, views, summary."""

from __future__ import annotations

import _thread
import copy
import fcntl
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.configuration.providers.provider import ConfigProvider
from dlt.common.configuration.specs import PluggableRunContext
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime.collector import Collector
from dlt.destinations.fs_client import FSClientBase
from dlt.destinations.sql_client import WithSqlClient
from dlt.pipeline.exceptions import PipelineStepFailed

from .analytics.health import duckdb_file as duckdb_path_of
from .analytics.views import VERIFIED_DIALECTS, create_views, destination_dialect
from .errors import BrazeCdiError, root_cause
from .extract.arrow_batch import ARROW_FILE_FORMAT, arrow_available
from .extract.source import EXTRACTION_ERROR_COLUMNS, backfill_of, hint_file_format, stats_of
from .http import cancel
from .run_stats import RunStats
from .settings import (
    DEFAULT_DATASET_NAME,
    DEFAULT_PIPELINE_NAME,
    EXTRACTION_ERRORS_TABLE,
    EXTRACTION_RUNS_TABLE,
)

logger = logging.getLogger("braze_cdi")


class PipelineLockedError(BrazeCdiError):
    """Another run of the same pipeline is in progress."""


@dataclass
class RunSummary:
    """What one run did, for people (the CLI's last lines) and machines (JSON logs, exit codes)."""

    pipeline_name: str
    destination: str
    dataset_name: str
    duration_seconds: float
    rows_per_table: dict[str, int] = field(default_factory=dict)
    rows_per_integration: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    requests: int = 0
    throttled_429: int = 0
    load_ids: list[str] = field(default_factory=list)
    location: str = ""
    """Where it loaded, for people: the DuckDB file, database host and name, or bucket (never a password)."""
    integrations: list[dict[str, Any]] = field(default_factory=list)
    """Per integration: id, name, new / updated / re-read sync rows, failed."""
    backfill_pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Integrations with history still to read (the time budget stopped them; the next run resumes):
    pages read so far, covered back to, the target (start_date or Braze's 12 months), an estimate of pages
    and minutes left at the rate limit."""
    stopped_by_budget: bool = False
    slices: int = 1

    @property
    def backfill_minutes_left(self) -> float | None:
        """Minutes of reading at the rate limit that the pending backfills need, all together (None: unknown)."""
        pages = [v.get("estimated_pages_left") for v in self.backfill_pending.values()]
        if not pages or any(p is None for p in pages):
            return None
        minutes = [v.get("estimated_minutes_left") or 0.0 for v in self.backfill_pending.values()]
        return round(sum(minutes), 1)

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok, "backfill_minutes_left": self.backfill_minutes_left}


def make_pipeline(
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    destination: Any = "duckdb",
    dataset_name: str = DEFAULT_DATASET_NAME,
    pipelines_dir: str | None = None,
    duckdb_file: str | Path | None = None,
) -> dlt.Pipeline:
    """A dlt pipeline with the project's defaults: a local DuckDB file in the folder the command runs from.

    dlt remembers where a pipeline first ran (its local state holds that folder) and resolves a relative
    DuckDB path against it, so a run from another folder would load the first folder's file. Passing
    an absolute path always wins: `duckdb_file`, else a configured `destination.duckdb.credentials` path,
    else `<pipeline_name>.duckdb`, each resolved against the current folder.
    """
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=resolve_destination(destination, pipeline_name, duckdb_file),
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir,
    )


_DUCKDB_MARKERS = (":memory:", ":pipeline:", ":external:")


def _configured_duckdb_path() -> Any:
    """`destination.duckdb.credentials` as the user configured it (a path, a dict with `database`, or None)."""
    for accessor in (dlt.secrets, dlt.config):
        for key in ("destination.duckdb.credentials.database", "destination.duckdb.credentials"):
            try:
                value = accessor.get(key)
            except Exception:  # noqa: BLE001 - an unreadable value is dlt's to report when it resolves
                value = None
            if value is not None:
                return value
    return None


def resolve_destination(destination: Any, pipeline_name: str, duckdb_file: str | Path | None = None) -> Any:
    """The destination to give dlt: for DuckDB, a factory with an absolute file path (see `make_pipeline`)."""
    if duckdb_file is None and destination != "duckdb":
        return destination
    if duckdb_file is None:
        configured = _configured_duckdb_path()
        if configured is None:
            duckdb_file = f"{pipeline_name}.duckdb"
        elif isinstance(configured, str) and configured not in _DUCKDB_MARKERS and "://" not in configured:
            duckdb_file = configured
        else:  # a connection string or a marker: dlt's own resolution
            return destination
    if destination not in ("duckdb", None):
        raise BrazeCdiError(f"--duckdb-file applies to --destination duckdb only, not {destination}.")
    return dlt.destinations.duckdb(str(Path(duckdb_file).expanduser().resolve()))


def describe_location(pipeline: dlt.Pipeline) -> str:
    """Where the pipeline loads, for people: the DuckDB file, the database host and name, or the bucket.

    Never the password: only named, non-secret parts of the credentials are read.
    """
    destination = pipeline.destination
    if destination is None:
        return "no destination"
    try:
        config = pipeline.destination_client().config
    except Exception:  # noqa: BLE001 - unconfigured destination: its name is all there is to say
        return destination.destination_name
    bucket = getattr(config, "bucket_url", None)
    if isinstance(bucket, str) and bucket:
        return f"{destination.destination_name} {_without_userinfo(bucket)}"
    credentials = getattr(config, "credentials", None)
    database = getattr(credentials, "database", None)
    if destination.destination_type == "dlt.destinations.duckdb" and isinstance(database, str):
        return f"DuckDB file {database}"
    host = getattr(credentials, "host", None) or getattr(credentials, "server_hostname", None)
    parts = [str(p) for p in (host, database) if p]
    return f"{destination.destination_name} {'/'.join(parts)}" if parts else destination.destination_name


def _without_userinfo(url: str) -> str:
    head, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{head}{sep}{rest}"


@contextmanager
def pipeline_lock(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Hold an exclusive lock on the pipeline's working folder for the whole run.

    Two runs of one pipeline at once would race on its state and load packages; the second one
    refuses instead. The OS releases the lock when the process dies, even on SIGKILL.
    """
    Path(pipeline.pipelines_dir).mkdir(parents=True, exist_ok=True)
    path = Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise PipelineLockedError(
                f"Another braze-cdi run of pipeline {pipeline.pipeline_name!r} is in progress ({holder}): "
                "this run did nothing; let that one finish."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


DUCKDB_FILE_MAX_ITEMS = 10_000
"""Rows per normalized file for DuckDB, so that its JSON reader never buffers a whole backfill at once."""


def destination_tuning(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """Settings (dotted config keys) this job uses for the pipeline's destination unless the user set them.

    Local DuckDB only (measured on 100,000 syncs, benchmarks/README.md): its load files are local and read
    once, so they are written uncompressed (dlt's zlib was about 0.8 s of the 2 s of normalize CPU); they are
    cut at 10,000 rows and loaded one after another by one dlt load worker and one DuckDB thread, so DuckDB
    buffers one small file at a time (peak RSS 246 -> about 183 MB). Every other destination, MotherDuck
    included, keeps dlt's defaults: a filesystem lake keeps compressed files, remote loads keep their workers.
    """
    destination = pipeline.destination
    if destination is None or destination.destination_type != "dlt.destinations.duckdb":
        return {}
    return {
        "data_writer.disable_compression": True,
        "normalize.data_writer.file_max_items": DUCKDB_FILE_MAX_ITEMS,
        "load.workers": 1,
        f"destination.{destination.destination_name}.credentials.global_config": {"threads": 1},
    }


class _TuningProvider(ConfigProvider):
    """The tuning as a config provider consulted after all others, so any value the user set wins wherever it
    is set (environment, toml, vaults, scoped to the pipeline or not). It answers exact keys only: never a
    whole section such as `credentials`, which dlt would take as the user's credentials."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get_value(self, key: str, hint: Any, pipeline_name: str | None, *sections: str) -> tuple[Any, str]:
        name = ".".join((*sections, key))
        return (None if pipeline_name else self._values.get(name)), name

    @property
    def supports_secrets(self) -> bool:
        return False

    @property
    def supports_sections(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return "braze-cdi destination tuning"


def file_format_tuning(file_format: str | None) -> dict[str, Any]:
    """Settings the source's load-file format needs unless the user set them.

    With Parquet the source hands dlt Arrow tables, and a batch that does not fit the declared types goes as
    rows (extract/arrow_batch.py). dlt gives rows `_dlt_load_id` and `_dlt_id` (not null in the table) but
    leaves Arrow tables without them unless told, so both kinds of batch must get them for one table.
    """
    if file_format != ARROW_FILE_FORMAT:
        return {}
    return {"normalize.parquet_normalizer.add_dlt_load_id": True, "normalize.parquet_normalizer.add_dlt_id": True}


@contextmanager
def destination_tuned(pipeline: dlt.Pipeline, file_format: str | None = None) -> Iterator[None]:
    """Apply `destination_tuning` (and `file_format_tuning`) for the duration of the block only (no
    environment variable is touched)."""
    values = {**destination_tuning(pipeline), **file_format_tuning(file_format)}
    if not values:
        yield
        return
    provider = _TuningProvider(values)
    providers = Container()[PluggableRunContext].providers.providers
    providers.append(provider)
    try:
        yield
    finally:
        for index, registered in enumerate(providers):
            if registered is provider:
                del providers[index]
                break


def configured_file_format() -> str | None:
    """`[normalize] loader_file_format` / NORMALIZE__LOADER_FILE_FORMAT (e.g. parquet for a lake), or None.

    dlt 1.x no longer reads this key itself; the job passes it to `pipeline.run` for every table.
    """
    return dlt.config.get("normalize.loader_file_format", str) or None


def loader_file_format(pipeline: dlt.Pipeline) -> str | None:
    """The load-file format of the source's rows: the one place this is decided (None: dlt's own choice).

    The user's configured format wins. Otherwise, where the destination would write INSERT statements but
    reads other files (DuckDB): "parquet" when pyarrow is installed, so the source hands dlt Arrow tables and
    dlt skips its per-row normalize (extract/arrow_batch.py), else "jsonl". DuckDB loads dlt's default
    `insert_values` files by parsing them as SQL, which took 2.5 GB of RSS and most of the load time for
    100,000 syncs (benchmarks/README.md). Other destinations keep their own preferred format (Postgres has
    neither loader). `run_pipeline` hands the choice to the source (`hint_file_format`), which puts it on its
    batches of rows only: an empty table's jsonl file would have no columns for DuckDB.
    """
    configured = configured_file_format()
    if configured:
        return configured
    destination = pipeline.destination
    if destination is None:
        return None
    try:
        capabilities = destination.capabilities()
    except Exception:  # a destination that cannot say: leave dlt's choice
        return None
    supported = capabilities.supported_loader_file_formats or ()
    if capabilities.preferred_loader_file_format != "insert_values" or "jsonl" not in supported:
        return None  # Postgres lists parquet too, but loads it only through an optional ADBC driver
    return ARROW_FILE_FORMAT if ARROW_FILE_FORMAT in supported and arrow_available() else "jsonl"


def views_supported(pipeline: dlt.Pipeline) -> bool:
    """Whether the views are made here: a SQL engine that keeps views (not a file lake, whose SQL client is a
    throwaway DuckDB) and whose dialect the views are verified on. Otherwise one log line says so; the
    data is loaded all the same and the run's exit code does not change."""
    name = pipeline.destination.destination_name if pipeline.destination else "?"
    client = pipeline.destination_client()
    if isinstance(client, FSClientBase) or not isinstance(client, WithSqlClient):
        logger.info(
            "views skipped: destination %s has no SQL engine that keeps views; query the files "
            "(see README, Running in production).",
            name,
        )
        return False
    if destination_dialect(pipeline) is None:
        logger.warning(
            "views skipped: destination %s (SQL dialect %s) is not one the views are verified on (%s); the data "
            "is loaded, query the tables (README, For analysts).",
            name,
            pipeline.destination.capabilities().sqlglot_dialect if pipeline.destination else "?",
            ", ".join(VERIFIED_DIALECTS),
        )
        return False
    return True


EXTRACTION_RUN_COLUMNS = {
    "run_id": {"data_type": "text", "nullable": False},
    "started_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
    "finished_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
    "status": {"data_type": "text", "nullable": False},
    "integrations": {"data_type": "bigint"},
    "integrations_failed": {"data_type": "bigint"},
    "requests": {"data_type": "bigint"},
    "throttled_429": {"data_type": "bigint"},
    "rows_loaded": {"data_type": "bigint"},
    "load_id": {"data_type": "text"},
    "version": {"data_type": "text"},
    "integrations_backfilling": {"data_type": "bigint"},
    "backfill_minutes_left": {"data_type": "double"},
    "stopped_by_budget": {"data_type": "bool"},
    "slices": {"data_type": "bigint"},
    "backfill_pending": {"data_type": "text"},
}
"""`extraction_runs`: the connector's own run log, one row per run (ok / partial / failed). The backfill
columns say what a budgeted run left for the next one: `backfill_pending` is JSON text, integration id ->
estimated pages left (null when unknown); all of them are null for a run that raised."""


def run_status(summary: RunSummary | None, integrations: int, integrations_failed: int) -> str:
    """failed: the run raised, or every integration failed; partial: some failed; ok: none failed."""
    if summary is None or (integrations and integrations_failed >= integrations):
        return "failed"
    return "ok" if summary.ok else "partial"


def record_run(
    pipeline: dlt.Pipeline,
    started_at: datetime,
    stats: RunStats,
    summary: RunSummary | None,
) -> None:
    """Append this run's row to `extraction_runs`, and make sure `extraction_errors` exists (empty when no run
    ever failed), so analysts' queries on both work from the first run. A separate small load after the
    main one, so a failed run can still be recorded."""
    figures = stats.snapshot()
    failed = max(figures["integrations_failed"], summary.failures if summary else 0)
    row = {
        "run_id": uuid.uuid4().hex,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc),
        "status": run_status(summary, figures["integrations"], failed),
        "integrations": figures["integrations"],
        "integrations_failed": failed,
        "requests": figures["requests"],
        "throttled_429": figures["throttled_429"],
        "rows_loaded": sum(
            count for table, count in (summary.rows_per_table if summary else {}).items()
            if table != EXTRACTION_ERRORS_TABLE
        ),
        "load_id": summary.load_ids[0] if summary and summary.load_ids else None,
        "version": _package_version(),
        **_backfill_figures(summary),
    }
    runs = dlt.resource([row], name=EXTRACTION_RUNS_TABLE, write_disposition="append", columns=EXTRACTION_RUN_COLUMNS)
    errors = dlt.resource(
        [dlt.mark.materialize_table_schema()],
        name=EXTRACTION_ERRORS_TABLE,
        write_disposition="append",
        columns=EXTRACTION_ERROR_COLUMNS,
    )
    with destination_tuned(pipeline):
        pipeline.run([runs, errors], loader_file_format=configured_file_format())


def _backfill_figures(summary: RunSummary | None) -> dict[str, Any]:
    """The run log's backfill columns from the summary (all None when the run raised before one existed)."""
    if summary is None:
        return {"integrations_backfilling": None, "backfill_minutes_left": None, "stopped_by_budget": None,
                "slices": None, "backfill_pending": None}
    pending = {key: value.get("estimated_pages_left") for key, value in summary.backfill_pending.items()}
    return {
        "integrations_backfilling": len(pending),
        "backfill_minutes_left": summary.backfill_minutes_left,
        "stopped_by_budget": summary.stopped_by_budget,
        "slices": summary.slices,
        "backfill_pending": json.dumps(pending, sort_keys=True),
    }


def _package_version() -> str | None:
    """This package's installed version (the one pip reports), for the run log."""
    try:
        return metadata.version("braze-cdi-source")
    except metadata.PackageNotFoundError:
        return None


def run_pipeline(
    pipeline: dlt.Pipeline,
    source: Any,
    *,
    views: bool = True,
    progress: Collector | None = None,
    stats: RunStats | None = None,
) -> RunSummary:
    """Run the source under the pipeline lock, refresh the views, and summarise what happened.

    `source` may be a source or a function that makes one: a function is called only once the lock
    is held, so a run refused by the lock sends no request to Braze (making the source lists the
    integrations). A failure of some integrations is not an exception here: their rows are in
    `extraction_errors` and `summary.failures` counts them. A failure of the whole run raises.

    The summary's requests and rows come from the source's own counters (`stats`, else those of the
    `braze_cdi_source` being run): one object per run, so runs in parallel threads never mix counts.
    """
    started = time.monotonic()
    started_at = datetime.now(timezone.utc)
    with pipeline_lock(pipeline):
        if progress is not None:
            pipeline.collector = progress
        try:
            if callable(source):
                source = source()
            stats = stats or stats_of(source) or RunStats()
            file_format = loader_file_format(pipeline)
            hint_file_format(source, file_format)
            database = duckdb_path_of(pipeline)
            if database is not None:
                database.parent.mkdir(parents=True, exist_ok=True)  # --duckdb-file data/cdi.duckdb in a new folder
            backfill = backfill_of(source)
            if backfill is not None:  # the time budget counts from the start of the job, not of the source
                backfill.budget.started = min(backfill.budget.started, started)
            loads: list[LoadInfo] = []
            row_counts: dict[str, int] = {}
            with destination_tuned(pipeline, file_format):
                # A braze_cdi_source loads in slices: each load commits rows with every integration's resume
                # point, so a kill loses one slice at most; the first slice reads every integration's newest pages.
                while backfill is None or backfill.begin_slice() or not loads:
                    sources_state = copy.deepcopy(pipeline.state.get("sources", {}))
                    try:
                        loads.append(pipeline.run(source, loader_file_format=configured_file_format()))
                    except PipelineStepFailed as error:
                        if error.step == "load":  # set the refused package aside, cursors back to before it
                            raise _set_aside(pipeline, sources_state, error) from error
                        raise
                    _add_row_counts(row_counts, pipeline)
                    if backfill is None:
                        break
                    backfill.budget.observed_load(_seconds_since_extract(pipeline))
                    backfill.slice_extracted(_extract_seconds(pipeline))
                    logger.debug(
                        "slice %d loaded after %.2f s; load took %.2f s; paging time left %.2f s",
                        len(loads), time.monotonic() - started, _seconds_since_extract(pipeline),
                        backfill.budget.left(),
                    )
            if views and views_supported(pipeline):
                create_views(pipeline)
            summary = summarise(pipeline, loads, time.monotonic() - started, stats, row_counts)
            if backfill is not None:
                summary.backfill_pending = backfill.summary()
                summary.stopped_by_budget = backfill.stopped_by_budget and bool(summary.backfill_pending)
                summary.slices = len(loads)
        except Exception:
            _record_failed_run(pipeline, started_at, stats)
            raise
        record_run(pipeline, started_at, stats, summary)
    return summary


def _record_failed_run(pipeline: dlt.Pipeline, started_at: datetime, stats: RunStats | None) -> None:
    """Best effort: a run that failed as a whole is logged too, unless the destination is what failed."""
    try:
        record_run(pipeline, started_at, stats or RunStats(), None)
    except Exception as error:  # noqa: BLE001 - the run's own error is the one to raise
        logger.warning("could not record the failed run in %s: %s", EXTRACTION_RUNS_TABLE, type(error).__name__)


def _add_row_counts(totals: dict[str, int], pipeline: dlt.Pipeline) -> None:
    """Add the last load's rows per table (dlt's trace) to `totals`."""
    trace = pipeline.last_trace
    if trace is None or trace.last_normalize_info is None:
        return
    for table, count in trace.last_normalize_info.row_counts.items():
        if not table.startswith("_dlt"):
            totals[table] = totals.get(table, 0) + count


def _seconds_since_extract(pipeline: dlt.Pipeline) -> float:
    """How long normalize and load of the last run took (what the time budget must keep for a slice)."""
    trace = pipeline.last_trace
    steps = [step for step in (trace.steps if trace is not None else []) if step.step == "extract"]
    if not steps or steps[-1].finished_at is None:
        return 0.0
    finished = steps[-1].finished_at
    return max(0.0, (datetime.now(timezone.utc) - finished).total_seconds())


def _extract_seconds(pipeline: dlt.Pipeline) -> float:
    """How long the extract step of the last run took."""
    trace = pipeline.last_trace
    steps = [step for step in (trace.steps if trace is not None else []) if step.step == "extract"]
    if not steps or steps[-1].finished_at is None:
        return 0.0
    return max(0.0, (steps[-1].finished_at - steps[-1].started_at).total_seconds())


def summarise(
    pipeline: dlt.Pipeline,
    loads: list[LoadInfo] | LoadInfo,
    duration: float,
    stats: RunStats,
    row_counts: dict[str, int] | None = None,
) -> RunSummary:
    """Row counts per table from dlt's trace (what landed, summed over the run's slices); requests, 429s
    and rows per integration from the run's own counters (dlt's per-resource metrics merge parallel resources)."""
    if not isinstance(loads, list):
        loads = [loads]
    if row_counts is None:
        row_counts = {}
        _add_row_counts(row_counts, pipeline)
    figures = stats.snapshot()
    per_integration = stats.per_integration()
    return RunSummary(
        pipeline_name=pipeline.pipeline_name,
        destination=pipeline.destination.destination_name if pipeline.destination else "",
        dataset_name=pipeline.dataset_name,
        duration_seconds=round(duration, 3),
        rows_per_table=row_counts,
        rows_per_integration={k: v["rows"] for k, v in per_integration.items()},
        failures=row_counts.get(EXTRACTION_ERRORS_TABLE, 0),
        requests=figures["requests"],
        throttled_429=figures["throttled_429"],
        load_ids=[load_id for load in loads for load_id in load.loads_ids],
        location=describe_location(pipeline),
        integrations=[
            {
                "integration_id": integration_id,
                "name": figures_of["name"],
                "new": figures_of["new_rows"],
                "updated": figures_of["updated_rows"],
                "reread": figures_of["reread_rows"],
                "failed": figures_of["failed"],
            }
            for integration_id, figures_of in per_integration.items()
        ],
    )


def reset_state(pipeline: dlt.Pipeline, integration_ids: list[str] | None = None) -> list[str]:
    """Forget the incremental and backfill state of these integrations (all when None or empty), under the lock.

    The next run reads their history again from the newest sync down to start_date (or Braze's oldest); the
    rows already loaded stay and are merged, never doubled. The state is committed to the destination, so a
    run on another machine sees the reset too. Returns the integration ids whose state was dropped.
    """
    from dlt.pipeline.helpers import pipeline_drop

    from .settings import JOB_SYNC_STATUS_TABLE

    prefix = f"{JOB_SYNC_STATUS_TABLE}_"
    with pipeline_lock(pipeline):
        if pipeline.has_pending_data:
            raise BrazeCdiError(
                f"Pipeline {pipeline.pipeline_name!r} holds data an interrupted run did not load yet: "
                "run `braze-cdi run` once (it loads that first), then reset."
            )
        pipeline.sync_destination()
        if not pipeline.default_schema_name:
            return []
        resources = pipeline.state.get("sources", {}).get(pipeline.default_schema_name, {}).get("resources", {})
        known = [name[len(prefix) :] for name in resources if name.startswith(prefix)]
        chosen = [i for i in known if not integration_ids or i in integration_ids]
        if chosen:
            pipeline_drop(pipeline, resources=[f"{prefix}{i}" for i in chosen], state_only=True)()
        return chosen


class LoadFailedError(BrazeCdiError):
    """The destination refused this run's data; the package was set aside so later runs are not blocked."""


def _set_aside(pipeline: dlt.Pipeline, sources_state: dict[str, Any], error: PipelineStepFailed) -> LoadFailedError:
    """Drop the package the destination refused and put the cursors back to before this run.

    Left pending, dlt would retry the same package first on every later run and fail every time, even
    against a clean Braze. With the cursors back where they were, the next run reads those syncs again,
    so nothing is lost; the merge keeps anything that did land from being doubled.
    """
    cause = root_cause(error)
    first_line = (str(cause).splitlines() or [type(cause).__name__])[0][:300]
    try:
        pipeline.drop_pending_packages()
        with pipeline.managed_state() as state:
            state["sources"] = sources_state
    except Exception as cleanup:  # noqa: BLE001 - report the load failure, with what to do by hand
        logger.error(f"could not set the failed load package aside: {cleanup}")
        return LoadFailedError(
            f"the load into {pipeline.destination.destination_name if pipeline.destination else '?'} failed "
            f"({first_line}), and the package could not be set aside: run "
            f"`dlt pipeline {pipeline.pipeline_name} drop-pending-packages`, then `braze-cdi reset` and run again."
        )
    return LoadFailedError(
        f"the load into {pipeline.destination.destination_name if pipeline.destination else '?'} failed "
        f"({first_line}): its package was set aside and the cursors put back, so the next run reads those "
        "syncs again; fix what the destination names (permissions, space, a constraint or a column type) "
        "and run again."
    )


EXIT_INTERRUPTED = 130
"""128 + SIGINT, what shells expect from a program stopped by Ctrl-C."""


@contextmanager
def stop_on_signals(announce: Callable[[], None], grace: float = 4.0) -> Iterator[None]:
    """Ctrl-C / SIGTERM end the run within `grace` seconds, in any phase, with exit code 130.

    The signals are taken by a thread of their own (blocked everywhere else), so they are seen even while
    the main thread is inside DuckDB or waiting on dlt's worker threads. The first one stops every
    rate-limit wait, backoff and open request (http/cancel.py) and interrupts the main thread, which then
    unwinds normally; if it has not exited after `grace` seconds, or on a second signal, `announce()` prints
    the one line and the process exits at once: like a crash, which loses nothing (state moves only with
    the loaded data; dlt finishes a half-loaded package on the next run).

    Main thread only, and before the run starts other threads (they inherit the blocked signals).
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals | {signal.SIGUSR2})
    done = threading.Event()

    def watch() -> None:
        received = signal.sigwait(signals | {signal.SIGUSR2})
        if received == signal.SIGUSR2 or done.is_set():
            return  # the run ended first
        cancel.request_stop()
        logging.getLogger("dlt").setLevel(logging.CRITICAL + 1)  # no thread-pool noise while stopping
        _thread.interrupt_main(signal.SIGINT)
        second = threading.Event()
        threading.Thread(target=lambda: (signal.sigwait(signals), second.set()), daemon=True).start()
        deadline = time.monotonic() + grace
        while not done.is_set() and not second.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not done.is_set():
            announce()
            os._exit(EXIT_INTERRUPTED)

    watcher = threading.Thread(target=watch, name="braze-cdi-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        if watcher.is_alive() and watcher.ident is not None:
            signal.pthread_kill(watcher.ident, signal.SIGUSR2)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
