"""Bounds that hold per run, not per slice or per integration: a Link cycle longer than a checkpoint slice ends,
a workspace of thousands of integrations loads, and one integration's unreadable saved state costs that
integration only (issue 21, items 6, 8 and 13)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.job import reset_state, run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS
from tests.hostile_server import HostileServer, Reply, Seen, page_body, syncs
from tests.tables import loaded_syncs, truth_syncs

QUICK = {"request_timeout": 2.0, "max_attempts": 2, "backoff_factor": 0.01, "max_retry_delay": 0.05}
CYCLE = 12  # distinct cursors in the cycle: two and a half slices of five pages


def errors(pipeline: Any) -> list[tuple[str | None, str]]:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("extraction_errors")
        return [tuple(row) for row in client.execute_sql(f"SELECT integration_id, message FROM {table}")]


def test_a_link_cycle_longer_than_a_checkpoint_slice_is_still_a_loop(make_pipeline):
    """Each slice used to start loop detection and max_pages afresh, so a cycle of 30 cursors read 5 pages a slice
    for ever (until the time budget here). The cursors read are the run's: the cycle ends at its 13th page, the
    rows of the pages read load, and the normal integration is loaded in full."""

    def cycle(seen: Seen) -> Reply | None:
        if seen.path != "/cdi/integrations/cycle/job_sync_status":
            return None
        cursor = seen.query.get("cursor", [""])[0]
        index = int(cursor[1:]) if cursor else 0
        following = index % (CYCLE - 1) + 1  # "" -> c1 -> … -> c11 -> c1: c1 again after 12 pages
        link = f'</cdi/integrations/cycle/job_sync_status?cursor=c{following}>; rel="next"'
        return Reply(headers=[("Link", link)], body=page_body(syncs(CYCLE * 10)[index * 10 : index * 10 + 10]))

    normal = syncs(25)
    with HostileServer({"normal": normal, "cycle": []}, cycle) as server:
        pipeline = make_pipeline()
        source = partial(
            braze_cdi_source, api_key=server.api_key, base_url=server.base_url, checkpoint_pages=5,
            time_budget="90s", **QUICK,
        )
        summary = run_pipeline(pipeline, source, views=False)
        assert server.count("/cdi/integrations/cycle/") <= CYCLE + 1
        assert not summary.stopped_by_budget
        [(integration, message)] = errors(pipeline)
        assert integration == "cycle" and "loop" in message
        assert summary.rows_per_integration["normal"] == 25
        assert summary.rows_per_integration["cycle"] == CYCLE * 10


@pytest.mark.slow
def test_a_workspace_of_1200_integrations_loads(make_pipeline):
    """dlt's PipeIterator recursed once per exhausted resource: 1,000 integrations ending in a row raised a
    RecursionError (reported as "StopIteration:") on every run. 5,000 load too (benchmarks/RESULTS.md)."""
    counts = (1,) * 1_200
    with BrazeSimulator(counts, rate_limits={"list": (10**6, 60.0), "job_sync_status": (10**6, 60.0)}) as sim:
        pipeline = make_pipeline()
        summary = run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url))
        assert summary.ok and summary.failures == 0
        assert len(loaded_syncs(pipeline)) == len(counts)


@pytest.mark.slow  # three job runs with views
def test_one_unreadable_saved_state_costs_that_integration_and_says_how_to_reset_it(make_pipeline):
    with BrazeSimulator((12, 12, 12), rate_limits=FAST_LIMITS, seed=3) as sim:
        bad, *good = sim.integration_ids
        pipeline = make_pipeline()

        def run() -> Any:
            return run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url))

        assert run().ok
        with pipeline.managed_state() as state:
            resources = state["sources"][pipeline.default_schema_name]["resources"]
            resources[f"job_sync_status_{bad}"]["last_sync_start_time"] = "not an instant"
            resources[f"job_sync_status_{good[0]}"]["backfill"]["pages"] = {"not": "a number"}
        sim.finish_running()
        for integration in sim.integration_ids:
            sim.add_syncs(integration, 3)
        summary = run()
        assert summary.failures == 2
        messages = dict(errors(pipeline))
        for broken in (bad, good[0]):
            assert f"braze-cdi reset --integration-id {broken}" in messages[broken]
            assert broken in messages[broken]
        assert summary.rows_per_integration[good[1]] >= 3  # the other integration went on
        assert reset_state(pipeline, [bad, good[0]]) == [bad, good[0]]
        assert run().ok
        assert loaded_syncs(pipeline) == truth_syncs(sim)
