"""One integration's saved state (its dlt resource state): the incremental cursor and the backfill's stretches.

dlt's `Incremental` keeps one high-water mark and drops rows at the boundary by primary key, so a sync first
loaded `running` would never be updated, and Braze has no "updated since" filter. So the state keeps the newest
start time loaded *and* the start times of syncs still open, and a run reads back to the older of the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import BrazeCdiError
from ..timestamps import parse_instant, to_iso
from .backfill import History, Stretch


class StateUnreadableError(BrazeCdiError):
    """An integration's saved state holds a value this version cannot read: that integration fails, not the run."""


@dataclass
class SyncCursor:
    """What the previous runs of one integration left behind, and what this run has seen so far."""

    last_start: datetime | None = None
    open_starts: list[datetime] = field(default_factory=list)
    start_date: datetime | None = None
    max_running: timedelta = timedelta(hours=24)
    future_tolerance: timedelta = timedelta(hours=1)
    # this run
    newest_seen: datetime | None = None
    open_seen: list[datetime] = field(default_factory=list)
    future_seen: list[datetime] = field(default_factory=list)  # loaded, but they never move the cursor

    @classmethod
    def from_state(
        cls,
        state: dict,
        start_date: datetime | None,
        max_running: timedelta,
        future_tolerance: timedelta = timedelta(hours=1),
    ) -> SyncCursor:
        """Read the resource state written by `to_state` (missing keys mean a first run)."""
        open_starts = [parse_instant(v) for v in state.get("open_sync_start_times", [])]
        return cls(
            last_start=parse_instant(state.get("last_sync_start_time")),
            open_starts=[v for v in open_starts if v is not None],
            start_date=start_date,
            max_running=max_running,
            future_tolerance=future_tolerance,
        )

    def boundary(self, now: datetime) -> datetime | None:
        """The oldest start time this run must read (inclusive: the merge replaces rows read again); None: all."""
        if self.last_start is not None and self._future(self.last_start, now):
            self.last_start = None  # a cursor an earlier version let a future-dated sync freeze: read again
        candidates = [self.last_start] if self.last_start is not None else []
        candidates += [s for s in self.open_starts if now - s <= self.max_running]
        bound = min(candidates) if candidates else None
        if self.start_date is not None and (bound is None or bound < self.start_date):
            bound = self.start_date
        return bound

    def kind_of(self, start: datetime, job_status: object) -> str:
        """"new" (after everything loaded before), "updated" (loaded running, finished since) or "reread"."""
        if self.last_start is None or start > self.last_start:
            return "new"
        if start in self.open_starts and job_status != "running":
            return "updated"
        return "reread"

    def see(self, start: datetime, job_status: object, now: datetime) -> None:
        """Record a row this run loaded (a future-dated one is loaded but moves nothing)."""
        if self._future(start, now):
            self.future_seen.append(start)
            return
        if self.newest_seen is None or start > self.newest_seen:
            self.newest_seen = start
        if job_status == "running" and now - start <= self.max_running:
            self.open_seen.append(start)

    def _future(self, start: datetime, now: datetime) -> bool:
        return start > now + self.future_tolerance

    def to_state(self) -> dict:
        """State after a run that read everything back to the boundary (not after a failed one)."""
        last = self.last_start
        if self.newest_seen is not None and (last is None or self.newest_seen > last):
            last = self.newest_seen
        return {
            "last_sync_start_time": to_iso(last) if last is not None else None,
            "open_sync_start_times": sorted({to_iso(s) for s in self.open_seen}),
        }


@dataclass
class IntegrationState:
    """The cursor and the backfill's stretches (`History`) of one integration; `save` is the one place the
    resource state changes, at the end of a slice that did not fail."""

    integration_id: str
    cursor: SyncCursor
    history: History

    @classmethod
    def load(
        cls,
        state: dict[str, Any],
        integration_id: str,
        start_date: datetime | None,
        max_running: timedelta,
        future_tolerance: timedelta,
    ) -> IntegrationState:
        try:
            if not isinstance(state.get("open_sync_start_times", []), list):
                raise TypeError("open_sync_start_times is not a list")
            cursor = SyncCursor.from_state(state, start_date, max_running, future_tolerance)
            history = History.from_state(state)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as error:
            raise StateUnreadableError(
                f"integration {integration_id}: its saved state cannot be read ({type(error).__name__}: "
                f"{str(error)[:200]}); run `braze-cdi reset --integration-id {integration_id}` to read its history "
                "again (loaded rows stay and are merged). The other integrations went on."
            ) from error
        return cls(integration_id, cursor, history)

    def begin(self, now: datetime, top_read: bool) -> Stretch | None:
        """Plan the stretches of this slice; in a run's first look, the newest pages go first (returned)."""
        if not top_read:
            return None
        if self.cursor.last_start is None:  # nothing loaded yet: the whole history is one stretch from the top
            self.history.stretches = [Stretch()]
        else:
            self.history.stretches.insert(0, Stretch(until=self.cursor.boundary(now)))
        return self.history.stretches[0]

    def save(self, state: dict[str, Any], top: Stretch | None) -> None:
        """Write what this slice learned (`top`: the stretch of the newest pages this slice began with)."""
        stretches = self.history.stretches
        top_finished = top is not None and not any(s is top for s in stretches)
        if top is not None and not top_finished and top.until is not None and top.cursor is None:
            # a look at the newest pages that never started (budget spent): the next run's covers it
            stretches[:] = [s for s in stretches if s is not top]
        open_before = state.get("open_sync_start_times", [])
        state.update(self.cursor.to_state())
        if not top_finished:  # the syncs still open that this slice did not read past stay open
            state["open_sync_start_times"] = sorted(set(open_before) | set(state["open_sync_start_times"]))
        state["backfill"] = self.history.to_state()
