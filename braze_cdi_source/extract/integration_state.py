"""One integration's saved state (its dlt resource state): read once per slice, written once, only here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import BrazeCdiError
from .backfill import History, Stretch
from .sync_cursor import SyncCursor


class StateUnreadableError(BrazeCdiError):
    """An integration's saved state holds a value this version cannot read: that integration fails, not the run."""


@dataclass
class IntegrationState:
    """The incremental cursor (`SyncCursor`) and the backfill's stretches (`History`) of one integration.

    `load` validates what dlt kept (anything malformed names the integration and the reset that fixes it);
    `save` is the one place the resource state changes, at the end of a slice that did not fail.
    """

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
        if self.cursor.last_start is None:
            # nothing loaded yet: the whole history (to start_date) is one stretch read from the top
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
        if not top_finished:
            # the syncs still open that this slice did not read past stay open
            state["open_sync_start_times"] = sorted(set(open_before) | set(state["open_sync_start_times"]))
        state["backfill"] = self.history.to_state()
