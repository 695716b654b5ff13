"""SQL views over the loaded tables, created or replaced after every load (DuckDB and PostgreSQL alike)."""

from __future__ import annotations

from importlib import resources

import dlt

VIEWS = ("sync_runs",)


def view_sql(name: str) -> str:
    return resources.files("braze_cdi_source").joinpath("sql", f"{name}.sql").read_text()


def create_views(pipeline: dlt.Pipeline) -> list[str]:
    """Create or replace the analyst views in the pipeline's dataset; returns their names."""
    with pipeline.sql_client() as client:
        names = {
            table: client.make_qualified_table_name(table)
            for table in ("job_sync_status", "integrations", *VIEWS)
        }
        for view in VIEWS:
            client.execute_sql(f"DROP VIEW IF EXISTS {names[view]} CASCADE")
            client.execute_sql(f"CREATE VIEW {names[view]} AS " + view_sql(view).format(**names))
    return list(VIEWS)
