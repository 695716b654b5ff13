"""Run statistics and progress: what a backfill is doing now, and what a run did.

A first backfill can take many minutes at Braze's rate limit (about 1,000 syncs a minute per
workspace). `RunStats` counts requests, 429s, pages and rows per integration as the client and the
source see them (dlt's own per-resource metrics merge parallel resources, so they cannot tell
integrations apart). `ProgressCollector` is a dlt progress collector that shows those figures live
on a terminal, or as a plain log line every few seconds when output is not a terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from dlt.common.runtime.collector import Collector
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

logger = logging.getLogger("braze_cdi")


@dataclass
class IntegrationStats:
    """One integration's share of a run."""

    requests: int = 0
    throttled_429: int = 0
    pages: int = 0
    rows: int = 0
    done: bool = False
    failed: bool = False


class RunStats:
    """Thread-safe counters of one run, per integration (`None` is the integration list)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.integrations: dict[str | None, IntegrationStats] = {}

    def _of(self, integration_id: str | None) -> IntegrationStats:
        stats = self.integrations.get(integration_id)
        if stats is None:
            stats = self.integrations[integration_id] = IntegrationStats()
        return stats

    def expect(self, integration_ids: list[str]) -> None:
        with self._lock:
            for integration_id in integration_ids:
                self._of(integration_id)

    def attempt(self, integration_id: str | None, status: int) -> None:
        """Every HTTP answer, retries included."""
        with self._lock:
            stats = self._of(integration_id)
            stats.requests += 1
            if status == 429:
                stats.throttled_429 += 1

    def page(self, integration_id: str | None) -> None:
        with self._lock:
            self._of(integration_id).pages += 1

    def rows(self, integration_id: str, count: int) -> None:
        with self._lock:
            self._of(integration_id).rows += count

    def finish(self, integration_id: str, failed: bool = False) -> None:
        with self._lock:
            stats = self._of(integration_id)
            stats.done, stats.failed = True, failed

    def snapshot(self) -> dict[str, Any]:
        """Totals and an ETA from the integrations finished so far (unknown until one has finished)."""
        with self._lock:
            jobs = {k: v for k, v in self.integrations.items() if k is not None}
            done = sum(1 for s in jobs.values() if s.done)
            elapsed = time.monotonic() - self.started
            eta = elapsed / done * (len(jobs) - done) if done else None
            return {
                "integrations": len(jobs),
                "integrations_done": done,
                "integrations_failed": sum(1 for s in jobs.values() if s.failed),
                "requests": sum(s.requests for s in self.integrations.values()),
                "throttled_429": sum(s.throttled_429 for s in self.integrations.values()),
                "pages": sum(s.pages for s in self.integrations.values()),
                "rows": sum(s.rows for s in jobs.values()),
                "elapsed_seconds": round(elapsed, 1),
                "eta_seconds": None if eta is None else round(eta, 1),
            }

    def per_integration(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: asdict(v) for k, v in self.integrations.items() if k is not None}


_current = RunStats()
_current_lock = threading.Lock()


def start_run() -> RunStats:
    """Fresh counters for the run about to start (the source and the client report into them)."""
    global _current
    with _current_lock:
        _current = RunStats()
        return _current


def current() -> RunStats:
    """The counters of the run in progress (or of the last one)."""
    return _current


class ProgressCollector(Collector):
    """dlt progress collector: a live bar on a terminal, a log line every `log_period` s otherwise."""

    def __init__(self, live: bool, log_period: float = 10.0, console: Console | None = None) -> None:
        self.live = live
        self.log_period = log_period
        self.console = console or Console(stderr=True)
        self.step = ""
        self._last_log = 0.0
        self._progress: Progress | None = None
        self._task: Any = None

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        self.refresh()

    def refresh(self, force: bool = False) -> None:
        """Show the current figures (throttled to the log period when not live)."""
        figures = current().snapshot()
        if self._progress is not None:
            self._progress.update(
                self._task,
                total=max(figures["integrations"], 1),
                completed=figures["integrations_done"],
                description=self._describe(figures),
            )
            return
        now = time.monotonic()
        if force or now - self._last_log >= self.log_period:
            self._last_log = now
            logger.info(f"{self.step}: {self._describe(figures)}", extra={"fields": {"progress": figures}})

    def _describe(self, figures: dict[str, Any]) -> str:
        eta = figures["eta_seconds"]
        return (
            f"{figures['integrations_done']}/{figures['integrations']} integrations, {figures['pages']} pages, "
            f"{figures['rows']} rows, {figures['throttled_429']} x 429"
            + (f", ETA {eta:.0f} s" if eta and self.step == "extract" else "")
        )

    def _start(self, step: str) -> None:
        self.step = step.split()[0].lower() if step else ""
        if self.live and self.step == "extract":
            self._progress = Progress(
                TextColumn("[bold]braze-cdi {task.fields[step]}"),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._progress.add_task("starting", total=None, step=self.step)
            self._progress.start()
        self._last_log = time.monotonic()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elif self.step:
            self.refresh(force=True)  # one line per finished step when not live
