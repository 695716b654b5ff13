"""Airflow: braze-cdi every 30 minutes, then the health check, as two tasks.

Copy this file into your DAGs folder, with `braze-cdi-source` installed in Airflow's environment
(`pip install "braze-cdi-source[postgres]"` beside `apache-airflow`). Tested with Airflow 3.3; the
imports fall back to Airflow 2's for 2.x. Configuration is dlt's: SOURCES__BRAZE_CDI__API_KEY (put it in
the worker's environment or a secrets backend), SOURCES__BRAZE_CDI__BASE_URL, and where to load
(BRAZE_CDI_DESTINATION, BRAZE_CDI_DATASET_NAME; the destination's own DESTINATION__<NAME>__CREDENTIALS).

`load` runs the same job as `braze-cdi run`: same source, same tables, the views refreshed after the
load, under the same pipeline lock. Its task fails when some integrations failed (after loading the
others) or when nothing loaded, so Airflow retries and alerts. `health` fails when an integration is
unhealthy.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.x
    from airflow.decorators import dag, task

PIPELINE_NAME = os.environ.get("BRAZE_CDI_PIPELINE_NAME", "braze_cdi")
DESTINATION = os.environ.get("BRAZE_CDI_DESTINATION", "duckdb")
DATASET_NAME = os.environ.get("BRAZE_CDI_DATASET_NAME", "braze_cdi_data")


def load_braze_cdi() -> dict[str, Any]:
    """Extract and load every integration, refresh the views; return the run's summary (an XCom)."""
    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.job import make_pipeline, run_pipeline

    summary = run_pipeline(make_pipeline(PIPELINE_NAME, DESTINATION, DATASET_NAME), braze_cdi_source)
    if not summary.ok:
        raise RuntimeError(
            f"{summary.failures} integration(s) could not be read; the others loaded "
            "(see the extraction_errors table)."
        )
    return summary.as_dict()


def check_health() -> None:
    """Fail the task when `braze-cdi health` says an integration is unhealthy (exit 1) or cannot tell (2)."""
    import subprocess

    result = subprocess.run(
        ["braze-cdi", "health", "--pipeline-name", PIPELINE_NAME, "--destination", DESTINATION,
         "--dataset-name", DATASET_NAME],
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout)
    if result.returncode != 0:
        raise RuntimeError(f"braze-cdi health exited {result.returncode}: {result.stderr.strip()}")


@dag(
    dag_id="braze_cdi",
    schedule="*/30 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["braze", "dlt"],
)
def braze_cdi() -> None:
    task(task_id="load")(load_braze_cdi)() >> task(task_id="health")(check_health)()


braze_cdi()
