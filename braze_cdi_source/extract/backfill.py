"""Backfills that survive interruption and fit a time budget.

dlt commits resource state only with a load, so the job loads in *slices* (`checkpoint_pages` pages each),
each committing the rows with every integration's resume point (`integration_state.py`). `Backfill` plans one
run's slices; `TimeBudget` says when paging must stop.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..errors import ConfigurationError
from ..timestamps import to_iso

BRAZE_HISTORY = timedelta(days=365)
"""Braze keeps sync metadata at least 12 months: the target of a backfill without start_date."""

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(rf"(?:({_NUMBER})h)?\s*(?:({_NUMBER})m)?\s*(?:({_NUMBER})s)?", re.IGNORECASE)
DURATION_FORMS = "90s, 50m, 1h30m, 1h 30m 10s, or a plain number of seconds such as 3600"


def parse_duration(value: str | float | int | None) -> float | None:
    """Seconds from `50m`, `1h30m`, `90s`, `3600` or a number; None or "" means no budget. Strict (`1h30` is
    refused): a budget must not be read as something the operator did not mean."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        match = _DURATION.fullmatch(text)
        if re.fullmatch(_NUMBER, text):
            seconds = float(text)
        elif text and match:
            seconds = sum(float(part or 0) * scale for part, scale in zip(match.groups(), (3600, 60, 1), strict=True))
        else:
            raise ConfigurationError(f"time_budget {value!r} is not a duration: write {DURATION_FORMS}.")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"time_budget {value!r} must be a positive duration, e.g. 50m.")
    return seconds


class TimeBudget:
    """Wall time a run may spend; paging stops early enough to load what was read within it.

    Until a slice has loaded, paging stops at a quarter of the budget (loading time is unknown); then the
    `reserve` for the last load and the views is twice the longest slice load so far plus a margin.
    """

    def __init__(self, seconds: float | None, started: float | None = None) -> None:
        self.seconds = seconds
        self.started = time.monotonic() if started is None else started
        self.reserve: float | None = None

    def observed_load(self, seconds: float) -> None:
        """How long loading one slice took (from the end of its extract to the end of its load)."""
        if self.seconds is not None:
            self.reserve = max(self.reserve or 0.0, seconds * 2.0 + 1.5)

    def left(self) -> float:
        """Seconds of paging left (negative when spent); infinite without a budget."""
        if self.seconds is None:
            return math.inf
        if self.reserve is None:
            return self.started + self.seconds / 4 - time.monotonic()
        return self.started + self.seconds - self.reserve - time.monotonic()


class Backfill:
    """The slices of one run: which integrations read in the next slice, how many pages, and when to stop.

    A plain `pipeline.run(source)` is one slice without a page limit. `run_pipeline` calls `begin_slice` before
    each load: the first reads every integration's newest pages, later ones the pending backfills.
    """

    CHECKPOINT_SECONDS = 60.0  # the default checkpoint: about a minute of reading

    def __init__(
        self,
        checkpoint_pages: int | None,
        budget: TimeBudget,
        wait_for_page: Callable[[], float] | None = None,
        rate_per_minute: int = 100,
        limit_per_minute: Callable[[], float] | None = None,
    ) -> None:
        if checkpoint_pages is not None and checkpoint_pages < 1:
            raise ConfigurationError(f"checkpoint_pages must be at least 1, not {checkpoint_pages}.")
        # not set: a minute of reading at the rate limit, grown when Braze answers faster (loads cost time too)
        self.adaptive = checkpoint_pages is None
        self.checkpoint_pages = int(checkpoint_pages or rate_per_minute)
        self._floor_pages = self.checkpoint_pages
        self._limit_per_minute = limit_per_minute or (lambda: float(rate_per_minute))
        self.budget = budget
        self.rate_per_minute = rate_per_minute
        self._wait_for_page = wait_for_page or (lambda: 0.0)
        self._lock = threading.Lock()
        self.integrations: list[str] = []  # in the source's order, each once
        self.slice_number = 0
        self._allowance: dict[str, int] | None = None  # None: everyone, no page limit
        self._read: dict[str, int] = {}  # pages this slice
        self._read_run: dict[str, int] = {}  # pages this run
        self.top_done: set[str] = set()
        self.failed: set[str] = set()
        self.pending: dict[str, dict[str, Any]] = {}  # integration -> its progress row
        self.stopped_by_budget = False
        self._refused_for_good = False  # the budget refused a page once its reserve was known: no later slice can

    def begin_slice(self) -> bool:
        """Plan the next slice; False when no integration has anything left to read or the budget is spent."""
        with self._lock:
            candidates = [
                i for i in self.integrations if i not in self.failed and (i not in self.top_done or i in self.pending)
            ]
            if not candidates:
                return False
            if self.budget.left() <= 0 or self._refused_for_good:
                self.stopped_by_budget = True
                return False
            candidates.sort(key=lambda i: (i in self.top_done, self._read_run.get(i, 0)))  # stable: source order
            chosen = candidates[: self.checkpoint_pages]
            share = max(1, self.checkpoint_pages // len(chosen))
            self._allowance = {i: share for i in chosen}
            self._read = {}
            self.slice_number += 1
            return True

    def chosen(self, integration_id: str) -> bool:
        with self._lock:
            return self._allowance is None or integration_id in self._allowance

    def newest_page_only(self, integration_id: str) -> None:
        """Read one page in this slice: a new integration's newest page loads first, as every other's does."""
        with self._lock:
            if self._allowance is not None and integration_id in self._allowance:
                self._allowance[integration_id] = min(self._allowance[integration_id], 1)

    def needs_top(self, integration_id: str) -> bool:
        """Whether this slice reads the integration's newest pages: once per run (every time when unsliced)."""
        with self._lock:
            return self._allowance is None or integration_id not in self.top_done

    def may_read(self, integration_id: str) -> bool:
        """Whether one more page may be read now: within this slice's share and within the time budget."""
        with self._lock:
            if self._allowance is not None and self._read.get(integration_id, 0) >= self._allowance.get(
                integration_id, 0
            ):
                return False
        if self.budget.seconds is not None and self.budget.left() <= self._wait_for_page():
            # the time left and the wait shrink together, and the reserve only grows: refused now, refused later
            self._refused_for_good = self.budget.reserve is not None
            self.stopped_by_budget = True
            return False
        return True

    def slice_extracted(self, seconds: float) -> None:
        """After a slice: with the default checkpoint, size the next slice to about a minute of reading."""
        with self._lock:
            pages = sum(self._read.values())
            if not self.adaptive or pages < 10 or seconds <= 0:
                return
            # a burst at the start of a rate-limit window reads fast: never more than the limit allows a minute
            per_minute = min(pages / seconds * self.CHECKPOINT_SECONDS, self._limit_per_minute())
            self.checkpoint_pages = max(self._floor_pages, int(per_minute))

    def page_read(self, integration_id: str) -> None:
        with self._lock:
            self._read[integration_id] = self._read.get(integration_id, 0) + 1
            self._read_run[integration_id] = self._read_run.get(integration_id, 0) + 1

    def report(self, integration_id: str, progress: dict[str, Any] | None, failed: bool = False) -> None:
        """What one integration's slice ended with: its progress row while history is left, else None."""
        with self._lock:
            self.top_done.add(integration_id)
            if failed:
                self.failed.add(integration_id)
                self.pending.pop(integration_id, None)
            elif progress is not None and not progress["backfill_complete"]:
                self.pending[integration_id] = progress
            else:
                self.pending.pop(integration_id, None)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per integration with history left: pages read, how far back, the target, what is left."""
        with self._lock:
            pending = dict(self.pending)
        result: dict[str, dict[str, Any]] = {}
        for integration_id, row in sorted(pending.items()):
            left = row["estimated_pages_left"]
            result[integration_id] = {
                "pages_read": row["pages_read"],
                "covered_back_to": to_iso(row["covered_back_to"]) if row["covered_back_to"] else None,
                "backfill_target": to_iso(row["backfill_target"]) if row["backfill_target"] else None,
                "estimated_pages_left": left,
                "estimated_minutes_left": None if left is None else round(left / self.rate_per_minute, 1),
            }
        return result
