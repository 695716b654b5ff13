"""What one run shares between the job and the source: one object, passed in, never fished back out of dlt."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..run_stats import RunStats

if TYPE_CHECKING:
    from .backfill import Backfill


@dataclass(eq=False)
class RunContext:
    """One run's counters, start and backfill plan.

    The caller (the CLI, `job.run_pipeline`) makes it and hands it to `braze_cdi_source(run_context=…)`;
    a source given none makes its own (a bare `pipeline.run`). The source sets `backfill` (how the run is
    sliced, the time budget, the cursors and pages each stretch of history read in this run); the job reads
    it to load slice after slice and the counters to summarise. Two runs in one process never share one.
    """

    stats: RunStats = field(default_factory=RunStats)
    started: float = field(default_factory=time.monotonic)
    backfill: Backfill | None = None
    cursors: dict[str, dict[datetime | None, set[str]]] = field(default_factory=dict)

    def cursors_read(self, integration_id: str, until: datetime | None) -> set[str]:
        """The Braze cursors one stretch of an integration's history requested in this run, across slices, so
        that a Link cycle longer than a slice is still a loop and `max_pages` counts the whole run."""
        return self.cursors.setdefault(integration_id, {}).setdefault(until, set())  # atomic: threads share it

    def first_look(self, integration_id: str) -> None:
        """The integration's first slice of a run (every extract of a source run bare, without the job)."""
        self.cursors.pop(integration_id, None)
