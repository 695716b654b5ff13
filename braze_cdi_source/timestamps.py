"""ISO 8601 parsing that yields comparable instants: as text `…00.500Z` sorts before `…00Z`."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from dlt.common.time import ensure_pendulum_datetime

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")  # "1e10", "now" or "1700000000" are no timestamps


def parse_instant(value: Any) -> datetime | None:
    """`value` as an aware UTC datetime (no zone: UTC, as Braze means); None for None or ""; ValueError if it is
    no timestamp or its UTC instant falls outside years 1-9999."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not _ISO_DATE.match(text):
            raise ValueError(f"not an ISO 8601 timestamp: {text[:40]!r}")
        try:  # Python 3.10 does not read "Z" itself
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
        except ValueError:
            parsed = _parse_lenient(text)
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"timestamp outside years 1-9999 in UTC: {str(value)[:40]!r}") from None


def _parse_lenient(text: str) -> datetime:
    """Forms fromisoformat rejects on older Pythons (7+ fraction digits, `+0000`)."""
    try:
        parsed = ensure_pendulum_datetime(text)
    except Exception as exc:  # pendulum raises several types
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from exc
    try:
        utc = parsed.in_timezone("UTC")
    except OverflowError:
        raise ValueError(f"timestamp outside years 1-9999 in UTC: {text[:40]!r}") from None
    return datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=timezone.utc)


def to_iso(value: datetime) -> str:
    """The canonical text form kept in pipeline state: UTC, microseconds, `+00:00`."""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
