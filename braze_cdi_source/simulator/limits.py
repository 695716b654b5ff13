"""Braze's per-endpoint rate limits as the simulator enforces them: one fixed window per endpoint kind."""

from __future__ import annotations

import math

from ..settings import RATE_LIMITS_PER_MINUTE

DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {kind: (n, 60.0) for kind, n in RATE_LIMITS_PER_MINUTE.items()}
"""Requests per window and the window's length in seconds, per endpoint kind (Braze's documented limits)."""


class Window:
    """A fixed window rate limit that starts at the first request after the previous window ended."""

    def __init__(self, limit: int, seconds: float, aligned: bool = False) -> None:
        self.limit, self.seconds = limit, seconds
        self.aligned = aligned
        self.end = 0.0
        self.used = 0

    def _next_end(self, now: float) -> float:
        """Where a window opened at `now` ends: on a multiple of its length if aligned, else `seconds` later."""
        if self.aligned:
            return (math.floor(now / self.seconds) + 1) * self.seconds
        return now + self.seconds

    def hit(self, now: float) -> tuple[bool, int, int]:
        """Count one request: (allowed, remaining, reset epoch seconds)."""
        if now >= self.end:
            self.end, self.used = self._next_end(now), 0
        self.used += 1
        return self.used <= self.limit, max(0, self.limit - self.used), math.ceil(self.end)

    def peek(self, now: float) -> tuple[int, int]:
        """(remaining, reset epoch seconds) without counting a request (for 401/403 answers)."""
        if now >= self.end:
            return self.limit, math.ceil(self._next_end(now))
        return max(0, self.limit - self.used), math.ceil(self.end)
