"""Run statistics per integration, thread-safe (dlt's own metrics merge parallel resources)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class IntegrationStats:
    """One integration's share of a run."""

    requests: int = 0
    throttled_429: int = 0
    pages: int = 0
    new_rows: int = 0
    updated_rows: int = 0
    reread_rows: int = 0
    name: str | None = None
    done: bool = False
    failed: bool = False


class RunStats:
    """Thread-safe counters of one run, per integration (`None` is the integration list)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.integrations: dict[str | None, IntegrationStats] = {}
        self.on_wait: Callable[[str, float], None] | None = None  # the progress display, told of rate-limit waits
        self.extra_columns: dict[str, set[str]] = {}  # per table, the extra columns this run let in

    def admit_column(self, table: str, column: str, existing: set[str], limit: int) -> bool:
        """Whether `table` may hold extra `column`: one it has, or a new one while it holds fewer than `limit`."""
        with self._lock:
            admitted = self.extra_columns.setdefault(table, set())
            if column in existing or column in admitted:
                return True
            if len(existing | admitted) >= limit:
                return False
            admitted.add(column)
            return True

    def _of(self, integration_id: str | None) -> IntegrationStats:
        return self.integrations.setdefault(integration_id, IntegrationStats())

    def expect(self, integration_ids: list[str]) -> None:
        with self._lock:
            for integration_id in integration_ids:
                self._of(integration_id)

    def attempt(self, integration_id: str | None, status: int) -> None:
        """Every HTTP answer, retries included."""
        with self._lock:
            stats = self._of(integration_id)
            stats.requests += 1
            if status == 429:
                stats.throttled_429 += 1

    def page(self, integration_id: str | None) -> None:
        with self._lock:
            self._of(integration_id).pages += 1

    def rows(self, integration_id: str, new: int, updated: int, reread: int) -> None:
        """Rows of a page by what they are to the destination: new, finished since loaded running, read again."""
        with self._lock:
            stats = self._of(integration_id)
            stats.new_rows += new
            stats.updated_rows += updated
            stats.reread_rows += reread

    def named(self, names: dict[str, str]) -> None:
        """Names from the integration list, for the integrations this run reads."""
        with self._lock:
            for integration_id, name in names.items():
                if integration_id in self.integrations:
                    self.integrations[integration_id].name = name

    def waiting(self, kind: str, seconds: float) -> None:
        """A request waits `seconds` for `kind`'s rate-limit window."""
        if self.on_wait is not None:
            self.on_wait(kind, seconds)

    def finish(self, integration_id: str, failed: bool = False) -> None:
        with self._lock:
            stats = self._of(integration_id)
            stats.done, stats.failed = True, failed

    def snapshot(self) -> dict[str, Any]:
        """Totals and an ETA from the integrations finished so far (unknown until one has finished)."""
        with self._lock:
            jobs = {k: v for k, v in self.integrations.items() if k is not None}
            done = sum(1 for s in jobs.values() if s.done)
            elapsed = time.monotonic() - self.started
            eta = elapsed / done * (len(jobs) - done) if done else None
            return {
                "integrations": len(jobs),
                "integrations_done": done,
                "integrations_failed": sum(1 for s in jobs.values() if s.failed),
                "requests": sum(s.requests for s in self.integrations.values()),
                "throttled_429": sum(s.throttled_429 for s in self.integrations.values()),
                "pages": sum(s.pages for s in self.integrations.values()),
                "rows": sum(s.new_rows + s.updated_rows + s.reread_rows for s in jobs.values()),
                "elapsed_seconds": round(elapsed, 1),
                "eta_seconds": None if eta is None else round(eta, 1),
            }

    def per_integration(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: asdict(v) for k, v in self.integrations.items() if k is not None}
