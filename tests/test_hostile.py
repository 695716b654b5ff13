"""A hostile Braze (tests/hostile_server.py) against the Python API and the real CLI.

Each test names the bound it checks: requests, rows, RSS, messages. Time is bounded without timed assertions:
what would run unbounded (a trickle, a long wait a header asks for, a retried refusal) is set up to outlast the
module's hang guard (`pytestmark`: 120 s) or a subprocess timeout, which fail the test. Settings are compressed
(`QUICK`: request_timeout 1 s, max_attempts 3, backoff 0.01 s up to 0.05 s, max_rate_limit_wait 5 s instead of
Braze's 60 s window, max_response_bytes 64 KiB) so each test takes seconds; docs/reliability.md gives the bounds
for the default settings. tests/test_hostile_values.py holds the value and shape cases with the same settings.
"""

from __future__ import annotations

import itertools
import json
import resource
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import dlt
import pytest

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.http.cancel import reset as reset_stop
from tests.cli import BRAZE_CDI, braze_cdi, cli_env
from tests.conftest import first_fast
from tests.hostile_server import HostileServer, Reply, Seen, page_body, syncs

QUICK = {
    "request_timeout": 1.0,
    "max_attempts": 3,
    "backoff_factor": 0.01,
    "max_retry_delay": 0.05,
    "max_rate_limit_wait": 5.0,
    "max_response_bytes": 64 * 1024,
}
QUICK_ENV = {f"SOURCES__BRAZE_CDI__{k.upper()}": str(v) for k, v in QUICK.items()}
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def no_stop_left_over():
    reset_stop()
    yield
    reset_stop()


def api_run(pipeline: Any, server: HostileServer, **kwargs: Any) -> None:
    """Run the source through dlt (a run that never ends fails the test at the module's hang guard)."""
    source = braze_cdi_source(api_key=server.api_key, base_url=server.base_url, **{**QUICK, **kwargs})
    pipeline.run(source)


def rows(pipeline: Any, sql: str) -> list[tuple]:
    with pipeline.sql_client() as client:
        return list(client.execute_sql(sql.replace("{dataset}", client.fully_qualified_dataset_name())))


def loaded(pipeline: Any) -> list[tuple]:
    return sorted(
        rows(pipeline, "SELECT integration_id, sync_start_time, rows_synced FROM {dataset}.job_sync_status")
    )


def error_messages(pipeline: Any) -> list[str]:
    try:
        return [m for (m,) in rows(pipeline, "SELECT message FROM {dataset}.extraction_errors")]
    except Exception:  # noqa: BLE001 - the table exists only once an error was recorded
        return []


def cli(tmp_path: Path, server: HostileServer, *args: str, timeout: float = 60, **extra: str):
    env = cli_env(tmp_path, server.api_key, server.base_url, **QUICK_ENV, **extra)
    return braze_cdi("run", *args, cwd=tmp_path, env=env, timeout=timeout)


def errors_of(pipeline: Any) -> dict[str | None, list[str]]:
    """extraction_errors' messages by integration id."""
    found: dict[str | None, list[str]] = {}
    for integration_id, message in rows(pipeline, "SELECT integration_id, message FROM {dataset}.extraction_errors"):
        found.setdefault(integration_id, []).append(message)
    return found


def per_integration(rules: dict[str, Any]) -> Any:
    """A script answering each named integration's job-sync-status requests with its own rule: the cases of one
    test side by side in one server and one run (a run costs about a second of CPU), each still checked alone."""

    def script(seen: Seen) -> Reply | None:
        for name, rule in rules.items():
            if seen.path == f"/cdi/integrations/{name}/job_sync_status":
                return rule(seen)
        return None

    return script


def scripted(rule):
    """A script answering `rule(seen)` for job-sync-status requests of integration "bad" only."""

    def script(seen: Seen) -> Reply | None:
        if seen.path == "/cdi/integrations/bad/job_sync_status":
            return rule(seen)
        return None

    return script


# --- 1. next-page links never leave base_url ------------------------------------------------------------

LINKS = {
    "backslash_userinfo": "http://127.0.0.1:{trap}\\@127.0.0.1:{main}/cdi/integrations/{kind}/job_sync_status?cursor=10",
    "other_port": "http://127.0.0.1:{trap}/cdi/integrations/{kind}/job_sync_status?cursor=10",
    "userinfo": "http://x@127.0.0.1:{trap}/cdi/integrations/{kind}/job_sync_status?cursor=10",
    "tab": "http://127.0.0.1:{main}\t@127.0.0.1:{trap}/cdi/integrations/{kind}/job_sync_status?cursor=10",
    "scheme_relative": "//127.0.0.1:{trap}/cdi/integrations/{kind}/job_sync_status?cursor=10",
}
"""Integration (named after its link) -> the next link its first page gives."""


def test_a_hostile_next_link_never_reaches_another_port(make_pipeline):
    """Bound: 0 requests to the trap port; the page before loads; the failure is recorded (each kind of link is
    one integration's, all in one run)."""
    with HostileServer() as trap:
        def rule(kind: str) -> Any:
            def reply(seen: Seen) -> Reply:
                link = LINKS[kind].format(trap=trap.port, main=server.port, kind=kind)
                return Reply(headers=[("Link", f'<{link}>; rel="next"')], body=page_body(syncs(10)))
            return reply

        rules = {kind: rule(kind) for kind in LINKS}
        with HostileServer({**dict.fromkeys(LINKS, []), "good": syncs(3)}, per_integration(rules)) as server:
            pipeline = make_pipeline()
            api_run(pipeline, server)
        assert trap.requests == []
        rows_of = Counter(r[0] for r in loaded(pipeline))
        assert rows_of == {**dict.fromkeys(LINKS, 10), "good": 3}
        errors = errors_of(pipeline)
        assert errors.keys() == LINKS.keys()
        for kind, [message] in errors.items():
            assert kind in message and server.api_key not in message


@pytest.mark.slow
def test_a_hostile_next_link_on_the_cli_exits_1_and_the_trap_gets_nothing(tmp_path):
    """Bound: 0 requests to the trap port, exit 1 (the others loaded)."""
    with HostileServer() as trap:
        link = f"http://127.0.0.1:{trap.port}\\@127.0.0.1:PORT/cdi/integrations/bad/job_sync_status?cursor=10"
        with HostileServer(
            {"bad": [], "good": syncs(3)},
            scripted(lambda s: Reply(headers=[("Link", f'<{link}>; rel="next"')], body=page_body(syncs(10)))),
        ) as server:
            result = cli(tmp_path, server)
        assert trap.requests == []
        assert result.returncode == 1, result.stderr
        assert server.api_key not in result.stdout + result.stderr


# --- 2. ids are one path segment ----------------------------------------------------------------------

HOSTILE_IDS = ("../../users/export/ids?", "..", "a/b#c")


@pytest.mark.parametrize("origin", ["config", "list"])
def test_an_integration_id_never_names_another_endpoint(make_pipeline, origin):
    """Bound: every request path is /cdi/integrations or /cdi/integrations/<one segment>/job_sync_status (the
    hostile ids side by side in one workspace)."""
    with HostileServer({**{i: syncs(2) for i in HOSTILE_IDS}, "good": syncs(2)}) as server:
        pipeline = make_pipeline()
        ids = {"integration_ids": [*HOSTILE_IDS, "good"]} if origin == "config" else {}
        api_run(pipeline, server, **ids)
        for seen in server.requests:
            assert seen.path == "/cdi/integrations" or (
                seen.path.startswith("/cdi/integrations/")
                and seen.path.endswith("/job_sync_status")
                and seen.path.count("/") == 4
            ), seen.raw_path
        assert not any("users" in s.path.split("/")[1:2] for s in server.requests)
        assert Counter(r[0] for r in loaded(pipeline)) == {**dict.fromkeys(HOSTILE_IDS, 2), "good": 2}


# --- 3. bounded time ----------------------------------------------------------------------------------

UNUSABLE_RESETS = {
    "no_headers": [],
    "garbage_retry_after": [("Retry-After", "soon")],
    "nan_reset": [("X-RateLimit-Reset", "nan"), ("X-RateLimit-Remaining", "0")],
}
"""Integration -> the headers of the 429 every one of its requests gets."""


def test_429_without_a_usable_reset_backs_off_then_fails_that_integration(make_pipeline):
    """Bound: max_attempts (3) requests for each integration answered 429 (one per kind of header, all in one run);
    the other integration loads."""
    def refuse(headers: list[tuple[str, str]]) -> Any:
        return lambda seen: Reply(429, headers, b"{}")

    rules = {name: refuse(headers) for name, headers in UNUSABLE_RESETS.items()}
    with HostileServer({**dict.fromkeys(UNUSABLE_RESETS, []), "good": syncs(12)}, per_integration(rules)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server, max_rate_limit_wait=600.0)  # a wait it cannot use would pass the guard
        for name in UNUSABLE_RESETS:
            assert server.count(f"/cdi/integrations/{name}/") == QUICK["max_attempts"], name
        assert len(loaded(pipeline)) == 12
        errors = errors_of(pipeline)
        assert errors.keys() == UNUSABLE_RESETS.keys()
        for name, [message] in errors.items():
            assert "429" in message and name in message


TOO_LONG = {
    "a": ("Retry-After", "999999"),
    "b": ("X-RateLimit-Reset", str(int(time.time()) + 365 * 86400)),  # a year ahead
    "c": ("X-RateLimit-Reset", str(int(time.time() * 1000))),  # in milliseconds
}
"""Integration -> the header of the 429 its requests get."""


def test_a_429_asking_for_too_long_a_wait_fails_at_once_saying_what_braze_asked(make_pipeline):
    """Bound: 1 request for each integration answered so (one per header, all in one run) and no wait
    (max_rate_limit_wait is 600 s here, so waiting would pass the module's hang guard); the message quotes the
    header."""
    def refuse(header: tuple[str, str]) -> Any:
        return lambda seen: Reply(429, [header], b"{}")

    rules = {name: refuse(header) for name, header in TOO_LONG.items()}
    with HostileServer({**dict.fromkeys(TOO_LONG, []), "good": syncs(3)}, per_integration(rules)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server, max_rate_limit_wait=600.0)
        errors = errors_of(pipeline)
        assert errors.keys() == TOO_LONG.keys()
        for name, (header, value) in TOO_LONG.items():
            assert server.count(f"/cdi/integrations/{name}/") == 1, name
            [message] = errors[name]
            assert header in message and value in message and "max_rate_limit_wait" in message
        assert len(loaded(pipeline)) == 3


LOOPS = {"self": {"": "A", "A": "A"}, "a_b_a": {"": "A", "A": "B", "B": "A"}}
"""Integration -> the cursor each cursor's page links to."""


def test_a_link_that_repeats_a_cursor_ends_paging_and_keeps_the_rows(make_pipeline):
    """Bound: at most 3 requests for each looping integration (not 36,771 a minute; both loops in one run); rows of
    the pages read load."""
    def rule(loop: str) -> Any:
        def reply(seen: Seen) -> Reply:
            cursor = seen.query.get("cursor", [""])[0]
            start = {"": 0, "A": 10, "B": 20}[cursor]
            body = page_body(syncs(40)[start : start + 10])
            link = f'</cdi/integrations/{loop}/job_sync_status?cursor={LOOPS[loop][cursor]}>; rel="next"'
            return Reply(headers=[("Link", link)], body=body)
        return reply

    with HostileServer(dict.fromkeys(LOOPS, []), per_integration({loop: rule(loop) for loop in LOOPS})) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        for loop in LOOPS:
            assert server.count(f"/cdi/integrations/{loop}/") <= 3, loop
        assert Counter(r[0] for r in loaded(pipeline)) == {"self": 20, "a_b_a": 30}
        errors = errors_of(pipeline)
        assert errors.keys() == LOOPS.keys()
        for [message] in errors.values():
            assert "loop" in message


def _slow_body(seen: Seen) -> Reply:
    return Reply(body=itertools.repeat(b" "), pause=0.4)


def _slow_json(seen: Seen) -> Reply:
    body = page_body(syncs(10))
    one_byte_each = (body[i : i + 1] for i in range(len(body)))
    return Reply(headers=[("Content-Length", str(len(body)))], body=one_byte_each, pause=0.3)


@pytest.mark.slow
def test_a_slow_loris_body_ends_at_the_request_deadline(make_pipeline):
    """Bound: max_attempts x request_timeout (3 x 1 s) plus backoff, not the trickle's end, for each trickling
    integration (an endless trickle, a trickled page: both in one run); the others load."""
    trickles = {"endless_trickle": _slow_body, "trickled_page": _slow_json}
    with HostileServer({**dict.fromkeys(trickles, []), "good": syncs(3)}, per_integration(trickles)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        for name in trickles:
            assert server.count(f"/cdi/integrations/{name}/") == QUICK["max_attempts"], name
        assert len(loaded(pipeline)) == 3
        errors = errors_of(pipeline)
        assert errors.keys() == trickles.keys()
        for [message] in errors.values():
            assert "request_timeout" in message


@pytest.mark.parametrize(
    "headers",
    first_fast([[("X-RateLimit-Remaining", "nan"), ("X-RateLimit-Limit", "1e999")],
                [("X-RateLimit-Remaining", "-5"), ("X-RateLimit-Reset", "inf"), ("X-RateLimit-Limit", "many")],
                [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "-1")]]),
    ids=["nan_inf", "negative_garbage", "spent_without_reset"],
)
def test_absurd_rate_limit_headers_on_2xx_are_ignored_and_everything_loads(make_pipeline, headers):
    """Bound: no spin, no crash; every sync loads, no error."""
    with HostileServer({"a": syncs(25), "b": syncs(4)}) as server:
        plain = server.braze
        server.script = lambda seen: Reply(r.status, r.headers + headers, r.body) if (r := plain(seen)) else None
        pipeline = make_pipeline()
        api_run(pipeline, server)
        assert len(loaded(pipeline)) == 29
        assert error_messages(pipeline) == []


REDIRECTS = {"moved": 301, "found": 302, "temporary": 307}
"""Integration -> the redirect status its pages answer (names without digits: the message must give the status)."""


def test_a_redirect_is_not_followed_nor_retried_and_names_the_host(make_pipeline):
    """Bound: 1 request for each redirected integration; the message names the host only."""
    location = "https://evil.example.com/steal?key=1"

    def redirect(status: int) -> Any:
        return lambda seen: Reply(status, [("Location", location)])

    rules = {name: redirect(status) for name, status in REDIRECTS.items()}
    with HostileServer({**dict.fromkeys(REDIRECTS, []), "good": syncs(2)}, per_integration(rules)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        errors = errors_of(pipeline)
        assert errors.keys() == REDIRECTS.keys()
        for name, status in REDIRECTS.items():
            assert server.count(f"/cdi/integrations/{name}/") == 1
            [message] = errors[name]
            assert "evil.example.com" in message and "steal" not in message and str(status) in message
        assert len(loaded(pipeline)) == 2


@pytest.mark.slow
@pytest.mark.parametrize(("host", "args"), [("127.0.0.1", ("--integration-id", "x")), ("localhost", ())],
                         ids=["configured_ids", "discovery"])
def test_a_base_url_that_refuses_fails_at_once_naming_base_url(tmp_path, host, args):
    """Bound: exit 2 at once (retried, it would pass the 60 s subprocess timeout), one request attempt, a
    message about base_url."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # the default retry budget: were a refusal retried, this would take over a minute
    env = cli_env(tmp_path, "some-key", f"http://{host}:{port}")
    result = braze_cdi("run", *args, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "base_url" in result.stderr and "refuses" in result.stderr


# --- 4. bounded memory ------------------------------------------------------------------------------

def _gzip_bomb(seen: Seen) -> Reply:
    def chunks():
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = b"\0" * (1 << 20)
        for _ in range(64 * 1024):  # 64 GiB if read to the end
            yield compressor.compress(zeros)
    return Reply(headers=[("Content-Encoding", "gzip")], body=chunks())


def _endless(seen: Seen) -> Reply:
    return Reply(body=itertools.repeat(b"[" * 65536))


_MEASURED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)
"""Runs a command and reports its peak RSS: the only child of this wrapper, so no other test's process counts."""


@pytest.mark.slow
def test_a_huge_body_stops_at_the_cap_on_the_cli_within_bounded_memory(tmp_path):
    """Bound: peak RSS of the CLI process < 400 MB (a run is about 150 MB) while it reads a gzip bomb and an
    endless body (one integration each, one run), exit 1, each integration's failure naming the cap."""
    huge = {"gzip_bomb": _gzip_bomb, "endless_body": _endless}
    with HostileServer({**dict.fromkeys(huge, []), "good": syncs(3)}, per_integration(huge)) as server:
        env = cli_env(tmp_path, server.api_key, server.base_url, **{
            **QUICK_ENV,
            "SOURCES__BRAZE_CDI__MAX_RESPONSE_BYTES": str(4 * 1024 * 1024),
            "SOURCES__BRAZE_CDI__REQUEST_TIMEOUT": "10",
        })
        result = subprocess.run([sys.executable, "-c", _MEASURED, BRAZE_CDI, "run"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)  # an unbounded read never ends
    assert result.returncode == 1, result.stderr
    for name in huge:
        assert any(name in line and "max_response_bytes" in line for line in result.stderr.splitlines()), name
    peak_kb = int(result.stderr.rsplit("MAXRSS_KB", 1)[1].split()[0])
    assert peak_kb < 400 * 1024


def test_a_gzip_bomb_stops_early_in_process(make_pipeline):
    """Bound: the process's peak RSS grows by less than 200 MB."""
    with HostileServer({"bad": [], "good": syncs(3)}, scripted(_gzip_bomb)) as server:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        pipeline = make_pipeline()
        api_run(pipeline, server, max_response_bytes=1024 * 1024, request_timeout=5)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 200 * 1024
    [message] = error_messages(pipeline)
    assert "max_response_bytes" in message
    assert len(loaded(pipeline)) == 3


# --- 5. poison costs a field or a row -----------------------------------------------------------------

POISON = {
    "int_70_bits": {"rows_synced": 2**70},
    "year_9999_minus_1h": {"sync_finish_time": "9999-12-31T23:59:59-01:00"},
    "year_1_plus_1h": {"last_timestamp_synced": "0001-01-01T00:00:00+01:00"},
    "deep_nesting": {"details": json.loads("[" * 500 + "]" * 500)},
    "float_past_64_bits": {"rows_failed_with_errors": 1e300},
}


def test_a_poison_value_costs_that_field_not_the_run(make_pipeline):
    """Bound: every row of every integration loads; one note in extraction_errors for each poisoned integration
    (one integration per kind of poison, all in one run)."""
    history = {kind: syncs(12) for kind in POISON}
    for kind, poisoned in history.items():
        poisoned[3] = {**poisoned[3], **POISON[kind]}
    with HostileServer({**history, "good": syncs(5)}) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        assert Counter(r[0] for r in loaded(pipeline)) == {**dict.fromkeys(POISON, 12), "good": 5}
        errors = errors_of(pipeline)
        assert errors.keys() == POISON.keys(), errors
        for kind, messages in errors.items():
            assert len(messages) == 1 and kind in messages[0], messages


POISON_STARTS = {"late": "9999-12-31T23:59:59-01:00", "early": "0001-01-01T00:00:00+01:00", "number": "1e10"}


def test_a_poison_key_timestamp_costs_that_row_only(make_pipeline):
    """Bound: 11 of 12 rows of each poisoned integration (one per start time, all in one run) and the other
    integration load; the skipped row is named in extraction_errors."""
    history = {name: syncs(12) for name in POISON_STARTS}
    for name, poisoned in history.items():
        poisoned[5] = {**poisoned[5], "sync_start_time": POISON_STARTS[name]}
    with HostileServer({**history, "good": syncs(5)}) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        assert Counter(r[0] for r in loaded(pipeline)) == {**dict.fromkeys(POISON_STARTS, 11), "good": 5}
        errors = errors_of(pipeline)
        assert errors.keys() == POISON_STARTS.keys(), errors
        for [message] in errors.values():
            assert "without a valid sync_start_time" in message


@pytest.mark.slow
def test_poison_on_the_cli_exits_1_not_2(tmp_path):
    """Bound: exit 1 (some rows noted), never 2; every row loaded."""
    poisoned = syncs(12)
    poisoned[0]["rows_synced"] = 2**70
    poisoned[1]["sync_finish_time"] = "9999-12-31T23:59:59-01:00"
    poisoned[2]["deep"] = json.loads("[" * 500 + "]" * 500)
    with HostileServer({"bad": poisoned, "good": syncs(3)}) as server:
        result = cli(tmp_path, server)
    assert result.returncode == 1, result.stderr
    import duckdb

    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb")) as con:
        [(count,)] = con.execute("SELECT count(*) FROM braze_cdi_data.job_sync_status").fetchall()
    assert count == 15


# --- 6. our columns are ours ----------------------------------------------------------------------------

EXTRAS = {
    "camel_case": {"SyncStartTime": "2099-01-01T00:00:00Z"},
    "dlt_columns": {"_dlt_id": "x", "_DLT_LOAD_ID": "y"},
    "spaced": {"Rows Synced": "many"},
    "upper_garbage": {"SYNC_START_TIME": "garbage"},
}
"""Integration -> the extra fields on each of its rows."""


@pytest.mark.parametrize("names", first_fast([["camel_case", "dlt_columns", "spaced"], ["upper_garbage"]]),
                         ids=["three_names", "sync_start_time_again"])
def test_extra_fields_never_overwrite_our_columns(make_pipeline, names):
    """Bound: our columns keep Braze's documented values for all 12 rows of each integration (one per kind of
    extra field; the two that normalise to sync_start_time in separate runs, so each is the only one); a note names
    each renamed field's integration."""
    history = {name: [{**row, **EXTRAS[name]} for row in syncs(12)] for name in names}
    with HostileServer(history) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        api_run(pipeline, server)  # a later run against the same answers is not blocked either
    assert loaded(pipeline) == sorted(
        (name, dlt.common.pendulum.parse(r["sync_start_time"]), r["rows_synced"]) for name in names for r in syncs(12)
    )
    columns = {c for (c,) in rows(pipeline, "SELECT column_name FROM information_schema.columns "
                                           "WHERE table_name = 'job_sync_status'")}
    assert any(c.startswith("braze_extra") for c in columns), columns
    errors = errors_of(pipeline)
    for name in names:
        assert any("renamed" in m for m in errors.get(name, [])), (name, errors)


@pytest.mark.slow
def test_a_load_the_destination_refuses_is_set_aside_and_the_next_run_loads(tmp_path):
    """Bound: run 1 exits 2 naming the load; run 2 (destination fixed) exits 0 with every row: nothing lost."""
    import duckdb

    with HostileServer({"a": syncs(12)}) as server:
        database = tmp_path / "braze_cdi.duckdb"
        with duckdb.connect(str(database)) as con:
            con.execute("CREATE SCHEMA braze_cdi_data")
            con.execute("CREATE TABLE braze_cdi_data.job_sync_status (integration_id VARCHAR, "
                        "refuse INTEGER NOT NULL)")
        first = cli(tmp_path, server)
        assert first.returncode == 2, first.stdout + first.stderr
        assert "load" in first.stderr and "run again" in first.stderr
        with duckdb.connect(str(database)) as con:
            con.execute("ALTER TABLE braze_cdi_data.job_sync_status ALTER refuse DROP NOT NULL")
        second = cli(tmp_path, server)
        assert second.returncode == 0, second.stdout + second.stderr
        with duckdb.connect(str(database)) as con:
            [(count,)] = con.execute("SELECT count(*) FROM braze_cdi_data.job_sync_status").fetchall()
        assert count == 12


# --- 7. future-dated syncs never freeze the cursor ------------------------------------------------------

FUTURES = {"far": "9999-01-01T00:00:00Z", "frozen": "2286-11-20T17:46:40Z"}
"""Integration -> the start time of its newest sync (2286-11-20T17:46:40Z: a state once frozen at it)."""


def test_a_future_dated_sync_loads_but_later_syncs_still_load(make_pipeline):
    """Bound: after a future-dated sync (one integration per date, both in one run), every sync added later loads
    on the next run."""
    history = {name: syncs(5) for name in FUTURES}
    for name, rows_of in history.items():
        rows_of.insert(0, {**rows_of[0], "sync_start_time": FUTURES[name]})
    with HostileServer(dict(history)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        assert Counter(r[0] for r in loaded(pipeline)) == dict.fromkeys(FUTURES, 6)
        for name, rows_of in history.items():
            server.history[name] = [rows_of[0], *syncs(3, start_hour=100), *rows_of[1:]]
        api_run(pipeline, server)
        assert Counter(r[0] for r in loaded(pipeline)) == dict.fromkeys(FUTURES, 9)
        for name in FUTURES:
            state = pipeline.state["sources"]["braze_cdi"]["resources"][f"job_sync_status_{name}"]
            assert state["last_sync_start_time"].startswith("2026-01-05T06"), name


# --- 8. terminal safety ----------------------------------------------------------------------------------

HOSTILE_TEXT = ("[/x]", "[bold]x\x1b[2J\x1b]0;owned\x07", "a\rb\x9bc\u202ed")
"""Rich markup, terminal escapes (clear screen, window title, bell), a carriage return, a C1 CSI, bidi override."""


@pytest.mark.slow
def test_braze_text_never_reaches_the_terminal_raw(tmp_path):
    """Bound: exit 0, no ESC / BEL / CSI byte in stdout or stderr; JSON logs stay one JSON object a line.
    Each hostile text is an integration's id and name, all in one workspace (one plain and one JSON run)."""
    with HostileServer({text: syncs(3) for text in HOSTILE_TEXT}, names={t: t for t in HOSTILE_TEXT}) as server:
        plain_run = cli(tmp_path, server)
        assert plain_run.returncode == 0, plain_run.stderr
        for stream in (plain_run.stdout, plain_run.stderr):
            assert not any(c in stream for c in "\x1b\x07\x9b\u202e"), stream
        # each integration is named in the summary, its text made inert
        assert "[/x]" in plain_run.stdout and "0;owned" in plain_run.stdout and "b?c?d" in plain_run.stdout
        env = cli_env(tmp_path, server.api_key, server.base_url, **QUICK_ENV)
        json_run = braze_cdi("--log-format", "json", "run", cwd=tmp_path, env=env)
        assert json_run.returncode == 0, json_run.stderr
        for line in json_run.stderr.splitlines():
            json.loads(line)


# --- 9. Ctrl-C --------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("phase", ["rate_limit_wait", "slow_body"])
def test_ctrl_c_ends_the_run_with_exit_130_and_the_rerun_completes(tmp_path, phase):
    """Bound: exit 130 at SIGINT (not after the 50 s wait or the trickle), one line on stderr; the rerun loads
    every sync once."""
    blocking = {"on": True}

    def rule(seen: Seen) -> Reply | None:
        if not blocking["on"]:
            return None
        if phase == "rate_limit_wait":
            return Reply(429, [("Retry-After", "50")], b"{}")
        return Reply(body=itertools.repeat(b" "), pause=0.5)

    with HostileServer({"bad": syncs(12), "good": syncs(3)}, scripted(rule)) as server:
        env = cli_env(tmp_path, server.api_key, server.base_url, SOURCES__BRAZE_CDI__MAX_RATE_LIMIT_WAIT="120",
                      SOURCES__BRAZE_CDI__REQUEST_TIMEOUT="60")
        process = subprocess.Popen([BRAZE_CDI, "run"], cwd=tmp_path, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while server.count("/cdi/integrations/bad/") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        process.send_signal(2)
        stdout, stderr = process.communicate(timeout=30)  # waiting out the 50 s Retry-After or the trickle fails here
        assert process.returncode == 130, stderr
        assert stderr.count("interrupted") == 1, stderr  # one line, after the progress lines before the signal
        assert "Traceback" not in stderr and "ThreadPool" not in stderr
        blocking["on"] = False
        rerun = cli(tmp_path, server)
        assert rerun.returncode == 0, rerun.stderr
    import duckdb

    with duckdb.connect(str(tmp_path / "braze_cdi.duckdb")) as con:
        counts = con.execute("SELECT integration_id, count(*), count(DISTINCT sync_start_time) FROM "
                             "braze_cdi_data.job_sync_status GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("bad", 12, 12), ("good", 3, 3)]


def test_a_stop_mid_body_interrupts_the_run_instead_of_failing_the_request():
    """Bound: a stop that shuts a socket mid-body raises RunInterrupted at once, never the request's deadline
    error (which would be retried or recorded as the integration's failure)."""
    import threading

    from braze_cdi_source.errors import find_cause
    from braze_cdi_source.http.cancel import RunInterrupted, request_stop
    from braze_cdi_source.http.client import BrazeClient, job_sync_status_path
    from braze_cdi_source.http.transport import RequestDeadlineExceeded

    with HostileServer({"bad": syncs(12)}, scripted(_slow_body)) as server:
        client = BrazeClient(server.api_key, server.base_url)
        raised: list[BaseException] = []

        def read() -> None:
            try:
                list(client.pages(job_sync_status_path("bad"), "bad"))
            except BaseException as error:  # noqa: BLE001 - the test inspects it
                raised.append(error)

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 10
        while server.count("/cdi/integrations/bad/") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the body has started to trickle
        request_stop()
        reader.join(timeout=10)  # the body trickles forever: only the stop ends the read
        assert not reader.is_alive()
    [error] = raised
    assert isinstance(error, RunInterrupted), repr(error)
    assert find_cause(error, RequestDeadlineExceeded) is None
    assert server.count("/cdi/integrations/bad/") == 1  # not retried


def test_an_interruption_whose_chain_ends_in_a_socket_error_exits_130(capsys):
    """Bound: however deep the RunInterrupted sits in dlt's wrappers, and whatever socket error it ended on,
    the CLI says "interrupted" and exits 130 (a stop races the reset of the connection it shut down)."""
    from dlt.extract.exceptions import ResourceExtractionError

    from braze_cdi_source.cli.main import handle_errors
    from braze_cdi_source.http.cancel import RunInterrupted

    def run() -> None:
        try:
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except ConnectionResetError as reset:
                raise RunInterrupted("the run was interrupted") from reset
        except RunInterrupted as stop:
            raise ResourceExtractionError("job_sync_status_bad", None, "extract", str(stop)) from stop

    with pytest.raises(SystemExit) as exited:
        handle_errors(run)()
    assert exited.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "ConnectionResetError" not in err

def test_the_cursor_ignores_future_dated_syncs_and_heals_a_frozen_state():
    """Bound: a sync beyond now + tolerance never becomes the boundary; a state frozen by one is read again."""
    from datetime import datetime, timedelta, timezone

    from braze_cdi_source.extract.integration_state import SyncCursor

    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    tolerance = timedelta(hours=1)
    cursor = SyncCursor.from_state({}, None, timedelta(hours=24), tolerance)
    assert cursor.boundary(now) is None
    cursor.see(datetime(9999, 1, 1, tzinfo=timezone.utc), "success", now)
    cursor.see(now + timedelta(minutes=30), "success", now)  # within the tolerance: a normal sync
    cursor.see(now - timedelta(hours=2), "success", now)
    state = cursor.to_state()
    assert state["last_sync_start_time"].startswith("2026-06-01T00:30")
    assert len(cursor.future_seen) == 1

    frozen = {"last_sync_start_time": "2286-11-20T17:46:40+00:00", "open_sync_start_times": []}
    healed = SyncCursor.from_state(frozen, None, timedelta(hours=24), tolerance)
    assert healed.boundary(now) is None  # read everything once
    healed.see(now - timedelta(hours=1), "success", now)
    assert healed.to_state()["last_sync_start_time"].startswith("2026-05-31T23:00")


# --- 10. any body encoding: decoded by urllib3 within the caps, or a failure of that integration only -----

def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


BODIES = {
    # 5,000 empty gzip members, then the page: a decoder that recursed per member died of RecursionError
    "empty_gzip_members": ([("Content-Encoding", "gzip")], _gzip(b"") * 5000 + _gzip(page_body(syncs(10)))),
    "gzip_twice": ([("Content-Encoding", "gzip, gzip")], _gzip(_gzip(page_body(syncs(10))))),
    "brotli_not_asked_for": ([("Content-Encoding", "br")], b"\x8b\x03\x80garbage-not-brotli" * 10),
    "gzip_garbage": ([("Content-Encoding", "gzip")], b"\x1f\x8b\x08\x00garbage" * 10),
}


def test_any_content_encoding_costs_at_most_that_integration(make_pipeline):
    """Bound: the normal integration loads; each hostile one (one per body, all in one run) loads (a body urllib3
    decodes) or is one line in extraction_errors (after max_attempts), never an exception that ends the run."""
    def answer(kind: str) -> Any:
        headers, body = BODIES[kind]
        return lambda seen: Reply(200, headers, body)

    rules = {kind: answer(kind) for kind in BODIES}
    with HostileServer({**dict.fromkeys(BODIES, []), "good": syncs(12)}, per_integration(rules)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        decoded = ("empty_gzip_members", "gzip_twice")
        rows_of = Counter(r[0] for r in loaded(pipeline))
        assert rows_of == {**dict.fromkeys(decoded, 10), "good": 12}
        errors = errors_of(pipeline)
        assert errors.keys() == BODIES.keys() - set(decoded)
        for kind, [message] in errors.items():
            assert server.count(f"/cdi/integrations/{kind}/") == QUICK["max_attempts"]
            assert kind in message


# --- 11. rate-limit waits stay within Braze's window whatever the headers say ------------------------------

@pytest.mark.slow
def test_a_429_read_on_a_clock_minutes_behind_waits_then_loads(make_pipeline):
    """Issue 21 minor: Braze's 60 s reset, read on a client clock 4 minutes behind, is 300 s ahead: the request
    waits max_rate_limit_wait (5 s here; Braze's 60 s window by default), then loads, instead of failing.
    Bound: no 300 s wait (past the module's hang guard); both integrations load; no error."""
    first = {"done": False}

    def rule(seen: Seen) -> Reply | None:
        if first["done"]:
            return None
        first["done"] = True
        return Reply(429, [("X-RateLimit-Reset", str(int(time.time()) + 300)), ("X-RateLimit-Remaining", "0")], b"{}")

    with HostileServer({"bad": syncs(12), "good": syncs(3)}, scripted(rule)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        assert error_messages(pipeline) == []
        assert len(loaded(pipeline)) == 15


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["LIST_REQUESTS_PER_MINUTE", "JOB_STATUS_REQUESTS_PER_MINUTE"])
def test_a_rate_limit_of_zero_is_refused_with_a_clear_message(tmp_path, setting):
    """Issue 21 minor: `*_REQUESTS_PER_MINUTE=0` is a configuration error (exit 2, one sentence naming the
    setting), not a ZeroDivisionError; no request is sent."""
    with HostileServer({"good": syncs(3)}) as server:
        result = cli(tmp_path, server, **{f"SOURCES__BRAZE_CDI__{setting}": "0"})
        assert server.requests == []
    assert result.returncode == 2, result.stderr
    assert setting.lower() in result.stderr and "at least 1" in result.stderr
    assert "Traceback" not in result.stderr and "ZeroDivision" not in result.stderr


# --- 12. Link headers per RFC 8288 --------------------------------------------------------------------------

LINK_FORMS = {
    "relation_list": '<{next}>; rel="next prev"',
    "upper_case": "<{next}>; REL=NEXT",
    "quoted_params": '<{next}>; title="a; b, <c>"; rel="next"',
    "several_links": '<{path}?cursor=first>; rel="first", <{next}>; rel="next", <{path}?cursor=last>; rel="last"',
    "two_next": '<{next}>; rel="next", <{path}?cursor=other>; rel="next"',
}


def test_link_headers_are_read_per_rfc_8288(make_pipeline):
    """Issue 21 row 12 (silent loss: 10 of 25 rows, exit 0). Cursors hold a `;`. Each form is one integration's,
    all in one run. Bound: all 25 rows load with no error, except two different next links: the first page loads
    and one line says why paging stopped."""
    history = syncs(25)

    def rule(form: str) -> Any:
        path = f"/cdi/integrations/{form}/job_sync_status"

        def reply(seen: Seen) -> Reply:
            cursor = seen.query.get("cursor", [""])[0]
            page = {"": 0, "p;1": 1, "p;2": 2}[cursor]
            headers = []
            if page < 2:
                link = LINK_FORMS[form].format(next=f"{path}?cursor=p%3B{page + 1}", path=path)
                headers.append(("Link", link))
            return Reply(headers=headers, body=page_body(history[page * 10 : page * 10 + 10]))

        return reply

    rules = {form: rule(form) for form in LINK_FORMS}
    with HostileServer({**dict.fromkeys(LINK_FORMS, []), "good": syncs(3)}, per_integration(rules)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
    assert Counter(r[0] for r in loaded(pipeline)) == {**dict.fromkeys(LINK_FORMS, 25), "two_next": 10, "good": 3}
    [(integration, [message])] = errors_of(pipeline).items()
    assert integration == "two_next"
    assert "2 different next pages" in message and "two_next" in message


def test_over_tls_the_deadline_decoding_and_kept_alive_connections_hold(tmp_path):
    """The transport's per-read deadline wraps the socket http.client reads: over TLS too (production is https
    only). Bound: three gzip pages on one kept-alive TLS connection decode; a body trickling one byte every
    0.3 s is cut at request_timeout (1 s) with RequestDeadlineExceeded, well before its 30 s."""
    import gzip
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    from braze_cdi_source.http.transport import BoundedAdapter, RequestDeadlineExceeded

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    connections: set[int] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            connections.add(id(self.connection))
            self.send_response(200)
            if self.path == "/slow":
                self.send_header("Content-Length", "100")
                self.end_headers()
                for _ in range(100):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.3)
                return
            body = gzip.compress(page_body(syncs(10)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        with requests.Session() as session:
            session.mount("https://", BoundedAdapter(base, timeout=1.0))
            for _ in range(3):
                assert len(session.get(f"{base}/page", verify=str(tmp_path / "cert.pem")).json()["results"]) == 10
            assert len(connections) == 1
            with pytest.raises(RequestDeadlineExceeded):
                session.get(f"{base}/slow", verify=str(tmp_path / "cert.pem"))
    finally:
        server.shutdown()
        server.server_close()
