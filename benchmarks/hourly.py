"""Figure 9, the hourly run with nothing new: many integrations, all loaded before, under Braze's real limits.

    python -m benchmarks.hourly [--integrations 300 --syncs 3 --limit 100 --window 60] --json

The first load runs without a limit (it is not what is measured); then the simulator gets Braze's windows
(one per endpoint, starting at the first request, integer `X-RateLimit-Reset`) and a fresh process's throttle
runs the hourly job. It needs one job_sync_status request per integration plus the list pages, and no client
can do it faster than the limit allows: the first window's `limit` requests at once, then `limit` per window,
so the floor is (ceil(requests / limit) - 1) windows. The same run with no limit is measured first: the job's
own time (listing, state, normalize, load), which comes on top; and an integer reset header costs up to a
second per window.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from braze_cdi_source.simulator import BrazeSimulator

from .measure import emit, timed, workdir

UNLIMITED = {"list": (10**9, 60.0), "job_sync_status": (10**9, 60.0)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hourly")
    parser.add_argument("--integrations", type=int, default=300)
    parser.add_argument("--syncs", type=int, default=3, help="syncs per integration")
    parser.add_argument("--limit", type=int, default=100, help="job_sync_status requests per window")
    parser.add_argument("--list-limit", type=int, default=50)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.http.throttle import Throttle
    from braze_cdi_source.simulator.responses import Window

    result: dict[str, Any] = {"integrations": args.integrations, "limit": args.limit, "window_s": args.window}
    with BrazeSimulator([args.syncs] * args.integrations, seed=13, rate_limits=UNLIMITED) as sim:
        sim.finish_running()  # nothing is left open: the hourly run has nothing to re-read
        folder = workdir()
        pipeline = dlt.pipeline("hourly", destination=dlt.destinations.duckdb(os.path.join(folder, "h.duckdb")),
                                dataset_name="data", pipelines_dir=os.path.join(folder, "p"))

        def source() -> Any:
            return braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url,
                                    job_status_requests_per_minute=args.limit,
                                    list_requests_per_minute=args.list_limit)

        pipeline.run(source())
        # the same run with nothing new and no limit: the job's own time (listing, state, normalize, load)
        unthrottled: dict[str, Any] = {}
        with timed(unthrottled):
            pipeline.run(source())
        result["unthrottled_wall_s"] = unthrottled["wall_s"]
        sim._windows["job_sync_status"] = Window(args.limit, args.window)
        sim._windows["list"] = Window(args.list_limit, args.window)
        Throttle.forget_all()  # a new process: nothing learned of the windows
        sim.reset_log()
        with timed(result):
            pipeline.run(source())
        result["requests"] = sim.count("job_sync_status")
        result["list_requests"] = sim.count("list")
        result["throttled_429"] = sim.count(status=429)
        ok = result["requests"] - sim.count("job_sync_status", status=429)
    result["minimum_requests"] = args.integrations
    result["list_pages"] = math.ceil(args.integrations / 10)
    result["floor_s"] = (math.ceil(ok / args.limit) - 1) * args.window
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
