"""One run of the job (lock, load in slices, views, summary, run log) and the reset of a pipeline's state."""

from __future__ import annotations

import copy
import logging
import time
from datetime import datetime, timezone
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigValueCannotBeCoercedException
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime.collector import Collector
from dlt.destinations.fs_client import FSClientBase
from dlt.destinations.sql_client import WithSqlClient
from dlt.pipeline.exceptions import PipelineStepFailed

from ..analytics.health import duckdb_file as duckdb_path_of
from ..analytics.view_sql import VERIFIED_DIALECTS
from ..analytics.views import create_views, destination_dialect
from ..errors import BaseUrlUnreachableError, BrazeCdiError, ConfigurationError, root_cause
from ..extract.run_context import RunContext
from ..settings import JOB_SYNC_STATUS_TABLE, SOURCE_NAME
from .pipeline import pipeline_lock, run_file_format
from .summary import (
    RunSummary,
    add_row_counts,
    correct_new_rows,
    count_syncs,
    record_failed_run,
    record_run,
    stateless_integrations,
    summarise,
)

logger = logging.getLogger("braze_cdi")


def views_supported(pipeline: dlt.Pipeline) -> bool:
    """Whether the views are made here: a SQL engine that keeps them (not a file lake's throwaway DuckDB), of a
    verified dialect. Otherwise one log line says so; the data loads all the same."""
    name = pipeline.destination.destination_name if pipeline.destination else "?"
    client = pipeline.destination.client_class if pipeline.destination else object  # a class: no config resolved
    if issubclass(client, FSClientBase) or not issubclass(client, WithSqlClient):
        logger.info("views skipped: destination %s has no SQL engine that keeps views; query the files "
                    "(see docs/warehouses.md).", name)
        return False
    if destination_dialect(pipeline) is None:
        dialect = pipeline.destination.capabilities().sqlglot_dialect if pipeline.destination else "?"
        verified = ", ".join(VERIFIED_DIALECTS)
        logger.warning("views skipped: destination %s (SQL dialect %s) is not one the views are verified on (%s); the "
                       "data is loaded, query the tables (docs/analyze.md).", name, dialect, verified)
        return False
    return True


def run_pipeline(
    pipeline: dlt.Pipeline, source: Any, *, views: bool = True, progress: Collector | None = None,
    context: RunContext | None = None,
) -> RunSummary:
    """Run the source under the pipeline lock, refresh the views, and summarise what happened.

    `source` may be a function that makes one: it is called with `run_context=` once the lock is held (a refused
    run sends no request); a source made beforehand must have been given `context`.
    Failed integrations are rows in `extraction_errors` (`summary.failures`); a failure of the whole run raises.
    """
    started = time.monotonic()
    started_at = datetime.now(timezone.utc)
    context = context if context is not None else RunContext(started=started)
    stats = context.stats
    with pipeline_lock(pipeline):
        collector = pipeline.collector
        if progress is not None:
            pipeline.collector = progress
        try:
            source = _made(source, context)
            database = duckdb_path_of(pipeline)
            if database is not None:
                database.parent.mkdir(parents=True, exist_ok=True)  # --duckdb-file data/cdi.duckdb in a new folder
            backfill = context.backfill
            stateless = stateless_integrations(pipeline, stats)  # after `reset`: which rows are truly new
            before = count_syncs(pipeline, stateless)
            loads: list[LoadInfo] = []
            row_counts: dict[str, int] = {}
            # A braze_cdi_source loads in slices: each load commits rows with every integration's resume
            # point, so a kill loses one slice at most; the first slice reads every integration's newest pages.
            while backfill is None or backfill.begin_slice() or not loads:
                sources_state = copy.deepcopy(pipeline.state.get("sources", {}))
                try:
                    loads.append(pipeline.run(source, loader_file_format=run_file_format(pipeline)))
                except PipelineStepFailed as error:
                    if error.step == "load":  # set the refused package aside, cursors back to before it
                        raise _set_aside(pipeline, sources_state, error) from error
                    raise
                add_row_counts(row_counts, pipeline)
                if backfill is None:
                    break
                extracting, loading = _extract_times(pipeline)
                backfill.budget.observed_load(loading)
                backfill.slice_extracted(extracting)
                logger.debug("slice %d loaded after %.2f s; load took %.2f s; paging time left %.2f s",
                             len(loads), time.monotonic() - started, loading, backfill.budget.left())
            if views and views_supported(pipeline):
                create_views(pipeline)
            summary = summarise(pipeline, loads, time.monotonic() - started, stats, row_counts)
            correct_new_rows(summary, before, count_syncs(pipeline, stateless) if before else None)
            if backfill is not None:
                summary.backfill_pending = backfill.summary()
                summary.stopped_by_budget = backfill.stopped_by_budget and bool(summary.backfill_pending)
                summary.slices = len(loads)
        except Exception as error:
            cause = root_cause(error)  # a setting that cannot work: nothing was tried, no run is logged
            bad = (ConfigurationError, ConfigFieldMissingException, ConfigValueCannotBeCoercedException)
            if not isinstance(cause, bad) or isinstance(cause, BaseUrlUnreachableError):
                record_failed_run(pipeline, started_at, stats)
            raise
        finally:
            pipeline.collector = collector
        record_run(pipeline, started_at, stats, summary)
    return summary


def _made(source: Any, context: RunContext) -> Any:
    """The source to run: `source`, or what the function `source` makes with `context`."""
    if callable(source) and not hasattr(source, "resources"):
        source = source(run_context=context)
    if getattr(source, "name", None) == SOURCE_NAME and context.backfill is None:
        raise TypeError(
            "run_pipeline needs the braze_cdi_source it runs to share its RunContext: pass the function "
            "(`run_pipeline(pipeline, braze_cdi_source)`, or any function taking `run_context`), or make the source "
            "with `braze_cdi_source(..., run_context=context)` and pass `context=context`."
        )
    return source


def _extract_times(pipeline: dlt.Pipeline) -> tuple[float, float]:
    """Seconds the last extract step took, and since it ended (normalize and load: what a slice's budget keeps)."""
    extract = [step for step in pipeline.last_trace.steps if step.step == "extract"][-1]  # every run extracts
    took = (extract.finished_at - extract.started_at).total_seconds()
    return max(0.0, took), max(0.0, (datetime.now(timezone.utc) - extract.finished_at).total_seconds())


def reset_state(pipeline: dlt.Pipeline, integration_ids: list[str] | None = None) -> list[str]:
    """Forget the state of these integrations (all when None or empty), under the lock; returns their ids.

    The next run reads their history again; loaded rows are merged, never doubled. The state is committed to the
    destination, so a run on another machine sees the reset too.
    """
    from dlt.pipeline.helpers import pipeline_drop

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
    """Drop the package the destination refused (else dlt retries it first on every later run) and put the
    cursors back, so the next run reads those syncs again; the merge keeps what did land from doubling."""
    cause = root_cause(error)
    first_line = (str(cause).splitlines() or [type(cause).__name__])[0][:300]
    failed = f"the load into {pipeline.destination.destination_name if pipeline.destination else '?'} failed"
    try:
        pipeline.drop_pending_packages()
        with pipeline.managed_state() as state:
            state["sources"] = sources_state
    except Exception as cleanup:  # noqa: BLE001 - report the load failure, with what to do by hand
        logger.error(f"could not set the failed load package aside: {cleanup}")
        return LoadFailedError(
            f"{failed} ({first_line}), and the package could not be set aside: run "
            f"`dlt pipeline {pipeline.pipeline_name} drop-pending-packages`, then `braze-cdi reset` and run again."
        )
    return LoadFailedError(
        f"{failed} ({first_line}): its package was set aside and the cursors put back, so the next run reads those "
        "syncs again; fix what the destination names (permissions, space, a constraint or a column type) "
        "and run again."
    )


