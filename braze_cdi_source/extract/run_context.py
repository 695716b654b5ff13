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
    """One run's counters, start and backfill plan: the job makes it and hands it to the source, which sets
    `backfill`; a source given none makes its own (a bare `pipeline.run`)."""

    stats: RunStats = field(default_factory=RunStats)
    started: float = field(default_factory=time.monotonic)
    backfill: Backfill | None = None
    cursors: dict[str, dict[datetime | None, set[str]]] = field(default_factory=dict)

    def cursors_read(self, integration_id: str, until: datetime | None) -> set[str]:
        """The cursors one stretch of an integration's history requested in this run, across slices (loops and
        `max_pages` count the whole run)."""
        return self.cursors.setdefault(integration_id, {}).setdefault(until, set())  # atomic: threads share it

    def first_look(self, integration_id: str) -> None:
        """The integration's first slice of a run (every extract of a source run bare, without the job)."""
        self.cursors.pop(integration_id, None)
