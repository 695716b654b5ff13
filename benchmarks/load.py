"""One full load in this process, by braze-cdi or by the hand-written baseline; prints wall, CPU, peak RSS.

    python -m benchmarks.load --impl braze_cdi|baseline --base-url URL --api-key KEY [--workers N] --json

Used for figures 3 (overhead), 4 (latency) and 5 (memory); the simulator runs in another process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

from .measure import emit, peak_rss_mb, timed, workdir


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
    summary = run_pipeline(pipeline, partial(braze_cdi_source, api_key=api_key, base_url=base_url, parallel=parallel))
    if not summary.ok:
        raise SystemExit(f"{summary.failures} integrations failed")
    return summary.rows_per_table.get("job_sync_status", 0)


def run_bare(base_url: str, api_key: str, folder: str) -> int:
    """The path a library user takes (the README's snippet, dagster-dlt): a plain `dlt.pipeline` and a bare
    `pipeline.run(braze_cdi_source(...))`, no job around it (no lock, tuning, slices or views)."""
    import dlt

    from braze_cdi_source import braze_cdi_source

    pipeline = dlt.pipeline("bare", destination=dlt.destinations.duckdb(os.path.join(folder, "bench.duckdb")),
                            dataset_name="bench_data", pipelines_dir=os.path.join(folder, "pipelines"))
    pipeline.run(braze_cdi_source(api_key=api_key, base_url=base_url))
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name("job_sync_status")
        return int(client.execute_sql(f"SELECT COUNT(*) FROM {name}")[0][0])


def run_rest_api(base_url: str, api_key: str, folder: str) -> int:
    """dlt's generic `rest_api` source configured as a user would for this API (as in `economy.py`): one
    resource per integration (ids from one list request), each with its own `incremental` on
    `sync_start_time`, all into one table `job_sync_status` with the integration id added by a map step, the
    Link-header paginator, merge on `integration_id, sync_start_time`; dlt's defaults otherwise (its file
    format, normalize, workers). A single dependent resource on the list would share one incremental cursor
    among all integrations: measured, it loaded 47 of 100,000 syncs."""
    import dlt
    import requests
    from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
    from dlt.sources.rest_api import rest_api_source

    from .baseline import pages

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    ids = [item["integration_id"] for page in pages(session, f"{base_url}/cdi/integrations") for item in page]

    def with_id(integration_id: str) -> Any:
        return lambda row: {**row, "integration_id": integration_id}

    pipeline = dlt.pipeline("rest_api", destination=dlt.destinations.duckdb(os.path.join(folder, "rest_api.duckdb")),
                            dataset_name="rest_data", pipelines_dir=os.path.join(folder, "pipelines"))
    source = rest_api_source({
        "client": {
            "base_url": base_url + "/",
            "auth": {"type": "bearer", "token": api_key},
            "paginator": HeaderLinkPaginator(),
        },
        "resource_defaults": {
            "write_disposition": "merge",
            "primary_key": ["integration_id", "sync_start_time"],
            "table_name": "job_sync_status",
            "endpoint": {"data_selector": "results"},
        },
        "resources": [
            {
                "name": f"job_sync_status_{integration_id}",
                "endpoint": {
                    "path": f"cdi/integrations/{integration_id}/job_sync_status",
                    "incremental": {"cursor_path": "sync_start_time", "initial_value": "2000-01-01T00:00:00Z"},
                },
                "processing_steps": [{"map": with_id(integration_id)}],
            }
            for integration_id in ids
        ],
    })
    pipeline.run(source)
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name("job_sync_status")
        return int(client.execute_sql(f"SELECT COUNT(*) FROM {name}")[0][0])


def _count_requests() -> list[int]:
    """Count every HTTP request this process sends (all three jobs send through requests' HTTPAdapter)."""
    from requests.adapters import HTTPAdapter

    sent = [0]
    send = HTTPAdapter.send

    def counted(self: HTTPAdapter, *args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        return send(self, *args, **kwargs)

    HTTPAdapter.send = counted  # type: ignore[method-assign]
    return sent


TABLES = {
    "baseline": ("baseline.duckdb", "main.job_sync_status"),
    "braze_cdi": ("bench.duckdb", "bench_data.job_sync_status"),
    "braze_cdi_sequential": ("bench.duckdb", "bench_data.job_sync_status"),
    "bare": ("bench.duckdb", "bench_data.job_sync_status"),
    "rest_api": ("rest_api.duckdb", "rest_data.job_sync_status"),
}
COLUMNS = ("job_status", "sync_start_time", "sync_finish_time", "last_timestamp_synced", "rows_synced",
           "rows_failed_with_errors")


def compare_with_truth(impl: str, folder: str, truth_file: str) -> dict[str, Any]:
    """Whether the loaded table equals the simulator's truth (every sync once, every field's value), and the
    types the columns got."""
    import duckdb

    from braze_cdi_source.timestamps import parse_instant

    timestamps = {"sync_start_time", "sync_finish_time", "last_timestamp_synced"}

    def value(name: str, raw: Any) -> Any:
        return parse_instant(raw) if raw is not None and name in timestamps else raw

    with open(truth_file) as handle:
        truth = json.load(handle)
    expected = sorted(
        (integration_id, *(value(c, sync.get(c)) for c in COLUMNS))
        for integration_id, syncs in truth.items() for sync in syncs
    )
    database, table = TABLES[impl]
    con = duckdb.connect(os.path.join(folder, database), read_only=True)
    schema, name = table.split(".")
    types = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, name]).fetchall())
    key = "integration_id" if "integration_id" in types else "_integrations_integration_id"
    rows = con.execute(f"SELECT {key}, {', '.join(COLUMNS)} FROM {table}").fetchall()
    con.close()
    loaded = sorted((r[0], *(value(c, v) for c, v in zip(COLUMNS, r[1:], strict=True))) for r in rows)
    return {"equals_truth": loaded == expected, "rows_expected": len(expected),
            "types": {c: types.get(c) for c in (key, *COLUMNS)}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("--impl", choices=tuple(TABLES), required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--workers", type=int, default=None, help="dlt extract.workers")
    parser.add_argument("--profile", default=None, help="write a pyinstrument HTML profile here")
    parser.add_argument("--truth-file", default=None, help="compare the loaded table with this truth (serve.py)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    folder = workdir()
    result: dict = {"impl": args.impl}
    # Imports are part of what a user pays once per run, but not of the per-sync overhead: do them first, for
    # every job alike (the baseline's duckdb and requests; dlt's lazy imports: sqlalchemy for DuckDB
    # credentials, pyarrow for Arrow items).
    from . import baseline  # noqa: F401

    if args.impl != "baseline":
        import dlt  # noqa: F401
        import dlt.common.libs.sql_alchemy_compat  # noqa: F401
        import pyarrow.parquet  # noqa: F401
        from dlt.sources import rest_api  # noqa: F401

        import braze_cdi_source  # noqa: F401
    sent = _count_requests()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    with timed(result):
        if args.impl == "baseline":
            from . import baseline

            rows = baseline.run(args.base_url, args.api_key, os.path.join(folder, "baseline.duckdb"))
        elif args.impl == "bare":
            rows = run_bare(args.base_url, args.api_key, folder)
        elif args.impl == "rest_api":
            rows = run_rest_api(args.base_url, args.api_key, folder)
        else:
            rows = run_braze_cdi(
                args.base_url, args.api_key, folder, args.workers, parallel=args.impl == "braze_cdi"
            )
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w") as out:
            out.write(profiler.output_html())
        with open(args.profile + ".txt", "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=True))
    result["rows"] = rows
    result["requests"] = sent[0]
    result["peak_rss_mb"] = peak_rss_mb()  # before the check below, which is not part of the job
    if args.truth_file:
        result.update(compare_with_truth(args.impl, folder, args.truth_file))
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
