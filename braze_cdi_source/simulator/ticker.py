"""The simulator moving on its own (`--tick SECONDS`): each tick, an active integration finishes its running sync
or starts one, so incremental runs, running syncs turning final and `braze-cdi health` can be watched."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import BrazeSimulator

FINISH_STATUSES = (("success", 0.8), ("partial", 0.1), ("error", 0.1))
START_PROBABILITY = 0.5
"""Chance that an idle integration starts a sync on a tick: the history grows, not in lockstep."""


class Ticker:
    """Advances a simulator's history one `tick` at a time."""

    def __init__(self, simulator: BrazeSimulator, seed: int = 42) -> None:
        self.simulator = simulator
        self._rng = random.Random(f"braze-sim-ticker:{seed}")

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """One step: finish running syncs, start new ones; returns how many of each."""
        now = now or datetime.now(timezone.utc)
        counts = {"finished": 0, "started": 0}
        for item in self.simulator.integrations_truth():
            if item.get("integration_status") != "active":
                continue  # a paused integration does not sync
            integration_id = item["integration_id"]
            newest = next(iter(self.simulator.truth(integration_id)), None)
            if isinstance(newest, dict) and newest.get("job_status") == "running":
                statuses, weights = zip(*FINISH_STATUSES, strict=True)
                status = self._rng.choices(statuses, weights)[0]
                counts["finished"] += self.simulator.finish_running(integration_id, status=status, until=now)
            elif self._rng.random() < START_PROBABILITY:
                self.simulator.start_sync(integration_id, at=now)
                counts["started"] += 1
        return counts
