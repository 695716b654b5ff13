"""The simulator's answers before they are written: status, headers, body, and Braze's rate-limit headers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

HTML_ERROR = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"
"""The body of a gateway error page (Braze's 502/503/504 come from its load balancer, in HTML)."""


@dataclass
class Response:
    """One answer; `drop` closes the connection without writing anything."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    drop: bool = False


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A compact JSON answer with `headers` after its Content-Type."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


def rate_headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    """Braze's `X-RateLimit-*` headers (reset in UTC epoch seconds)."""
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Reset", str(reset)),
    ]
