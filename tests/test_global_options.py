"""Global options before or after the command; with `--log-format json` every stdout and stderr line of every
command is one JSON object (the summary, the report, health and check become JSON documents)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env
from tests.conftest import FAST_LIMITS

pytestmark = pytest.mark.slow  # every command through the CLI, options before and after


def every_line_json(text: str, stream: str) -> list[dict[str, Any]]:
    """Each line parsed; a line that is not one JSON object fails the test, naming it."""
    documents = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{stream} line {number} is not JSON: {line!r}")
        assert isinstance(document, dict), line
        documents.append(document)
    return documents


def test_json_only_output_from_every_command_with_options_after_the_command(tmp_path):
    with BrazeSimulator((7, 30, 0), rate_limits=FAST_LIMITS) as sim:
        env = cli_env(tmp_path, sim.api_key, sim.base_url)
        runs = {
            "run": braze_cdi("run", "--debug", "--log-format", "json", cwd=tmp_path, env=env),
            "again": braze_cdi("run", "--log-format=json", cwd=tmp_path, env=env),
            "report": braze_cdi("report", "--log-format", "json", cwd=tmp_path, env=env),
            "health": braze_cdi("health", "--log-format", "json", cwd=tmp_path, env=env),
            "check": braze_cdi("check", "--log-format", "json", cwd=tmp_path, env=env),
            "usage": braze_cdi("run", "--no-such-option", "--log-format", "json", cwd=tmp_path, env=env),
            "empty": braze_cdi("report", "--log-format", "json", "--dataset-name", "nothing_here", cwd=tmp_path,
                               env=env),
            "failed": braze_cdi("run", "--log-format", "json", "--debug", cwd=tmp_path,
                                env={**env, "SOURCES__BRAZE_CDI__BASE_URL": "http://example.com"}),
        }
    out = {name: every_line_json(result.stdout, f"{name} stdout") for name, result in runs.items()}
    err = {name: every_line_json(result.stderr, f"{name} stderr") for name, result in runs.items()}

    assert runs["run"].returncode == 0
    [summary] = [d["summary"] for d in out["run"] if "summary" in d]
    assert summary["rows_per_table"]["job_sync_status"] == 37
    assert str(tmp_path / "braze_cdi.duckdb") in summary["location"]
    [again] = [d["summary"] for d in out["again"] if "summary" in d]
    assert sum(i["new"] for i in again["integrations"]) == 0

    [report] = out["report"]
    assert {row["integration_id"] for row in report["report"]["integrations"]} == set(sim.integration_ids)
    [health] = out["health"]
    assert health["health"]["exit_code"] == runs["health"].returncode
    assert {d["check"] for d in out["check"]} >= {"api key", "permission cdi.integration_job_status", "dataset"}
    assert runs["check"].returncode == 0

    assert runs["usage"].returncode == 2 and not out["usage"]
    assert "--no-such-option" in err["usage"][-1]["message"]
    assert runs["empty"].returncode == 2
    assert "nothing_here" in err["empty"][-1]["message"]
    assert runs["failed"].returncode == 2
    assert "https://" in err["failed"][-1]["message"]
    assert any("Traceback" in d.get("traceback", "") for d in err["failed"])  # --debug after the command, as JSON


def test_global_options_before_and_after_the_command_are_the_same(tmp_path):
    before = braze_cdi("--log-format", "json", "health", cwd=tmp_path, env=cli_env(tmp_path))
    after = braze_cdi("health", "--log-format", "json", cwd=tmp_path, env=cli_env(tmp_path))
    assert before.returncode == after.returncode == 2
    for result in (before, after):
        [document] = every_line_json(result.stdout, "stdout")
        assert document["health"]["status"] == "unknown"
        every_line_json(result.stderr, "stderr")
    debug = braze_cdi("health", "--debug", cwd=tmp_path, env=cli_env(tmp_path))
    assert debug.returncode == 2 and "No such option" not in debug.stderr


def test_one_version_in_one_place_shown_by_version(tmp_path):
    """pyproject.toml holds the version; `--version`, `__version__` and the run log read what pip installed."""
    import re
    from importlib import metadata
    from pathlib import Path

    import braze_cdi_source

    root = Path(braze_cdi_source.__file__).parents[1]
    [declared] = re.findall(r'(?m)^version = "(.+)"$', (root / "pyproject.toml").read_text())
    literal = re.compile(r"__version__\s*=\s*['\"]")
    written = [p for p in (root / "braze_cdi_source").rglob("*.py") if literal.search(p.read_text())]
    assert not written, f"a second version literal in {written}"
    installed = metadata.version("braze-cdi-source")
    assert declared == installed == braze_cdi_source.__version__
    result = braze_cdi("--version", cwd=tmp_path, env=cli_env(tmp_path))
    assert result.returncode == 0 and result.stdout.strip() == f"braze-cdi, version {installed}"
