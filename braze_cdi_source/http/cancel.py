"""Stopping a run quickly: one process-wide flag that every wait and every open request obeys.

Ctrl-C reaches only the main thread; dlt's workers may sleep in a rate-limit wait or block on a socket.
"""

from __future__ import annotations

import threading

_STOP = threading.Event()


class RunInterrupted(Exception):  # noqa: N818 - a plain name reads better in tracebacks
    """The run was asked to stop (Ctrl-C / SIGTERM): not a `BrazeCdiError`, it ends the run."""


def request_stop() -> None:
    """Wake every wait and end every open request of this process."""
    _STOP.set()


def reset() -> None:
    """Forget a stop request (tests; a long-lived process starting a new run)."""
    _STOP.clear()


def sleep(seconds: float) -> None:
    """`time.sleep` that ends at once, raising `RunInterrupted`, when a stop is requested."""
    _STOP.wait(max(0.0, seconds))
    check()


def check() -> None:
    if _STOP.is_set():
        raise RunInterrupted("the run was interrupted")
