"""Kill the real CLI with SIGKILL during extract and during load, run it again: exactly the truth.

The kill point is found by watching the simulator's request log (extract) and dlt's load folder
(load); the assertion does not depend on where exactly the process died, only on the end state.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env, popen_braze_cdi
from tests.conftest import FAST_LIMITS
from tests.tables import loaded_syncs, truth_syncs

pytestmark = pytest.mark.slow  # SIGKILL during extract and load, then a rerun

COUNTS = (137, 90, 60, 45, 12, 0)


def _load_started(folder: Path) -> bool:
    """dlt has a normalized package and is loading it (or has started to)."""
    normalized = folder / "dlt_data" / "pipelines" / "braze_cdi" / "load" / "normalized"
    return normalized.is_dir() and any(normalized.iterdir())


def kill_when(process, condition: Callable[[], bool], limit: float = 60.0) -> bool:
    """SIGKILL the process as soon as `condition` holds; False if it finished first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if condition():
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return True
        time.sleep(0.002)
    process.kill()
    raise AssertionError("the run neither finished nor reached the kill point")


def run_killed_then_again(tmp_path: Path, sim: BrazeSimulator, phase: str, extra_args: list[str], env_extra: dict):
    env = cli_env(tmp_path, sim.api_key, sim.base_url, **env_extra)
    process = popen_braze_cdi("run", *extra_args, cwd=tmp_path, env=env)
    if phase == "extract":
        killed = kill_when(process, lambda: sim.count("job_sync_status") >= 12)
    else:
        killed = kill_when(process, lambda: _load_started(tmp_path))
    assert killed, "the first run finished before it could be killed"
    assert process.returncode == -signal.SIGKILL

    # the lock died with the process: the next run is not refused
    result = braze_cdi("run", *extra_args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("phase", ["extract", "load"])
def test_kill_and_rerun_duckdb(tmp_path, make_pipeline, phase):
    latency = 0.03 if phase == "extract" else 0.0
    with BrazeSimulator(COUNTS, rate_limits=FAST_LIMITS, latency=latency) as sim:
        run_killed_then_again(tmp_path, sim, phase, [], {})
        sim.finish_running()
        sim.add_syncs(sim.integration_ids[0], 4)
        again = braze_cdi("run", cwd=tmp_path, env=cli_env(tmp_path, sim.api_key, sim.base_url))
        assert again.returncode == 0, again.stderr
        import dlt

        pipeline = make_pipeline(dlt.destinations.duckdb(str(tmp_path / "braze_cdi.duckdb")), name="reader")
        assert loaded_syncs(pipeline) == truth_syncs(sim)


@pytest.mark.parametrize("phase", ["extract", "load"])
def test_kill_and_rerun_postgres(tmp_path, make_pipeline, postgres_url, unique_dataset, phase):
    latency = 0.03 if phase == "extract" else 0.0
    args = ["--destination", "postgres", "--dataset-name", unique_dataset]
    env_extra = {"DESTINATION__POSTGRES__CREDENTIALS": postgres_url}
    with BrazeSimulator(COUNTS, rate_limits=FAST_LIMITS, latency=latency) as sim:
        run_killed_then_again(tmp_path, sim, phase, args, env_extra)
        import dlt

        pipeline = make_pipeline(
            dlt.destinations.postgres(credentials=postgres_url), name="reader", dataset_name=unique_dataset
        )
        assert loaded_syncs(pipeline) == truth_syncs(sim)
