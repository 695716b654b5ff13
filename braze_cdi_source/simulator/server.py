"""A local imitation of Braze's Cloud Data Ingestion (CDI) REST API, over real HTTP.

`BrazeSimulator` serves `GET /cdi/integrations` and `GET /cdi/integrations/{id}/job_sync_status` on
loopback the way Braze documents them: Bearer auth, 10-item pages announced by a `Link` header with
base64 `skip:N` cursors, per-endpoint rate limits with `X-RateLimit-*` headers, and Braze's error
bodies. The sync history is generated deterministically from a seed, can be changed between runs, and
faults (5xx, 429, dropped connections, slow or broken bodies) can be injected. The demo command, the
tests and the benchmarks run against it; it needs nothing beyond the standard library.

Order of checks for a request: injected fault, unknown path (404), method (405), key (401),
permission (403), rate limit (429; 401/403 do not consume it), integration id (400), cursor (400).

    with BrazeSimulator([0, 7, 137]) as sim:
        requests.get(f"{sim.base_url}/cdi/integrations",
                     headers={"Authorization": f"Bearer {sim.api_key}"})

Command line: `python -m braze_cdi_source.simulator --port 8080 --integrations 20`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hmac
import json
import math
import random
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import unquote

__all__ = [
    "BrazeSimulator",
    "RecordedRequest",
    "decode_cursor",
    "derive_sync_counts",
    "encode_cursor",
    "main",
]

LIST = "list"
JOB_SYNC_STATUS = "job_sync_status"
OTHER = "other"

PERMISSIONS = {LIST: "cdi.integration_list", JOB_SYNC_STATUS: "cdi.integration_job_status"}
DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {LIST: (50, 60.0), JOB_SYNC_STATUS: (100, 60.0)}
FAULT_KINDS = frozenset({"500", "502", "503", "504", "429", "drop", "slow", "truncated", "non_json", "wrong_shape"})
TIMESTAMP_STYLES = ("mixed", "z", "offset", "fractional")

_EPOCH = datetime(1970, 1, 1)  # naive UTC; every instant inside the simulator is int ms since it
_EPOCH_UTC = _EPOCH.replace(tzinfo=timezone.utc)
_SECOND = 1_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_SCHEDULES = (15 * _MINUTE, _HOUR, 6 * _HOUR, _DAY)
_MAX_HISTORY = 3 * 365 * _DAY  # beyond this a schedule is too slow for the sync count: fall back to 5 min

# Rendering styles of one timestamp: 2026-11-28T10:15:00Z, …00+00:00, …00.123Z, …00.5+00:00.
_Z, _OFFSET, _MILLIS, _TENTHS = range(4)
_QUANTUM = (_SECOND, _SECOND, 1, 100)  # the finest instant each style renders exactly
_STYLE_OF = {"z": _Z, "offset": _OFFSET, "fractional": _MILLIS}

_WAREHOUSES = (
    ("snowflake", "Snowflake"),
    ("bigquery", "BigQuery"),
    ("redshift", "Redshift"),
    ("databricks", "Databricks"),
)
_TYPES = (
    ("user_attributes", "users"),
    ("user_attributes", "customer profiles"),
    ("custom_events", "events"),
    ("purchase_events", "purchases"),
    ("catalogs", "product catalog"),
    ("delete_users", "user deletes"),
)
_EMAILS = (
    "data-eng@example.com",
    "crm-ops@example.com",
    "jane.doe@example.com",
    "li.wei@example.com",
    "analytics@example.com",
    "marketing-tech@example.com",
)
_HTML_ERROR = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"


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


def derive_sync_counts(integrations: int, seed: int = 42) -> list[int]:
    """A realistic, seed-determined mix of sync counts (0 to 300) for `integrations` integrations."""
    rng = random.Random(f"braze-sim-counts:{seed}")
    counts = []
    for _ in range(integrations):
        draw = rng.random()
        if draw < 0.1:
            counts.append(0)
        elif draw < 0.3:
            counts.append(rng.randint(1, 10))
        elif draw < 0.7:
            counts.append(rng.randint(11, 100))
        else:
            counts.append(rng.randint(101, 300))
    return counts


# --- data model ---------------------------------------------------------------------------------


class _Sync:
    """One sync; instants are int milliseconds since the Unix epoch (UTC)."""

    __slots__ = ("start", "finish", "watermark", "rows", "failed", "status", "style", "raw")

    def __init__(self, start: int, status: str, style: int) -> None:
        self.start = start
        self.finish: int | None = None
        self.watermark: int | None = None
        self.rows: int | None = None
        self.failed: int | None = None
        self.status = status
        self.style = style
        self.raw: Any = None  # an arbitrary item served instead of this sync (set_job_status_raw)


@dataclass
class _Integration:
    integration_id: str
    name: str
    type: str
    status: str
    emails: str
    warehouse: str | None
    interval: int
    style: int
    created: int
    rng: random.Random
    syncs: list[_Sync] = field(default_factory=list)  # oldest first; served reversed


def _render(ms: int | None, style: int) -> str | None:
    """An instant as Braze-like ISO 8601 text in `style`, or the millisecond form when style can't hold it."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, _SECOND)
    base = (_EPOCH + timedelta(seconds=seconds)).isoformat()
    if millis == 0 and style == _Z:
        return base + "Z"
    if millis == 0 and style == _OFFSET:
        return base + "+00:00"
    if style == _TENTHS and millis % 100 == 0:
        return f"{base}.{millis // 100}+00:00"
    return f"{base}.{millis:03d}Z"


def _instant(ms: int | None) -> datetime | None:
    return None if ms is None else _EPOCH_UTC + timedelta(milliseconds=ms)


def _to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH_UTC) // timedelta(milliseconds=1)


def _parse_instant(value: Any) -> Any:
    """An ISO 8601 string as an aware UTC datetime; anything else unchanged (for raw overrides)."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)?", value.strip())
    if not match:
        return value
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(f"{base}.{(fraction or '').ljust(6, '0')}{zone}").astimezone(timezone.utc)


def _ceil_to(value: int, quantum: int) -> int:
    return -(-value // quantum) * quantum


def _pick_status(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.85:
        return "success"
    if draw < 0.92:
        return "partial"
    if draw < 0.96:
        return "error"
    if draw < 0.98:
        return "config_error"
    if draw < 0.985:
        return "limit_exceeded"  # the dashboard's "Limit Exceeded"; undocumented in the API
    return "success"


def _pick_style(rng: random.Random, timestamp_style: str) -> int:
    if timestamp_style != "mixed":
        return _STYLE_OF[timestamp_style]
    draw = rng.random()
    if draw < 0.4:
        return _Z
    if draw < 0.65:
        return _OFFSET
    return _MILLIS if draw < 0.85 else _TENTHS


def _finish_sync(
    sync: _Sync, rng: random.Random, status: str, prev_watermark: int | None, latest_finish: int | None = None
) -> int | None:
    """Close `sync` with `status`: finish time, rows and watermark. Returns the watermark after it."""
    quantum = _QUANTUM[sync.style]
    if status in ("error", "config_error"):
        duration = rng.randrange(200, 60 * _SECOND)
    elif rng.random() < 0.03:
        duration = rng.randrange(30 * _MINUTE, 3 * _HOUR)
    else:
        duration = min(5 * _SECOND + int(rng.expovariate(1 / (3 * _MINUTE))), 20 * _MINUTE)
    finish = sync.start + max(quantum, duration // quantum * quantum)
    if latest_finish is not None:
        finish = max(sync.start, min(finish, latest_finish))
    sync.status, sync.finish = status, finish
    if status == "success":
        sync.rows, sync.failed = int(rng.expovariate(1 / 2500)), 0
    elif status == "partial":
        sync.rows, sync.failed = 1 + int(rng.expovariate(1 / 2500)), 1 + int(rng.expovariate(1 / 40))
    elif status == "error":
        sync.rows, sync.failed = 0, int(rng.expovariate(1 / 30)) if rng.random() < 0.5 else 0
    elif status == "config_error":
        sync.rows, sync.failed = 0, 0
    else:
        sync.rows, sync.failed = 1 + int(rng.expovariate(1 / 5000)), 0
    if status in ("success", "partial"):
        candidate = sync.start - rng.randrange(1, 600) * _SECOND
        prev_watermark = candidate if prev_watermark is None else max(prev_watermark, candidate)
    sync.watermark = prev_watermark
    return prev_watermark


def _generate_syncs(
    rng: random.Random, count: int, interval: int, end: int, timestamp_style: str, running_newest: bool
) -> list[_Sync]:
    """`count` syncs one at a time on `interval`, oldest first, the newest ending just before `end`."""
    syncs: list[_Sync] = []
    # In mixed style two syncs start within one second, the later one with ".500" (see DESIGN trap 2).
    pair_newer = -1
    if timestamp_style == "mixed" and count > 1:
        pair_newer = count - 1 - rng.randrange(0, min(count - 1, 15))
    prev_end: int | None = None
    watermark: int | None = None
    for index in range(count):
        style = _pick_style(rng, timestamp_style)
        status = _pick_status(rng)
        start = index * interval + rng.randrange(0, _MINUTE)
        if prev_end is not None:
            start = max(start, prev_end + rng.randrange(_SECOND, 30 * _SECOND))
        if index == pair_newer - 1:
            style, status = _Z, "error"
        elif index == pair_newer:
            start, style = syncs[-1].start + 500, rng.choice((_MILLIS, _TENTHS))
        sync = _Sync(_ceil_to(start, _QUANTUM[style]), status, style)
        syncs.append(sync)
        if index == count - 1 and running_newest:
            sync.status = "running"
            prev_end = sync.start
        elif index == pair_newer - 1:
            watermark = _finish_sync(sync, rng, status, watermark, latest_finish=sync.start + 300)
            prev_end = sync.finish
        else:
            watermark = _finish_sync(sync, rng, status, watermark)
            prev_end = sync.finish
    if not syncs:
        return syncs
    margin = rng.randrange(30, 900) if running_newest else rng.randrange(0, interval // _SECOND)
    shift = end - margin * _SECOND - _ceil_to(prev_end or 0, _SECOND)
    for sync in syncs:
        sync.start += shift
        if sync.finish is not None:
            sync.finish += shift
        if sync.watermark is not None:
            sync.watermark += shift
    return syncs


# --- rate limiting and faults -------------------------------------------------------------------


class _Window:
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
        if now >= self.end:
            return self.limit, math.ceil(self._next_end(now))
        return max(0, self.limit - self.used), math.ceil(self.end)


@dataclass
class _Fault:
    kind: str
    endpoint: str | None
    integration_id: str | None
    page: int | None
    times: int
    seconds: float

    def matches(self, endpoint: str, integration_id: str | None, page: int | None) -> bool:
        return (
            (self.endpoint is None or self.endpoint == endpoint)
            and (self.integration_id is None or self.integration_id == integration_id)
            and (self.page is None or self.page == page)
        )


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    drop: bool = False


def _json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> _Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


def _rate_headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Reset", str(reset)),
    ]


def _parse_query(query: str) -> dict[str, str]:
    """Query parameters, percent-decoded; `+` stays `+` (base64 cursors may hold it)."""
    params: dict[str, str] = {}
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            params[unquote(key)] = unquote(value)
    return params


def _route(path: str) -> tuple[str, str | None]:
    if path == "/cdi/integrations":
        return LIST, None
    parts = path.split("/")
    if len(parts) == 5 and parts[:3] == ["", "cdi", "integrations"] and parts[3] and parts[4] == JOB_SYNC_STATUS:
        return JOB_SYNC_STATUS, unquote(parts[3])
    return OTHER, None


# --- the simulator ------------------------------------------------------------------------------


class BrazeSimulator:
    """Braze's CDI API on a loopback port, with seed-determined data, mutations and fault injection.

    Rate limits are fixed windows per endpoint kind ("list", "job_sync_status") that start at the first
    request after the previous window ended; requests answered 401 or 403 do not consume them, injected
    faults other than "slow" and the body faults bypass them. `rate_limits` overrides one or both kinds;
    a kind left out keeps Braze's limit. `aligned_windows=True` makes the windows end on multiples of
    their length instead (like a per-minute counter, so X-RateLimit-Reset is exact, not rounded up).
    Syncs are served newest first, as Braze's examples suggest; `oldest_first=True` serves them the other
    way, since Braze does not document the order. All public methods are thread-safe.
    """

    def __init__(
        self,
        sync_counts: Sequence[int] = (0, 7, 10, 11, 137),
        *,
        seed: int = 42,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 10,
        absolute_links: bool = False,
        malformed_links: bool = False,
        next_link_origin: str | None = None,
        rate_limits: dict[str, tuple[int, float]] | None = None,
        latency: float = 0.0,
        oldest_first: bool = False,
        aligned_windows: bool = False,
        permissions: Iterable[str] = ("cdi.integration_list", "cdi.integration_job_status"),
        timestamp_style: str = "mixed",
        now: datetime | None = None,
    ) -> None:
        if timestamp_style not in TIMESTAMP_STYLES:
            raise ValueError(f"timestamp_style must be one of {TIMESTAMP_STYLES}, not {timestamp_style!r}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._seed = seed
        master = random.Random(f"braze-sim:{seed}")
        self.api_key = api_key if api_key is not None else f"sim-{master.getrandbits(128):032x}"
        self._host, self._port = host, port
        self._page_size = page_size
        self._absolute_links = absolute_links
        self._malformed_links = malformed_links
        self._next_link_origin = next_link_origin.rstrip("/") if next_link_origin else None
        limits = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self._windows = {kind: _Window(limit, seconds, aligned_windows) for kind, (limit, seconds) in limits.items()}
        self._latency = latency
        self._oldest_first = oldest_first
        self._permissions = frozenset(permissions)
        self._timestamp_style = timestamp_style
        anchor = now if now is not None else datetime.now(timezone.utc)
        self._now = _to_ms(anchor) // _SECOND * _SECOND
        self._app_group_id = str(uuid.UUID(int=master.getrandbits(128), version=4))
        self._lock = threading.RLock()
        self._integrations: dict[str, _Integration] = {}
        self._faults: list[_Fault] = []
        self._log: list[RecordedRequest] = []
        self._throttled = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        for count in sync_counts:
            self.add_integration(count)

    # --- lifecycle

    def start(self) -> BrazeSimulator:
        """Bind the port and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="braze-simulator", daemon=True
        )
        self._thread.start()
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
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BrazeSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running simulator."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def integration_ids(self) -> list[str]:
        """Integration ids in list order."""
        with self._lock:
            return list(self._integrations)

    # --- the truth

    def truth(self, integration_id: str) -> list[dict]:
        """Syncs of one integration, newest first, with aware UTC datetimes; items replaced by
        `set_job_status_raw` appear as replaced, their ISO 8601 strings parsed."""
        with self._lock:
            return [self._truth_item(sync) for sync in reversed(self._get(integration_id).syncs)]

    def integrations_truth(self) -> list[dict]:
        """`/cdi/integrations` items as served (raw string values), in list order."""
        with self._lock:
            return [self._integration_item(integration) for integration in self._integrations.values()]

    # --- mutations

    def add_integration(self, sync_count: int) -> str:
        """Add an integration with `sync_count` generated syncs; returns its id."""
        with self._lock:
            index = len(self._integrations)
            rng = random.Random(f"braze-sim:{self._seed}:{index}")
            integration_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            warehouse, warehouse_name = rng.choice(_WAREHOUSES)
            integration_type, subject = rng.choice(_TYPES)
            active = rng.random() < 0.9
            schedules = [s for s in _SCHEDULES if s * sync_count <= _MAX_HISTORY] or [5 * _MINUTE]
            interval = rng.choice(schedules)
            emails = ",".join(rng.sample(_EMAILS, rng.randint(1, 3)))
            style = _pick_style(rng, self._timestamp_style)
            running = active and sync_count > 0 and rng.random() < 1 / 3
            syncs = _generate_syncs(rng, sync_count, interval, self._now, self._timestamp_style, running)
            created = (syncs[0].start if syncs else self._now) - rng.randrange(1, 72) * _HOUR
            self._integrations[integration_id] = _Integration(
                integration_id=integration_id,
                name=f"{warehouse_name} {subject} sync" if syncs else f"{subject.capitalize()} sync (new)",
                type=integration_type,
                status="active" if active else "paused",
                emails=emails,
                warehouse=warehouse if syncs else None,
                interval=interval,
                style=style if style in (_Z, _OFFSET) else _Z,
                created=created,
                rng=rng,
                syncs=syncs,
            )
            return integration_id

    def add_syncs(
        self, integration_id: str, k: int, *, status: str = "success", running_last: bool = False
    ) -> list[dict]:
        """Append `k` syncs with `status` after the newest one (the last one running if `running_last`);
        returns them newest first in truth form. Existing syncs are left as they are."""
        with self._lock:
            integration = self._get(integration_id)
            added = [
                self._append_sync(integration, "running" if running_last and i == k - 1 else status) for i in range(k)
            ]
            return [self._truth_item(sync) for sync in reversed(added)]

    def start_sync(self, integration_id: str) -> dict:
        """Append a running sync (finish, rows and watermark null) newer than all; returns it (truth form)."""
        with self._lock:
            return self._truth_item(self._append_sync(self._get(integration_id), "running"))

    def finish_running(self, integration_id: str | None = None, *, status: str = "success") -> int:
        """Finish running syncs of one integration (all if None) with `status`; returns how many."""
        with self._lock:
            targets = [self._get(integration_id)] if integration_id is not None else self._integrations.values()
            finished = 0
            for integration in targets:
                syncs = integration.syncs
                for index, sync in enumerate(syncs):
                    if sync.status != "running":
                        continue
                    newer = syncs[index + 1].start - _QUANTUM[sync.style] if index + 1 < len(syncs) else None
                    _finish_sync(sync, integration.rng, status, self._watermark_before(syncs, index), newer)
                    finished += 1
            return finished

    def set_job_status_raw(self, integration_id: str, index: int, raw: dict) -> None:
        """Serve `raw` (any JSON value) instead of the sync at `index` (0 = newest)."""
        with self._lock:
            syncs = self._get(integration_id).syncs
            if not 0 <= index < len(syncs):
                raise IndexError(f"integration {integration_id} has {len(syncs)} syncs, no index {index}")
            syncs[len(syncs) - 1 - index].raw = copy.deepcopy(raw)

    # --- faults

    def inject(
        self,
        kind: str,
        *,
        endpoint: str | None = None,
        integration_id: str | None = None,
        page: int | None = None,
        times: int = 1,
        seconds: float = 5.0,
    ) -> None:
        """Give the next `times` matching requests a fault.

        kind: "500" | "502" | "503" | "504" | "429" (rate-limit headers, reset 2 s ahead, no Retry-After)
        | "drop" (close the connection without answering) | "slow" (sleep `seconds`, then answer)
        | "truncated" (body cut at half, Content-Length of the cut body) | "non_json" (an HTML body)
        | "wrong_shape" (`{"results": {"oops": 1}, "message": "success"}`). The body faults keep the
        normal answer's status and headers. `page` is 0-based (skip // page_size); None matches any.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if endpoint not in (None, LIST, JOB_SYNC_STATUS, OTHER):
            raise ValueError(f"unknown endpoint {endpoint!r}")
        if times > 0:
            with self._lock:
                self._faults.append(_Fault(kind, endpoint, integration_id, page, times, seconds))

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    # --- request log

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def count(self, endpoint: str | None = None, integration_id: str | None = None, status: int | None = None) -> int:
        """How many logged requests match every given filter."""
        with self._lock:
            return sum(
                1
                for r in self._log
                if (endpoint is None or r.endpoint == endpoint)
                and (integration_id is None or r.integration_id == integration_id)
                and (status is None or r.status == status)
            )

    def reset_log(self) -> None:
        """Empty the request log and the `throttled` counter."""
        with self._lock:
            self._log.clear()
            self._throttled = 0

    @property
    def throttled(self) -> int:
        """How many 429 answers were sent (rate limit and injected)."""
        with self._lock:
            return self._throttled

    # --- internals: data

    def _get(self, integration_id: str) -> _Integration:
        try:
            return self._integrations[integration_id]
        except KeyError:
            raise KeyError(f"unknown integration {integration_id!r}") from None

    @staticmethod
    def _watermark_before(syncs: list[_Sync], index: int) -> int | None:
        for i in range(index - 1, -1, -1):
            if syncs[i].watermark is not None:
                return syncs[i].watermark
        return None

    def _append_sync(self, integration: _Integration, status: str) -> _Sync:
        rng, syncs = integration.rng, integration.syncs
        if syncs:
            newest = syncs[-1]
            base = newest.finish if newest.finish is not None else newest.start + _SECOND
            base = max(base, newest.start + _SECOND)
        else:
            base = self._now
        style = _pick_style(rng, self._timestamp_style)
        start = base + rng.randrange(integration.interval // 2, integration.interval + 1)
        sync = _Sync(_ceil_to(start, _QUANTUM[style]), status, style)
        if status != "running":
            _finish_sync(sync, rng, status, self._watermark_before(syncs, len(syncs)))
        syncs.append(sync)
        return sync

    @staticmethod
    def _truth_item(sync: _Sync) -> dict:
        if sync.raw is not None:
            raw = copy.deepcopy(sync.raw)
            return {k: _parse_instant(v) for k, v in raw.items()} if isinstance(raw, dict) else raw
        return {
            "job_status": sync.status,
            "sync_start_time": _instant(sync.start),
            "sync_finish_time": _instant(sync.finish),
            "last_timestamp_synced": _instant(sync.watermark),
            "rows_synced": sync.rows,
            "rows_failed_with_errors": sync.failed,
        }

    @staticmethod
    def _served_item(sync: _Sync) -> Any:
        if sync.raw is not None:
            return sync.raw
        return {
            "job_status": sync.status,
            "sync_start_time": _render(sync.start, sync.style),
            "sync_finish_time": _render(sync.finish, sync.style),
            "last_timestamp_synced": _render(sync.watermark, sync.style),
            "rows_synced": sync.rows,
            "rows_failed_with_errors": sync.failed,
        }

    def _integration_item(self, integration: _Integration) -> dict:
        syncs = integration.syncs
        newest = syncs[-1] if syncs else None
        watermark = self._watermark_before(syncs, len(syncs))
        next_run = None
        if newest is not None and integration.status == "active":
            latest = max(newest.start, newest.finish or newest.start)
            next_run = (latest // integration.interval + 1) * integration.interval
        return {
            "integration_id": integration.integration_id,
            "app_group_id": self._app_group_id,
            "integration_name": integration.name,
            "integration_type": integration.type,
            "integration_status": integration.status,
            "contact_emails": integration.emails,
            "last_updated_at": _render(watermark if watermark is not None else integration.created, integration.style),
            "warehouse_type": integration.warehouse,
            "last_job_start_time": _render(newest.start, newest.style) if newest else None,
            "last_job_status": newest.status if newest else None,
            "next_scheduled_run": _render(next_run, integration.style),
        }

    # --- internals: HTTP

    def _respond(self, method: str, target: str, authorization: str | None) -> _Response:
        """The answer to one request (called by the handler thread)."""
        if self._latency > 0:
            time.sleep(self._latency)
        path, _, query_string = target.partition("?")
        query = _parse_query(query_string)
        endpoint, integration_id = _route(path)
        skip = decode_cursor(query["cursor"]) if "cursor" in query else 0
        page = None if skip is None else skip // self._page_size
        with self._lock:
            fault = next((f for f in self._faults if f.matches(endpoint, integration_id, page)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "slow":
            time.sleep(fault.seconds)
        if kind == "drop":
            response = _Response(0, [], b"", drop=True)
        elif kind == "429":
            limit = self._windows[JOB_SYNC_STATUS if endpoint == JOB_SYNC_STATUS else LIST].limit
            response = _json_response(
                429, {"message": "Rate Limited"}, _rate_headers(limit, 0, math.ceil(time.time() + 2))
            )
        elif kind == "500":
            response = _json_response(500, {"message": "Internal Server Error"})
        elif kind in ("502", "503", "504"):
            title = f"{kind} {HTTPStatus(int(kind)).phrase}"
            response = _Response(int(kind), [("Content-Type", "text/html")], _HTML_ERROR.format(title).encode())
        else:
            response = self._api_response(method, endpoint, integration_id, query, skip, authorization)
        if kind == "truncated":
            response.body = response.body[: len(response.body) // 2]
        elif kind == "non_json":
            response.headers = [(k, "text/html" if k == "Content-Type" else v) for k, v in response.headers]
            response.body = _HTML_ERROR.format("Service temporarily unavailable").encode()
        elif kind == "wrong_shape":
            response.body = json.dumps({"results": {"oops": 1}, "message": "success"}).encode()
        with self._lock:
            self._log.append(
                RecordedRequest(method, path, query, response.status, endpoint, integration_id, authorization)
            )
            if response.status == 429:
                self._throttled += 1
        return response

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    def _api_response(
        self,
        method: str,
        endpoint: str,
        integration_id: str | None,
        query: dict[str, str],
        skip: int | None,
        authorization: str | None,
    ) -> _Response:
        if endpoint == OTHER:
            return _json_response(404, {"message": "Not Found"})
        if method != "GET":
            return _json_response(405, {"message": "Method Not Allowed"}, [("Allow", "GET")])
        window = self._windows[endpoint]
        now = time.time()
        if not self._authorized(authorization):
            with self._lock:
                headers = _rate_headers(window.limit, *window.peek(now))
            return _json_response(401, {"message": "Invalid API key"}, headers)
        permission = PERMISSIONS[endpoint]
        if permission not in self._permissions:
            with self._lock:
                headers = _rate_headers(window.limit, *window.peek(now))
            return _json_response(
                403, {"message": "Access Denied", "errors": [f"The API key lacks the permission {permission}"]}, headers
            )
        integration: _Integration | None = None
        with self._lock:
            allowed, remaining, reset = window.hit(now)
            headers = _rate_headers(window.limit, remaining, reset)
            if not allowed:
                return _json_response(429, {"message": "Rate Limited"}, headers)
            if endpoint == JOB_SYNC_STATUS:
                integration = self._integrations.get(integration_id or "")
                if integration is None:
                    return _json_response(400, {"message": "Invalid integration ID"}, headers)
            if skip is None:
                return _json_response(400, {"message": "Invalid cursor"}, headers)
            size = self._page_size
            if integration is None:
                integrations = list(self._integrations.values())
                total = len(integrations)
                results = [self._integration_item(i) for i in integrations[skip : skip + size]]
                path = next_path = "/cdi/integrations"
            else:
                syncs = integration.syncs
                total = len(syncs)
                indexes = range(skip, min(skip + size, total))
                if self._oldest_first:  # Braze documents no order: a client must cope with this one too
                    results = [self._served_item(syncs[i]) for i in indexes]
                else:
                    results = [self._served_item(syncs[total - 1 - i]) for i in indexes]
                path = f"/cdi/integrations/{integration.integration_id}/job_sync_status"
                next_path = path.replace("integrations/", "integrations", 1) if self._malformed_links else path
            link = self._link(path, next_path, skip, total, "cursor" in query)
            body = json.dumps({"results": results, "message": "success"}, separators=(",", ":")).encode()
        if link:
            headers.append(("Link", link))
        return _Response(200, [("Content-Type", "application/json"), *headers], body)

    def _link(self, path: str, next_path: str, skip: int, total: int, has_cursor: bool) -> str | None:
        """Braze's Link header: none for one page, no prev without a cursor, no next on the last page."""
        size = self._page_size
        if total <= size:
            return None
        origin = self.base_url if self._absolute_links else ""
        links = []
        if has_cursor:
            links.append(f'<{origin}{path}?cursor={encode_cursor(max(0, skip - size))}>; rel="prev"')
        if skip + size < total:
            next_origin = self._next_link_origin or origin
            links.append(f'<{next_origin}{next_path}?cursor={encode_cursor(skip + size)}>; rel="next"')
        return ",".join(links) or None

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid ~40 ms delayed-ACK stalls
    server_version = "BrazeCDISimulator/1.0"
    timeout = 300  # idle keep-alive connections close after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.simulator._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.simulator._track(self.connection, open_=False)

    def version_string(self) -> str:
        return self.server_version

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


class _Server(ThreadingHTTPServer):
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


# --- command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM; prints `base_url=…` and `api_key=…` first."""
    parser = argparse.ArgumentParser(
        prog="python -m braze_cdi_source.simulator", description="Serve an imitation of Braze's CDI API on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    counts = parser.add_mutually_exclusive_group()
    counts.add_argument(
        "--integrations", type=int, metavar="N", help="N integrations with seed-derived sync counts (0 to 300)"
    )
    counts.add_argument("--sync-counts", metavar="C,C,...", help="sync count of each integration, e.g. 0,7,137")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--api-key", default=None, help="default: a generated key")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--absolute-links", action="store_true", help="absolute URLs in Link headers")
    parser.add_argument(
        "--rate-limit-window", type=float, default=None, metavar="S", help="rate limit window in seconds (Braze: 60)"
    )
    args = parser.parse_args(argv)

    if args.integrations is not None:
        sync_counts: Sequence[int] = derive_sync_counts(args.integrations, args.seed)
    elif args.sync_counts is not None:
        try:
            sync_counts = [int(c) for c in args.sync_counts.split(",") if c.strip()]
        except ValueError:
            parser.error("--sync-counts takes integers separated by commas")
    else:
        sync_counts = (0, 7, 10, 11, 137)
    rate_limits = None
    if args.rate_limit_window is not None:
        rate_limits = {kind: (limit, args.rate_limit_window) for kind, (limit, _) in DEFAULT_RATE_LIMITS.items()}

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    simulator = BrazeSimulator(
        sync_counts,
        seed=args.seed,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        rate_limits=rate_limits,
        latency=args.latency,
        absolute_links=args.absolute_links,
    )
    with simulator:
        print(f"base_url={simulator.base_url}", flush=True)
        print(f"api_key={simulator.api_key}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0

