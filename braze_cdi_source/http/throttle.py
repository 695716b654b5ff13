"""Client-side rate limiting for one Braze workspace, shared by every thread that uses the same key and host.

Braze counts requests per workspace and per endpoint (50 a minute for the list, 100 for job sync
status) and says where a window stands in `X-RateLimit-Remaining` / `X-RateLimit-Reset` (UTC epoch
seconds). The throttle waits *before* sending when the window is spent, so a backfill runs at the
limit with few 429s; after a 429 every thread waits for the reset (or `Retry-After`). With no headers
at all it paces by the documented limits.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from requests import PreparedRequest, Response

from ..settings import JOB_SYNC_STATUS_ENDPOINT, LIST_ENDPOINT, RATE_LIMITS_PER_MINUTE, endpoint_of
from . import cancel
from .transport import BoundedAdapter

DEFAULT_MAX_RATE_LIMIT_WAIT = 180.0
"""Longest wait (seconds) a rate-limit header may ask for: three Braze windows. A reset or Retry-After
further away (a year ahead, milliseconds read as seconds, 999999) is not obeyed: a 429 that asks for it fails
the request at once, saying what Braze asked for; on a 2xx it is ignored."""

_MAX_LIMIT = 1_000_000
"""Largest request limit per window believed from `X-RateLimit-Limit` / `-Remaining`."""

THROTTLE_WAITS = "_braze_cdi_throttle_waits"
"""Attribute of a 429 `Response`: True when the throttle holds every thread until a reset it was told."""

ASKED_WAIT = "_braze_cdi_asked_wait"
"""Attribute of a 429 `Response` that asked for a wait beyond the cap: the header and what it said."""


@dataclass
class _Window:
    limit: int
    window_seconds: float
    remaining: int | None = None
    reset_at: float | None = None
    blocked_until: float = 0.0
    sent: deque[float] = field(default_factory=deque)
    over_reset: float | None = None  # the reset of the last window that ended: its late answers tell nothing


class Throttle:
    """Waits before a request would exceed the workspace's limit; learns the limit from Braze's headers."""

    _registry: ClassVar[dict[str, Throttle]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        limits_per_minute: dict[str, int] | None = None,
        window_seconds: float = 60.0,
        max_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = cancel.sleep,
    ) -> None:
        """`clock` (epoch seconds, as Braze's reset header) and `sleep` are injectable for fake-clock tests;
        the default sleep ends at once when the run is stopped (cancel.py)."""
        limits = {**RATE_LIMITS_PER_MINUTE, **(limits_per_minute or {})}
        self._windows = {kind: _Window(limit, window_seconds) for kind, limit in limits.items()}
        self._lock = threading.Lock()
        self.max_wait = float(max_wait)
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
        """Drop every shared throttle (what they learned of the windows goes with them).

        For tests, where simulators on a reused port with a seeded key would otherwise look like one
        workspace, and for long-lived processes that must not carry old window state.
        """
        with cls._registry_lock:
            cls._registry.clear()

    def acquire(self, kind: str, on_wait: Callable[[str, float], None] | None = None) -> None:
        """Block until one more `kind` request fits in the current window, then count it as sent.

        `on_wait(kind, seconds)` is told before each wait, so a progress display can say why it is idle.
        """
        while True:
            with self._lock:
                window = self._windows[kind]
                now = self._clock()
                wait = self._wait_needed(window, now)
                if wait <= 0:
                    window.sent.append(now)
                    if window.remaining is not None:
                        window.remaining -= 1
                    return
            wait = min(wait, window.window_seconds)
            if on_wait is not None:
                on_wait(kind, wait)
            self._sleep(wait)

    def per_minute(self, kind: str) -> float:
        """Requests a minute that `kind` allows, as last learned from Braze's `X-RateLimit-Limit`."""
        with self._lock:
            window = self._windows[kind]
            return window.limit * 60.0 / window.window_seconds

    def wait_needed(self, kind: str) -> float:
        """Seconds the next `kind` request would wait now (0 if it could go at once); counts nothing.

        A run with a time budget asks before each page, so it never starts a wait that outlasts the budget.
        """
        with self._lock:
            return max(0.0, self._wait_needed(self._windows[kind], self._clock()))

    @staticmethod
    def _wait_needed(window: _Window, now: float) -> float:
        if window.blocked_until > now:
            return window.blocked_until - now
        if window.reset_at is not None and now >= window.reset_at:
            # The window Braze told us about is over: a fresh one starts with the full limit.
            window.remaining, window.reset_at, window.over_reset = window.limit, None, window.reset_at
        if window.remaining is not None:
            if window.remaining > 0:
                return 0.0
            if window.reset_at is not None:
                return window.reset_at - now  # spent: wait for the reset (at most max_wait ahead)
            # Spent with no usable reset: pace by the limit over a sliding window, never spin.
        # No headers seen yet: pace by the documented limit over a sliding window.
        while window.sent and window.sent[0] <= now - window.window_seconds:
            window.sent.popleft()
        if len(window.sent) >= window.limit:
            return window.sent[0] + window.window_seconds - now
        return 0.0

    def observe(self, kind: str, response: Response) -> None:
        """Learn the window from the response headers; after a 429 hold every thread until the reset.

        Headers are untrusted: NaN, infinities, negatives and text are ignored, limits are capped, and a
        reset or Retry-After more than `max_wait` ahead is not obeyed (on a 429 it is noted on the response
        as `ASKED_WAIT`, so the request fails saying what Braze asked for instead of sleeping for it).
        """
        headers = response.headers
        now = self._clock()
        limit = _count(headers.get("X-RateLimit-Limit"))
        remaining = _count(headers.get("X-RateLimit-Remaining"))
        reset_header = headers.get("X-RateLimit-Reset")
        reset = _number(reset_header)
        # a reset already past (a straggler from an old window) or beyond the cap: its counts tell nothing
        stale = reset is not None and not now - 1 < reset <= now + self.max_wait
        if stale:
            if response.status_code == 429 and reset > now + self.max_wait:
                setattr(response, ASKED_WAIT, ("X-RateLimit-Reset", _shown(reset_header), reset - now))
            reset = None
        retry_after = None
        if response.status_code == 429:
            retry_after_header = headers.get("Retry-After")
            retry_after = _retry_after_seconds(retry_after_header, now)
            if retry_after is not None and retry_after > self.max_wait:
                setattr(response, ASKED_WAIT, ("Retry-After", _shown(retry_after_header), retry_after))
                retry_after = None
        with self._lock:
            window = self._windows[kind]
            if limit is not None and limit > 0:
                window.limit = limit
            late = reset is not None and window.over_reset is not None and reset <= window.over_reset
            if remaining is not None and not stale:
                if reset is not None and reset == window.reset_at and window.remaining is not None:
                    # Same window: responses of parallel threads arrive out of order, and an older one
                    # reports more remaining than the requests sent since; never count back up.
                    window.remaining = min(window.remaining, remaining)
                elif (
                    reset is not None and window.reset_at is None and window.remaining is not None and not late
                    and response.status_code != 429
                ):
                    # The first answer of a window the throttle started itself at the reset: it has counted
                    # every request sent since, which this answer may not have seen yet.
                    window.remaining = min(window.remaining, remaining)
                    window.reset_at = reset
                elif (
                    response.status_code == 429
                    or reset is None
                    or (window.reset_at is None and not late)
                    or (window.reset_at is not None and reset > window.reset_at)
                ):
                    fresh = remaining
                    if window.remaining is None and response.status_code != 429:
                        # The first answer this process gets: parallel threads have sent more since (still in
                        # flight); this window holds at most the limit minus what was sent into it.
                        fresh = min(fresh, window.limit - len(window.sent))
                    window.remaining, window.reset_at = fresh, reset
                # else: a late 2xx from a window that is already over tells nothing, also once the throttle
                # has started the next window itself (it would count that one back up to the full limit).
            if response.status_code == 429:
                until = now
                if reset is not None:
                    until = reset
                if retry_after is not None:
                    until = max(until, now + retry_after)
                # With no usable reset, the retry policy backs off with jitter instead (see retries.py).
                setattr(response, THROTTLE_WAITS, until > now)
                window.blocked_until = max(window.blocked_until, until)
                window.remaining = 0

def _number(value: str | None) -> float | None:
    """A finite, non-negative number from a header; None for anything else (NaN, inf, -1, text, huge)."""
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


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds or an HTTP date; None if unusable."""
    seconds = _number(value)
    if seconds is not None or value is None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _shown(value: str | None) -> str:
    """A header value fit for a message: short, printable."""
    text = "".join(c for c in (value or "") if c.isprintable())
    return text[:40]


class RateLimitAdapter(BoundedAdapter):
    """The bounded transport (one origin, a deadline, a body cap) passing every attempt through the throttle."""

    def __init__(
        self,
        throttle: Throttle,
        base_url: str,
        on_wait: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        self.throttle = throttle
        self.on_wait = on_wait

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        self.check_origin(request)  # before waiting for the throttle: a refused request costs nothing
        kind = endpoint_of(request.path_url)[0]
        kind = kind if kind == JOB_SYNC_STATUS_ENDPOINT else LIST_ENDPOINT  # any other path counts as the list
        self.throttle.acquire(kind, self.on_wait)
        response = self.send_checked(request, *args, **kwargs)
        self.throttle.observe(kind, response)
        return response
