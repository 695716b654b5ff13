"""The load-file format the job chose, handed to the source (`hint_file_format`) for its batches of rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import INTEGRATIONS_TABLE


@dataclass
class FileFormatHint:
    """The load-file format chosen for the source's rows; None leaves dlt's choice.

    The job decides it (`job.loader_file_format`) and hands it over with `hint_file_format`; the source only
    puts it on its batches of rows, never on the marker that creates an empty table: on DuckDB an empty jsonl
    file has no columns for its JSON reader, and the load fails.
    """

    value: str | None = None


def hint_file_format(source: Any, file_format: str | None) -> bool:
    """Have a `braze_cdi_source` write its rows in `file_format`; False for any other source."""
    resources = getattr(source, "resources", None) or {}
    resource = resources.get(INTEGRATIONS_TABLE) if hasattr(resources, "get") else None
    hint = getattr(resource, "file_format", None)
    if not isinstance(hint, FileFormatHint):
        return False
    hint.value = file_format
    return True
