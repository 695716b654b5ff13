"""Backfills: pages re-read after an interruption, and runs to complete a backfill with a time budget.

    python -m benchmarks.backfill [--quick] [--json]

1. **Pages re-read after an interruption**: the real CLI (`braze-cdi run`) backfills a history against the
   simulator and is killed (SIGKILL) after `--kill-at` pages, then run again to the end. Pages re-read = pages
   served over both runs minus the pages of one uninterrupted run. Measured with the default checkpoints
   (`checkpoint_pages` 100) and with one commit per run (`checkpoint_pages` larger than the history: what
   every run did before checkpoints).
2. **Runs to complete a backfill with a budget**: Braze's limit scaled down in time (100 requests per
   `--window` seconds instead of 60), `braze-cdi run --time-budget` repeated until nothing is pending. Compared
   with the ideal: the history's pages over the pages the limit allows within one budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from braze_cdi_source.simulator import BrazeSimulator

from .serve import _env

CLI = str(Path(sys.executable).parent / "braze-cdi")


def _env_for(folder: Path, sim: BrazeSimulator) -> dict[str, str]:
    env = {k: v for k, v in _env().items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(
        DLT_DATA_DIR=str(folder / "dlt_data"),
        RUNTIME__DLTHUB_TELEMETRY="false",
        SOURCES__BRAZE_CDI__API_KEY=sim.api_key,
        SOURCES__BRAZE_CDI__BASE_URL=sim.base_url,
    )
    return env


def _pages(sim: BrazeSimulator) -> int:
    return sim.count("job_sync_status", status=200)


def _minimum(sim: BrazeSimulator) -> int:
    return sum(max(1, math.ceil(len(sim.truth(i)) / 10)) for i in sim.integration_ids)


def interruption(counts: list[int], kill_at: int, checkpoint_pages: int) -> dict[str, Any]:
    """Kill a backfill after `kill_at` pages, run again; pages served in all and the minimum."""
    fast = {"list": (10**9, 60.0), "job_sync_status": (10**9, 60.0)}
    with tempfile.TemporaryDirectory(prefix="braze_cdi_bench_") as tmp, BrazeSimulator(counts, rate_limits=fast) as sim:
        folder = Path(tmp)
        env = _env_for(folder, sim)
        args = [CLI, "run", "--checkpoint-pages", str(checkpoint_pages)]
        process = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while process.poll() is None and _pages(sim) < kill_at:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
        read_before_kill = _pages(sim)
        done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        total, minimum = _pages(sim), _minimum(sim)
    return {
        "checkpoint_pages": checkpoint_pages,
        "pages_before_kill": read_before_kill,
        "pages_total": total,
        "minimum": minimum,
        "re_read": total - minimum,
    }


def budgeted(counts: list[int], budget: float, limit: int, window: float) -> dict[str, Any]:
    """Repeat `braze-cdi run --time-budget` at a scaled-down limit until the backfill is complete."""
    limits = {"list": (limit, window), "job_sync_status": (limit, window)}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="braze_cdi_bench_") as tmp, BrazeSimulator(
        counts, rate_limits=limits, aligned_windows=True
    ) as sim:
        folder = Path(tmp)
        env = _env_for(folder, sim)
        for _ in range(50):
            before = _pages(sim)
            result = subprocess.run(
                [CLI, "--log-format", "json", "run", "--time-budget", f"{budget:g}s"],
                cwd=folder, env=env, capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(result.stderr[-2000:])
            summary = next(
                json.loads(line)["summary"]
                for line in reversed(result.stderr.splitlines())
                if line.startswith("{") and '"run finished"' in line
            )
            runs.append({
                "pages": _pages(sim) - before,
                "duration_s": summary["duration_seconds"],
                "pending": len(summary["backfill_pending"]),
                "estimated_minutes_left": summary.get("backfill_minutes_left"),
            })
            if not summary["backfill_pending"]:
                break
        minimum = _minimum(sim)
    per_budget = limit * budget / window
    return {
        "budget_s": budget,
        "limit": limit,
        "window_s": window,
        "history_pages": minimum,
        "runs": len(runs),
        "ideal_runs": math.ceil(minimum / per_budget),
        "longest_run_s": max(r["duration_s"] for r in runs),
        "per_run": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill")
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON line (for benchmarks.run)")
    args = parser.parse_args(argv)
    if args.quick:
        counts, kill_at, budget_counts, budget, window = [120, 80], 2, [100, 50], 12.0, 1.0
    else:
        counts, kill_at, budget_counts, budget, window = [3000, 2000, 1000], 400, [6000, 4000, 2000], 30.0, 6.0
    result = {
        "interruption": {
            "counts": counts,
            "kill_at": kill_at,
            "checkpoints": interruption(counts, kill_at, 100),
            "one_commit_per_run": interruption(counts, kill_at, 10**6),
        },
        "budget": budgeted(budget_counts, budget, 100, window),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    sys.exit(main())
