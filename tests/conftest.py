"""Shared fixtures: the Braze simulator over real HTTP, pipelines in a temp folder, a real PostgreSQL."""

from __future__ import annotations

import math
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

SHORT_WINDOWS = {"list": (10_000, 2.0), "job_sync_status": (10_000, 2.0)}
"""Generous limits in 2-second windows, for tests that get 429s: after a 429 the throttle really waits for the
reset Braze's headers give (the 429's, then the window's), a few seconds here instead of the rest of a minute."""

RESET_WAIT = 2.0 - 0.25
"""The least gap after an injected 429 that shows a wait for its reset: the simulator's `X-RateLimit-Reset` is 2 s
or more after it read its clock (rounded up), less 0.25 s for that clock read to the answer's `at` in its log."""


def waits_after_429(sim: BrazeSimulator) -> list[float]:
    """For each 429 the simulator sent, seconds until the same integration's next request was answered: that
    request was sent after the 429 came back (an integration's pages are read one after another), so a client
    that waits for the reset shows at least RESET_WAIT, one that merely retries shows its backoff."""
    log = [r for r in sim.requests if r.endpoint == "job_sync_status"]
    gaps = []
    for index, answer in enumerate(log):
        if answer.status == 429:
            after = next((r for r in log[index + 1:] if r.integration_id == answer.integration_id), None)
            gaps.append(math.inf if after is None else after.at - answer.at)
    return gaps


# `make test` runs everything; `make test-fast` (-m "not slow") skips the tests marked slow where they live
# (`pytestmark = pytest.mark.slow` in a module, `@pytest.mark.slow` on a test, `pytest.param(..., marks=...)`,
# `first_fast(...)` on a parametrized test's values).


def first_fast(values: Iterable[Any]) -> list[Any]:
    """A parametrized test's values, the first in the fast lane and the others marked slow: the inner loop
    (`make test-fast`) runs each such test once, `make test` runs every value."""
    first, *others = values
    return [first, *(pytest.param(value, marks=pytest.mark.slow) for value in others)]


LONGEST = (
    "test_warehouses.py::test_databricks_views_run_on_spark",  # the xdist group of the module's `reference`
    "test_benchmarks_smoke.py",
    "test_notify.py::test_notices_go_out_when_the_unhealthy_set_changes",
    "test_backfill.py::test_an_earlier_start_date_reads_only_the_older_pages",
    "test_health.py::test_exit_code_for_each_class",
    "test_backfill.py::test_a_time_budget_stops_in_time_and_runs_complete_the_backfill",
    "test_backfill.py::test_killed_backfill_loses_at_most_one_checkpoint_per_kill",
    "test_cli.py::test_the_key_never_leaves_a_trace",
    "test_backfill.py::test_the_budget_never_starts_a_rate_limit_wait_it_cannot_afford",
    "test_backfill.py::test_reset_re_reads_history_and_merges",
    "test_global_options.py::test_json_only_output_from_every_command",
    "test_backfill.py::test_runs_that_find_no_rows_load_cleanly_and_say_so",
    "test_run_bounds.py::test_a_workspace_of_1200_integrations_loads",
    "test_report_scale.py::test_page_stays_under_5_mb",
    "test_examples.py::test_airflow_dag_loads_in_airflow",
    "test_reliability.py::test_transient_fault_on_any_page_ends_equal_to_truth[429-",
    "test_data_location.py",
    "test_health.py",
    "test_run_log.py::test_an_analysts_view_survives_repeated_runs",
    "test_notify.py",
    "test_json_logs.py::test_every_stderr_line_is_json",
    "test_pipeline_script.py::test_script_loads_the_duckdb_file",
    "test_reliability.py::test_429_storm_waits_for_the_reset",
    "test_concurrency.py",
    "test_workspaces.py",
    "test_report.py::test_report_json_has_raw_values",
    "test_crash.py",
)
"""Node ids (their start, under tests/) of the tests that take longest, longest first (wall time per test, a full
run on the 2-core machine): they start first, so that with several workers (`make test`) none is left running
a long test alone at the end. The other slow tests follow, then the rest."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the tests for the workers: LONGEST first, then the other slow tests, then the rest. With
    `--dist loadgroup --no-loadscope-reorder` (pyproject.toml) pytest-xdist hands them out in this order a few at
    a time and sends the tests of one `xdist_group` (a module-scoped fixture they share) to one worker. The
    default `--dist load` would give the first worker a first chunk of 35 consecutive tests, all of LONGEST: 2,250 s
    of the 5,150 s the three workers ran in a full run. The fast lane keeps `--dist load` (Makefile): its tests
    are short, and one at a time cost a round trip each (106 s against 132-145 s, side by side at load 5)."""

    def rank(item: pytest.Item) -> int:
        nodeid = item.nodeid.removeprefix("tests/")
        for position, prefix in enumerate(LONGEST):
            if nodeid.startswith(prefix):
                return position
        return len(LONGEST) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=rank)


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
