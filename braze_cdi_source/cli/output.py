"""Where the CLI writes, in the format the user chose: Rich text for people, JSON lines for log shippers.

With `--log-format json` every line on stdout and stderr is one JSON object: logs and errors are JSON
records on stderr (see `main.py`), and what a command shows (the run summary, the report, `check`'s
results) is one JSON document a line on stdout instead of a Rich table.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console

out = Console()
err = Console(stderr=True)


class _Format:
    """The output format of this process, set once the global options are parsed."""

    name = "text"
    debug = False


def set_format(name: str, debug: bool) -> None:
    """Record the global options, once they are parsed."""
    _Format.name, _Format.debug = name, debug


def is_json() -> bool:
    """Whether stdout and stderr carry only JSON lines."""
    return _Format.name == "json"


def is_debug() -> bool:
    return _Format.debug


def json_value(value: Any) -> Any:
    """A value JSON cannot hold as it is: instants as ISO 8601 text, decimals as numbers."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def emit(document: dict[str, Any]) -> None:
    """One JSON document as one line on stdout (JSON mode only)."""
    print(json.dumps(document, default=json_value), flush=True)


def say(text: str, *, markup: bool = True) -> None:
    """A line for people on stdout (text mode); in JSON mode a `{"message": …}` document."""
    if is_json():
        emit({"message": Console().render_str(text, markup=markup).plain if markup else text})
    else:
        out.print(text, highlight=False, markup=markup, soft_wrap=True)
