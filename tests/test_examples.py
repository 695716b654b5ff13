"""The orchestrator examples: the Dagster assets materialized in-process, the GitHub Actions workflow read.

Each must load the same tables as `braze-cdi run`: compared with the simulator's truth row by row.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import dlt
import pytest
import yaml

from braze_cdi_source.simulator import BrazeSimulator
from tests.tables import count_rows, loaded_syncs, truth_syncs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dagster_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example module, its pipeline's state and DuckDB file in the test's folder."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "braze_cdi.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    name = f"braze_cdi_dagster_{tmp_path.name}"
    yield load_module(EXAMPLES / "dagster" / "braze_cdi_dagster.py", name)
    sys.modules.pop(name, None)


def materialize(module: ModuleType, sim: BrazeSimulator) -> object:
    import dagster as dg
    from dagster_dlt import DagsterDltResource

    return dg.materialize(
        [module.braze_cdi_assets],
        resources={
            "dlt": DagsterDltResource(),
            "braze": module.BrazeCdiConfig(api_key=sim.api_key, base_url=sim.base_url),
        },
        raise_on_error=False,
    )


@pytest.mark.slow
def test_dagster_definitions_load_without_calling_braze(dagster_example):
    import dagster as dg

    defs = dagster_example.defs
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in dagster_example.braze_cdi_assets.keys}
    assert keys == {"braze_cdi/integrations", "braze_cdi/job_sync_status"}
    schedule = defs.get_schedule_def("braze_cdi_schedule")
    assert schedule.cron_schedule == "*/30 * * * *"
    assert schedule.job_name == "braze_cdi_job"


@pytest.mark.slow
def test_dagster_materializes_the_same_tables_as_the_cli(dagster_example, sim, tmp_path):
    result = materialize(dagster_example, sim)
    assert result.success
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert materialized == {"braze_cdi/integrations", "braze_cdi/job_sync_status"}

    pipeline = dagster_example.PIPELINE
    assert Path(tmp_path / "braze_cdi.duckdb").exists()
    assert loaded_syncs(pipeline) == truth_syncs(sim)
    assert count_rows(pipeline, "integrations") == len(sim.integration_ids)
    assert count_rows(pipeline, "sync_runs") == len(truth_syncs(sim))

    # the next scheduled run is incremental: new syncs only, one request per unchanged integration
    sim.add_syncs(sim.integration_ids[2], 4)
    sim.finish_running()
    sim.reset_log()
    assert materialize(dagster_example, sim).success
    assert loaded_syncs(pipeline) == truth_syncs(sim)
    assert sim.count("job_sync_status", integration_id=sim.integration_ids[4]) == 1


@pytest.mark.slow
def test_dagster_step_fails_when_an_integration_fails_after_loading_the_others(dagster_example, sim):

    unknown = "00000000-0000-4000-8000-000000000000"  # answered 400 Invalid integration ID

    source_factory = dagster_example.braze_cdi_source

    def with_unknown(**kwargs: object) -> object:
        return source_factory(**kwargs, integration_ids=[*sim.integration_ids, unknown])

    dagster_example.braze_cdi_source = with_unknown
    result = materialize(dagster_example, sim)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "1 integration(s) could not be read" in failure.message
    assert loaded_syncs(dagster_example.PIPELINE) == truth_syncs(sim)


def test_github_actions_workflow_runs_the_cli_then_health(tmp_path):
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "braze-cdi.yml").read_text())
    assert workflow["concurrency"]["cancel-in-progress"] is False
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "schedule" in on and "workflow_dispatch" in on
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    commands = [line for step in steps for line in step.splitlines() if line.startswith("braze-cdi ")]
    verbs = [next(w for w in line.split()[1:] if not w.startswith("-") and w != "json") for line in commands]
    assert verbs == ["run", "health"]


AIRFLOW_VERSION = "3.3.2"
ROOT = EXAMPLES.parent


def airflow_venv() -> Path:
    """Where Airflow's venv is cached, outside any test's folder and any checkout, so a second run reuses it.

    Keyed by the pinned Airflow version, the Python version and the project's dependencies: a venv made for
    other dependencies is never reused. The project itself is installed there only for its dependencies and
    its `braze-cdi` script; the tests put this checkout first on PYTHONPATH, so its code is what runs.
    """
    try:
        import tomllib

        dependencies = json.dumps(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    except ImportError:  # Python 3.10: the whole file is the key
        dependencies = (ROOT / "pyproject.toml").read_text()
    key = hashlib.sha256(dependencies.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "braze-cdi"
    return cache / f"airflow-venv-{AIRFLOW_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}-{key}"


AIRFLOW_CHECK = """
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
dag = bag.dags["braze_cdi"]  # get_dag() would ask the metadata database
load, health = dag.get_task("load"), dag.get_task("health")
assert health.upstream_task_ids == {"load"}, health.upstream_task_ids
summary = load.python_callable()
try:
    health.python_callable()
    verdict = "healthy"
except RuntimeError as error:
    verdict = str(error)
import braze_cdi_source
print(json.dumps({"summary": summary, "health": verdict, "max_active_runs": dag.max_active_runs,
                  "code": braze_cdi_source.__file__}))
"""


def airflow_python() -> Path:
    """The cached venv's python, made once under a lock, so parallel runs wait for one build."""
    venv = airflow_venv()
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", f"apache-airflow=={AIRFLOW_VERSION}", str(ROOT)],
                check=True,
                timeout=900,
            )
            stamp.touch()
    return python


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the first run builds the cached venv: minutes on a busy machine
def test_airflow_dag_loads_in_airflow_and_its_tasks_load_the_same_tables(sim, tmp_path):
    python = airflow_python()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")},
        "PATH": f"{python.parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),  # this checkout's code, not the copy installed in the cached venv
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
        "SOURCES__BRAZE_CDI__API_KEY": sim.api_key,
        "SOURCES__BRAZE_CDI__BASE_URL": sim.base_url,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    result = subprocess.run(
        [str(python), "-c", AIRFLOW_CHECK, str(EXAMPLES / "airflow")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["code"]).resolve().is_relative_to(ROOT.resolve()), "Airflow ran another copy of the code"
    assert report["max_active_runs"] == 1
    assert report["summary"]["ok"] is True
    check = dlt.pipeline(
        "braze_cdi_check",
        destination=dlt.destinations.duckdb(str(tmp_path / "braze_cdi.duckdb")),
        dataset_name="braze_cdi_data",
        pipelines_dir=str(tmp_path / "check"),
    )
    assert loaded_syncs(check) == truth_syncs(sim)
    assert count_rows(check, "sync_runs") == len(truth_syncs(sim))
    # the health task says what `braze-cdi health` says
    direct = subprocess.run(
        [str(Path(sys.executable).with_name("braze-cdi")), "health"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    if direct.returncode == 0:
        assert report["health"] == "healthy"
    else:
        assert f"braze-cdi health exited {direct.returncode}" in report["health"]
