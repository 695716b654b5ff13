"""The braze_cdi source against the simulator over real HTTP, loading real DuckDB files."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS
from tests.tables import count_rows, loaded_syncs, table_exists, truth_syncs


def run(pipeline, sim: BrazeSimulator, **kwargs):
    source = braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, **kwargs)
    info = pipeline.run(source)
    assert not info.has_failed_jobs
    return info


def job_requests(sim: BrazeSimulator) -> dict[str, int]:
    return {i: sim.count("job_sync_status", integration_id=i) for i in sim.integration_ids}


def test_full_load_equals_truth_at_page_boundaries(sim, make_pipeline):
    pipeline = make_pipeline()
    run(pipeline, sim)

    assert loaded_syncs(pipeline) == truth_syncs(sim)
    counts = [len(sim.truth(i)) for i in sim.integration_ids]
    assert counts == [0, 7, 10, 11, 137]
    # one request per page, and one for an integration with no syncs
    assert list(job_requests(sim).values()) == [max(1, math.ceil(n / 10)) for n in counts]
    assert sim.count("list") == 1  # discovery; the integrations resource reuses the list


def column_types(pipeline, table: str) -> dict[str, str]:
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s",
            pipeline.dataset_name,
            table,
        )
    return dict(rows)


@pytest.mark.parametrize("counts", [(0, 7, 10, 11, 137), (0,)], ids=["mixed", "only-nulls"])
def test_every_documented_column_is_typed_even_while_braze_sends_null(make_pipeline, counts):
    """(0,): one integration that never synced, so Braze sends its last_* fields and warehouse_type as null."""
    with BrazeSimulator(counts, rate_limits=FAST_LIMITS) as sim:
        pipeline = make_pipeline()
        run(pipeline, sim)
        with pipeline.sql_client() as client:
            ids = client.execute_sql(f"SELECT integration_id FROM {client.make_qualified_table_name('integrations')}")
        assert sorted(i for (i,) in ids) == sorted(sim.integration_ids)
    types = column_types(pipeline, "integrations")
    for column in ("last_updated_at", "last_job_start_time", "next_scheduled_run"):
        assert types[column] == "TIMESTAMP WITH TIME ZONE"
    for column in ("integration_id", "app_group_id", "integration_name", "integration_type", "integration_status",
                   "contact_emails", "warehouse_type", "last_job_status"):
        assert types[column] == "VARCHAR"
    sync_types = column_types(pipeline, "job_sync_status")
    for column in ("sync_start_time", "sync_finish_time", "last_timestamp_synced"):
        assert sync_types[column] == "TIMESTAMP WITH TIME ZONE"
    assert sync_types["integration_id"] == sync_types["job_status"] == "VARCHAR"
    assert sync_types["rows_synced"] == sync_types["rows_failed_with_errors"] == "BIGINT"


def test_second_run_adds_nothing_with_one_request_per_integration(sim, make_pipeline):
    pipeline = make_pipeline()
    run(pipeline, sim)
    before = loaded_syncs(pipeline)
    sim.reset_log()

    run(pipeline, sim)

    assert loaded_syncs(pipeline) == before == truth_syncs(sim)
    assert list(job_requests(sim).values()) == [1] * len(sim.integration_ids)


NEW_SYNCS = (1, 9, 10, 11, 25)
"""k new syncs, each in its own integration of 137 syncs: one page and a part, at and around a page's end."""


def test_k_new_syncs_cost_at_most_ceil_k_over_10_plus_one(make_pipeline):
    with BrazeSimulator((0, 7, 10, 11) + (137,) * len(NEW_SYNCS), rate_limits=FAST_LIMITS) as sim:
        pipeline = make_pipeline()
        run(pipeline, sim)
        sim.finish_running()  # the new syncs come after the running one
        targets = dict(zip(sim.integration_ids[4:], NEW_SYNCS, strict=True))
        for target, k in targets.items():
            sim.add_syncs(target, k)
        sim.reset_log()

        run(pipeline, sim)

        assert loaded_syncs(pipeline) == truth_syncs(sim)
        for target, k in targets.items():
            assert sim.count("job_sync_status", integration_id=target) <= math.ceil(k / 10) + 1, k


def test_running_sync_is_updated_in_place_however_long_it_ran(make_pipeline):
    with BrazeSimulator((3, 40), rate_limits=FAST_LIMITS) as sim:
        for integration_id in sim.integration_ids:
            sim.finish_running(integration_id)
            sim.start_sync(integration_id)
        pipeline = make_pipeline()
        run(pipeline, sim)
        loaded = loaded_syncs(pipeline)
        assert sum(1 for row in loaded if row[1] == "running") == 2

        # It finishes, and 25 more syncs run before the next extraction: the next run must read back
        # three pages to reach it, not stop at the newest start time it had.
        sim.finish_running(status="partial")
        sim.add_syncs(sim.integration_ids[1], 25)
        run(pipeline, sim)

        assert loaded_syncs(pipeline) == truth_syncs(sim)
        assert not [row for row in loaded_syncs(pipeline) if row[1] == "running"]
        assert count_rows(pipeline, "job_sync_status") == 3 + 1 + 40 + 1 + 25

        # Once nothing is open any more, a run is back to one request per integration.
        sim.reset_log()
        run(pipeline, sim)
        assert list(job_requests(sim).values()) == [1, 1]


def test_running_sync_older_than_the_maximum_is_given_up(make_pipeline):
    with BrazeSimulator((30,), rate_limits=FAST_LIMITS) as sim:
        integration_id = sim.integration_ids[0]
        sim.finish_running(integration_id)
        sim.start_sync(integration_id)
        pipeline = make_pipeline()
        run(pipeline, sim, max_running_hours=0)  # give up on open syncs at once
        sim.add_syncs(integration_id, 25)
        sim.reset_log()

        run(pipeline, sim, max_running_hours=0)

        # Only the new pages up to the last start time were read; the old running row stays as it was.
        assert sim.count("job_sync_status") == 3
        statuses = [row[1] for row in loaded_syncs(pipeline)]
        assert statuses.count("running") == 1


def test_timestamps_in_every_format_are_instants(make_pipeline):
    with BrazeSimulator((60,), rate_limits=FAST_LIMITS, timestamp_style="mixed") as sim:
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)
        served = _served_start_times(sim, sim.integration_ids[0])
        assert any(t.endswith("Z") and "." not in t for t in served)
        assert any(t.endswith("+00:00") for t in served)
        assert any("." in t for t in served)


def _served_start_times(sim: BrazeSimulator, integration_id: str) -> list[str]:
    """The raw sync_start_time strings Braze (the simulator) sends, following the Link header."""
    import requests

    url = f"{sim.base_url}/cdi/integrations/{integration_id}/job_sync_status"
    served: list[str] = []
    while url:
        response = requests.get(url, headers={"Authorization": f"Bearer {sim.api_key}"}, timeout=10)
        served += [item["sync_start_time"] for item in response.json()["results"]]
        nxt = response.links.get("next", {}).get("url")
        url = requests.compat.urljoin(url, nxt) if nxt else None
    return served


def test_fractional_newer_sync_is_not_mistaken_for_older(make_pipeline):
    """As text, '10:00:00.500Z' < '10:00:00Z'; as instants it is newer and must be loaded."""
    with BrazeSimulator((12,), rate_limits=FAST_LIMITS, timestamp_style="z") as sim:
        integration_id = sim.integration_ids[0]
        sim.finish_running()
        pipeline = make_pipeline()
        run(pipeline, sim)
        newest = sim.truth(integration_id)[0]
        later = newest["sync_finish_time"] + timedelta(milliseconds=500)
        sim.add_syncs(integration_id, 1)
        # Rewrite the new sync so its start is half a second after the previous newest start's finish,
        # rendered with fractional seconds against whole-second neighbours.
        sim.set_job_status_raw(
            integration_id,
            0,
            {
                "job_status": "success",
                "sync_start_time": later.strftime("%Y-%m-%dT%H:%M:%S.500Z"),
                "sync_finish_time": (later + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "last_timestamp_synced": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "rows_synced": 5,
                "rows_failed_with_errors": 0,
            },
        )
        run(pipeline, sim)
        starts = [row[2] for row in loaded_syncs(pipeline)]
        assert later.replace(microsecond=500_000) in starts
        assert len(starts) == 13


def test_start_date_bounds_the_first_backfill(make_pipeline):
    with BrazeSimulator((137,), rate_limits=FAST_LIMITS) as sim:
        integration_id = sim.integration_ids[0]
        history = sim.truth(integration_id)
        cut = history[24]["sync_start_time"]  # the 25th newest sync
        pipeline = make_pipeline()

        run(pipeline, sim, start_date=cut.isoformat())

        loaded = loaded_syncs(pipeline)
        assert [row[2] for row in loaded] == sorted(s["sync_start_time"] for s in history[:25])
        assert sim.count("job_sync_status") == 3  # pages 1-3 hold the 25 syncs; no further paging


def test_explicit_integration_ids_versus_discovery(sim, make_pipeline):
    chosen = [sim.integration_ids[1], sim.integration_ids[3]]
    pipeline = make_pipeline()

    run(pipeline, sim, integration_ids=chosen)

    assert loaded_syncs(pipeline) == truth_syncs(sim, chosen)
    assert set(job_requests(sim)) >= set(chosen)
    assert {i for i, n in job_requests(sim).items() if n} == set(chosen)
    with pipeline.sql_client() as client:
        ids = client.execute_sql(f"SELECT integration_id FROM {client.make_qualified_table_name('integrations')}")
    assert sorted(i for (i,) in ids) == sorted(chosen)
    resources = set(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url).resources)
    assert resources == {"integrations"} | {f"job_sync_status_{i}" for i in sim.integration_ids}


def test_next_link_to_another_port_is_refused_and_that_port_gets_nothing(make_pipeline):
    with (
        BrazeSimulator((3,), rate_limits=FAST_LIMITS) as bystander,
        BrazeSimulator((5, 25), rate_limits=FAST_LIMITS, next_link_origin=bystander.base_url) as sim,
    ):
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert bystander.requests == []
        # the integration without a next link loaded; the other has its first page and an error row
        loaded = loaded_syncs(pipeline)
        assert [r for r in loaded if r[0] == sim.integration_ids[0]] == truth_syncs(sim, [sim.integration_ids[0]])
        assert len([r for r in loaded if r[0] == sim.integration_ids[1]]) == 10
        assert table_exists(pipeline, "extraction_errors")
        with pipeline.sql_client() as client:
            rows = client.execute_sql(
                f"SELECT integration_id, message FROM {client.make_qualified_table_name('extraction_errors')}"
            )
        assert rows[0][0] == sim.integration_ids[1]
        assert "refusing to send the API key" in rows[0][1]
        assert sim.api_key not in rows[0][1]


@pytest.mark.parametrize("style", ["absolute", "malformed"])
def test_absolute_and_malformed_links_page_through(make_pipeline, style):
    options = {"absolute_links": True} if style == "absolute" else {"malformed_links": True}
    with BrazeSimulator((37,), rate_limits=FAST_LIMITS, **options) as sim:
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)
        assert sim.count(status=404) == 0


def test_unknown_status_and_new_fields_are_kept(make_pipeline):
    with BrazeSimulator((4,), rate_limits=FAST_LIMITS) as sim:
        integration_id = sim.integration_ids[0]
        sim.finish_running()
        sim.add_syncs(integration_id, 1)
        sim.set_job_status_raw(
            integration_id,
            0,
            {
                "job_status": "limit_exceeded",
                "sync_start_time": "2099-01-01T00:00:00Z",
                "sync_finish_time": None,
                "last_timestamp_synced": None,
                "rows_synced": 0,
                "rows_failed_with_errors": 0,
                "warehouse_query_id": "q-123",
            },
        )
        pipeline = make_pipeline()
        run(pipeline, sim)
        with pipeline.sql_client() as client:
            rows = client.execute_sql(
                f"SELECT job_status, warehouse_query_id FROM {client.make_qualified_table_name('job_sync_status')} "
                "WHERE warehouse_query_id IS NOT NULL"
            )
        assert rows == [("limit_exceeded", "q-123")]
        assert count_rows(pipeline, "job_sync_status") == 5


def test_oldest_first_pages_are_all_read_and_nothing_is_missed(make_pipeline):
    """Braze documents no order: served oldest first, early stop would miss the new syncs on the last page."""
    with BrazeSimulator((37, 4), rate_limits=FAST_LIMITS, oldest_first=True) as sim:
        sim.finish_running()
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)

        sim.add_syncs(sim.integration_ids[0], 3)
        sim.start_sync(sim.integration_ids[1])
        sim.reset_log()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)
        assert sim.count("job_sync_status", integration_id=sim.integration_ids[0]) == 4  # every page: 40 syncs

        sim.finish_running()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)
