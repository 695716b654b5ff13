"""The simulator's answers before they are written: status, headers, body, Braze's rate-limit headers and its
paging cursors (standard base64 of `skip:N`, carried in the `Link` header's `cursor` parameter)."""

from __future__ import annotations

import base64
import json
import re
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


def encode_cursor(skip: int) -> str:
    """Braze's cursor for an offset: standard base64 of `skip:N`, padding kept."""
    return base64.b64encode(f"skip:{skip}".encode()).decode("ascii")


def decode_cursor(cursor: str) -> int | None:
    """The offset in a cursor, or None when it is not base64 of `skip:N` with N a non-negative integer."""
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True)
    except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
        return None
    match = re.fullmatch(rb"skip:([0-9]+)", raw)
    return int(match.group(1)) if match else None
