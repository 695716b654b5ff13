"""Destination tuning: the settings a run uses for its destination unless the user set them, applied for the
run only (as a config provider, no environment variable touched)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.configuration.providers.provider import ConfigProvider
from dlt.common.configuration.specs import PluggableRunContext

DUCKDB_FILE_MAX_ITEMS = 10_000
"""Rows per normalized file for DuckDB, so that its JSON reader never buffers a whole backfill at once."""


def destination_tuning(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """Settings (dotted config keys) this job uses for the pipeline's destination unless the user set them.

    Local DuckDB only (measured on 100,000 syncs, benchmarks/README.md): its load files are local and read
    once, so they are written uncompressed (dlt's zlib was about 0.8 s of the 2 s of normalize CPU); they are
    cut at 10,000 rows and loaded one after another by one dlt load worker and one DuckDB thread, so DuckDB
    buffers one small file at a time (peak RSS 246 -> about 183 MB). Every other destination, MotherDuck
    included, keeps dlt's defaults: a filesystem lake keeps compressed files, remote loads keep their workers.
    """
    destination = pipeline.destination
    if destination is None or destination.destination_type != "dlt.destinations.duckdb":
        return {}
    return {
        "data_writer.disable_compression": True,
        "normalize.data_writer.file_max_items": DUCKDB_FILE_MAX_ITEMS,
        "load.workers": 1,
        f"destination.{destination.destination_name}.credentials.global_config": {"threads": 1},
    }


class _TuningProvider(ConfigProvider):
    """The tuning as a config provider consulted after all others, so any value the user set wins wherever it
    is set (environment, toml, vaults, scoped to the pipeline or not). It answers exact keys only: never a
    whole section such as `credentials`, which dlt would take as the user's credentials."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get_value(self, key: str, hint: Any, pipeline_name: str | None, *sections: str) -> tuple[Any, str]:
        name = ".".join((*sections, key))
        return (None if pipeline_name else self._values.get(name)), name

    @property
    def supports_secrets(self) -> bool:
        return False

    @property
    def supports_sections(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return "braze-cdi destination tuning"


@contextmanager
def destination_tuned(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Apply `destination_tuning` for the duration of the block only (no environment variable is touched)."""
    values = destination_tuning(pipeline)
    if not values:
        yield
        return
    provider = _TuningProvider(values)
    providers = Container()[PluggableRunContext].providers.providers
    providers.append(provider)
    try:
        yield
    finally:
        for index, registered in enumerate(providers):
            if registered is provider:
                del providers[index]
                break
