"""Two pipelines in one process at once (a notebook, Dagster materialising two workspaces): each run's summary
counts its own requests, rows and 429s, never the other's."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

import dlt
import duckdb
import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.job import RunContext, RunSummary, run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import RESET_WAIT, SHORT_WINDOWS, waits_after_429

pytestmark = pytest.mark.slow  # two pipelines in two threads


def test_two_pipelines_in_two_threads_each_count_only_their_own_simulator(tmp_path):
    # Different shapes and different injected 429s, so a count that leaked from one run into the other shows.
    sims = [
        BrazeSimulator((3, 25, 40, 12), seed=1, rate_limits=SHORT_WINDOWS, latency=0.01),
        BrazeSimulator((60, 0, 7), seed=2, rate_limits=SHORT_WINDOWS, latency=0.01),
    ]
    throttled_pages = (1, 2)
    barrier = threading.Barrier(2)
    summaries: dict[int, RunSummary] = {}
    spans: dict[int, tuple[float, float]] = {}
    errors: list[BaseException] = []

    def run(index: int, sim: BrazeSimulator) -> None:
        try:
            pipeline = dlt.pipeline(
                pipeline_name=f"concurrent_{index}",
                destination=dlt.destinations.duckdb(str(tmp_path / f"run{index}.duckdb")),
                dataset_name="braze_cdi_data",
                pipelines_dir=str(tmp_path / f"pipelines{index}"),
            )
            # The CLI's way (the caller makes the run's context and hands it to both) and a library user's way
            # (the job makes it and hands it to the function that makes the source), one each.
            context = RunContext() if index == 0 else None
            made = partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url)
            source = made(run_context=context) if context is not None else made
            barrier.wait(30)
            started = time.monotonic()
            summaries[index] = run_pipeline(pipeline, source, context=context)
            spans[index] = (started, time.monotonic())
        except BaseException as error:  # surfaced by the main thread below
            errors.append(error)

    for sim, pages in zip(sims, throttled_pages, strict=True):
        sim.start()
        sim.inject("429", endpoint="job_sync_status", times=pages)
    try:
        threads = [threading.Thread(target=run, args=(i, sim)) for i, sim in enumerate(sims)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(240)
        assert not errors, errors
        assert not any(thread.is_alive() for thread in threads)
        assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values()), "the runs did not overlap"

        for index, (sim, pages) in enumerate(zip(sims, throttled_pages, strict=True)):
            summary = summaries[index]
            assert summary.ok
            assert summary.requests == len(sim.requests)
            assert summary.throttled_429 == sim.throttled == pages
            # each run waited out its 429s to the reset they gave
            assert all(gap >= RESET_WAIT for gap in waits_after_429(sim)), waits_after_429(sim)
            expected = {i: len(sim.truth(i)) for i in sim.integration_ids}
            assert summary.rows_per_integration == expected
            assert _rows_per_integration(tmp_path / f"run{index}.duckdb") == {
                i: n for i, n in expected.items() if n
            }
    finally:
        for sim in sims:
            sim.stop()


def _rows_per_integration(path: Any) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select integration_id, count(*) from braze_cdi_data.job_sync_status group by 1"
        ).fetchall()
    return dict(rows)
