"""Generated sync history, deterministic for a seed (one random stream per integration, so adding one leaves the
others as they were). Instants are int milliseconds since the Unix epoch (UTC); each sync renders them in one of
four styles (`Z`, `+00:00`, milliseconds, tenths), as Braze's API mixes them.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

TIMESTAMP_STYLES = ("mixed", "z", "offset", "fractional")

_EPOCH = datetime(1970, 1, 1)  # naive UTC; every instant inside the simulator is int ms since it
_EPOCH_UTC = _EPOCH.replace(tzinfo=timezone.utc)
SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
_DAY = 24 * HOUR
_SCHEDULES = (15 * MINUTE, HOUR, 6 * HOUR, _DAY)
_MAX_HISTORY = 3 * 365 * _DAY  # beyond this a schedule is too slow for the sync count: fall back to 5 min

# Rendering styles of one timestamp: 2026-11-28T10:15:00Z, …00+00:00, …00.123Z, …00.5+00:00.
_Z, _OFFSET, _MILLIS, _TENTHS = range(4)
QUANTUM = (SECOND, SECOND, 1, 100)  # the finest instant each style renders exactly
_STYLE_OF = {"z": _Z, "offset": _OFFSET, "fractional": _MILLIS}

_WAREHOUSES = (
    ("snowflake", "Snowflake"), ("bigquery", "BigQuery"), ("redshift", "Redshift"), ("databricks", "Databricks")
)
_TYPES = (
    ("user_attributes", "users"), ("user_attributes", "customer profiles"), ("custom_events", "events"),
    ("purchase_events", "purchases"), ("catalogs", "product catalog"), ("delete_users", "user deletes"),
)
_EMAILS = (
    "data-eng@example.com", "crm-ops@example.com", "jane.doe@example.com", "li.wei@example.com",
    "analytics@example.com", "marketing-tech@example.com",
)


def derive_sync_counts(integrations: int, seed: int = 42) -> list[int]:
    """A realistic, seed-determined mix of sync counts (0 to 300) for `integrations` integrations."""
    rng = random.Random(f"braze-sim-counts:{seed}")
    counts = []
    for _ in range(integrations):
        draw = rng.random()
        low, high = (0, 0) if draw < 0.1 else (1, 10) if draw < 0.3 else (11, 100) if draw < 0.7 else (101, 300)
        counts.append(rng.randint(low, high) if high else 0)
    return counts


@dataclass(slots=True, eq=False)
class Sync:
    """One sync; instants are int milliseconds since the Unix epoch (UTC)."""

    start: int
    status: str
    style: int
    finish: int | None = None
    watermark: int | None = None
    rows: int | None = None
    failed: int | None = None
    raw: Any = None  # an arbitrary item served instead of this sync (set_job_status_raw)


@dataclass
class Integration:
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
    syncs: list[Sync] = field(default_factory=list)  # oldest first; served reversed


def render(ms: int | None, style: int) -> str | None:
    """An instant as Braze-like ISO 8601 text in `style`, or the millisecond form when style can't hold it."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, SECOND)
    base = (_EPOCH + timedelta(seconds=seconds)).isoformat()
    if millis == 0 and style == _Z:
        return base + "Z"
    if millis == 0 and style == _OFFSET:
        return base + "+00:00"
    if style == _TENTHS and millis % 100 == 0:
        return f"{base}.{millis // 100}+00:00"
    return f"{base}.{millis:03d}Z"


def instant(ms: int | None) -> datetime | None:
    return None if ms is None else _EPOCH_UTC + timedelta(milliseconds=ms)


def to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH_UTC) // timedelta(milliseconds=1)


def parse_instant(value: Any) -> Any:
    """An ISO 8601 string as an aware UTC datetime; anything else unchanged (for raw overrides)."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)?", value.strip())
    if not match:
        return value
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(f"{base}.{(fraction or '').ljust(6, '0')}{zone}").astimezone(timezone.utc)


def ceil_to(value: int, quantum: int) -> int:
    return -(-value // quantum) * quantum


_STATUS_DRAWS = (
    (0.85, "success"), (0.92, "partial"), (0.96, "error"), (0.98, "config_error"), (0.985, "limit_exceeded")
)
"""Cumulative chances of each final status ("limit_exceeded": the dashboard's "Limit Exceeded", undocumented)."""
_STYLE_DRAWS = ((0.4, _Z), (0.65, _OFFSET), (0.85, _MILLIS))


def _pick_status(rng: random.Random) -> str:
    draw = rng.random()
    return next((status for bound, status in _STATUS_DRAWS if draw < bound), "success")


def pick_style(rng: random.Random, timestamp_style: str) -> int:
    if timestamp_style != "mixed":
        return _STYLE_OF[timestamp_style]
    draw = rng.random()
    return next((style for bound, style in _STYLE_DRAWS if draw < bound), _TENTHS)


def finish_sync(
    sync: Sync, rng: random.Random, status: str, prev_watermark: int | None, latest_finish: int | None = None
) -> int | None:
    """Close `sync` with `status`: finish time, rows and watermark. Returns the watermark after it."""
    quantum = QUANTUM[sync.style]
    if status in ("error", "config_error"):
        duration = rng.randrange(200, 60 * SECOND)
    elif rng.random() < 0.03:
        duration = rng.randrange(30 * MINUTE, 3 * HOUR)
    else:
        duration = min(5 * SECOND + int(rng.expovariate(1 / (3 * MINUTE))), 20 * MINUTE)
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
        candidate = sync.start - rng.randrange(1, 600) * SECOND
        prev_watermark = candidate if prev_watermark is None else max(prev_watermark, candidate)
    sync.watermark = prev_watermark
    return prev_watermark


def generate_syncs(
    rng: random.Random, count: int, interval: int, end: int, timestamp_style: str, running_newest: bool
) -> list[Sync]:
    """`count` syncs one at a time on `interval`, oldest first, the newest ending just before `end`."""
    syncs: list[Sync] = []
    # In mixed style two syncs start within one second, the later one with ".500": a cursor on the start time
    # must not drop the later one, and the two must stay two rows.
    pair_newer = -1
    if timestamp_style == "mixed" and count > 1:
        pair_newer = count - 1 - rng.randrange(0, min(count - 1, 15))
    prev_end: int | None = None
    watermark: int | None = None
    for index in range(count):
        style = pick_style(rng, timestamp_style)
        status = _pick_status(rng)
        start = index * interval + rng.randrange(0, MINUTE)
        if prev_end is not None:
            start = max(start, prev_end + rng.randrange(SECOND, 30 * SECOND))
        if index == pair_newer - 1:
            style, status = _Z, "error"
        elif index == pair_newer:
            start, style = syncs[-1].start + 500, rng.choice((_MILLIS, _TENTHS))
        sync = Sync(ceil_to(start, QUANTUM[style]), status, style)
        syncs.append(sync)
        if index == count - 1 and running_newest:
            sync.status, prev_end = "running", sync.start
        else:  # the older of the pair ends before the newer one starts
            latest = sync.start + 300 if index == pair_newer - 1 else None
            watermark = finish_sync(sync, rng, status, watermark, latest_finish=latest)
            prev_end = sync.finish
    if not syncs:
        return syncs
    margin = rng.randrange(30, 900) if running_newest else rng.randrange(0, interval // SECOND)
    shift = end - margin * SECOND - ceil_to(prev_end or 0, SECOND)
    for sync in syncs:
        sync.start += shift
        if sync.finish is not None:
            sync.finish += shift
        if sync.watermark is not None:
            sync.watermark += shift
    return syncs


def generate_integration(seed: int, index: int, sync_count: int, now: int, timestamp_style: str) -> Integration:
    """The `index`-th integration of a workspace (its own random stream) with `sync_count` syncs ending near `now`."""
    rng = random.Random(f"braze-sim:{seed}:{index}")
    integration_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    warehouse, warehouse_name = rng.choice(_WAREHOUSES)
    integration_type, subject = rng.choice(_TYPES)
    active = rng.random() < 0.9
    schedules = [s for s in _SCHEDULES if s * sync_count <= _MAX_HISTORY] or [5 * MINUTE]
    interval = rng.choice(schedules)
    emails = ",".join(rng.sample(_EMAILS, rng.randint(1, 3)))
    style = pick_style(rng, timestamp_style)
    running = active and sync_count > 0 and rng.random() < 1 / 3
    syncs = generate_syncs(rng, sync_count, interval, now, timestamp_style, running)
    created = (syncs[0].start if syncs else now) - rng.randrange(1, 72) * HOUR
    name = f"{warehouse_name} {subject} sync" if syncs else f"{subject.capitalize()} sync (new)"
    return Integration(
        integration_id=integration_id, name=name, type=integration_type, status="active" if active else "paused",
        emails=emails, warehouse=warehouse if syncs else None, interval=interval,
        style=style if style in (_Z, _OFFSET) else _Z, created=created, rng=rng, syncs=syncs,
    )
