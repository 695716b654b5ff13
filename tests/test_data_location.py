"""Data goes where the user is: two folders sharing one dlt home load two DuckDB files, not the first one's.

dlt remembers the folder a pipeline first ran from (in its working folder under the dlt home) and resolves
the default DuckDB path against it; `make_pipeline` resolves it against the current folder instead. Each
test runs two folders under one HOME and one DLT_DATA_DIR (as root, dlt would use /var/dlt, not HOME).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS

pytestmark = pytest.mark.slow  # CLI, pipeline-script and snippet runs in two folders as subprocesses

SCRIPT = Path(__file__).resolve().parents[1] / "pipelines" / "braze_cdi_pipeline.py"


def shared_home_env(home: Path, sim: BrazeSimulator | None) -> dict[str, str]:
    """One HOME and one dlt data folder for every command of the test, as on a user's machine."""
    env = cli_env(home, sim.api_key if sim else None, sim.base_url if sim else None)
    env["HOME"] = str(home)
    env["DLT_DATA_DIR"] = str(home / ".dlt")
    return env


def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, first, second = tmp_path / "home", tmp_path / "first", tmp_path / "second"
    for folder in (home, first, second):
        folder.mkdir()
    return home, first, second


def syncs_in(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as db:
        return db.execute("SELECT COUNT(*) FROM braze_cdi_data.job_sync_status").fetchone()[0]


def test_cli_runs_in_two_folders_load_two_files_and_say_where(tmp_path):
    home, first, second = folders(tmp_path)
    with BrazeSimulator((7, 12), rate_limits=FAST_LIMITS) as sim:
        env = shared_home_env(home, sim)
        one = braze_cdi("run", cwd=first, env=env)
        assert one.returncode == 0, one.stderr
        two = braze_cdi("run", cwd=second, env=env)
        assert two.returncode == 0, two.stderr
    assert f"Loaded into DuckDB file {first / 'braze_cdi.duckdb'}, dataset braze_cdi_data" in one.stdout
    assert f"Loaded into DuckDB file {second / 'braze_cdi.duckdb'}, dataset braze_cdi_data" in two.stdout
    assert syncs_in(first / "braze_cdi.duckdb") == 19
    assert syncs_in(second / "braze_cdi.duckdb") == 19  # a full load of its own, not re-reads of the first's

    # report and health read the file of the folder they run in
    assert braze_cdi("report", cwd=second, env=env).returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in ("health", "report"):
        result = braze_cdi(command, cwd=empty, env=env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert str(empty / "braze_cdi.duckdb") in result.stdout + result.stderr
        assert not (empty / "braze_cdi.duckdb").exists()


def test_duckdb_file_option_and_configured_path_resolve_against_the_current_folder(tmp_path):
    home, first, second = folders(tmp_path)
    with BrazeSimulator((5,), rate_limits=FAST_LIMITS) as sim:
        env = shared_home_env(home, sim)
        explicit = braze_cdi("run", "--duckdb-file", "data/cdi.duckdb", cwd=first, env=env)
        assert explicit.returncode == 0, explicit.stderr
        (second / "data").mkdir()
        configured = braze_cdi(
            "run", cwd=second, env={**env, "DESTINATION__DUCKDB__CREDENTIALS": "data/configured.duckdb"}
        )
        assert configured.returncode == 0, configured.stderr
    assert syncs_in(first / "data" / "cdi.duckdb") == 5
    assert syncs_in(second / "data" / "configured.duckdb") == 5
    assert not (first / "braze_cdi.duckdb").exists() and not (second / "braze_cdi.duckdb").exists()
    # the analyst commands take the same option
    health = braze_cdi("health", "--duckdb-file", str(first / "data" / "cdi.duckdb"), cwd=second, env=env)
    assert health.returncode in (0, 1), health.stdout + health.stderr


def test_the_pipeline_script_in_two_folders_loads_two_files(tmp_path):
    home, first, second = folders(tmp_path)
    with BrazeSimulator((4, 11), rate_limits=FAST_LIMITS) as sim:
        env = shared_home_env(home, sim)
        runs = [
            subprocess.run([sys.executable, str(SCRIPT)], cwd=folder, env=env, capture_output=True, text=True,
                           timeout=240)
            for folder in (first, second)
        ]
    for folder, result in zip((first, second), runs, strict=True):
        assert result.returncode == 0, result.stderr
        assert f"loaded into DuckDB file {folder / 'braze_cdi.duckdb'}" in result.stdout
        assert syncs_in(folder / "braze_cdi.duckdb") == 15


README_SNIPPET = textwrap.dedent(
    """
    import os

    import dlt
    from braze_cdi_source import braze_cdi_source, create_views

    source = braze_cdi_source(
        api_key=dlt.secrets.value,            # sources.braze_cdi.api_key
        base_url=dlt.config.value,            # sources.braze_cdi.base_url
        integration_ids=None,                 # None: every integration the list returns
        start_date=None,                      # e.g. "2026-01-01": ignore older syncs
    )
    pipeline = dlt.pipeline(
        "braze_cdi",
        destination=dlt.destinations.duckdb(os.path.abspath("braze_cdi.duckdb")),  # here, not where it first ran
        dataset_name="braze_cdi_data",
    )
    pipeline.run(source)
    create_views(pipeline)
    """
)


def test_the_readme_snippet_in_two_folders_loads_two_files(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert 'destination=dlt.destinations.duckdb(os.path.abspath("braze_cdi.duckdb"))' in readme
    home, first, second = folders(tmp_path)
    with BrazeSimulator((6,), rate_limits=FAST_LIMITS) as sim:
        env = shared_home_env(home, sim)
        for folder in (first, second):
            result = subprocess.run([sys.executable, "-c", README_SNIPPET], cwd=folder, env=env,
                                    capture_output=True, text=True, timeout=240)
            assert result.returncode == 0, result.stderr
    assert syncs_in(first / "braze_cdi.duckdb") == 6
    assert syncs_in(second / "braze_cdi.duckdb") == 6
