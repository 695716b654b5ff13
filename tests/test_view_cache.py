"""The rendered views' SQL kept in a pipeline's working folder: each `braze-cdi` command is a new process, so
rendering once per pipeline (not once per command) is what the cache is for. A cached entry must never stand in
for other inputs, and a broken file must cost a re-render, never a wrong or failed query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from braze_cdi_source.analytics import view_sql
from braze_cdi_source.analytics.thresholds import HealthThresholds
from braze_cdi_source.analytics.view_sql import RENDER_CACHE_FILE, VIEWS, render_queries

PRESENT = {"job_sync_status": set(view_sql.JOB_SYNC_STATUS_COLUMNS), "integrations": None}


def names(table: str) -> str:
    return f'"cdi"."{table}"'


@pytest.fixture
def renders(monkeypatch: Any) -> list[str]:
    """The renderings actually done: the process's own cache is bypassed, so every call not answered from the
    folder's cache renders and is counted."""
    done: list[str] = []
    render = view_sql._rendered.__wrapped__

    def counted(dialect: str, *args: Any) -> Any:
        done.append(dialect)
        return render(dialect, *args)

    monkeypatch.setattr(view_sql, "_rendered", counted)
    return done


def test_a_second_process_reads_the_rendering_from_the_pipeline_folder(tmp_path: Path, renders: list[str]) -> None:
    first = render_queries("postgres", names, PRESENT, HealthThresholds(), tmp_path)
    assert renders == ["postgres"] and (tmp_path / RENDER_CACHE_FILE).exists()
    again = render_queries("postgres", names, PRESENT, HealthThresholds(), tmp_path)
    assert renders == ["postgres"], "rendered again instead of reading the cache"
    assert again == first == render_queries("postgres", names, PRESENT, HealthThresholds())
    assert len(renders) == 2  # without a folder: rendered (this test's counter stands in for the process cache)
    assert set(first) == set(VIEWS)


@pytest.mark.parametrize(
    "other",
    [
        {"dialect": "snowflake"},
        {"table_name": lambda table: f'"elsewhere"."{table}"'},
        {"present": {"job_sync_status": {"id", "integration_id"}, "integrations": None}},
        {"thresholds": HealthThresholds(stuck_after_hours=1.5)},
    ],
    ids=["dialect", "tables", "columns", "thresholds"],
)
def test_other_inputs_never_get_a_cached_rendering(tmp_path: Path, renders: list[str], other: dict) -> None:
    inputs = {"dialect": "postgres", "table_name": names, "present": PRESENT, "thresholds": HealthThresholds()}
    cached = render_queries(**inputs, cache_dir=tmp_path)
    changed = render_queries(**{**inputs, **other}, cache_dir=tmp_path)
    assert len(renders) == 2
    # both stay cached: a command with its own thresholds does not evict the run's rendering
    assert render_queries(**inputs, cache_dir=tmp_path) == cached and len(renders) == 2
    assert changed != cached
    assert changed == render_queries(**{**inputs, **other})


def test_a_new_version_of_the_code_renders_again(tmp_path: Path, renders: list[str], monkeypatch: Any) -> None:
    render_queries("duckdb", names, PRESENT, HealthThresholds(), tmp_path)
    monkeypatch.setattr(view_sql, "_code_fingerprint", lambda: "the next release")
    render_queries("duckdb", names, PRESENT, HealthThresholds(), tmp_path)
    assert renders == ["duckdb", "duckdb"]


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"k": "text"}', None],
    ids=["truncated", "wrong shape", "a view missing"],
)
def test_a_broken_cache_file_costs_a_render_not_a_wrong_query(
    tmp_path: Path, renders: list[str], content: str | None
) -> None:
    expected = render_queries("duckdb", names, PRESENT, HealthThresholds(), tmp_path)
    path = tmp_path / RENDER_CACHE_FILE
    if content is None:  # the right key, but one view's query lost
        entries = json.loads(path.read_text())
        for queries in entries.values():
            queries.pop("sync_runs")
        content = json.dumps(entries)
    path.write_text(content)
    assert render_queries("duckdb", names, PRESENT, HealthThresholds(), tmp_path) == expected
    assert renders == ["duckdb", "duckdb"]
    assert render_queries("duckdb", names, PRESENT, HealthThresholds(), tmp_path) == expected
    assert len(renders) == 2, "the file was not repaired"


def test_a_folder_that_cannot_be_written_just_means_no_cache(tmp_path: Path, renders: list[str]) -> None:
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    queries = render_queries("duckdb", names, PRESENT, HealthThresholds(), blocked / "pipeline")
    assert queries == render_queries("duckdb", names, PRESENT, HealthThresholds())
