"""A run keeps its DuckDB file open while it loads (one open database, one checkpoint), and only then: while it
reads Braze, another process can open the file."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.analytics.health import duckdb_file
from braze_cdi_source.job import run_pipeline
from braze_cdi_source.job.duckdb_hold import DuckDBOpenDuringLoads, duckdb_kept_open
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS
from tests.tables import count_rows
from tests.test_cron import GatedSimulator

OPEN_ELSEWHERE = """
import sys, duckdb
with duckdb.connect(sys.argv[1]) as con:
    print(con.execute("SELECT count(*) FROM braze_cdi_data.job_sync_status").fetchone()[0])
"""


def open_in_another_process(path: Path) -> subprocess.CompletedProcess[str]:
    """Open the file read-write from another process, as an analyst or `braze-cdi health` would."""
    return subprocess.run(
        [sys.executable, "-c", OPEN_ELSEWHERE, str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_dlt_connections_share_the_kept_open_database_and_it_checkpoints_at_the_end(sim, make_pipeline) -> None:
    pipeline = make_pipeline()
    run_pipeline(pipeline, braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))
    path = duckdb_file(pipeline)
    assert path is not None and path.exists()
    wal = Path(f"{path}.wal")
    with duckdb_kept_open(pipeline):
        with pipeline.sql_client() as client:  # a connection of dlt's own, as each load step makes several
            client.execute_sql(f"CREATE TABLE {client.make_qualified_table_name('marker')} AS SELECT 1 AS x")
        # dlt closed its connection, but the database stayed open: its log is not yet checkpointed
        assert wal.exists()
    assert not wal.exists()  # the last connection closed: checkpointed into the file
    assert count_rows(pipeline, "marker") == 1


def test_the_file_is_free_while_the_run_reads_braze_and_after_it(make_pipeline) -> None:
    with BrazeSimulator((3, 25), rate_limits=FAST_LIMITS) as sim:
        pipeline = make_pipeline()
        first = run_pipeline(pipeline, braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))
        path = duckdb_file(pipeline)
        assert path is not None and first.ok

        gate = GatedSimulator(sim)  # this run's page requests wait until the gate opens
        sim.add_syncs(sim.integration_ids[0], 2)
        outcome: dict[str, Any] = {}

        def second_run() -> None:
            try:
                outcome["summary"] = run_pipeline(
                    pipeline, braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url)
                )
            except BaseException as error:  # noqa: BLE001 - reported by the assertions below
                outcome["error"] = error

        runner = threading.Thread(target=second_run)
        runner.start()
        try:
            deadline = time.monotonic() + 30
            while not gate.waiting and time.monotonic() < deadline:
                time.sleep(0.02)
            assert gate.waiting, "the second run never asked Braze for a page"
            during = open_in_another_process(path)  # the run is inside dlt's extract step, reading Braze
        finally:
            gate.open()
            runner.join(60)
        assert not runner.is_alive() and "error" not in outcome, outcome
        assert during.returncode == 0, during.stderr
        assert int(during.stdout) == 3 + 25  # what the first run loaded
        after = open_in_another_process(path)
        assert after.returncode == 0, after.stderr
        assert int(after.stdout) == 3 + 25 + 2
        assert outcome["summary"].ok
    assert not isinstance(pipeline.collector, DuckDBOpenDuringLoads)  # the run put its collector back
