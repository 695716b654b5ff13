"""The Arrow path (extract/arrow_batch.py): batches that fit the declared types go to dlt as Arrow tables, and
anything else (a new field, a value of another type, a value that does not fit) lands exactly as the JSON path
lands it: same columns, same types, same rows."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.extract.arrow_batch import ArrowBatches
from braze_cdi_source.job import run_pipeline
from braze_cdi_source.simulator import BrazeSimulator
from tests.conftest import FAST_LIMITS

UTC = timezone.utc
ROW = {
    "integration_id": "i1",
    "job_status": "success",
    "sync_start_time": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    "sync_finish_time": datetime(2026, 1, 2, 3, 9, tzinfo=UTC),
    "last_timestamp_synced": None,
    "rows_synced": 2**63 - 1,
    "rows_failed_with_errors": 0,
}


def test_a_batch_that_fits_becomes_a_table_with_the_declared_types():
    table = ArrowBatches().to_arrow([ROW, {**ROW, "job_status": None, "rows_synced": None}])
    assert table is not None
    assert table.schema.field("sync_start_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("rows_synced").type == pa.int64()
    assert table.schema.field("integration_id").type == pa.string()
    assert not table.schema.field("sync_start_time").nullable
    assert table.to_pylist()[0] == ROW
    assert table.column("rows_synced").to_pylist() == [2**63 - 1, None]


@pytest.mark.parametrize(
    "odd",
    [
        {"rows_synced": True},  # a bool is an int to Python, a variant column to dlt
        {"rows_synced": 1.0},  # a float, even a whole one
        {"rows_synced": 2**64},  # beyond 64 bits
        {"sync_finish_time": "soon"},  # a timestamp that did not parse
        {"job_status": 3},
        {"job_status": {"nested": "object"}},
        {"brand_new_field": "x"},  # a field Braze adds later: a new column
    ],
    ids=["bool", "float", "int>64bit", "text-timestamp", "int-status", "nested", "new-field"],
)
def test_a_batch_with_any_value_that_would_land_differently_stays_rows(odd: dict[str, Any]):
    batches = ArrowBatches()
    rows = [ROW, {**ROW, **odd}]
    assert batches.to_arrow(rows) is None
    assert len(list(batches.flush(rows))) == 1 and batches.row_batches == 1 and batches.arrow_batches == 0


def test_without_pyarrow_rows_stay_rows(monkeypatch):
    monkeypatch.setattr("braze_cdi_source.extract.arrow_batch.pa", None)
    batches = ArrowBatches()
    assert [_plain(item) for item in batches.flush([ROW])] == [[ROW]]
    assert (batches.arrow_batches, batches.row_batches) == (0, 1)


def _plain(item: Any) -> Any:
    return item


def _rows(n: int, first: int = 0) -> list[dict[str, Any]]:
    return [{**ROW, "sync_start_time": datetime.fromtimestamp(1_800_000_000 + i, UTC)} for i in range(first, first + n)]


def test_arrow_rows_gather_into_one_table_and_rows_that_do_not_fit_go_after_them_in_order():
    """dlt pays about 10 ms per Arrow item: tables go when `arrow_rows` gathered, or before rows that do not
    fit, or at the end; nothing is lost or reordered."""
    batches = ArrowBatches(arrow_rows=250)
    assert list(batches.add(_rows(100))) == []
    assert list(batches.add(_rows(100, 100))) == []
    sent = [_plain(item) for item in batches.add(_rows(100, 200))]
    assert len(sent) == 1 and sent[0].to_pylist() == _rows(300) and not batches.pending
    assert list(batches.add(_rows(100, 300))) == [] and batches.pending
    odd = [{**ROW, "rows_synced": True}]
    sent = list(batches.add(odd))
    assert len(sent) == 2 and sent[0].to_pylist() == _rows(100, 300) and sent[1] == odd
    sent = list(batches.flush(_rows(5, 400)))
    assert len(sent) == 1 and sent[0].to_pylist() == _rows(5, 400)
    assert list(batches.flush([])) == [] and not batches.pending


def _served(item: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if hasattr(v, "strftime") else v) for k, v in item.items()}


def _table(pipeline: Any) -> tuple[list[tuple[str, str]], list[tuple]]:
    """The job_sync_status table's columns (name, type) and rows, without dlt's per-load ids."""
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name("job_sync_status")
        columns = [
            (row[0], row[1]) for row in client.execute_sql(f"DESCRIBE {name}") if not row[0].startswith("_dlt")
        ]
        listed = ", ".join(f'"{c}"' for c, _ in columns)
        rows = client.execute_sql(f"SELECT {listed} FROM {name} ORDER BY integration_id, sync_start_time")
    return sorted(columns), [tuple(r) for r in rows]


def _parquet_files(pipeline: Any) -> list[Path]:
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    return list(loaded.rglob("completed_jobs/job_sync_status.*.parquet"))


@pytest.mark.slow
@pytest.mark.parametrize("job", [True, False], ids=["job", "bare-pipeline-run"])
def test_odd_values_land_as_the_json_path_lands_them_while_the_rest_goes_as_arrow(make_pipeline, monkeypatch, job):
    """Two integrations of 137 syncs (two batches each); odd items in the first batch of one of them: a bool,
    a field Braze added, a timestamp that does not parse, a fraction in a count. The table is the same,
    column for column and row for row, whether the source hands dlt Arrow tables or rows (the JSON path),
    run by the job or by a bare `pipeline.run`."""
    tables = {}
    kinds: list[str] = []
    to_arrow = ArrowBatches.to_arrow
    json_path = False

    def counted(self: ArrowBatches, rows: list[dict[str, Any]]) -> Any:
        table = None if json_path else to_arrow(self, rows)
        kinds.append("json" if json_path else "rows" if table is None else "arrow")
        return table

    monkeypatch.setattr(ArrowBatches, "to_arrow", counted)
    with BrazeSimulator((137, 137), rate_limits=FAST_LIMITS, seed=5) as sim:
        target = sim.integration_ids[0]
        sim.finish_running()
        truth = sim.truth(target)
        odd = [
            {"rows_synced": True},
            {"brand_new_field": "added later"},
            {"sync_finish_time": "soon"},
            {"rows_failed_with_errors": 2.5},
        ]
        for index, change in enumerate(odd, start=3):
            sim.set_job_status_raw(target, index, {**_served(truth[index]), **change})
        for path in ("json", "arrow"):
            json_path = path == "json"  # the JSON path: every batch goes as rows
            pipeline = make_pipeline(name=f"braze_cdi_{path}")
            if json_path or not job:
                pipeline.run(braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url))
            else:
                assert run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url)).ok
            tables[path] = _table(pipeline)
    assert _parquet_files(pipeline), "the source did not take the Arrow path"
    kinds = [kind for kind in kinds if kind != "json"]
    # the odd items' batch only went as rows (how many Arrow batches depends on how the job slices the backfill)
    assert kinds.count("rows") == 1 and kinds.count("arrow") >= 2, kinds
    columns, rows = tables["arrow"]
    assert len(rows) == 274
    names = dict(columns)
    assert "rows_synced__v_bool" in names and "brand_new_field" in names and "sync_finish_time__v_text" in names
    assert "rows_failed_with_errors__v_double" in names
    assert names["sync_start_time"] == "TIMESTAMP WITH TIME ZONE" and names["rows_synced"] == "BIGINT"
    assert tables["arrow"] == tables["json"]
