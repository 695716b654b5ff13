"""Shared fixtures: the Braze simulator over real HTTP, pipelines in a temp folder, a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
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


# --- test lanes: `make test` runs everything; `make test-fast` (-m "not slow") skips what is listed here ---

SLOW_MODULES = {
    "test_backfill.py",  # SIGKILL, time budgets, start_date and reset through the CLI, DuckDB and PostgreSQL
    "test_benchmarks_smoke.py",  # the benchmark harness end to end
    "test_json_logs.py",  # full CLI runs read line by line
    "test_crash.py",  # SIGKILL during extract and load, then a rerun
    "test_cron.py",  # the cron wrapper and overlapping CLI runs
    "test_destinations.py",  # other engines: PostgreSQL, a parquet lake
    "test_parsing_properties.py",  # hypothesis sweeps
    "test_workspaces.py",  # two workspaces into one dataset, a fresh machine
    "test_concurrency.py",  # two pipelines in two threads
    "test_global_options.py",  # every command through the CLI, options before and after
    "test_report_width.py",  # a CLI load, then the report at three widths
    "test_warehouses.py",  # the views on PostgreSQL, Spark, fakesnow and through BigQuery/Redshift SQL
}
"""Modules whose every test is slow."""

SLOW_TESTS = {
    "test_examples.py": {  # orchestrators: Dagster in-process, Airflow in its own venv
        "test_dagster_definitions_load_without_calling_braze",
        "test_dagster_materializes_the_same_tables_as_the_cli",
        "test_dagster_step_fails_when_an_integration_fails_after_loading_the_others",
        "test_airflow_dag_loads_in_airflow_and_its_tasks_load_the_same_tables",
    },
    "test_cli.py": {  # each runs the CLI as a subprocess (5 to 20 s here); a few stay in the fast lane
        "test_bad_configuration_is_one_plain_sentence",
        "test_debug_shows_the_traceback",
        "test_list_permission_missing_is_named",
        "test_a_failed_integration_exits_1_and_the_others_load",
        "test_config_from_toml_files",
        "test_config_from_environment_variables",
        "test_a_list_in_the_environment_that_is_not_json_says_so",
        "test_check_names_the_missing_permission",
        "test_check_with_no_integrations_probes_the_permission",
        "test_check_wrong_key",
        "test_the_key_never_leaves_a_trace",
        "test_progress_and_summary_report_the_real_figures",
    },
    "test_health.py": {  # the classes over a loaded history, through the CLI
        "test_exit_code_for_each_class",
        "test_json_lists_every_integration_with_the_model_s_class",
        "test_thresholds_from_flags_and_config",
        "test_could_not_tell_without_data_and_creates_nothing",
        "test_could_not_tell_when_the_destination_is_unreachable",
        "test_could_not_tell_when_every_integration_is_unknown",
    },
    "test_pipeline_script.py": {
        "test_script_loads_the_duckdb_file_and_views_then_only_new_syncs",
        "test_script_reads_where_to_load_from_config",
        "test_script_exits_1_when_an_integration_fails_and_loads_the_others",
        "test_script_exits_2_naming_the_missing_key",
    },
    "test_report.py": {
        "test_html_report_charts_match_the_history_and_load_nothing_external",
        "test_demo_ends_with_the_report",
    },
    "test_reliability.py": {  # real waits for a rate-limit reset (the throttle's own tests use a fake clock)
        "test_429_storm_waits_for_the_reset",
        "test_rate_limit_is_held_with_few_429s",
        "test_transient_fault_on_any_page_ends_equal_to_truth[429-middle]",
        "test_transient_fault_on_any_page_ends_equal_to_truth[slow-middle]",
    },
    "test_data_location.py": {
        "test_cli_runs_in_two_folders_load_two_files_and_say_where",
        "test_duckdb_file_option_and_configured_path_resolve_against_the_current_folder",
        "test_the_pipeline_script_in_two_folders_loads_two_files",
        "test_the_readme_snippet_in_two_folders_loads_two_files",
    },
    "test_check.py": {
        "test_tls_failure_is_instance_unreachable",
        "test_a_missing_list_permission_is_named_after_a_reachable_instance_and_known_key",
        "test_missing_destination_credentials_name_the_section_and_the_variable",
    },
    "test_arrow_batch.py": {"test_odd_values_land_as_the_json_path_lands_them_while_the_rest_goes_as_arrow"},
    "test_tuning.py": {
        "test_rows_go_as_parquet_but_a_load_with_no_sync_at_all_still_creates_the_table",
    },
    "test_notify.py": {"test_notices_go_out_when_the_unhealthy_set_changes_and_failures_keep_the_exit_code"},
    "test_global_options.py": {"test_json_only_output_from_every_command_with_options_after_the_command"},
    "test_run_progress.py": {
        "test_a_rate_limit_wait_shows_on_a_terminal",
        "test_a_rate_limit_wait_is_a_log_line_when_not_on_a_terminal",
        "test_the_summary_names_integrations_with_new_updated_and_reread_rows",
    },
    "test_simulator_tick.py": {"test_incremental_runs_against_a_ticking_simulator_load_what_moved"},
    "test_hostile.py": {  # the CLI as a subprocess, or real request deadlines of a few seconds
        "test_a_hostile_next_link_on_the_cli_exits_1_and_the_trap_gets_nothing",
        "test_a_base_url_that_refuses_fails_at_once_naming_base_url",
        "test_a_huge_body_stops_at_the_cap_on_the_cli_within_bounded_memory",
        "test_poison_on_the_cli_exits_1_not_2",
        "test_a_load_the_destination_refuses_is_set_aside_and_the_next_run_loads",
        "test_braze_text_never_reaches_the_terminal_raw",
        "test_ctrl_c_ends_the_run_in_5_s_with_exit_130_and_the_rerun_completes",
        "test_a_slow_loris_body_ends_at_the_request_deadline",
    },
    "test_run_log.py": {  # ten runs; a CLI run into SQLite
        "test_an_analysts_view_survives_ten_runs_and_each_run_is_logged",
        "test_a_destination_with_no_verified_dialect_loads_and_skips_the_views",
    },
    "test_source.py": {
        "test_k_new_syncs_cost_at_most_ceil_k_over_10_plus_one[9]",
        "test_k_new_syncs_cost_at_most_ceil_k_over_10_plus_one[10]",
        "test_k_new_syncs_cost_at_most_ceil_k_over_10_plus_one[25]",
    },
}
"""Slow tests by module: a name without brackets covers every parameter of the test."""

FIRST = {"test_benchmarks_smoke.py": 0, "test_examples.py": 1, "test_warehouses.py": 1, "test_backfill.py": 2}
"""Modules with the longest tests (the benchmark harness, Airflow and Spark, backfills): scheduled first."""

OTHER_ENGINES = {"postgres_url", "postgres_destination"}
"""A test that needs a real PostgreSQL is slow (the server starts once per session, then each test loads):
one that asks for these fixtures, or one whose fixture parameter is "postgres"."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow lane in one place, so a new slow test is one line here and test files stay as they are."""
    for item in items:
        module = item.path.name
        names = SLOW_TESTS.get(module, set())
        original = getattr(item, "originalname", item.name)
        if (
            module in SLOW_MODULES
            or item.name in names
            or original in names
            or OTHER_ENGINES & set(getattr(item, "fixturenames", ()))
            or "postgres" in getattr(getattr(item, "callspec", None), "params", {}).values()
        ):
            item.add_marker(pytest.mark.slow)
    # the longest first, so that with several workers (`make test`) none is left running alone at the end
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
