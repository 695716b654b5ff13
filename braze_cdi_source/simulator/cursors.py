"""Braze's paging cursors: standard base64 of `skip:N`, carried in the `Link` header's `cursor` parameter."""

from __future__ import annotations

import base64
import re


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
