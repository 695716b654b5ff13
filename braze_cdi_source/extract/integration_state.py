"""One integration's saved state (its dlt resource state): the incremental cursor (why not dlt's `Incremental`:
docs/ARCHITECTURE.md, "Incremental per integration") and the stretches of history still to read.

Stretches, not one cursor: a look at the newest pages cut short leaves a gap above the older backfill, read from
its own cursor. Braze's cursors are offsets, so a resumed read sees some rows again (merged) and never skips one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import BrazeCdiError
from ..timestamps import parse_instant, to_iso
from .backfill import BRAZE_HISTORY

MAX_GAPS = 20
"""Stretches kept per integration; beyond this the two oldest gaps are joined (re-reading between them)."""


class StateUnreadableError(BrazeCdiError):
    """An integration's saved state holds a value this version cannot read: that integration fails, not the run."""


@dataclass(eq=False)  # identity: two stretches with equal fields are still two
class Stretch:
    """A part of one integration's history still to read, newest first.

    `cursor`: of the next page (None: the newest). `until`: where it meets what is loaded (None: the oldest
    stretch, to start_date or Braze's end). `covered_to`: every sync after it is loaded. `parked`: the oldest
    stretch stopped at start_date (an earlier start_date later reads on from its cursor).
    """

    cursor: str | None = None
    until: datetime | None = None
    covered_to: datetime | None = None
    parked: bool = False

    def active(self, start_date: datetime | None) -> bool:
        """Whether this run must read it: a gap always; the oldest stretch unless start_date is behind it."""
        if self.until is not None or start_date is None or self.covered_to is None:
            return True
        return start_date < self.covered_to or (start_date == self.covered_to and not self.parked)

    def to_state(self) -> dict[str, Any]:
        return {key: to_iso(value) if isinstance(value, datetime) else value for key, value in asdict(self).items()}

    @classmethod
    def from_state(cls, value: dict[str, Any]) -> Stretch:
        cursor = value.get("cursor")
        return cls(
            cursor=str(cursor) if cursor else None,
            until=parse_instant(value.get("until")),
            covered_to=parse_instant(value.get("covered_to")),
            parked=bool(value.get("parked")),
        )


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
    """The cursor and the stretches of one integration; `save` is the one place its resource state changes, at the
    end of a slice that did not fail. `top`: the stretch of the newest pages, in a run's first look."""

    integration_id: str
    cursor: SyncCursor
    stretches: list[Stretch] = field(default_factory=list)
    complete: bool = False  # read down to Braze's oldest sync
    oldest: datetime | None = None  # oldest sync start loaded
    pages: int = 0  # pages read by backfill stretches so far
    top: Stretch | None = None

    @classmethod
    def load(
        cls,
        state: dict[str, Any],
        integration_id: str,
        start_date: datetime | None,
        max_running: timedelta,
        future_tolerance: timedelta,
    ) -> IntegrationState:
        """The state `save` wrote; one from before backfills (only a high-water mark) was read whole."""
        try:
            if not isinstance(state.get("open_sync_start_times", []), list):
                raise TypeError("open_sync_start_times is not a list")
            cursor = SyncCursor.from_state(state, start_date, max_running, future_tolerance)
            saved = state.get("backfill")
            if not isinstance(saved, dict):
                return cls(integration_id, cursor, complete=cursor.last_start is not None)
            return cls(
                integration_id,
                cursor,
                stretches=[Stretch.from_state(s) for s in saved.get("stretches", []) if isinstance(s, dict)],
                complete=bool(saved.get("complete")),
                oldest=parse_instant(saved.get("oldest")),
                pages=int(saved.get("pages") or 0),
            )
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as error:
            raise StateUnreadableError(
                f"integration {integration_id}: its saved state cannot be read ({type(error).__name__}: "
                f"{str(error)[:200]}); run `braze-cdi reset --integration-id {integration_id}` to read its history "
                "again (loaded rows stay and are merged). The other integrations went on."
            ) from error

    def begin(self, now: datetime) -> None:
        """A run's first look: the newest pages go first, down to the cursor's boundary (`top`)."""
        if self.cursor.last_start is None:  # nothing loaded yet: the whole history is one stretch from the top
            self.stretches = [Stretch()]
        else:
            self.stretches.insert(0, Stretch(until=self.cursor.boundary(now)))
        self.top = self.stretches[0]

    def pending(self) -> bool:
        return any(s.active(self.cursor.start_date) for s in self.stretches)

    def see(self, start: datetime) -> None:
        if self.oldest is None or start < self.oldest:
            self.oldest = start

    def drop(self, stretch: Stretch) -> None:
        self.stretches[:] = [s for s in self.stretches if s is not stretch]

    def progress(self, newest: datetime | None, now: datetime) -> dict[str, Any]:
        """A row of `integration_backfill`: how far back it is covered and an estimate of what is left."""
        target = self.cursor.start_date or (now - BRAZE_HISTORY)
        # every sync from this instant to the newest is loaded: the first stretch's edge, else the oldest
        covered = self.stretches[0].covered_to if self.stretches else self.oldest
        pending = self.pending()
        pages_left: int | None = 0
        if pending:
            pages_left = None
            if covered is not None and newest is not None and self.pages > 0 and newest > covered:
                per_page = (newest - covered) / self.pages
                left = (covered - target) / per_page if per_page.total_seconds() > 0 else 0
                pages_left = max(1, math.ceil(left))
        return {
            "integration_id": self.integration_id,
            "backfill_complete": not pending,
            "covered_back_to": covered,
            "oldest_sync_start_reached": self.oldest,
            "backfill_target": target,
            "pages_read": self.pages,
            "estimated_pages_left": pages_left,
            "updated_at": now,
        }

    def save(self, state: dict[str, Any]) -> None:
        stretches, top = self.stretches, self.top
        top_finished = top is not None and not any(s is top for s in stretches)
        if top is not None and not top_finished and top.until is not None and top.cursor is None:
            # a look at the newest pages that never started (budget spent): the next run's covers it
            self.drop(top)
        open_before = state.get("open_sync_start_times", [])
        state.update(self.cursor.to_state())
        if not top_finished:  # the syncs still open that this slice did not read past stay open
            state["open_sync_start_times"] = sorted(set(open_before) | set(state["open_sync_start_times"]))
        while len(stretches) > MAX_GAPS:
            # join the two oldest gaps: read from the upper one's cursor down to the lower one's end
            upper, lower = stretches[-2], stretches.pop()
            upper.until, upper.covered_to, upper.parked = lower.until, lower.covered_to, lower.parked
        state["backfill"] = {
            "stretches": [s.to_state() for s in stretches],
            "complete": self.complete,
            "oldest": to_iso(self.oldest) if self.oldest else None,
            "pages": self.pages,
        }
