"""Ctrl-C and SIGTERM during a run: stop within seconds, in any phase, with exit code 130."""

from __future__ import annotations

import _thread
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..http import cancel

EXIT_INTERRUPTED = 130
"""128 + SIGINT, what shells expect from a program stopped by Ctrl-C."""


@contextmanager
def stop_on_signals(announce: Callable[[], None], grace: float = 4.0) -> Iterator[None]:
    """Ctrl-C / SIGTERM end the run within `grace` seconds, in any phase, with exit code 130.

    A thread of its own takes the signals (blocked elsewhere: seen even inside DuckDB), cancels every wait and
    request and interrupts the main thread; after `grace` s or a second signal, `announce()` and exit at once, which
    loses nothing, like a crash. Main thread only, before other threads start (they inherit the blocked signals).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals | {signal.SIGUSR2})
    done = threading.Event()

    def watch() -> None:
        received = signal.sigwait(signals | {signal.SIGUSR2})
        if received == signal.SIGUSR2 or done.is_set():
            return  # the run ended first
        cancel.request_stop()
        logging.getLogger("dlt").setLevel(logging.CRITICAL + 1)  # no thread-pool noise while stopping
        _thread.interrupt_main(signal.SIGINT)
        second = threading.Event()
        threading.Thread(target=lambda: (signal.sigwait(signals), second.set()), daemon=True).start()
        deadline = time.monotonic() + grace
        while not done.is_set() and not second.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not done.is_set():
            announce()
            os._exit(EXIT_INTERRUPTED)

    watcher = threading.Thread(target=watch, name="braze-cdi-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        if watcher.is_alive() and watcher.ident is not None:
            signal.pthread_kill(watcher.ident, signal.SIGUSR2)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
