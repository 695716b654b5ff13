"""Figure 2, speed at the rate limit: a backfill of several integrations against the simulator with Braze's
job_sync_status limit scaled down in time (default 100 requests per 3 s instead of per 60 s).

    python -m benchmarks.rate_limit [--integrations 10 --syncs 400 --limit 100 --window 3] --json

Achieved rate = successful job_sync_status requests in the complete windows / their duration, as a share
of limit/window. A window is the simulator's own (the first and the last are left out: the first may be
partial, the last ends when the data does); for a window that starts at its first request the duration runs
to the next window's first request, so time the client idles between windows counts against it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from braze_cdi_source.simulator import BrazeSimulator

from .measure import emit, timed, workdir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rate_limit")
    parser.add_argument("--integrations", type=int, default=10)
    parser.add_argument("--syncs", type=int, default=400, help="syncs per integration")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--aligned", type=int, default=1, help="1: windows end on multiples of --window")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    from braze_cdi_source import braze_cdi_source

    limits = {"list": (args.limit // 2, args.window), "job_sync_status": (args.limit, args.window)}
    hits: list[tuple[float, float, bool]] = []  # (when, the window's end, allowed)
    with BrazeSimulator(
        [args.syncs] * args.integrations, seed=11, rate_limits=limits, aligned_windows=args.aligned
    ) as sim:
        window = sim._windows["job_sync_status"]
        hit = window.hit

        def recording_hit(now: float) -> tuple[bool, int, int]:
            answer = hit(now)
            hits.append((now, window.end, answer[0]))
            return answer

        window.hit = recording_hit  # type: ignore[method-assign]
        folder = workdir()
        pipeline = dlt.pipeline("rate_limit", destination=dlt.destinations.duckdb(
            os.path.join(folder, "rate.duckdb")), dataset_name="data", pipelines_dir=os.path.join(folder, "p"))
        result: dict[str, Any] = {"limit": args.limit, "window_s": args.window,
                                  "integrations": args.integrations, "syncs_per_integration": args.syncs}
        with timed(result):
            pipeline.run(braze_cdi_source(
                api_key=sim.api_key, base_url=sim.base_url,
                job_status_requests_per_minute=args.limit, list_requests_per_minute=args.limit // 2,
            ))
        result["requests"] = sim.count("job_sync_status")
        result["throttled_429"] = sim.count("job_sync_status", status=429)
        result["started"] = time.time()
    result.update(_share(hits, args.limit, args.window))
    result.pop("started")
    emit(result)
    return 0


def _share(hits: list[tuple[float, float, bool]], limit: int, window_s: float) -> dict[str, Any]:
    windows: dict[float, list[tuple[float, bool]]] = {}
    for when, end, allowed in hits:
        windows.setdefault(end, []).append((when, allowed))
    ends = sorted(windows)
    spans = []
    for index, end in enumerate(ends[:-1]):
        start = end - window_s
        first_request = windows[end][0][0]
        if index == 0 and first_request > start + 1e-3:
            continue  # a partial first window (aligned windows)
        next_start = ends[index + 1] - window_s
        ok = sum(1 for _, allowed in windows[end] if allowed)
        spans.append((ok, next_start - start))
    if not spans:
        return {"share_of_limit": None, "complete_windows": 0}
    ok_total = sum(ok for ok, _ in spans)
    seconds = sum(duration for _, duration in spans)
    return {
        "share_of_limit": (ok_total / seconds) / (limit / window_s),
        "complete_windows": len(spans),
        "requests_per_window": [ok for ok, _ in spans],
    }


if __name__ == "__main__":
    sys.exit(main())
