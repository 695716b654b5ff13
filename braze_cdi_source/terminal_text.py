"""Text from Braze made safe to print: no terminal control sequences (a name could rewrite the screen), no Rich
markup (`[/x]` in a name made Rich raise). JSON logs need nothing: `json.dumps` escapes control characters."""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 control characters and the bidirectional overrides, which reorder what is shown
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")


def plain(value: Any) -> str:
    """`value` on one line without control characters (each becomes `?`, a line break a space)."""
    return _CONTROL.sub("?", _LINE_BREAKS.sub(" ", str(value)))


def shown(value: Any, limit: int = 60) -> str:
    """`value` short and printable, for a message quoting what Braze sent."""
    return "".join(c for c in str(value) if c.isprintable())[:limit]


def markup_safe(value: Any) -> str:
    """`plain` text that Rich prints literally even where markup is on."""
    from rich.markup import escape  # here: the source quotes Braze's text too and must not import Rich

    return escape(plain(value))
