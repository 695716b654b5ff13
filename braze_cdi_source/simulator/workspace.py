"""One simulated Braze workspace: its integrations and sync history, the items served for a page, and the changes
tests make between runs. Nothing here knows HTTP; the public methods hold the lock the server holds around a page.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .history import (
    QUANTUM,
    SECOND,
    Integration,
    Sync,
    ceil_to,
    finish_sync,
    generate_integration,
    instant,
    parse_instant,
    pick_style,
    render,
    to_ms,
)


class Workspace:
    """One Braze workspace's integrations and their syncs, oldest first inside, served newest first. Every public
    method holds the lock (an RLock: the server holds it around a page too)."""

    def __init__(self, seed: int, app_group_id: str, timestamp_style: str, now: datetime | None) -> None:
        """`timestamp_style` is one of `history.TIMESTAMP_STYLES` (the simulator checks it); `now` ends the history."""
        self._seed = seed
        self._app_group_id = app_group_id
        self._timestamp_style = timestamp_style
        anchor = now if now is not None else datetime.now(timezone.utc)
        self._now = to_ms(anchor) // SECOND * SECOND
        self._integrations: dict[str, Integration] = {}
        self._lock = threading.RLock()

    @property
    def integration_ids(self) -> list[str]:
        """Integration ids in list order."""
        with self._lock:
            return list(self._integrations)

    # --- the truth

    def truth(self, integration_id: str) -> list[dict]:
        """Syncs of one integration, newest first, with aware UTC datetimes; items replaced by
        `set_job_status_raw` appear as replaced, their ISO 8601 strings parsed."""
        with self._lock:
            return [self._truth_item(sync) for sync in reversed(self._get(integration_id).syncs)]

    def integrations_truth(self) -> list[dict]:
        """`/cdi/integrations` items as served (raw string values), in list order."""
        with self._lock:
            return [self._integration_item(integration) for integration in self._integrations.values()]

    # --- pages as served

    def integration_page(self, skip: int, size: int) -> tuple[list[dict], int]:
        """The list items from `skip` on (at most `size`) and how many there are in all."""
        integrations = list(self._integrations.values())
        return [self._integration_item(i) for i in integrations[skip : skip + size]], len(integrations)

    def sync_page(self, integration: Integration, skip: int, size: int, oldest_first: bool) -> tuple[list, int]:
        """One integration's served sync items from `skip` on (at most `size`) and how many there are in all."""
        syncs, total = integration.syncs, len(integration.syncs)
        served = range(skip, min(skip + size, total))  # Braze documents no order: a client must cope with both
        return [self._served_item(syncs[i if oldest_first else total - 1 - i]) for i in served], total

    # --- mutations

    def add_integration(self, sync_count: int) -> str:
        """Add an integration with `sync_count` generated syncs; returns its id."""
        with self._lock:
            index = len(self._integrations)
            integration = generate_integration(self._seed, index, sync_count, self._now, self._timestamp_style)
            self._integrations[integration.integration_id] = integration
            return integration.integration_id

    def add_syncs(
        self, integration_id: str, k: int, *, status: str = "success", running_last: bool = False
    ) -> list[dict]:
        """Append `k` syncs with `status` after the newest one (the last one running if `running_last`);
        returns them newest first in truth form. Existing syncs are left as they are."""
        with self._lock:
            integration = self._get(integration_id)
            statuses = [status] * k if not running_last else [status] * (k - 1) + ["running"]
            added = [self._append_sync(integration, each) for each in statuses]
            return [self._truth_item(sync) for sync in reversed(added)]

    def start_sync(self, integration_id: str, at: datetime | None = None) -> dict:
        """Append a running sync (finish, rows and watermark null) newer than all, at `at` if given (never
        before the newest sync); returns it (truth form)."""
        with self._lock:
            return self._truth_item(self._append_sync(self._get(integration_id), "running", at))

    def finish_running(
        self, integration_id: str | None = None, *, status: str = "success", until: datetime | None = None
    ) -> int:
        """Finish running syncs of one integration (all if None) with `status`, by `until` at the latest;
        returns how many."""
        with self._lock:
            targets = [self._get(integration_id)] if integration_id is not None else self._integrations.values()
            finished = 0
            for integration in targets:
                syncs = integration.syncs
                for index, sync in enumerate(syncs):
                    if sync.status != "running":
                        continue
                    newer = syncs[index + 1].start - QUANTUM[sync.style] if index + 1 < len(syncs) else None
                    if until is not None:
                        newer = to_ms(until) if newer is None else min(newer, to_ms(until))
                    finish_sync(sync, integration.rng, status, self._watermark_before(syncs, index), newer)
                    finished += 1
            return finished

    def set_job_status_raw(self, integration_id: str, index: int, raw: dict) -> None:
        """Serve `raw` (any JSON value) instead of the sync at `index` (0 = newest)."""
        with self._lock:
            syncs = self._get(integration_id).syncs
            if not 0 <= index < len(syncs):
                raise IndexError(f"integration {integration_id} has {len(syncs)} syncs, no index {index}")
            syncs[len(syncs) - 1 - index].raw = copy.deepcopy(raw)

    # --- internals

    def _get(self, integration_id: str) -> Integration:
        try:
            return self._integrations[integration_id]
        except KeyError:
            raise KeyError(f"unknown integration {integration_id!r}") from None

    @staticmethod
    def _watermark_before(syncs: list[Sync], index: int) -> int | None:
        watermarks = (syncs[i].watermark for i in range(index - 1, -1, -1))  # no copy of a long history
        return next((w for w in watermarks if w is not None), None)

    def _append_sync(self, integration: Integration, status: str, at: datetime | None = None) -> Sync:
        rng, syncs = integration.rng, integration.syncs
        base = max(syncs[-1].finish or 0, syncs[-1].start + SECOND) if syncs else self._now
        style = pick_style(rng, self._timestamp_style)
        start = base + rng.randrange(integration.interval // 2, integration.interval + 1)
        if at is not None:
            start = max(to_ms(at), syncs[-1].start + SECOND) if syncs else to_ms(at)
        sync = Sync(ceil_to(start, QUANTUM[style]), status, style)
        if status != "running":
            finish_sync(sync, rng, status, self._watermark_before(syncs, len(syncs)))
        syncs.append(sync)
        return sync

    @staticmethod
    def _item(sync: Sync, when: Callable[[int | None], Any]) -> dict:
        """A sync as a job sync status item, its instants given by `when`."""
        return {
            "job_status": sync.status,
            "sync_start_time": when(sync.start),
            "sync_finish_time": when(sync.finish),
            "last_timestamp_synced": when(sync.watermark),
            "rows_synced": sync.rows,
            "rows_failed_with_errors": sync.failed,
        }

    def _truth_item(self, sync: Sync) -> Any:
        if sync.raw is not None:
            raw = copy.deepcopy(sync.raw)
            return {k: parse_instant(v) for k, v in raw.items()} if isinstance(raw, dict) else raw
        return self._item(sync, instant)

    def _served_item(self, sync: Sync) -> Any:
        return sync.raw if sync.raw is not None else self._item(sync, lambda ms: render(ms, sync.style))

    def _integration_item(self, integration: Integration) -> dict:
        syncs = integration.syncs
        newest = syncs[-1] if syncs else None
        watermark = self._watermark_before(syncs, len(syncs))
        next_run = None
        if newest is not None and integration.status == "active":
            latest = max(newest.start, newest.finish or newest.start)
            next_run = (latest // integration.interval + 1) * integration.interval
        return {
            "integration_id": integration.integration_id,
            "app_group_id": self._app_group_id,
            "integration_name": integration.name,
            "integration_type": integration.type,
            "integration_status": integration.status,
            "contact_emails": integration.emails,
            "last_updated_at": render(watermark if watermark is not None else integration.created, integration.style),
            "warehouse_type": integration.warehouse,
            "last_job_start_time": render(newest.start, newest.style) if newest else None,
            "last_job_status": newest.status if newest else None,
            "next_scheduled_run": render(next_run, integration.style),
        }
