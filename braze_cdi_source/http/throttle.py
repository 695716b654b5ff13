"""Client-side rate limiting for one Braze workspace, shared by every thread that uses the same key and host.

Braze limits each endpoint per workspace and says where a window stands in `X-RateLimit-Remaining` /
`X-RateLimit-Reset`; waiting *before* sending keeps a backfill at the limit with few 429s. Without headers
it paces by the documented limits.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from requests import Response

from ..errors import ConfigurationError
from ..settings import JOB_SYNC_STATUS_ENDPOINT, RATE_LIMITS_PER_MINUTE
from ..terminal_text import shown
from . import cancel

WINDOW_SECONDS = 60.0
"""Braze's rate-limit window: its limits are per minute."""

DEFAULT_MAX_RATE_LIMIT_WAIT = 60.0
"""Longest wait (seconds) any rate-limit header may impose: Braze's limits are per minute."""

ABSURD_WAIT = 3600.0
"""A 429 asking for more than this is no per-minute window: the request fails at once, saying what was asked."""

_MAX_LIMIT = 1_000_000  # largest limit believed from `X-RateLimit-Limit` / `-Remaining`

THROTTLE_WAITS = "_braze_cdi_throttle_waits"
"""Attribute of a 429 `Response`: True when the throttle holds every thread until a reset it was told."""

ASKED_WAIT = "_braze_cdi_asked_wait"
"""Attribute of a 429 `Response` that asked for an absurd wait: the header, what it said, the seconds."""


@dataclass
class _Window:
    limit: int
    left: int | None = None
    """Requests still allowed in the current window (None: no header seen yet, pace by the sliding window)."""
    reset_at: float | None = None
    over_reset: float = -math.inf  # the reset of the last window that ended: answers about it tell nothing
    blocked_until: float = 0.0
    hold_started: float = -math.inf
    last_429: float = -math.inf
    sent: deque[float] = field(default_factory=deque)


class Throttle:
    """Waits before a request would exceed the workspace's limit; learns the limit from Braze's headers."""

    _registry: ClassVar[dict[str, Throttle]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        limits_per_minute: dict[str, int] | None = None,
        max_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = cancel.sleep,
    ) -> None:
        """`clock` (epoch seconds, as Braze's reset header) and `sleep` are injectable for fake-clock tests."""
        limits = {**RATE_LIMITS_PER_MINUTE, **(limits_per_minute or {})}
        for kind, limit in limits.items():
            if not isinstance(limit, int) or limit < 1:
                setting = f"{'job_status' if kind == JOB_SYNC_STATUS_ENDPOINT else kind}_requests_per_minute"
                raise ConfigurationError(
                    f"{setting} = {limit!r}: give Braze's limit as a whole number of at least 1 "
                    f"(documented: {RATE_LIMITS_PER_MINUTE[kind]})."
                )
        self._windows = {kind: _Window(limit) for kind, limit in limits.items()}
        self._lock = threading.Lock()
        self.hold = max(0.0, min(float(max_wait), WINDOW_SECONDS))  # longest any header makes anyone wait
        self._clock, self._sleep = clock, sleep

    @classmethod
    def shared(cls, api_key: str, base_url: str, **kwargs: Any) -> Throttle:
        """The one throttle for this key and host in this process (keyed by a hash: the key is not kept)."""
        ident = hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()
        with cls._registry_lock:
            throttle = cls._registry.get(ident)
            if throttle is None:
                throttle = cls._registry[ident] = cls(**kwargs)
            return throttle

    @classmethod
    def forget_all(cls) -> None:
        """Drop every shared throttle and what it learned (tests; long-lived processes)."""
        with cls._registry_lock:
            cls._registry.clear()

    def acquire(self, kind: str, on_wait: Callable[[str, float], None] | None = None) -> None:
        """Block until one more `kind` request fits in the window, then count it; `on_wait(kind, seconds)` is told
        before each wait, so a progress display can say why it is idle."""
        while True:
            with self._lock:
                window = self._windows[kind]
                now = self._clock()
                wait = self._wait_needed(window, now)
                if wait <= 0:
                    window.sent.append(now)
                    if window.left:
                        window.left -= 1
                    return
            wait = min(wait, WINDOW_SECONDS)
            if on_wait is not None:
                on_wait(kind, wait)
            self._sleep(wait)

    def per_minute(self, kind: str) -> float:
        """Requests a minute that `kind` allows, as last learned from Braze's `X-RateLimit-Limit`."""
        with self._lock:
            return float(self._windows[kind].limit)

    def wait_needed(self, kind: str) -> float:
        """Seconds the next `kind` request would wait now; counts nothing (a time budget asks before each page)."""
        with self._lock:
            return max(0.0, self._wait_needed(self._windows[kind], self._clock()))

    def _wait_needed(self, window: _Window, now: float) -> float:
        if window.blocked_until > now:
            return window.blocked_until - now
        if window.reset_at is not None and now >= window.reset_at:
            # the window Braze told us about is over: the next one starts with the full limit
            window.left, window.over_reset, window.reset_at = window.limit, window.reset_at, None
        if window.left:  # never negative
            return 0.0
        if window.left == 0 and window.reset_at is not None:
            return window.reset_at - now
        # No headers yet, or spent with no reset known: pace by the limit over a sliding window, never spin.
        while window.sent and window.sent[0] <= now - WINDOW_SECONDS:
            window.sent.popleft()
        return window.sent[0] + WINDOW_SECONDS - now if len(window.sent) >= window.limit else 0.0

    def observe(self, kind: str, response: Response) -> None:
        """Learn the window from the headers; after a 429 hold every thread until its reset (at most `hold`).

        `Remaining` only lowers what is believed left (parallel answers arrive out of order), an answer about an
        ended window tells nothing, and a 429 storm holds the threads once: the request that keeps getting 429s
        backs off on its own (retries.py). Unusable header values are ignored.
        """
        headers = response.headers
        now = self._clock()
        limit = _count(headers.get("X-RateLimit-Limit"))
        remaining = _count(headers.get("X-RateLimit-Remaining"))
        reset = _number(headers.get("X-RateLimit-Reset"))
        asked = None if reset is None else reset - now
        if response.status_code == 429:
            after = _number(headers.get("Retry-After"))  # seconds (Braze sends none; an HTTP date is ignored)
            header = "Retry-After" if after is not None and (asked is None or after > asked) else "X-RateLimit-Reset"
            asked = after if header == "Retry-After" else asked
            if asked is not None and asked > ABSURD_WAIT:
                setattr(response, ASKED_WAIT, (header, shown(headers.get(header) or "", 40), asked))
                asked = None  # nobody waits for it: this request fails at once
        with self._lock:
            window = self._windows[kind]
            if limit:
                window.limit = limit
            fresh = reset is not None and reset > max(now - 1, window.over_reset)
            if response.status_code == 429:
                if now - max(window.last_429, window.hold_started + self.hold) >= WINDOW_SECONDS:
                    window.hold_started = now  # the first 429 after a quiet window: hold every thread
                window.last_429 = now
                until = min(now + (asked or 0.0), window.hold_started + self.hold) if asked else now
                setattr(response, THROTTLE_WAITS, until > now)
                window.blocked_until = max(window.blocked_until, until)
                window.left = 0
                if until > now:  # the told reset ends this window: the next starts with the full limit
                    window.reset_at = until
            elif remaining is not None and (fresh or reset is None):
                estimate = window.left if window.left is not None else window.limit - len(window.sent)
                window.left = max(0, min(estimate, remaining))
                if fresh and (window.reset_at is None or reset > window.reset_at):
                    window.reset_at = min(reset, now + self.hold)


def _number(value: str | None) -> float | None:
    """A finite, non-negative number from a header; None for anything else."""
    if value is None or len(value) > 40:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _count(value: str | None) -> int | None:
    number = _number(value)
    return None if number is None else int(min(number, _MAX_LIMIT))

