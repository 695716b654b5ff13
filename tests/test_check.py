"""`braze-cdi check` tells apart what needs different fixes: instance unreachable (DNS, refused, TLS), key
rejected (401), a missing permission (403); and it checks the destination. Missing destination settings
name their section and environment variable, in `check` and in `run`."""

from __future__ import annotations

import json
import socket

import duckdb
import pytest

from braze_cdi_source.cli.check import Check, check_instance
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS


def lines(result, mark: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(mark)]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow  # a CLI subprocess
def test_a_refused_port_is_instance_unreachable_not_a_permission(tmp_path):
    result = braze_cdi("check", "--skip-destination", cwd=tmp_path,
                       env=cli_env(tmp_path, "some-key", f"http://127.0.0.1:{closed_port()}"))
    assert result.returncode == 2
    [fail] = lines(result, "FAIL")
    assert fail.startswith("FAIL instance reachable:") and "refused" in fail
    assert "permission" not in result.stdout


@pytest.mark.slow
def test_tls_failure_is_instance_unreachable(tmp_path):
    with BrazeSimulator((1,), rate_limits=FAST_LIMITS) as sim:  # speaks plain HTTP: a TLS handshake fails
        url = sim.base_url.replace("http://", "https://")
        result = braze_cdi("check", "--skip-destination", cwd=tmp_path, env=cli_env(tmp_path, sim.api_key, url))
    assert result.returncode == 2
    [fail] = lines(result, "FAIL")
    assert fail.startswith("FAIL instance reachable:") and "TLS" in fail


def test_a_host_that_does_not_resolve_fails_at_once():
    """`.invalid` never resolves (RFC 6761); the check asks DNS once, before any HTTP client (which would retry):
    the DNS detail is only written on that path."""
    checks: list[Check] = []
    assert check_instance("some-key", "https://braze-cdi-check.invalid", checks) is None
    [failed] = checks
    assert failed.name == "instance reachable" and not failed.ok
    assert "does not resolve (DNS)" in failed.detail


@pytest.mark.slow  # a CLI subprocess
def test_a_wrong_key_is_key_rejected_not_a_permission(tmp_path):
    with BrazeSimulator((2,), rate_limits=FAST_LIMITS) as sim:
        result = braze_cdi("check", "--skip-destination", cwd=tmp_path, env=cli_env(tmp_path, "sim-nope", sim.base_url))
    assert result.returncode == 2
    assert lines(result, "ok   instance reachable:")
    [fail] = lines(result, "FAIL")
    assert fail.startswith("FAIL key accepted:") and "401" in fail and "not valid for this instance" in fail
    assert "permission" not in result.stdout


@pytest.mark.slow
def test_a_missing_list_permission_is_named_after_a_reachable_instance_and_known_key(tmp_path):
    with BrazeSimulator((2,), rate_limits=FAST_LIMITS, permissions=["cdi.integration_job_status"]) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        result = braze_cdi("check", "--skip-destination", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert lines(result, "ok   instance reachable:") and lines(result, "ok   key accepted:")
    [fail] = lines(result, "FAIL")
    assert fail.startswith("FAIL permission cdi.integration_list:") and "403" in fail and "lacks the permission" in fail


@pytest.mark.slow  # a CLI subprocess
def test_check_probes_the_duckdb_destination_and_leaves_no_probe_table(tmp_path):
    with BrazeSimulator((2,), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        result = braze_cdi("--log-format", "json", "check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {doc["check"]: doc for doc in map(json.loads, result.stdout.splitlines())}
    assert all(doc["ok"] for doc in checks.values())
    assert str(tmp_path / "braze_cdi.duckdb") in checks["destination duckdb"]["detail"]
    assert "created" in checks["dataset"]["detail"]
    assert "_braze_cdi_check_probe" in checks["write permission"]["detail"]
    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb"), read_only=True) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'braze_cdi_data'"
        ).fetchall()
    assert tables == []


@pytest.mark.slow
def test_check_probes_postgres(tmp_path, postgres_url, unique_dataset):
    with BrazeSimulator((2,), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url, DESTINATION__POSTGRES__CREDENTIALS=postgres_url)
        args = ("check", "--destination", "postgres", "--dataset-name", unique_dataset)
        result = braze_cdi(*args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "ok   destination postgres: connected to postgres localhost/postgres")
    assert lines(result, f"ok   dataset: {unique_dataset} created")
    assert lines(result, "ok   write permission:")
    assert "unused" not in result.stdout  # the password


@pytest.mark.slow
def test_missing_destination_credentials_name_the_section_and_the_variable(tmp_path):
    with BrazeSimulator((2,), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        checked = braze_cdi("check", "--destination", "postgres", cwd=tmp_path, env=env)
        ran = braze_cdi("run", "--destination", "postgres", cwd=tmp_path, env=env)
    assert checked.returncode == 2
    [fail] = lines(checked, "FAIL")
    assert fail.startswith("FAIL destination postgres:")
    for text in (fail, ran.stderr):
        assert "[destination.postgres.credentials]" in text, text
        assert "DESTINATION__POSTGRES__CREDENTIALS" in text
        assert "sources.braze_cdi" not in text
    assert ran.returncode == 2
