"""Several Braze workspaces (one API key each) into one dataset: one pipeline per workspace.

Two simulators are two workspaces (their own key, app_group_id and integrations). Both pipelines write
the same tables of the same dataset; their incremental state is kept apart by pipeline name, locally
and in the destination's `_dlt_pipeline_state`, from which a wiped machine restores it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import dlt
import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.job import run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS
from tests.tables import count_rows, loaded_syncs, truth_syncs

pytestmark = pytest.mark.slow  # two workspaces into one dataset, a fresh machine


@pytest.fixture
def workspaces() -> Iterator[dict[str, BrazeSimulator]]:
    with (
        BrazeSimulator((0, 7, 23), seed=1, rate_limits=FAST_LIMITS) as emea,
        BrazeSimulator((12, 137), seed=2, rate_limits=FAST_LIMITS) as us,
    ):
        yield {"emea": emea, "us": us}


@pytest.fixture(params=["duckdb", "postgres"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "duckdb":
        return dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb"))
    return request.getfixturevalue("postgres_destination")


def workspace_pipeline(name: str, destination: Any, dataset: str, tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"braze_cdi_{name}",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def load(pipeline: dlt.Pipeline, sim: BrazeSimulator) -> None:
    summary = run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url))
    assert summary.ok


def all_truth(workspaces: dict[str, BrazeSimulator]) -> list[tuple]:
    return sorted((row for sim in workspaces.values() for row in truth_syncs(sim)), key=lambda r: (r[0], r[2]))


def test_two_workspaces_share_a_dataset_without_clashes_and_each_restores_its_own_state(
    workspaces, destination, unique_dataset, tmp_path
):
    """Two runs of each workspace into one dataset, then a third on a fresh machine (the state only in the
    warehouse): one history for both checks, instead of loading it again to test the restore."""
    pipelines = {name: workspace_pipeline(name, destination, unique_dataset, tmp_path) for name in workspaces}
    for name, sim in workspaces.items():
        load(pipelines[name], sim)
    any_pipeline = pipelines["emea"]
    assert loaded_syncs(any_pipeline) == all_truth(workspaces)

    # second run of each: new syncs in both, running ones finished; nothing new costs one request
    emea, us = workspaces["emea"], workspaces["us"]
    emea.add_syncs(emea.integration_ids[1], 5)
    us.add_syncs(us.integration_ids[0], 11)
    for sim in workspaces.values():
        sim.finish_running()
        sim.reset_log()
    for name, sim in workspaces.items():
        load(pipelines[name], sim)
    assert loaded_syncs(any_pipeline) == all_truth(workspaces)
    assert emea.count("job_sync_status", integration_id=emea.integration_ids[2]) == 1
    assert us.count("job_sync_status", integration_id=us.integration_ids[1]) == 1

    # one row per integration, each tagged with its workspace
    with any_pipeline.sql_client() as client:
        table = client.make_qualified_table_name("integrations")
        rows = client.execute_sql(f"SELECT app_group_id, integration_id FROM {table}")
        states = client.execute_sql(
            f"SELECT DISTINCT pipeline_name FROM {client.make_qualified_table_name('_dlt_pipeline_state')}"
        )
    items = [item for sim in workspaces.values() for item in sim.integrations_truth()]
    expected = {(item["app_group_id"], item["integration_id"]) for item in items}
    assert set(rows) == expected and len(rows) == len(expected)
    assert len({workspace for workspace, _ in rows}) == 2
    assert {name for (name,) in states} == {"braze_cdi_emea", "braze_cdi_us"}
    # the views cover both workspaces
    assert count_rows(any_pipeline, "integration_health") == len(expected)
    assert count_rows(any_pipeline, "sync_runs") == len(all_truth(workspaces))

    # a fresh machine: the box running cron was replaced, the state is only in the warehouse
    shutil.rmtree(tmp_path / "pipelines")
    us.add_syncs(us.integration_ids[1], 3)
    for sim in workspaces.values():
        sim.finish_running()
        sim.reset_log()
    for name, sim in workspaces.items():
        load(workspace_pipeline(name, destination, unique_dataset, tmp_path), sim)

    # each pipeline got its own cursors back: no backfill, one request per integration with nothing new
    assert [emea.count("job_sync_status", integration_id=i) for i in emea.integration_ids] == [1, 1, 1]
    assert us.count("job_sync_status", integration_id=us.integration_ids[0]) == 1
    assert us.count("job_sync_status", integration_id=us.integration_ids[1]) == 1
    assert loaded_syncs(workspace_pipeline("us", destination, unique_dataset, tmp_path)) == all_truth(workspaces)
