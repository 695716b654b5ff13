"""The job written by hand without dlt: `requests` + `duckdb`, sequential, what the benchmarks compare to.

It does the minimum that still does braze-cdi's work on the data: follow Braze's `Link` header page by page,
keep the documented fields, and insert each integration's rows into DuckDB in one columnar statement (lists
bound as parameters and UNNESTed; `executemany` would be about 100× slower and make a straw man), with the
same types (timestamps with time zone, bigints) and the same de-duplication (primary key `integration_id,
sync_start_time`: a sync served twice, or loaded by an earlier run, is replaced, not duplicated — what
braze-cdi's merge does). No incremental state, no retries, no throttle, no schema evolution, no failure
isolation.
"""

from __future__ import annotations

from urllib.parse import urljoin

import duckdb
import requests

FIELDS = ("job_status", "sync_start_time", "sync_finish_time", "last_timestamp_synced",
          "rows_synced", "rows_failed_with_errors")
DDL = """CREATE TABLE IF NOT EXISTS job_sync_status (
    integration_id VARCHAR NOT NULL, job_status VARCHAR, sync_start_time TIMESTAMPTZ NOT NULL,
    sync_finish_time TIMESTAMPTZ, last_timestamp_synced TIMESTAMPTZ, rows_synced BIGINT,
    rows_failed_with_errors BIGINT, PRIMARY KEY (integration_id, sync_start_time))"""
INSERT = """INSERT OR REPLACE INTO job_sync_status SELECT DISTINCT ON (integration_id, sync_start_time) * FROM (
    SELECT UNNEST($1::VARCHAR[]) AS integration_id, UNNEST($2::VARCHAR[]),
    UNNEST($3::VARCHAR[])::TIMESTAMPTZ AS sync_start_time, UNNEST($4::VARCHAR[])::TIMESTAMPTZ,
    UNNEST($5::VARCHAR[])::TIMESTAMPTZ, UNNEST($6::BIGINT[]), UNNEST($7::BIGINT[]))"""


def pages(session: requests.Session, url: str):
    while url:
        response = session.get(url, timeout=30)
        response.raise_for_status()
        yield response.json()["results"]
        following = response.links.get("next", {}).get("url")
        url = urljoin(url, following) if following else None


def run(base_url: str, api_key: str, database: str) -> int:
    """Load every integration's sync history into `database`; returns the rows inserted."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    ids = [item["integration_id"] for page in pages(session, f"{base_url}/cdi/integrations") for item in page]
    con = duckdb.connect(database)
    con.execute(DDL)
    total = 0
    for integration_id in ids:
        columns: list[list] = [[] for _ in range(7)]
        for page in pages(session, f"{base_url}/cdi/integrations/{integration_id}/job_sync_status"):
            for item in page:
                columns[0].append(integration_id)
                for index, name in enumerate(FIELDS, start=1):
                    columns[index].append(item.get(name))
        if columns[0]:
            con.execute(INSERT, columns)
            total += len(columns[0])
    con.close()
    return total
