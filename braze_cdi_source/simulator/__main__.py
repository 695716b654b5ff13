"""`python -m braze_cdi_source.simulator`: serve the simulator on loopback until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .history import derive_sync_counts
from .responses import DEFAULT_RATE_LIMITS
from .server import BrazeSimulator
from .ticker import Ticker


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM; prints `base_url=…` and `api_key=…` first."""
    parser = argparse.ArgumentParser(
        prog="python -m braze_cdi_source.simulator", description="Serve an imitation of Braze's CDI API on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    counts = parser.add_mutually_exclusive_group()
    counts.add_argument("--integrations", type=int, metavar="N", help="N integrations, seeded sync counts (0-300)")
    counts.add_argument("--sync-counts", metavar="C,C,...", help="sync count of each integration, e.g. 0,7,137")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--api-key", default=None, help="default: a generated key")
    parser.add_argument("--rate-limit-window", type=float, metavar="S", help="rate limit window in seconds (Braze: 60)")
    parser.add_argument(
        "--tick", type=float, default=None, metavar="SECONDS",
        help="every SECONDS, finish running syncs and start new ones (watch incremental runs and health move)",
    )
    args = parser.parse_args(argv)
    if args.tick is not None and args.tick <= 0:
        parser.error("--tick takes a positive number of seconds")

    if args.integrations is not None:
        sync_counts: Sequence[int] = derive_sync_counts(args.integrations, args.seed)
    elif args.sync_counts is not None:
        try:
            sync_counts = [int(c) for c in args.sync_counts.split(",") if c.strip()]
        except ValueError:
            parser.error("--sync-counts takes integers separated by commas")
    else:
        sync_counts = (0, 7, 10, 11, 137)
    rate_limits = None
    if args.rate_limit_window is not None:
        rate_limits = {kind: (limit, args.rate_limit_window) for kind, (limit, _) in DEFAULT_RATE_LIMITS.items()}

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    simulator = BrazeSimulator(
        sync_counts, seed=args.seed, api_key=args.api_key, host=args.host, port=args.port, rate_limits=rate_limits
    )
    with simulator:
        print(f"base_url={simulator.base_url}", flush=True)
        print(f"api_key={simulator.api_key}", flush=True)
        ticker = Ticker(simulator, seed=args.seed) if args.tick else None
        if ticker is not None:
            print(f"tick={args.tick:g}s", flush=True)
        while not stop.wait(args.tick or 0.5):
            if ticker is not None:
                ticker.tick()
    return 0


if __name__ == "__main__":
    sys.exit(main())
