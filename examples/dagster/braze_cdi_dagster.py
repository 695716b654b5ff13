"""Dagster: braze-cdi as dagster-dlt assets (`braze_cdi/integrations`, `braze_cdi/job_sync_status`) on a schedule.

    pip install "braze-cdi-source[dagster]"
    export BRAZE_API_KEY=... BRAZE_BASE_URL=https://rest.iad-03.braze.com
    dagster dev -f examples/dagster/braze_cdi_dagster.py

The same tables as `braze-cdi run`, loaded by the same source and followed by the same views, under the
same pipeline lock (a cron run and a Dagster run of one pipeline never overlap). Where to load is dlt's
configuration: DuckDB file `braze_cdi.duckdb` by default, or e.g. DESTINATION__DUCKDB__CREDENTIALS, or
BRAZE_CDI_DESTINATION=postgres with DESTINATION__POSTGRES__CREDENTIALS (see docs/warehouses.md).
A run where some integrations failed loads the others, then fails the step so Dagster alerts. Each run stops
reading after `time_budget` (25 minutes, within the 30-minute schedule), loads what it read and succeeds: a
first backfill longer than that continues on the next runs (docs/operate.md, Backfills).
"""

import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from braze_cdi_source import braze_cdi_source, create_views
from braze_cdi_source.job import make_pipeline, pipeline_lock, views_supported
from braze_cdi_source.settings import EXTRACTION_ERRORS_TABLE

# make_pipeline: a DuckDB file resolves against the folder Dagster runs from, not where it first ran.
PIPELINE = make_pipeline(
    os.environ.get("BRAZE_CDI_PIPELINE_NAME", "braze_cdi"),
    os.environ.get("BRAZE_CDI_DESTINATION", "duckdb"),
    os.environ.get("BRAZE_CDI_DATASET_NAME", "braze_cdi_data"),
)

# The source lists one resource per integration, discovered from Braze when it is called. Dagster needs
# the assets when it loads this file, without calling Braze: describe them with a stand-in integration
# id (no request is made when ids are given) and map every job_sync_status_<id> resource to one asset.
SPEC_SOURCE = braze_cdi_source(
    api_key="not-used-to-define-assets", base_url="https://rest.iad-01.braze.com", integration_ids=["any"]
)


class BrazeCdiTranslator(DagsterDltTranslator):
    """One asset per table (`braze_cdi/<table>`), whichever integration's resource loaded it."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(key=dg.AssetKey(["braze_cdi", str(data.resource.table_name)]), deps=[])


class BrazeCdiConfig(dg.ConfigurableResource):
    """The workspace to read: its REST API key and endpoint (optionally how far back to start), and how long
    one run may read."""

    api_key: str
    base_url: str
    start_date: str | None = None
    time_budget: str = "25m"


@dlt_assets(
    dlt_source=SPEC_SOURCE,
    dlt_pipeline=PIPELINE,
    name="braze_cdi",
    group_name="braze_cdi",
    dagster_dlt_translator=BrazeCdiTranslator(),
)
def braze_cdi_assets(
    context: AssetExecutionContext, dlt: DagsterDltResource, braze: BrazeCdiConfig
) -> Iterator[Any]:
    source = braze_cdi_source(
        api_key=braze.api_key, base_url=braze.base_url, start_date=braze.start_date, time_budget=braze.time_budget
    )
    with pipeline_lock(PIPELINE):
        yield from dlt.run(context=context, dlt_source=source, dagster_dlt_translator=BrazeCdiTranslator())
        if views_supported(PIPELINE):
            context.log.info("views: %s", ", ".join(create_views(PIPELINE)))
    trace = PIPELINE.last_trace
    failed = trace.last_normalize_info.row_counts.get(EXTRACTION_ERRORS_TABLE, 0) if trace else 0
    if failed:
        raise dg.Failure(
            f"{failed} integration(s) could not be read; the others loaded. See the extraction_errors table.",
            allow_retries=True,
        )


braze_cdi_job = dg.define_asset_job(
    "braze_cdi_job",
    selection=dg.AssetSelection.assets(braze_cdi_assets),
    tags={"dagster/max_concurrent_runs": 1},
)

braze_cdi_schedule = dg.ScheduleDefinition(
    name="braze_cdi_schedule", job=braze_cdi_job, cron_schedule="*/30 * * * *", execution_timezone="UTC"
)

defs = dg.Definitions(
    assets=[braze_cdi_assets],
    jobs=[braze_cdi_job],
    schedules=[braze_cdi_schedule],
    resources={
        "dlt": DagsterDltResource(),
        "braze": BrazeCdiConfig(api_key=dg.EnvVar("BRAZE_API_KEY"), base_url=dg.EnvVar("BRAZE_BASE_URL")),
    },
)
