"""The real `braze-cdi` CLI as a subprocess: plain errors, exit codes, config sources, `check`, no key leaks."""

from __future__ import annotations

import duckdb
import pytest

from braze_cdi_source.errors import hint
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS


def one_line_error(result) -> str:
    """The CLI's error: one line on stderr starting with `error:`, and no traceback."""
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


GOOD_URL = "https://rest.iad-03.braze.com"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "base_url", "expected", "args"),
    [
        ("abc", GOOD_URL, "start_date 'yesterday' is not an ISO 8601", ("--start-date", "yesterday")),
        ("abc", GOOD_URL, "time_budget 'abc' is not a duration: write 90s, 50m, 1h30m", ("--time-budget", "abc")),
        ("abc", GOOD_URL, "time_budget '1h30' is not a duration", ("--time-budget", "1h30")),
        ("abc", GOOD_URL, "time_budget '30 30' is not a duration", ("--time-budget", "30 30")),
        ("abc", GOOD_URL, "time_budget '5m 10' is not a duration", ("--time-budget", "5m 10")),
        (None, None, "SOURCES__BRAZE_CDI__API_KEY", ()),
        ("abc", "https://rest.iad-03.braze.com/api/v1", "has a path (/api/v1)", ()),
        (None, "https://rest.iad-03.braze.com", "SOURCES__BRAZE_CDI__API_KEY", ()),
        ("abc", None, "SOURCES__BRAZE_CDI__BASE_URL", ()),
        ('"abc"', "https://rest.iad-03.braze.com", "wrapped in quotes", ()),
        ("abc def", "https://rest.iad-03.braze.com", "spaces", ()),
        ("abc", "http://rest.iad-03.braze.com", "must use https://", ()),
        ("abc", "https://rest.example.com", "not a Braze REST instance", ()),
        ("abc", "https://dashboard-03.braze.com", "dashboard address", ()),
        ("abc", "rest.iad-03.braze.com", "not a URL", ()),
    ],
)
def test_bad_configuration_is_one_plain_sentence(tmp_path, key, base_url, expected, args):
    """...said before any destination is opened: no DuckDB file, no run logged, no "loading into" line."""
    result = braze_cdi("run", *args, cwd=tmp_path, env=cli_env(tmp_path, key, base_url))
    assert result.returncode == 2
    line = one_line_error(result)
    assert expected in line
    assert not list(tmp_path.glob("*.duckdb"))
    assert "loading into" not in result.stderr
    if key and key.strip('"') not in ("abc",):
        assert key not in line


@pytest.mark.slow  # CLI subprocesses; test_wrong_key_is_401_with_what_to_do is the fast lane's CLI run
def test_reset_of_a_pipeline_that_never_ran_here_says_so_and_creates_nothing(tmp_path):
    result = braze_cdi("reset", "--pipeline-name", "nope", cwd=tmp_path, env=cli_env(tmp_path))
    assert result.returncode == 2
    assert "no DuckDB file at" in one_line_error(result)
    assert not list(tmp_path.glob("*.duckdb"))


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path):
    result = braze_cdi("--debug", "run", cwd=tmp_path, env=cli_env(tmp_path, "abc", "http://example.com"))
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_wrong_key_is_401_with_what_to_do(tmp_path):
    with BrazeSimulator((3,), rate_limits=FAST_LIMITS) as sim:
        wrong = "sim-WRONG-KEY-123"
        result = braze_cdi("run", cwd=tmp_path, env=cli_env(tmp_path, wrong, sim.base_url))
    assert result.returncode == 2
    line = one_line_error(result)
    assert "401" in line and "not valid for this instance" in line
    assert wrong not in result.stdout + result.stderr


@pytest.mark.slow
def test_list_permission_missing_is_named(tmp_path):
    with BrazeSimulator((3,), rate_limits=FAST_LIMITS, permissions=["cdi.integration_job_status"]) as sim:
        result = braze_cdi("run", cwd=tmp_path, env=cli_env(tmp_path, sim.api_key, sim.base_url))
    assert result.returncode == 2
    assert "cdi.integration_list" in one_line_error(result)


@pytest.mark.slow
def test_a_failed_integration_exits_1_and_the_others_load(tmp_path):
    with BrazeSimulator((7, 12), rate_limits=FAST_LIMITS) as sim:
        args = ["run", "--integration-id", sim.integration_ids[0], "--integration-id", "not-a-real-id"]
        result = braze_cdi(*args, cwd=tmp_path, env=cli_env(tmp_path, sim.api_key, sim.base_url))
        assert result.returncode == 1, result.stderr
        assert "not-a-real-id" in result.stderr and "Invalid integration ID" in result.stderr
        assert "1 integration(s) failed" in result.stderr
        with duckdb.connect(str(tmp_path / "braze_cdi.duckdb"), read_only=True) as db:
            n = db.execute("SELECT COUNT(*) FROM braze_cdi_data.job_sync_status").fetchone()[0]
            failed = db.execute("SELECT integration_id, status FROM braze_cdi_data.extraction_errors").fetchall()
        assert n == 7
        assert failed == [("not-a-real-id", 400)]


@pytest.mark.slow
def test_config_from_toml_files(tmp_path):
    with BrazeSimulator((4, 11), rate_limits=FAST_LIMITS) as sim:
        (tmp_path / ".dlt").mkdir()
        (tmp_path / ".dlt" / "secrets.toml").write_text(f'[sources.braze_cdi]\napi_key = "{sim.api_key}"\n')
        (tmp_path / ".dlt" / "config.toml").write_text(
            f'[runtime]\ndlthub_telemetry = false\n\n[sources.braze_cdi]\nbase_url = "{sim.base_url}"\n'
            f'integration_ids = ["{sim.integration_ids[1]}"]\n'
        )
        result = braze_cdi("run", cwd=tmp_path, env=cli_env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert sim.count("job_sync_status", integration_id=sim.integration_ids[0]) == 0
        assert sim.count("job_sync_status", integration_id=sim.integration_ids[1]) == 2
    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb"), read_only=True) as db:
        assert db.execute("SELECT COUNT(*) FROM braze_cdi_data.job_sync_status").fetchone()[0] == 11


@pytest.mark.slow
def test_config_from_environment_variables(tmp_path):
    with BrazeSimulator((4, 11), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(
            tmp_path, sim.api_key, sim.base_url, SOURCES__BRAZE_CDI__INTEGRATION_IDS=f'["{sim.integration_ids[0]}"]'
        )
        result = braze_cdi("run", "--dataset-name", "cdi_env", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert sim.count("job_sync_status", integration_id=sim.integration_ids[1]) == 0
    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb"), read_only=True) as db:
        assert db.execute("SELECT COUNT(*) FROM cdi_env.job_sync_status").fetchone()[0] == 4


@pytest.mark.slow
def test_a_list_in_the_environment_that_is_not_json_says_so(tmp_path):
    env = cli_env(
        tmp_path, "abc", "https://rest.iad-03.braze.com", SOURCES__BRAZE_CDI__INTEGRATION_IDS="5a-1,7b-2"
    )
    result = braze_cdi("run", cwd=tmp_path, env=env)
    assert result.returncode == 2
    line = one_line_error(result)
    assert "integration_ids" in line and "JSON" in line


@pytest.mark.slow  # CLI subprocesses; test_wrong_key_is_401_with_what_to_do is the fast lane's CLI run
def test_check_passes_on_a_good_setup(tmp_path):
    with BrazeSimulator((4, 11), rate_limits=FAST_LIMITS) as sim:
        result = braze_cdi("check", cwd=tmp_path, env=cli_env(tmp_path, sim.api_key, sim.base_url))
    assert result.returncode == 0, result.stdout + result.stderr
    names = ("api key", "base url", "instance reachable", "key accepted", "permission cdi.integration_list",
             "permission cdi.integration_job_status")
    for name in names:
        assert f"ok   {name}:" in result.stdout
    assert "FAIL" not in result.stdout


@pytest.mark.slow
def test_check_names_the_missing_permission(tmp_path):
    """The job status permission; the list permission and a wrong key: tests/test_check.py."""
    with BrazeSimulator((4,), rate_limits=FAST_LIMITS, permissions=["cdi.integration_list"]) as sim:
        result = braze_cdi("check", cwd=tmp_path, env=cli_env(tmp_path, sim.api_key, sim.base_url))
    assert result.returncode == 2
    [fail_line] = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "cdi.integration_job_status" in fail_line and "lacks the permission" in fail_line


@pytest.mark.slow
def test_check_with_no_integrations_probes_the_permission(tmp_path):
    with BrazeSimulator((), rate_limits=FAST_LIMITS) as sim:
        result = braze_cdi("check", cwd=tmp_path, env=cli_env(tmp_path, sim.api_key, sim.base_url))
    assert result.returncode == 0, result.stdout
    assert "no integration yet" in result.stdout


def test_hints_cover_every_documented_error():
    job_path = "/cdi/integrations/x/job_sync_status"
    assert "cdi.integration_job_status" in hint(403, "Access Denied", job_path)
    assert "cdi.integration_list" in hint(403, "Access Denied", "/cdi/integrations")
    assert "plan" in hint(403, "Forbidden", job_path)
    assert "integration id" in hint(400, "Invalid integration ID", job_path)
    assert "cursor" in hint(400, "Invalid cursor", job_path)
    assert "base_url" in hint(404, "Not Found", job_path)
    assert "re-run later" in hint(503, "", job_path)
    assert "re-run later" in hint(None, "", job_path)


@pytest.mark.slow
def test_the_key_never_leaves_a_trace(tmp_path):
    """Run every command, failures included, with a recognisable key; then search everything for it."""
    key = "sim-LEAKCANARY-7f3a9c1e5b"
    with BrazeSimulator((12, 3), rate_limits=FAST_LIMITS, api_key=key) as sim:
        env = cli_env(tmp_path, key, sim.base_url)
        outputs = [
            braze_cdi("check", cwd=tmp_path, env=env),
            braze_cdi("run", cwd=tmp_path, env=env),
            braze_cdi("--debug", "--log-format", "json", "run", cwd=tmp_path, env=env),
            braze_cdi("--debug", "run", "--integration-id", "bogus", cwd=tmp_path, env=env),
            braze_cdi("report", "--html", str(tmp_path / "report.html"), cwd=tmp_path, env=env),
            braze_cdi("health", "--format", "json", cwd=tmp_path, env=env),
        ]
        sim.inject("503", endpoint="job_sync_status", times=100)
        outputs.append(
            braze_cdi(
                "--debug", "run", cwd=tmp_path, env={**env, "SOURCES__BRAZE_CDI__MAX_ATTEMPTS": "2",
                                                     "SOURCES__BRAZE_CDI__BACKOFF_FACTOR": "0.01"}
            )
        )
        other_hosts = [r for r in sim.requests if r.authorization and key not in r.authorization]
    assert outputs[1].returncode == 0, outputs[1].stderr
    assert not other_hosts
    for result in outputs:
        assert key not in result.stdout
        assert key not in result.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files)
    assert any("trace" in p.name for p in files)  # dlt's pickled trace is searched too
    for path in files:
        assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"


@pytest.mark.slow
def test_progress_and_summary_report_the_real_figures(tmp_path):
    """Not on a terminal: progress is plain log records; their figures and the summary match Braze's log."""
    import json

    with BrazeSimulator((137, 25, 0), rate_limits=FAST_LIMITS) as sim:
        sim.inject("503", endpoint="job_sync_status", page=3, times=1)
        env = cli_env(tmp_path, sim.api_key, sim.base_url, SOURCES__BRAZE_CDI__BACKOFF_FACTOR="0.01")
        result = braze_cdi("--log-format", "json", "run", cwd=tmp_path, env=env)
        served = sim.count()
        pages = sim.count(status=200)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    progress = [r["progress"] for r in records if "progress" in r]
    assert progress, "no progress record"
    last = progress[-1]
    assert last["integrations"] == 3 and last["integrations_done"] == 3
    assert last["rows"] == 137 + 25
    assert last["pages"] == pages
    [summary] = [r["summary"] for r in records if "summary" in r]
    assert summary["requests"] == served  # the 503 and its retry included
    assert summary["rows_per_integration"] == {sim.integration_ids[0]: 137, sim.integration_ids[1]: 25,
                                               sim.integration_ids[2]: 0}
    assert "137" in result.stdout  # the human summary table is on stdout


@pytest.mark.slow  # CLI subprocesses; test_wrong_key_is_401_with_what_to_do is the fast lane's CLI run
def test_help_and_the_manual_say_the_same_of_checkpoint_pages_and_fail_on(tmp_path):
    from pathlib import Path

    manual = " ".join((Path(__file__).parents[1] / "docs" / "operate.md").read_text().split())
    run_help = " ".join(braze_cdi("run", "--help", cwd=tmp_path, env=cli_env(tmp_path)).stdout.split())
    assert "At most this many pages between two commits of rows and resume points" in run_help
    assert "--debug and --log-format text|json" in run_help  # the global options, named where they also work
    assert "at most this many pages between two commits of rows and resume points" in manual
    health_help = " ".join(braze_cdi("health", "--help", cwd=tmp_path, env=cli_env(tmp_path)).stdout.split())
    assert "+degraded adds to it" in health_help and "`--fail-on +degraded`" in manual
