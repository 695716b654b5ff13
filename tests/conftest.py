"""Shared fixtures: the Braze simulator over real HTTP, pipelines in a temp folder, a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dlt
import pytest

from braze_cdi_source.http.throttle import Throttle
from braze_cdi_source.simulator import BrazeSimulator

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

FAST_LIMITS = {"list": (10_000, 60.0), "job_sync_status": (10_000, 60.0)}
"""Generous limits for tests that are not about rate limiting."""


# `make test` runs everything; `make test-fast` (-m "not slow") skips the tests marked slow where they live
# (`pytestmark = pytest.mark.slow` in a module, `@pytest.mark.slow` on a test, `pytest.param(..., marks=...)`,
# `first_fast(...)` on a parametrized test's values).


def first_fast(values: Iterable[Any]) -> list[Any]:
    """A parametrized test's values, the first in the fast lane and the others marked slow: the inner loop
    (`make test-fast`) runs each such test once, `make test` runs every value."""
    first, *others = values
    return [first, *(pytest.param(value, marks=pytest.mark.slow) for value in others)]


FIRST = {"test_benchmarks_smoke.py": 0, "test_examples.py": 1, "test_warehouses.py": 1, "test_backfill.py": 2}
"""Modules with the longest tests (the benchmark harness, Airflow and Spark, backfills): scheduled first."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest first, then the other slow tests, so that with several workers (`make test`) none is left
    running alone at the end."""
    items.sort(key=lambda item: FIRST.get(item.path.name, 3 if item.get_closest_marker("slow") else 4))


@pytest.fixture(autouse=True)
def fresh_throttles() -> Iterator[None]:
    """Each test starts with no learned rate-limit windows: simulators reuse seeded keys and ports."""
    Throttle.forget_all()
    yield


@pytest.fixture
def sim() -> Iterator[BrazeSimulator]:
    """Integrations with 0, 7, 10, 11 and 137 syncs: the page-boundary cases."""
    with BrazeSimulator((0, 7, 10, 11, 137), rate_limits=FAST_LIMITS) as simulator:
        yield simulator


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Any:
    """Build pipelines whose state and DuckDB file live in the test's temp folder."""

    def make(destination: Any = None, name: str = "braze_cdi", dataset_name: str = "braze_cdi_data") -> Any:
        if destination is None:
            destination = dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        return dlt.pipeline(
            pipeline_name=name,
            destination=destination,
            dataset_name=dataset_name,
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL 16 server for the session, from the pgserver wheel: no root, no apt.

    If it cannot start, the tests that need it fail (they are never skipped).
    """
    import pgserver

    folder = tempfile.mkdtemp(prefix="braze_cdi_pg_")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
    # dlt wants a host and a password; libpq's `host` query parameter points it at the socket folder.
    yield f"postgresql://postgres:unused@localhost:5432/postgres?host={socket_dir}"
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_destination(postgres_url: str) -> Any:
    return dlt.destinations.postgres(credentials=postgres_url)


@pytest.fixture
def unique_dataset() -> str:
    return f"braze_cdi_{uuid.uuid4().hex[:10]}"
