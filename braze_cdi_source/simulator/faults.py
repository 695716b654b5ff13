"""Faults the simulator injects into its answers: server errors, 429s, dropped connections, slow or broken bodies.

A fault matches requests by endpoint kind, integration id and page (None matches any) and is used up after
`times` matching requests. `replacement` answers instead of the API (statuses and drops); `bend` breaks
the API's own answer (body faults keep its status and headers).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from http import HTTPStatus

from .responses import HTML_ERROR, Response, json_response, rate_headers

FAULT_KINDS = frozenset(
    {"500", "502", "503", "504", "429", "drop", "slow", "truncated", "non_json", "wrong_shape", "invalid_cursor"}
)


@dataclass
class Fault:
    """One injected fault and how many more requests it applies to."""

    kind: str
    endpoint: str | None
    integration_id: str | None
    page: int | None
    times: int
    seconds: float

    def matches(self, endpoint: str, integration_id: str | None, page: int | None, has_cursor: bool = True) -> bool:
        """Whether a request to this endpoint kind, integration and page gets this fault ("invalid_cursor":
        only a request that carries a cursor)."""
        return (
            (self.kind != "invalid_cursor" or has_cursor)
            and (self.endpoint is None or self.endpoint == endpoint)
            and (self.integration_id is None or self.integration_id == integration_id)
            and (self.page is None or self.page == page)
        )


def take(
    faults: list[Fault], endpoint: str, integration_id: str | None, page: int | None, has_cursor: bool = True
) -> Fault | None:
    """The first pending fault that matches, counted once (removed when used up); None if none matches."""
    fault = next((f for f in faults if f.matches(endpoint, integration_id, page, has_cursor)), None)
    if fault is not None:
        fault.times -= 1
        if fault.times <= 0:
            faults.remove(fault)
    return fault


def replacement(kind: str | None, limit: int, now: float) -> Response | None:
    """The answer a status or drop fault gives instead of the API's (429: `limit`, reset 2 s after `now`)."""
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
    """Break the body of the API's own answer in place for a body fault; other kinds leave it as it is."""
    if kind == "truncated":
        response.body = response.body[: len(response.body) // 2]
    elif kind == "non_json":
        response.headers = [(k, "text/html" if k == "Content-Type" else v) for k, v in response.headers]
        response.body = HTML_ERROR.format("Service temporarily unavailable").encode()
    elif kind == "wrong_shape":
        response.body = json.dumps({"results": {"oops": 1}, "message": "success"}).encode()
