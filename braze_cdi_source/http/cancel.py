"""Stopping a run quickly: one process-wide flag that every wait and every open request obeys.

Ctrl-C reaches only the main thread, while dlt extracts in worker threads that may be asleep in a rate-limit
wait or blocked reading a socket. `request_stop()` (called by the CLI's signal handler) sets the flag and wakes
every wait; a socket read looks at it between short waits (transport.py), so the workers end within moments.
"""

from __future__ import annotations

import threading

_STOP = threading.Event()


class RunInterrupted(Exception):  # noqa: N818 - a plain name reads better in tracebacks
    """The run was asked to stop (Ctrl-C / SIGTERM). Deliberately not a `BrazeCdiError`: it is not an
    integration's failure to record, it ends the run."""


def request_stop() -> None:
    """Wake every wait and end every open request of this process."""
    _STOP.set()


def reset() -> None:
    """Forget a stop request (tests; a long-lived process starting a new run)."""
    _STOP.clear()


def sleep(seconds: float) -> None:
    """`time.sleep` that ends at once, raising `RunInterrupted`, when a stop is requested."""
    if _STOP.wait(max(0.0, seconds)) or _STOP.is_set():
        raise RunInterrupted("the run was interrupted")


def check() -> None:
    """Raise `RunInterrupted` if a stop was requested."""
    if _STOP.is_set():
        raise RunInterrupted("the run was interrupted")
