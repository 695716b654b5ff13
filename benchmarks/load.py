"""One full load in this process, by braze-cdi or by the hand-written baseline; prints wall, CPU, peak RSS.

    python -m benchmarks.load --impl braze_cdi|baseline --base-url URL --api-key KEY [--workers N] --json

Used for figures 3 (overhead), 4 (latency) and 5 (memory); the simulator runs in another process.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .measure import emit, timed, workdir


def run_braze_cdi(base_url: str, api_key: str, folder: str, workers: int | None, parallel: bool) -> int:
    """The path `braze-cdi run` takes: `make_pipeline` + `run_pipeline` (lock, destination tuning, views)."""
    import dlt

    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.job import make_pipeline, run_pipeline

    if workers:
        os.environ["EXTRACT__WORKERS"] = str(workers)
    pipeline = make_pipeline(
        "bench",
        dlt.destinations.duckdb(os.path.join(folder, "bench.duckdb")),
        "bench_data",
        pipelines_dir=os.path.join(folder, "pipelines"),
    )
    summary = run_pipeline(pipeline, braze_cdi_source(api_key=api_key, base_url=base_url, parallel=parallel))
    if not summary.ok:
        raise SystemExit(f"{summary.failures} integrations failed")
    return summary.rows_per_table.get("job_sync_status", 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("--impl", choices=("braze_cdi", "braze_cdi_sequential", "baseline"), required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--workers", type=int, default=None, help="dlt extract.workers")
    parser.add_argument("--profile", default=None, help="write a pyinstrument HTML profile here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    folder = workdir()
    result: dict = {"impl": args.impl}
    # Imports are part of what a user pays once per run, but not of the per-sync overhead: do them first.
    if args.impl != "baseline":
        import dlt  # noqa: F401

        import braze_cdi_source  # noqa: F401
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    with timed(result):
        if args.impl == "baseline":
            from . import baseline

            rows = baseline.run(args.base_url, args.api_key, os.path.join(folder, "baseline.duckdb"))
        else:
            rows = run_braze_cdi(
                args.base_url, args.api_key, folder, args.workers, parallel=args.impl == "braze_cdi"
            )
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w") as out:
            out.write(profiler.output_html())
        with open(args.profile + ".txt", "w") as out:
            out.write(profiler.output_text(unicode=False, color=False))
    result["rows"] = rows
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
