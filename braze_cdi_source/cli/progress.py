"""Progress of a run (a first backfill takes minutes at Braze's rate limit): a dlt collector showing its `RunStats`."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from dlt.common.runtime.collector import Collector
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from ..run_stats import RunStats

logger = logging.getLogger("braze_cdi")


_ENDPOINT_LABELS = {"job_sync_status": "job sync status", "list": "integration list"}


class ProgressCollector(Collector):
    """dlt progress collector: a live bar on a terminal, a log line every 10 s otherwise."""

    def __init__(
        self, stats: RunStats, live: bool, console: Console | None = None, budget_seconds: float | None = None
    ) -> None:
        self.stats, self.live, self.budget_seconds = stats, live, budget_seconds
        self.console = console or Console(stderr=True)
        self.step, self._last_log, self._last_counts = "", 0.0, ""
        self._progress: Progress | None = None
        self._task: Any = None
        self._waiting_until: dict[str, float] = {}
        stats.on_wait = self.waiting

    def update(self, *args: Any, force: bool = False, **kwargs: Any) -> None:
        """dlt's counter moved: show the run's own figures (dlt's counts are not what a person needs), as a log
        line at most every log period when not live."""
        figures = self.stats.snapshot()
        if self._progress is not None:
            done, total = figures["integrations_done"], max(figures["integrations"], 1)
            self._progress.update(self._task, total=total, completed=done, description=self._describe(figures))
            return
        now = time.monotonic()
        counts = str({k: v for k, v in figures.items() if k not in ("elapsed_seconds", "eta_seconds")})
        if (force or now - self._last_log >= 10.0) and counts != self._last_counts:
            self._last_log, self._last_counts = now, counts  # a step that changed no count is not told again
            logger.info(f"{self.step}: {self._describe(figures)}", extra={"fields": {"progress": figures}})

    def waiting(self, kind: str, seconds: float) -> None:
        """Say why the run is idle: live on a terminal, one log line per wait otherwise (called from any thread)."""
        if seconds < 1.0:  # pacing between requests: not worth a line
            return
        text = f"waiting {seconds:.0f} s for Braze's rate-limit window ({_ENDPOINT_LABELS.get(kind, kind)})"
        if self._progress is not None:
            self._progress.update(self._task, description=text)
            return
        now = time.monotonic()
        if now + seconds > self._waiting_until.get(kind, 0.0) + 1.0:  # a new wait, not the same one again
            self._waiting_until[kind] = now + seconds
            logger.info(text, extra={"fields": {"waiting": {"endpoint": kind, "seconds": round(seconds, 1)}}})

    def _describe(self, figures: dict[str, Any]) -> str:
        """Figures of the whole run (its slices included): elapsed time counts from the run's start."""
        eta = figures["eta_seconds"]
        if self.budget_seconds is not None:  # a budgeted backfill ends with its budget, whatever is left
            eta = min(eta or math.inf, max(0.0, self.budget_seconds - figures["elapsed_seconds"]))
        return (
            f"{figures['pages']} pages, {figures['rows']} rows, {figures['integrations_done']}/"
            f"{figures['integrations']} integrations done, {figures['throttled_429']} x 429, "
            f"{figures['elapsed_seconds']:.0f} s" + (f", ETA {eta:.0f} s" if eta and self.step == "extract" else "")
        )

    def _start(self, step: str) -> None:
        self.step = step.split()[0].lower() if step else ""
        if self.live and self.step == "extract":
            columns = (TextColumn("[bold]braze-cdi {task.fields[step]}"), BarColumn(), TextColumn("{task.description}"))
            self._progress = Progress(*columns, console=self.console, transient=True)
            self._task = self._progress.add_task("starting", total=None, step=self.step)
            self._progress.start()
        self._last_log = time.monotonic()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elif self.step:
            self.update(force=True)  # one line per finished step when not live
