"""Run the real `braze-cdi` console script as a subprocess, in a folder of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

BRAZE_CDI = str(Path(sys.executable).parent / "braze-cdi")


def cli_env(folder: Path, api_key: str | None = None, base_url: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment: config only from what the test passes, dlt's data under `folder`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__"))}
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    env["DLT_DATA_DIR"] = str(folder / "dlt_data")
    env["COLUMNS"] = "200"
    if api_key is not None:
        env["SOURCES__BRAZE_CDI__API_KEY"] = api_key
    if base_url is not None:
        env["SOURCES__BRAZE_CDI__BASE_URL"] = base_url
    env.update(extra)
    return env


def braze_cdi(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BRAZE_CDI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def popen_braze_cdi(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BRAZE_CDI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def load_as_cli(folder: Path, sim: Any, data_dir: str = "dlt_data", **options: Any) -> Any:
    """Load what `braze-cdi run` run in `folder` loads (DLT_DATA_DIR `folder/data_dir`, as `cli_env` sets it), in
    this process: for tests that need loaded data to test another command (health, report, notify). The CLI
    calls the same `make_pipeline` and `run_pipeline`; its own start-up (about 1.5 s of CPU importing dlt) is
    tested where the CLI is under test. Returns the run's summary; a run that is not ok fails the test."""
    from braze_cdi_source import braze_cdi_source
    from braze_cdi_source.job import make_pipeline, run_pipeline

    pipelines = str(folder / data_dir / "pipelines")
    pipeline = make_pipeline(pipelines_dir=pipelines, duckdb_file=folder / "braze_cdi.duckdb")
    summary = run_pipeline(pipeline, partial(braze_cdi_source, api_key=sim.api_key, base_url=sim.base_url, **options))
    assert summary.ok, summary
    return summary
