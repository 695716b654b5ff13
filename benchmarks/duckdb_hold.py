"""CPU of an incremental run with the DuckDB file kept open while loading, against opened per connection.

    python -m benchmarks.duckdb_hold [--runs 8]

One process, one simulator (the five page-boundary integrations), one DuckDB file: after two warm-up runs,
`run_pipeline` runs alternately as shipped (job/duckdb_hold.py keeps one connection open during each load and
across the views and the run log) and with that hold switched off (dlt opens the file for each client it
makes). Prints the median CPU seconds of each and their ratio, and how many times the database was opened
afresh in one run of each (an open while no other connection of the process had it open).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.job import duckdb_hold
from braze_cdi_source.job.run import make_pipeline, run_pipeline
from braze_cdi_source.simulator import BrazeSimulator

UNLIMITED = {"list": (10**9, 60.0), "job_sync_status": (10**9, 60.0)}


@contextmanager
def hold_switched_off() -> Iterator[None]:
    """`run_pipeline` as it was before the hold: no pool, so nothing is kept open."""
    pool = duckdb_hold._pool
    duckdb_hold._pool = lambda pipeline: None  # type: ignore[assignment]
    try:
        yield
    finally:
        duckdb_hold._pool = pool  # type: ignore[assignment]


@contextmanager
def counting_fresh_opens() -> Iterator[dict[str, int]]:
    """Count dlt's DuckDB opens that found no other connection of this process open (a real open of the file)."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbConnectionPool

    counts = {"open": 0, "fresh": 0}
    borrow, close = DuckDbConnectionPool.borrow_conn, DuckDbConnectionPool._close_conn

    def counted_borrow(self: Any, *args: Any, **kwargs: Any) -> Any:
        opening = self._conn is None
        connection = borrow(self, *args, **kwargs)
        if opening:
            counts["fresh"] += counts["open"] == 0
            counts["open"] += 1
        return connection

    def counted_close(self: Any) -> None:
        if self._conn is not None:
            counts["open"] -= 1
        close(self)

    DuckDbConnectionPool.borrow_conn, DuckDbConnectionPool._close_conn = counted_borrow, counted_close
    try:
        yield counts
    finally:
        DuckDbConnectionPool.borrow_conn, DuckDbConnectionPool._close_conn = borrow, close


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.duckdb_hold")
    parser.add_argument("--runs", type=int, default=8, help="runs of each kind, alternating")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.chdir(tempfile.mkdtemp(prefix="braze_cdi_bench_"))
    os.environ["DLT_DATA_DIR"] = os.path.join(os.getcwd(), "dlt")
    cpu: dict[str, list[float]] = {"kept open": [], "opened per connection": []}
    with BrazeSimulator(rate_limits=UNLIMITED) as sim:
        def run() -> float:
            started = time.process_time()
            run_pipeline(make_pipeline(), braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))
            return time.process_time() - started

        run(), run()  # first load and first incremental run: files, schemas and caches settle
        for _ in range(args.runs):
            cpu["kept open"].append(run())
            with hold_switched_off():
                cpu["opened per connection"].append(run())
        with counting_fresh_opens() as kept:
            run()
        with hold_switched_off(), counting_fresh_opens() as plain:
            run()
    kept_cpu, plain_cpu = (statistics.median(cpu[k]) for k in ("kept open", "opened per connection"))
    print(f"incremental run CPU, median of {args.runs}: kept open {kept_cpu:.3f} s, opened per connection "
          f"{plain_cpu:.3f} s, ratio {kept_cpu / plain_cpu:.2f}")
    print(f"fresh opens of the DuckDB file in one run: kept open {kept['fresh']}, opened per connection "
          f"{plain['fresh']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
