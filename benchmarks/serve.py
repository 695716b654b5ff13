"""The simulator in its own process, so that a measured case's CPU and RSS are the client's alone.

    python -m benchmarks.serve --sync-counts 1000,1000 [--limit 100 --window 3] [--latency 0.1]

Prints `base_url=…` and `api_key=…`, then serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from braze_cdi_source.simulator import BrazeSimulator

NO_LIMIT = 10**9


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve")
    parser.add_argument("--sync-counts", required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limit", type=int, default=NO_LIMIT)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--truth-file", default=None, help="write every integration's syncs here (JSON)")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.sync_counts.split(",") if c]
    limits = {"list": (args.limit, args.window), "job_sync_status": (args.limit, args.window)}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with BrazeSimulator(counts, seed=args.seed, rate_limits=limits, latency=args.latency) as sim:
        if args.truth_file:
            sim.finish_running()  # settled history: what a full load must equal
            truth = {i: sim.truth(i) for i in sim.integration_ids}
            with open(args.truth_file, "w") as out:
                json.dump(truth, out, default=str)
        print(f"base_url={sim.base_url}", flush=True)
        print(f"api_key={sim.api_key}", flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
        print(f"requests={len(sim.requests)}", flush=True)
    return 0


@contextmanager
def served(sync_counts: Sequence[int], **options: float | str) -> Iterator[tuple[str, str]]:
    """Start `python -m benchmarks.serve` and yield (base_url, api_key); stop it on exit."""
    argv = [sys.executable, "-m", "benchmarks.serve", "--sync-counts", ",".join(map(str, sync_counts))]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=_root(), env=_env()
    )
    try:
        values = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))  # type: ignore[union-attr]
        yield values["base_url"], values["api_key"]
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = _root() + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    return env


if __name__ == "__main__":
    sys.exit(main())
