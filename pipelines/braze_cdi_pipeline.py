"""Load Braze CDI sync history with dlt: the same job as `braze-cdi run`, as a plain script to copy and edit.

Configuration comes from `.dlt/config.toml`, `.dlt/secrets.toml` (in the folder you run from) and the
environment, as for any dlt pipeline:

    export SOURCES__BRAZE_CDI__API_KEY=...                              # or [sources.braze_cdi] api_key
    export SOURCES__BRAZE_CDI__BASE_URL=https://rest.iad-03.braze.com   # or [sources.braze_cdi] base_url
    python pipelines/braze_cdi_pipeline.py                              # -> ./braze_cdi.duckdb

Where to load is set under `[braze_cdi_pipeline]` (or BRAZE_CDI_PIPELINE__<NAME>): `pipeline_name`
(default braze_cdi), `destination` (default duckdb; any dlt destination, configured the dlt way under
`[destination.<name>]`) and `dataset_name` (default braze_cdi_data); command-line options override them.
The DuckDB file is `<pipeline_name>.duckdb` in the folder you run from (or `--duckdb-file`, or
`[destination.duckdb] credentials`), whichever folder the pipeline ran from before; the script prints it.

`run_pipeline` is the job the CLI runs too: it holds the pipeline's lock (a second run at the same time
exits 75 and sends no request), tunes a local DuckDB, loads, creates or replaces the analyst views (not on
a filesystem destination, which keeps files, not views) and returns a summary. Exit code: 0 when every
integration loaded, 1 when some failed (the others loaded; see the `extraction_errors` table), 2 when
nothing loaded (configuration, key, destination), 75 when another run holds the lock.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import dlt

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.errors import root_cause
from braze_cdi_source.job import PipelineLockedError, make_pipeline, run_pipeline

SECTION = "braze_cdi_pipeline"


def load_braze_cdi(
    pipeline_name: str, destination: str, dataset_name: str, duckdb_file: str | None = None
) -> int:
    """Extract every integration and its sync history, load them, refresh the views; returns the exit code."""
    pipeline = make_pipeline(pipeline_name, destination, dataset_name, duckdb_file=duckdb_file)
    # The source is passed uncalled: it is made (and lists the integrations) only once the lock is held.
    summary = run_pipeline(pipeline, braze_cdi_source)
    print(f"loaded into {summary.location}, dataset {summary.dataset_name}:")
    for table, rows in sorted(summary.rows_per_table.items()):
        print(f"  {table}: {rows} row(s)")
    print(f"{summary.requests} Braze request(s), {summary.throttled_429} rate-limited (429).")
    if not summary.ok:
        print(f"{summary.failures} integration(s) failed: see the extraction_errors table.", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    def configured(name: str, default: str) -> str:
        return dlt.config.get(f"{SECTION}.{name}", str) or default

    parser = argparse.ArgumentParser(description="Load Braze CDI sync history with dlt.")
    parser.add_argument("--pipeline-name", default=configured("pipeline_name", "braze_cdi"))
    parser.add_argument("--destination", default=configured("destination", "duckdb"))
    parser.add_argument("--dataset-name", default=configured("dataset_name", "braze_cdi_data"))
    parser.add_argument("--duckdb-file", default=None, help="DuckDB file (default: <pipeline-name>.duckdb here)")
    args = parser.parse_args(argv)
    try:
        return load_braze_cdi(args.pipeline_name, args.destination, args.dataset_name, args.duckdb_file)
    except Exception as error:  # noqa: BLE001 - a script's top: say what failed, exit as the CLI does
        cause = root_cause(error)
        print(f"error: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 75 if isinstance(cause, PipelineLockedError) else 2


if __name__ == "__main__":
    sys.exit(main())
