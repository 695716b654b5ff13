"""What the simulator answers: responses, Braze's rate-limit windows and headers, its paging cursors (standard
base64 of `skip:N`) and the faults tests inject (server errors, 429s, dropped connections, broken bodies)."""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from ..settings import RATE_LIMITS_PER_MINUTE

HTML_ERROR = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"
"""The body of a gateway error page (Braze's 502/503/504 come from its load balancer, in HTML)."""

DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {kind: (n, 60.0) for kind, n in RATE_LIMITS_PER_MINUTE.items()}
"""Requests per window and the window's length in seconds, per endpoint kind (Braze's documented limits)."""

FAULT_KINDS = frozenset(
    {"500", "502", "503", "504", "429", "drop", "slow", "truncated", "non_json", "wrong_shape", "invalid_cursor"}
)


@dataclass
class Response:
    """One answer; `drop` closes the connection without writing anything."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    drop: bool = False


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


def rate_headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    """Braze's `X-RateLimit-*` headers (reset in UTC epoch seconds)."""
    values = {"Limit": limit, "Remaining": remaining, "Reset": reset}
    return [(f"X-RateLimit-{name}", str(value)) for name, value in values.items()]


def encode_cursor(skip: int) -> str:
    return base64.b64encode(f"skip:{skip}".encode()).decode("ascii")


def decode_cursor(cursor: str) -> int | None:
    """The offset in a cursor, or None when it is not base64 of `skip:N` with N a non-negative integer."""
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True)
    except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
        return None
    match = re.fullmatch(rb"skip:([0-9]+)", raw)
    return int(match.group(1)) if match else None


class Window:
    """A fixed-window rate limit that starts at the first request after the previous window ended (or, `aligned`,
    on multiples of its length, like a per-minute counter)."""

    def __init__(self, limit: int, seconds: float, aligned: bool = False) -> None:
        self.limit, self.seconds, self.aligned = limit, seconds, aligned
        self.end, self.used = 0.0, 0

    def _next_end(self, now: float) -> float:
        return (math.floor(now / self.seconds) + 1) * self.seconds if self.aligned else now + self.seconds

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


@dataclass
class Fault:
    """One injected fault, matching requests by endpoint kind, integration and page (None: any), `times` more."""

    kind: str
    endpoint: str | None
    integration_id: str | None
    page: int | None
    times: int
    seconds: float

    def matches(self, endpoint: str, integration_id: str | None, page: int | None, has_cursor: bool) -> bool:
        return (
            (self.kind != "invalid_cursor" or has_cursor)
            and self.endpoint in (None, endpoint)
            and self.integration_id in (None, integration_id)
            and self.page in (None, page)
        )


def take(
    faults: list[Fault], endpoint: str, integration_id: str | None, page: int | None, has_cursor: bool
) -> Fault | None:
    """The first pending fault that matches, counted once (removed when used up)."""
    fault = next((f for f in faults if f.matches(endpoint, integration_id, page, has_cursor)), None)
    if fault is not None:
        fault.times -= 1
        if fault.times <= 0:
            faults.remove(fault)
    return fault


def replacement(kind: str | None, limit: int, now: float) -> Response | None:
    """The answer a status or drop fault gives instead of the API's (429: reset 2 s after `now`)."""
    if kind == "drop":
        return Response(0, [], b"", drop=True)
    if kind == "429":
        return json_response(429, {"message": "Rate Limited"}, rate_headers(limit, 0, math.ceil(now + 2)))
    if kind == "500":
        return json_response(500, {"message": "Internal Server Error"})
    if kind == "invalid_cursor":  # what Braze answers for a cursor it no longer knows
        return json_response(400, {"message": "Invalid cursor"})
    if kind in ("502", "503", "504"):
        title = f"{kind} {HTTPStatus(int(kind)).phrase}"
        return Response(int(kind), [("Content-Type", "text/html")], HTML_ERROR.format(title).encode())
    return None


def bend(response: Response, kind: str | None) -> None:
    """Break the API's own answer in place for a body fault (its status and headers stay)."""
    if kind == "truncated":
        response.body = response.body[: len(response.body) // 2]
    elif kind == "non_json":
        response.headers = [(k, "text/html" if k == "Content-Type" else v) for k, v in response.headers]
        response.body = HTML_ERROR.format("Service temporarily unavailable").encode()
    elif kind == "wrong_shape":
        response.body = json.dumps({"results": {"oops": 1}, "message": "success"}).encode()
