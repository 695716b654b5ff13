"""A small hostile Braze on 127.0.0.1: answers like Braze by default, and like anything a test scripts.

Not the simulator: every test here controls bytes, headers and timing directly. `script(request)` returns a
`Reply` (or None for the Braze-like default). Every request is recorded with its path and whether it carried
the API key.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

API_KEY = "hostile-test-key-0123456789"


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    query: dict[str, list[str]]
    authorized: bool
    raw_path: str


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    pause: float = 0.0
    """Seconds between chunks of an iterable body."""
    reason: str | None = None
    """The status line's reason phrase (the default one for the status when None)."""


def syncs(count: int, start_hour: int = 0) -> list[dict[str, Any]]:
    """`count` finished syncs, newest first, an hour apart, in 2026."""
    rows = []
    for n in range(count):
        hour = start_hour + count - 1 - n
        stamp = f"2026-01-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z"
        rows.append(
            {
                "job_status": "success",
                "sync_start_time": stamp,
                "sync_finish_time": stamp.replace(":00:00Z", ":05:00Z"),
                "last_timestamp_synced": stamp,
                "rows_synced": n,
                "rows_failed_with_errors": 0,
            }
        )
    return rows


def page_body(results: list[Any]) -> bytes:
    return json.dumps({"results": results, "message": "success"}).encode()


class HostileServer:
    """`with HostileServer({"id": [syncs…]}) as server:` — Braze-like paging, scripted deviations."""

    def __init__(
        self,
        history: dict[str, list[dict[str, Any]]] | None = None,
        script: Callable[[Seen], Reply | None] | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        self.history = history if history is not None else {}
        self.names = names or {}
        self.script = script
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                seen = Seen(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    authorized=self.headers.get("Authorization") == f"Bearer {API_KEY}",
                    raw_path=self.path,
                )
                with outer._lock:
                    outer.requests.append(seen)
                reply = (outer.script(seen) if outer.script else None) or outer.braze(seen)
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status, reply.reason)
                names = {k.lower() for k, _ in reply.headers}
                for key, value in reply.headers:
                    self.send_header(key, value)
                if isinstance(reply.body, bytes):
                    if "content-length" not in names:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for chunk in reply.body:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if reply.pause:
                        time.sleep(reply.pause)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_key = API_KEY

    def braze(self, seen: Seen) -> Reply:
        """What Braze would answer: 401 without the key, pages of 10 with relative `next` links."""
        if not seen.authorized:
            return Reply(401, body=b'{"message": "Invalid API key"}')
        if seen.path == "/cdi/integrations":
            items = [
                {"integration_id": i, "integration_name": self.names.get(i, f"name {i}"), "integration_status": "on"}
                for i in self.history
            ]
            return Reply(body=page_body(items))
        for integration_id, rows in self.history.items():
            own = f"/cdi/integrations/{quote(integration_id, safe='', errors='surrogatepass')}/job_sync_status"
            if seen.path == own:
                skip = int(seen.query.get("cursor", ["0"])[0] or 0)
                headers = []
                if skip + 10 < len(rows):
                    headers.append(("Link", f'<{own}?cursor={skip + 10}>; rel="next"'))
                return Reply(headers=headers, body=page_body(rows[skip : skip + 10]))
        return Reply(400, body=b'{"message": "Invalid integration ID"}')

    def count(self, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
