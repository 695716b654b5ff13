"""Braze's CDI API over real HTTP on loopback (the standard library's server), as Braze documents it: Bearer
auth, 10-item pages with a `Link` header of `skip:N` cursors, per-endpoint rate limits, Braze's error bodies.

Order of checks for a request: injected fault, unknown path (404), method (405), key (401),
permission (403), rate limit (429; 401/403 do not consume it), integration id (400), cursor (400).
"""

from __future__ import annotations

import contextlib
import hmac
import random
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from ..settings import JOB_SYNC_STATUS_ENDPOINT, LIST_ENDPOINT, OTHER_ENDPOINT, PERMISSIONS, endpoint_of
from .history import TIMESTAMP_STYLES
from .responses import (
    DEFAULT_RATE_LIMITS,
    FAULT_KINDS,
    Fault,
    Response,
    Window,
    bend,
    decode_cursor,
    encode_cursor,
    json_response,
    rate_headers,
    replacement,
    take,
)
from .workspace import Workspace

__all__ = ["BrazeSimulator", "RecordedRequest"]

LIST, JOB_SYNC_STATUS, OTHER = LIST_ENDPOINT, JOB_SYNC_STATUS_ENDPOINT, OTHER_ENDPOINT
PAGE_SIZE = 10  # items per page, as Braze serves them


@dataclass
class RecordedRequest:
    """One request the simulator answered (status 0: the connection was dropped without an answer)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    endpoint: str  # "list" | "job_sync_status" | "other"
    integration_id: str | None
    authorization: str | None  # the raw Authorization header as received
    at: float = field(default_factory=time.monotonic, compare=False)  # when answered (monotonic clock)


class BrazeSimulator(Workspace):
    """Braze's CDI API on a loopback port, with seed-determined data, mutations and fault injection.

    `rate_limits` overrides Braze's (limit, seconds) per endpoint kind; injected faults other than "slow" and
    the body faults bypass them. Syncs are served newest first, as Braze's examples suggest; `oldest_first`
    serves them the other way (Braze documents no order). All public methods are thread-safe.
    """

    def __init__(
        self, sync_counts: Sequence[int] = (0, 7, 10, 11, 137), *, seed: int = 42, api_key: str | None = None,
        host: str = "127.0.0.1", port: int = 0, absolute_links: bool = False, malformed_links: bool = False,
        next_link_origin: str | None = None, rate_limits: dict[str, tuple[int, float]] | None = None,
        latency: float = 0.0, oldest_first: bool = False, aligned_windows: bool = False,
        permissions: Iterable[str] = ("cdi.integration_list", "cdi.integration_job_status"),
        timestamp_style: str = "mixed", now: datetime | None = None,
    ) -> None:
        if timestamp_style not in TIMESTAMP_STYLES:
            raise ValueError(f"timestamp_style must be one of {TIMESTAMP_STYLES}, not {timestamp_style!r}")
        master = random.Random(f"braze-sim:{seed}")
        self.api_key = api_key if api_key is not None else f"sim-{master.getrandbits(128):032x}"
        self._host, self._port = host, port
        self._absolute_links = absolute_links
        self._malformed_links = malformed_links
        self._next_link_origin = next_link_origin.rstrip("/") if next_link_origin else None
        limits = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self._windows = {kind: Window(limit, seconds, aligned_windows) for kind, (limit, seconds) in limits.items()}
        self._latency = latency
        self._oldest_first = oldest_first
        self._permissions = frozenset(permissions)
        app_group_id = str(uuid.UUID(int=master.getrandbits(128), version=4))
        super().__init__(seed, app_group_id, timestamp_style, now)
        self._faults: list[Fault] = []
        self._log: list[RecordedRequest] = []
        self._server: SimulatorServer | None = None
        self._connections: set[socket.socket] = set()
        for count in sync_counts:
            self.add_integration(count)

    def start(self) -> BrazeSimulator:
        """Bind the port and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._server = SimulatorServer((self._host, self._port), self)
        threading.Thread(  # `stop`'s shutdown() returns once this loop has ended
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="braze-simulator", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()

    def __enter__(self) -> BrazeSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running simulator."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def inject(
        self, kind: str, *, endpoint: str | None = None, integration_id: str | None = None, page: int | None = None,
        times: int = 1, seconds: float = 5.0,
    ) -> None:
        """Give the next `times` matching requests a fault.

        kind: "500" | "502" | "503" | "504" | "429" (rate-limit headers, reset 2 s ahead, no Retry-After)
        | "drop" (close the connection without answering) | "slow" (sleep `seconds`, then answer)
        | "truncated" (body cut at half, Content-Length of the cut body) | "non_json" (an HTML body)
        | "wrong_shape" (`{"results": {"oops": 1}, "message": "success"}`) | "invalid_cursor" (400 Invalid
        cursor, only for requests that carry a cursor: an expired one). The body faults keep the
        normal answer's status and headers. `page` is 0-based (skip // 10); None matches any.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if endpoint not in (None, LIST, JOB_SYNC_STATUS, OTHER):
            raise ValueError(f"unknown endpoint {endpoint!r}")
        if times > 0:
            with self._lock:
                self._faults.append(Fault(kind, endpoint, integration_id, page, times, seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def count(self, endpoint: str | None = None, integration_id: str | None = None, status: int | None = None) -> int:
        """How many logged requests match every given filter."""
        wanted = {"endpoint": endpoint, "integration_id": integration_id, "status": status}
        with self._lock:
            return sum(all(v is None or getattr(r, k) == v for k, v in wanted.items()) for r in self._log)

    def reset_log(self) -> None:
        """Empty the request log (and so the `throttled` count)."""
        with self._lock:
            self._log.clear()

    @property
    def throttled(self) -> int:
        """How many 429 answers were sent (rate limit and injected)."""
        return self.count(status=429)

    def _respond(self, method: str, target: str, authorization: str | None) -> Response:
        if self._latency > 0:
            time.sleep(self._latency)
        path, _, query_string = target.partition("?")
        query = dict(parse_qsl(query_string.replace("+", "%2B"), keep_blank_values=True))  # `+` stays `+` (base64)
        endpoint, integration_id = endpoint_of(path)
        skip = decode_cursor(query["cursor"]) if "cursor" in query else 0
        page = None if skip is None else skip // PAGE_SIZE
        with self._lock:
            fault = take(self._faults, endpoint, integration_id, page, "cursor" in query)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "slow":
            time.sleep(fault.seconds)
        limit = self._windows[JOB_SYNC_STATUS if endpoint == JOB_SYNC_STATUS else LIST].limit
        response = replacement(kind, limit, time.time())
        if response is None:
            response = self._api_response(method, endpoint, integration_id, query, skip, authorization)
            bend(response, kind)
        with self._lock:
            self._log.append(
                RecordedRequest(method, path, query, response.status, endpoint, integration_id, authorization)
            )
        return response

    def _api_response(
        self, method: str, endpoint: str, integration_id: str | None, query: dict[str, str], skip: int | None,
        authorization: str | None,
    ) -> Response:
        if endpoint == OTHER:
            return json_response(404, {"message": "Not Found"})
        if method != "GET":
            return json_response(405, {"message": "Method Not Allowed"}, [("Allow", "GET")])
        window = self._windows[endpoint]
        now = time.time()
        permission = PERMISSIONS[endpoint]
        scheme, _, token = (authorization or "").partition(" ")
        authorized = scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())
        if not authorized or permission not in self._permissions:
            with self._lock:
                headers = rate_headers(window.limit, *window.peek(now))
            if not authorized:
                return json_response(401, {"message": "Invalid API key"}, headers)
            denied = {"message": "Access Denied", "errors": [f"The API key lacks the permission {permission}"]}
            return json_response(403, denied, headers)
        integration: Any = None
        with self._lock:
            allowed, remaining, reset = window.hit(now)
            headers = rate_headers(window.limit, remaining, reset)
            if not allowed:
                return json_response(429, {"message": "Rate Limited"}, headers)
            if endpoint == JOB_SYNC_STATUS:
                integration = self._integrations.get(integration_id or "")
                if integration is None:
                    return json_response(400, {"message": "Invalid integration ID"}, headers)
            if skip is None:
                return json_response(400, {"message": "Invalid cursor"}, headers)
            if integration is None:
                results, total = self.integration_page(skip, PAGE_SIZE)
                path = next_path = "/cdi/integrations"
            else:
                results, total = self.sync_page(integration, skip, PAGE_SIZE, self._oldest_first)
                path = f"/cdi/integrations/{integration.integration_id}/job_sync_status"
                next_path = path.replace("integrations/", "integrations", 1) if self._malformed_links else path
            link = self._link(path, next_path, skip, total, "cursor" in query)
        if link:
            headers.append(("Link", link))
        return json_response(200, {"results": results, "message": "success"}, headers)

    def _link(self, path: str, next_path: str, skip: int, total: int, has_cursor: bool) -> str | None:
        """Braze's Link header: none for one page, no prev without a cursor, no next on the last page."""
        if total <= PAGE_SIZE:
            return None
        origin = self.base_url if self._absolute_links else ""
        links = []
        if has_cursor:
            links.append(f'<{origin}{path}?cursor={encode_cursor(max(0, skip - PAGE_SIZE))}>; rel="prev"')
        if skip + PAGE_SIZE < total:
            next_origin = self._next_link_origin or origin
            links.append(f'<{next_origin}{next_path}?cursor={encode_cursor(skip + PAGE_SIZE)}>; rel="next"')
        return ",".join(links) or None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid delayed-ACK stalls
    timeout = 300  # idle keep-alive connections close after this
    server: SimulatorServer

    def setup(self) -> None:  # open connections are tracked: `stop` closes idle keep-alive ones
        super().setup()
        with self.server.simulator._lock:
            self.server.simulator._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.simulator._lock:
                self.server.simulator._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log on stderr."""

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)
        response = self.server.simulator._respond(self.command, self.path, self.headers.get("Authorization"))
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:  # the client went away
            self.close_connection = True

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET


class SimulatorServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one simulator, without reverse DNS and quiet about gone clients.

    Every request, whatever its method, is answered by `BrazeSimulator._respond` (looked up per request, so a
    test can wrap it)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: BrazeSimulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)
