"""Figure 1, request economy: Braze requests per run for braze-cdi, dlt's generic rest_api source, and a naive
full re-read, against the theoretical minimum. Each implementation gets its own simulator with the same seed
and the same changes between runs, so they see identical data.

    python -m benchmarks.economy [--sync-counts 0,7,10,11,137,300] [--k 25] --json

Runs, in order: first load; an empty incremental run; a run after `k` new syncs in one integration; a run
after a sync seen `running` finished and `k` more syncs started after it. Counted: job_sync_status requests
(the 100/min budget); the list requests are reported apart (braze-cdi lists integrations once per run to
discover them; the rest_api and naive jobs have their ids written into the config).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from braze_cdi_source.simulator import BrazeSimulator

from .measure import emit, workdir

UNLIMITED = {"list": (10**9, 60.0), "job_sync_status": (10**9, 60.0)}
SCENARIOS = ("first_load", "empty_incremental", "k_new_syncs", "running_finished")


def pages(n: int) -> int:
    return max(1, math.ceil(n / 10))


def braze_cdi_runner(sim: BrazeSimulator, folder: str) -> Callable[[], None]:
    import dlt

    from braze_cdi_source import braze_cdi_source

    pipeline = dlt.pipeline("economy_braze_cdi", destination=dlt.destinations.duckdb(
        os.path.join(folder, "braze_cdi.duckdb")), dataset_name="data", pipelines_dir=os.path.join(folder, "p1"))

    def run() -> None:
        pipeline.run(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))

    return run


def rest_api_runner(sim: BrazeSimulator, folder: str) -> Callable[[], None]:
    """dlt's generic REST source configured as a user would for this endpoint: one resource per integration,
    the Link-header paginator, `incremental` on `sync_start_time` with default row order (ascending), merge
    on `sync_start_time`. Without `row_order="desc"` dlt cannot stop paging early on newest-first data; with
    it, paging stops but a sync first loaded as `running` is never re-read (its start time is behind the
    cursor), so a typical user leaves the default."""
    import dlt
    from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
    from dlt.sources.rest_api import rest_api_source

    pipeline = dlt.pipeline("economy_rest_api", destination=dlt.destinations.duckdb(
        os.path.join(folder, "rest_api.duckdb")), dataset_name="data", pipelines_dir=os.path.join(folder, "p2"))
    ids = sim.integration_ids

    def run() -> None:
        source = rest_api_source({
            "client": {
                "base_url": sim.base_url + "/",
                "auth": {"type": "bearer", "token": sim.api_key},
                "paginator": HeaderLinkPaginator(),
            },
            "resource_defaults": {
                "write_disposition": "merge",
                "primary_key": "sync_start_time",
                "endpoint": {"data_selector": "results"},
            },
            "resources": [
                {
                    "name": f"job_sync_status_{integration_id}",
                    "endpoint": {
                        "path": f"cdi/integrations/{integration_id}/job_sync_status",
                        "incremental": {"cursor_path": "sync_start_time", "initial_value": "2000-01-01T00:00:00Z"},
                    },
                }
                for integration_id in ids
            ],
        })
        pipeline.run(source)

    return run


def naive_runner(sim: BrazeSimulator, folder: str) -> Callable[[], None]:
    """Re-read every page of every integration on every run (what a script without state does)."""
    import requests

    from .baseline import pages as follow

    def run() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {sim.api_key}"
        for integration_id in sim.integration_ids:
            for _ in follow(session, f"{sim.base_url}/cdi/integrations/{integration_id}/job_sync_status"):
                pass

    return run


RUNNERS = {"braze_cdi": braze_cdi_runner, "rest_api": rest_api_runner, "naive_full_reread": naive_runner}


def measure(name: str, sync_counts: Sequence[int], k: int, seed: int) -> dict[str, Any]:
    """Requests per scenario for one implementation, and the theoretical minimum for the same data."""
    result: dict[str, Any] = {}
    minimum: dict[str, int] = {}
    with BrazeSimulator(sync_counts, seed=seed, rate_limits=UNLIMITED) as sim:
        sim.finish_running()  # start from settled history; scenario 4 adds a running sync itself
        ids = sim.integration_ids
        target = max(ids, key=lambda i: len(sim.truth(i)))
        folder = workdir()
        run = RUNNERS[name](sim, folder)

        def counted(scenario: str, floor: int) -> None:
            sim.reset_log()
            run()
            result[scenario] = {"job_sync_status": sim.count("job_sync_status"), "list": sim.count("list")}
            minimum[scenario] = floor

        counted("first_load", sum(pages(len(sim.truth(i))) for i in ids))
        counted("empty_incremental", len(ids))
        sim.add_syncs(target, k)
        # the k new syncs, plus one already loaded to know where the new ones end
        counted("k_new_syncs", len(ids) - 1 + math.ceil((k + 1) / 10))
        sim.start_sync(target)
        run()  # loads the sync while it runs
        sim.finish_running(target)
        sim.add_syncs(target, k)
        # read back through the k newer syncs to the one that finished
        counted("running_finished", len(ids) - 1 + math.ceil((k + 1) / 10))
        if name != "naive_full_reread":
            result["correct"] = _matches_truth(name, sim, folder)
    return {"requests": result, "minimum": minimum}


def _matches_truth(name: str, sim: BrazeSimulator, folder: str) -> bool:
    """Whether the loaded (start time, status) pairs equal the simulator's truth for every integration."""
    import duckdb

    from braze_cdi_source.timestamps import parse_instant

    database = os.path.join(folder, f"{'braze_cdi' if name == 'braze_cdi' else 'rest_api'}.duckdb")
    con = duckdb.connect(database, read_only=True)
    ok = True
    for integration_id in sim.integration_ids:
        truth = {(parse_instant(t["sync_start_time"]), t["job_status"]) for t in sim.truth(integration_id)}
        if name == "braze_cdi":
            rows = con.execute(
                "SELECT sync_start_time, job_status FROM data.job_sync_status WHERE integration_id = ?",
                [integration_id],
            ).fetchall()
        else:
            table = f"job_sync_status_{integration_id}".replace("-", "_")
            try:
                rows = con.execute(f'SELECT sync_start_time, job_status FROM data."{table}"').fetchall()
            except duckdb.Error:
                rows = []
        loaded = {(parse_instant(start), status) for start, status in rows}
        ok = ok and loaded == truth
    con.close()
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.economy")
    parser.add_argument("--sync-counts", default="0,7,10,11,137,300")
    parser.add_argument("--k", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    counts = [int(c) for c in args.sync_counts.split(",") if c]
    result: dict[str, Any] = {"sync_counts": counts, "k": args.k, "scenarios": list(SCENARIOS)}
    for name in RUNNERS:
        measured = measure(name, counts, args.k, args.seed)
        result[name] = measured["requests"]
        result["minimum"] = measured["minimum"]
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
