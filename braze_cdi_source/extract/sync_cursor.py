"""Per-integration incremental state: how far back a run must read, and what it learned.

dlt's `Incremental` keeps one high-water mark and drops rows at the boundary by primary key, so a
sync first loaded while `running` would never be updated. Braze has no "updated since" filter either:
the only way to see a sync finish is to read back to it. So the state keeps the newest start time
loaded *and* the start times of syncs still open, and a run reads back to the older of the two
(bounded by `max_running_hours`). Results come newest first, so a run with nothing new costs one request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..timestamps import parse_instant, to_iso


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
    future_seen: list[datetime] = field(default_factory=list)
    """Syncs dated after now + `future_tolerance`: loaded, but they never move the cursor."""
    now: datetime | None = None

    @classmethod
    def from_state(
        cls,
        state: dict,
        start_date: datetime | None,
        max_running: timedelta,
        future_tolerance: timedelta = timedelta(hours=1),
    ) -> SyncCursor:
        """Read the resource state written by `to_state` (missing keys mean a first run)."""
        last = parse_instant(state.get("last_sync_start_time"))
        open_starts = [parse_instant(v) for v in state.get("open_sync_start_times", [])]
        return cls(
            last_start=last,
            open_starts=[v for v in open_starts if v is not None],
            start_date=start_date,
            max_running=max_running,
            future_tolerance=future_tolerance,
        )

    def boundary(self, now: datetime) -> datetime | None:
        """The oldest start time this run must read (inclusive); None reads everything.

        Rows at the boundary are read again on purpose: the merge replaces them, so nothing is lost
        at an instant shared by two pages or runs.
        """
        self.now = now
        if self.last_start is not None and self._future(self.last_start, now):
            self.last_start = None  # a cursor an earlier version let a future-dated sync freeze: read again
        candidates = [self.last_start] if self.last_start is not None else []
        candidates += [s for s in self.open_starts if now - s <= self.max_running]
        bound = min(candidates) if candidates else None
        if self.start_date is not None and (bound is None or bound < self.start_date):
            bound = self.start_date
        return bound

    def kind_of(self, start: datetime, job_status: object) -> str:
        """What a row read now is to the destination: "new" (after everything loaded before), "updated"
        (loaded while running, finished since) or "reread" (read again at the boundary, as it was)."""
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
