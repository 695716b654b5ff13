"""braze-cdi's run step by step (extract, normalize, load): wall, CPU, RSS after the step and peak RSS so far.

    python -m benchmarks.phases --base-url URL --api-key KEY --json

The source as a bare `pipeline.run` gets it (no setting: its Arrow tables choose the files), with dlt's three
steps called one by one so that the profile of figures 3 and 5 says where time and memory go.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from .measure import _cpu, emit, peak_rss_mb, workdir


def rss_mb() -> float:
    """This process's resident set now (VmRSS), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.phases")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.job import make_pipeline

    folder = workdir()
    pipeline = make_pipeline("phases", dlt.destinations.duckdb(os.path.join(folder, "phases.duckdb")), "phases_data",
                             pipelines_dir=os.path.join(folder, "pipelines"))
    source = braze_cdi_source(api_key=args.api_key, base_url=args.base_url)
    result: dict[str, Any] = {"start_rss_mb": rss_mb()}
    for step in ("extract", "normalize", "load"):
        wall, cpu = time.perf_counter(), _cpu()
        if step == "extract":
            pipeline.extract(source)
        elif step == "normalize":
            pipeline.normalize()
        else:
            pipeline.load()
        result[step] = {"wall_s": time.perf_counter() - wall, "cpu_s": _cpu() - cpu,
                        "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
