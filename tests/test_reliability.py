"""Faults, rate limits and failure isolation, against the simulator over real HTTP."""

from __future__ import annotations

import time

import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS, RESET_WAIT, SHORT_WINDOWS, waits_after_429
from tests.tables import loaded_syncs, truth_syncs

QUICK_RETRIES = {"backoff_factor": 0.01, "max_retry_delay": 0.05, "request_timeout": 0.5}
"""A real retry budget with tiny waits, so a fault test takes a fraction of a second."""


def run(pipeline, sim: BrazeSimulator, **kwargs):
    source = braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, **{**QUICK_RETRIES, **kwargs})
    info = pipeline.run(source)
    assert not info.has_failed_jobs
    return info


def errors(pipeline) -> list[tuple]:
    with pipeline.sql_client() as client:
        tables = {t for (t,) in client.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", pipeline.dataset_name
        )}
        if "extraction_errors" not in tables:
            return []
        name = client.make_qualified_table_name("extraction_errors")
        return client.execute_sql(f"SELECT integration_id, resource, status, path, message FROM {name}")


RETRIED = ["500", "502", "503", "504", "429", "drop", "slow", "truncated", "non_json"]


FAST_LANE = {"500", "drop", "non_json"}
"""One fault of each kind (an error status, a dropped connection, a body that is not JSON) in the fast lane; the
others (429 and the slow body wait for real) in the full suite."""


# the middle page in the fast lane for FAST_LANE's faults; every fault on every page in the full suite
@pytest.mark.parametrize(
    ("kind", "page"),
    [
        pytest.param(kind, page, id=f"{kind}-{where}",
                     marks=pytest.mark.slow if where != "middle" or kind not in FAST_LANE else ())
        for kind in RETRIED
        for where, page in (("first", 0), ("middle", 6), ("last", 13))
    ],
)
def test_transient_fault_on_any_page_ends_equal_to_truth(make_pipeline, kind, page):
    with BrazeSimulator((137, 4), rate_limits=SHORT_WINDOWS) as sim:
        target = sim.integration_ids[0]
        sim.inject(kind, endpoint="job_sync_status", integration_id=target, page=page, times=2, seconds=1.5)
        pipeline = make_pipeline()

        run(pipeline, sim)

        assert loaded_syncs(pipeline) == truth_syncs(sim)
        assert errors(pipeline) == []
        assert sim.count("job_sync_status", integration_id=target) >= 14 + (0 if kind == "slow" else 2)
        if kind == "429":  # each 429 was waited out to its reset, not merely retried after a backoff
            assert sim.throttled == 2
            assert all(gap >= RESET_WAIT for gap in waits_after_429(sim)), waits_after_429(sim)


@pytest.mark.parametrize("kind", ["500", "drop", "truncated"])
def test_fault_on_the_integration_list_is_retried(make_pipeline, kind):
    with BrazeSimulator((3, 25), rate_limits=FAST_LIMITS) as sim:
        sim.inject(kind, endpoint="list", times=2)
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)


def test_exhausted_budget_names_integration_path_and_status_and_loses_nothing(make_pipeline):
    with BrazeSimulator((25, 12, 3), rate_limits=FAST_LIMITS) as sim:
        broken, healthy = sim.integration_ids[0], sim.integration_ids[1:]
        sim.inject("503", endpoint="job_sync_status", integration_id=broken, page=1, times=100)
        pipeline = make_pipeline()

        run(pipeline, sim, max_attempts=3)

        assert [r for r in loaded_syncs(pipeline) if r[0] in healthy] == truth_syncs(sim, healthy)
        # the first page of the broken one landed too
        assert len([r for r in loaded_syncs(pipeline) if r[0] == broken]) == 10
        [(integration_id, resource, status, path, message)] = errors(pipeline)
        assert integration_id == broken
        assert resource == f"job_sync_status_{broken}"
        assert status == 503
        assert path == f"/cdi/integrations/{broken}/job_sync_status"
        assert broken in message and "503" in message and path in message
        assert sim.api_key not in message
        assert sim.count("job_sync_status", integration_id=broken, status=503) == 3

        # Braze recovers: the next run re-reads the broken one from where its state was, and completes it.
        sim.clear_faults()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)


def test_dropped_connections_past_the_budget_are_named(make_pipeline):
    with BrazeSimulator((12,), rate_limits=FAST_LIMITS) as sim:
        target = sim.integration_ids[0]
        sim.inject("drop", endpoint="job_sync_status", page=0, times=100)
        pipeline = make_pipeline()
        run(pipeline, sim, max_attempts=2)
        [(integration_id, _, status, path, message)] = errors(pipeline)
        assert (integration_id, status) == (target, None)
        assert path == f"/cdi/integrations/{target}/job_sync_status"
        assert "ConnectionError" in message and "retry budget" in message


def test_invalid_integration_id_does_not_lose_the_others(make_pipeline):
    with BrazeSimulator((7, 11), rate_limits=FAST_LIMITS) as sim:
        bogus = "00000000-0000-0000-0000-000000000000"
        pipeline = make_pipeline()

        run(pipeline, sim, integration_ids=[*sim.integration_ids, bogus])

        assert loaded_syncs(pipeline) == truth_syncs(sim)
        [(integration_id, _, status, _, message)] = errors(pipeline)
        assert (integration_id, status) == (bogus, 400)
        assert "Invalid integration ID" in message and "check the integration id" in message


def test_access_denied_names_the_missing_permission(make_pipeline):
    with BrazeSimulator((7, 11), rate_limits=FAST_LIMITS, permissions=["cdi.integration_list"]) as sim:
        pipeline = make_pipeline()
        run(pipeline, sim)
        rows = errors(pipeline)
        assert len(rows) == 2
        assert all(r[2] == 403 and "cdi.integration_job_status" in r[4] for r in rows)
        # the integrations table still loaded
        with pipeline.sql_client() as client:
            n = client.execute_sql(f"SELECT COUNT(*) FROM {client.make_qualified_table_name('integrations')}")
        assert n[0][0] == 2


def test_wrong_shape_keeps_the_other_pages_and_reports(make_pipeline):
    with BrazeSimulator((35, 5), rate_limits=FAST_LIMITS) as sim:
        target = sim.integration_ids[0]
        sim.inject("wrong_shape", endpoint="job_sync_status", integration_id=target, page=2)
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert len([r for r in loaded_syncs(pipeline) if r[0] == target]) == 20
        [(integration_id, _, _, _, message)] = errors(pipeline)
        assert integration_id == target and "no `results` list" in message
        run(pipeline, sim)  # the fault is spent: the next run completes the history
        assert loaded_syncs(pipeline) == truth_syncs(sim)


def test_item_without_start_time_is_skipped_and_reported(make_pipeline):
    with BrazeSimulator((15,), rate_limits=FAST_LIMITS) as sim:
        target = sim.integration_ids[0]
        sim.set_job_status_raw(target, 3, {"job_status": "success", "rows_synced": 1})
        sim.set_job_status_raw(target, 4, {"job_status": "success", "sync_start_time": "yesterday"})
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert len(loaded_syncs(pipeline)) == 13
        [(_, _, _, _, message)] = errors(pipeline)
        assert "2 sync item(s) without a valid sync_start_time" in message


def test_fail_fast_raises_on_the_first_failure(make_pipeline):
    from dlt.pipeline.exceptions import PipelineStepFailed

    from braze_cdi_source.errors import BrazeApiError, root_cause

    with BrazeSimulator((7, 11), rate_limits=FAST_LIMITS) as sim:
        pipeline = make_pipeline()
        source = braze_cdi_source(
            api_key=sim.api_key, base_url=sim.base_url, integration_ids=["nope"], fail_fast=True, **QUICK_RETRIES
        )
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline.run(source)
        cause = root_cause(failed.value)
        assert isinstance(cause, BrazeApiError) and cause.status == 400


@pytest.mark.slow
def test_rate_limit_is_held_with_few_429s(make_pipeline):
    """A backfill of 28 pages against 10 requests a second: the throttle waits instead of hitting 429s."""
    limits = {"list": (5, 1.0), "job_sync_status": (10, 1.0)}
    with BrazeSimulator((137, 60, 45, 30), rate_limits=limits) as sim:
        pipeline = make_pipeline()
        started = time.monotonic()
        run(pipeline, sim)
        elapsed = time.monotonic() - started

        assert loaded_syncs(pipeline) == truth_syncs(sim)
        requests = sim.count("job_sync_status")
        print(f"rate-limited backfill: {requests} requests, {sim.throttled} x 429, {elapsed:.1f} s")
        assert sim.throttled <= 2
        assert requests - sim.count("job_sync_status", status=429) == 28


@pytest.mark.slow
def test_429_storm_waits_for_the_reset(make_pipeline):
    with BrazeSimulator((45, 8), rate_limits=SHORT_WINDOWS) as sim:
        sim.inject("429", endpoint="job_sync_status", times=3)
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert loaded_syncs(pipeline) == truth_syncs(sim)
        assert sim.throttled == 3
        # no request of an integration that got a 429 went out before the reset it was told (the simulator's
        # lower bound; the retry policy's own backoff here is at most 0.05 s)
        assert all(gap >= RESET_WAIT for gap in waits_after_429(sim)), waits_after_429(sim)


def test_the_key_passed_in_python_leaves_no_trace(tmp_path, make_pipeline, caplog, capsys):
    """The Python API, a failing integration included: the key is in no file, log, trace or exception text."""
    key = "sim-LEAKCANARY-python-41c7"
    with BrazeSimulator((12, 3), rate_limits=FAST_LIMITS, api_key=key) as sim:
        pipeline = make_pipeline()
        run(pipeline, sim, integration_ids=[*sim.integration_ids, "bogus"])
        from braze_cdi_source import create_views

        create_views(pipeline)
        trace_text = str(pipeline.last_trace) + repr(pipeline.state)
    captured = capsys.readouterr()
    assert errors(pipeline)  # the failure was recorded, message and all
    for text in (trace_text, caplog.text, captured.out, captured.err, *[str(r) for r in errors(pipeline)]):
        assert key not in text
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"


def test_an_unreadable_timestamp_outside_the_key_is_kept_not_dropped(make_pipeline):
    """Only sync_start_time must parse; another odd timestamp lands in dlt's variant column, row and all."""
    with BrazeSimulator((5,), rate_limits=FAST_LIMITS, timestamp_style="z") as sim:
        target = sim.integration_ids[0]
        sim.finish_running()
        served = sim.truth(target)[2]
        raw = {k: (v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else v) for k, v in served.items()}
        sim.set_job_status_raw(target, 2, {**raw, "sync_finish_time": "soon"})
        pipeline = make_pipeline()
        run(pipeline, sim)
        assert errors(pipeline) == []
        with pipeline.sql_client() as client:
            name = client.make_qualified_table_name("job_sync_status")
            count = client.execute_sql(f"SELECT COUNT(*) FROM {name}")[0][0]
            odd = client.execute_sql(f"SELECT sync_finish_time__v_text FROM {name} WHERE sync_finish_time IS NULL "
                                     "AND sync_finish_time__v_text IS NOT NULL")
    assert count == 5
    assert odd == [("soon",)]
