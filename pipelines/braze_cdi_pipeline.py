"""Load Braze CDI sync history with dlt: the same job as `braze-cdi run`, as a plain dlt script.

Configuration comes from `.dlt/config.toml`, `.dlt/secrets.toml` (in the folder you run from) and the
environment, as for any dlt pipeline:

    export SOURCES__BRAZE_CDI__API_KEY=...                              # or [sources.braze_cdi] api_key
    export SOURCES__BRAZE_CDI__BASE_URL=https://rest.iad-03.braze.com   # or [sources.braze_cdi] base_url
    python pipelines/braze_cdi_pipeline.py                              # -> ./braze_cdi.duckdb

Where to load is set under `[braze_cdi_pipeline]` (or BRAZE_CDI_PIPELINE__<NAME>): `pipeline_name`
(default braze_cdi), `destination` (default duckdb; any dlt destination, configured the dlt way under
`[destination.<name>]`) and `dataset_name` (default braze_cdi_data); command-line options override them.
The analyst views are created or replaced after each load (not on a filesystem destination, which
keeps files, not views). Exit code: 0 when every integration loaded, 1 when some failed (the others
loaded; see the `extraction_errors` table), 2 when nothing loaded (configuration, key, destination).
Unlike `braze-cdi run` it takes no lock: under cron, prefer the CLI (see README, Running in production).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import dlt

from braze_cdi_source import braze_cdi_source, create_views
from braze_cdi_source.errors import root_cause
from braze_cdi_source.job import loader_file_format, views_supported

SECTION = "braze_cdi_pipeline"


def _config(name: str, default: str) -> str:
    return dlt.config.get(f"{SECTION}.{name}", str) or default


def load_braze_cdi(pipeline_name: str, destination: str, dataset_name: str) -> int:
    """Extract every integration and its sync history, load them, refresh the views; returns the exit code."""
    pipeline = dlt.pipeline(pipeline_name=pipeline_name, destination=destination, dataset_name=dataset_name)
    load_info = pipeline.run(braze_cdi_source(), loader_file_format=loader_file_format(pipeline))
    print(load_info)
    if views_supported(pipeline):
        print("views:", ", ".join(create_views(pipeline)))
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    for table in sorted(t for t in counts if not t.startswith("_dlt")):
        print(f"{table}: {counts[table]} row(s)")
    failed = counts.get("extraction_errors", 0)
    if failed:
        print(f"{failed} integration(s) failed: see the extraction_errors table.", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load Braze CDI sync history with dlt.")
    parser.add_argument("--pipeline-name", default=_config("pipeline_name", "braze_cdi"))
    parser.add_argument("--destination", default=_config("destination", "duckdb"))
    parser.add_argument("--dataset-name", default=_config("dataset_name", "braze_cdi_data"))
    args = parser.parse_args(argv)
    try:
        return load_braze_cdi(args.pipeline_name, args.destination, args.dataset_name)
    except Exception as error:  # noqa: BLE001 - a script's top: say what failed, exit 2 as the CLI does
        cause = root_cause(error)
        print(f"error: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
