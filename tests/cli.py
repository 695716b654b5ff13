"""Run the real `braze-cdi` console script as a subprocess, in a folder of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
