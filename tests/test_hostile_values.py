"""A hostile Braze's values: text, shapes and names that must cost a row, a field or an integration, never the run.

Each test runs one hostile integration beside a normal one (25 syncs, 3 pages) through dlt into DuckDB with the
compressed settings of tests/test_hostile.py, and checks the normal integration loaded and the hostile part is
one line in extraction_errors (issue 21).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import first_fast
from tests.hostile_server import HostileServer, Reply, Seen, page_body, syncs
from tests.test_hostile import api_run, error_messages, errors_of, loaded, per_integration, rows

pytestmark = pytest.mark.timeout(120)  # the hang guard: bounds are checked in requests and rows, not seconds

SURROGATE = "\ud800"
"""A lone surrogate: valid JSON (`"\\ud800"`), not valid Unicode text; UTF-8 encoders refuse it."""


def good_loaded(pipeline) -> int:
    return len([r for r in loaded(pipeline) if r[0] == "good"])


def test_a_lone_surrogate_costs_nothing_but_that_text(make_pipeline):
    """Bound: the normal integration's 25 rows load; the hostile integrations' rows (a surrogate in the name, a
    job_status, a field name: one integration each, all in one run) load with U+FFFD in place of the surrogate.
    An id or a 400's message with one costs that integration only: one line in extraction_errors each (an id that
    is not valid text cannot be asked for as Braze sent it)."""
    bad_id = f"bad{SURROGATE}"
    history = {bad_id: syncs(12), "name": syncs(12), "status": syncs(12), "field": syncs(12), "message": []}
    history["status"][2]["job_status"] = f"succ{SURROGATE}ess"
    history["field"][2][f"new{SURROGATE}field"] = 1
    refused = {"message": lambda s: Reply(400, body=json.dumps({"message": f"Invalid {SURROGATE} cursor"}).encode())}
    server = HostileServer({**history, "good": syncs(25)}, per_integration(refused), {"name": f"name {SURROGATE}"})
    with server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
    assert good_loaded(pipeline) == 25
    assert Counter(r[0] for r in loaded(pipeline)) == {"name": 12, "status": 12, "field": 12, "good": 25}
    messages = error_messages(pipeline)
    for hostile in ("bad\ufffd", "message"):
        [message] = [m for m in messages if f"integration {hostile}" in m]
        assert "\ufffd" in message, message
    assert not any(f"integration {i}" in m for m in messages for i in ("name", "status", "good")), messages
    assert ("bad\ufffd",) in rows(pipeline, "SELECT integration_id FROM {dataset}.integrations")
    assert ("name \ufffd",) in rows(pipeline, "SELECT integration_name FROM {dataset}.integrations")


def test_list_items_of_the_wrong_shape_are_skipped_and_named(make_pipeline):
    """Issue 21 row 4 and the ids null/5 item: `results` holding "oops", null, 5, and items whose id is null, 5 or
    empty. Bound: the normal integration loads; no resource for the broken items ("None", "5"); one line in
    extraction_errors counting them."""

    def script(seen: Seen) -> Reply | None:
        if seen.path != "/cdi/integrations":
            return None
        items = ["oops", None, 5, {"integration_id": None}, {"integration_id": 5}, {"integration_id": ""},
                 {"integration_id": "good", "integration_name": "Good"}]
        return Reply(body=page_body(items))

    with HostileServer({"good": syncs(25)}, script) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        assert all(s.path in ("/cdi/integrations", "/cdi/integrations/good/job_sync_status") for s in server.requests)
    assert good_loaded(pipeline) == 25
    assert rows(pipeline, "SELECT integration_id FROM {dataset}.integrations") == [("good",)]
    [message] = error_messages(pipeline)
    assert "6 item(s)" in message, message


def test_a_nul_in_an_id_is_the_same_in_both_tables_and_the_run_goes_on(make_pipeline):
    """Issue 21 minor: NUL (which PostgreSQL refuses in text) becomes U+FFFD in `integrations` and
    `job_sync_status` alike. Bound: both integrations load; the requests used the id as Braze sent it."""
    with HostileServer({"a\x00b": syncs(12), "good": syncs(25)}) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        assert any(s.path == "/cdi/integrations/a%00b/job_sync_status" or "a\x00b" in s.path for s in server.requests)
    assert good_loaded(pipeline) == 25
    assert len([r for r in loaded(pipeline) if r[0] == "a\ufffdb"]) == 12
    ids = {i for (i,) in rows(pipeline, "SELECT integration_id FROM {dataset}.integrations")}
    assert ids == {"a\ufffdb", "good"}


@pytest.mark.parametrize("bound", first_fast(["pages", "time_budget"]))
def test_an_integration_list_that_pages_forever_stops_at_a_bound_and_says_so(make_pipeline, monkeypatch, bound):
    """Issue 21 row 7: every list page announces another (new cursor each time). Bound: listing stops at the
    time budget (half of the paging time, a quarter of 20 s before the first load) or at MAX_LIST_PAGES
    (lowered to 30 here); the listed integration loads; one line in extraction_errors says where it was cut."""
    from braze_cdi_source.extract import integrations

    monkeypatch.setattr(integrations, "MAX_LIST_PAGES", 30 if bound == "pages" else 10**6)

    def script(seen: Seen) -> Reply | None:
        if seen.path != "/cdi/integrations":
            return None
        n = int(seen.query.get("cursor", ["0"])[0])
        link = f'</cdi/integrations?cursor={n + 1}>; rel="next"'
        return Reply(headers=[("Link", link)], body=page_body([{"integration_id": "good", "integration_name": "G"}]))

    with HostileServer({"good": syncs(25)}, script) as server:
        pipeline = make_pipeline()
        budget = {"time_budget": 20} if bound == "time_budget" else {}
        api_run(pipeline, server, list_requests_per_minute=100_000, **budget)
        listed = server.count("/cdi/integrations") - server.count("/cdi/integrations/")
    assert good_loaded(pipeline) == 25
    if bound == "pages":
        assert listed == 30
    [message] = error_messages(pipeline)
    assert "stopped listing at" in message and ("time budget" in message) == (bound == "time_budget"), message


def columns_of(pipeline, table: str) -> set[str]:
    sql = f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
    return {c for (c,) in rows(pipeline, sql)}


def test_extra_fields_are_capped_per_table_not_per_row(make_pipeline):
    """Issue 21 row 5: each of 25 rows carries 100 extra fields of its own (2,509 columns before). Bound: the
    table gains at most MAX_EXTRA_COLUMNS (50) columns over two runs; every row of both integrations loads; the
    dropped fields are counted in extraction_errors."""
    from braze_cdi_source.extract.rows import MAX_EXTRA_COLUMNS

    def wide(run: int) -> list[dict]:
        return [{**row, **{f"r{run}_{n}_f{k}": k for k in range(100)}} for n, row in enumerate(syncs(25))]

    with HostileServer({"bad": wide(1), "good": syncs(25)}) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
        server.history["bad"] = wide(2)
        api_run(pipeline, server)
    assert len(loaded(pipeline)) == 50
    ours = {"integration_id", "job_status", "sync_start_time", "sync_finish_time", "last_timestamp_synced",
            "rows_synced", "rows_failed_with_errors", "_dlt_id", "_dlt_load_id"}
    extra = columns_of(pipeline, "job_sync_status") - ours
    assert 0 < len(extra) <= MAX_EXTRA_COLUMNS, len(extra)
    messages = error_messages(pipeline)
    assert any("dropped" in m and "bad" in m for m in messages), messages


@pytest.mark.parametrize("blank", first_fast([" ", "\t", "\u00a0", ""]), ids=["space", "tab", "nbsp", "empty"])
def test_a_field_whose_name_normalises_to_nothing_is_renamed_not_the_row_dropped(make_pipeline, blank):
    """Issue 21 row 11: a field named " ", "\\t", NBSP or "" in the syncs and in the list. Bound: every row and
    the integrations table load; the field lands in a braze_extra__ column, noted in extraction_errors."""

    def script(seen: Seen) -> Reply | None:
        if seen.path != "/cdi/integrations":
            return None
        items = [{"integration_id": i, "integration_name": i, blank: "x"} for i in ("bad", "good")]
        return Reply(body=page_body(items))

    with HostileServer({"bad": [{**r, blank: "x"} for r in syncs(12)], "good": syncs(25)}, script) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
    assert len(loaded(pipeline)) == 37
    assert len(rows(pipeline, "SELECT integration_id FROM {dataset}.integrations")) == 2
    assert any(c.startswith("braze_extra__") for c in columns_of(pipeline, "job_sync_status"))
    assert any("renamed" in m for m in error_messages(pipeline))


def _echoes() -> dict[str, Any]:
    import base64
    from urllib.parse import quote

    from tests.hostile_server import API_KEY

    bearer64 = base64.b64encode(f"Authorization: Bearer {API_KEY}".encode()).decode()
    return {
        "error_message": Reply(400, body=json.dumps({"message": f"bad header: Bearer {API_KEY}"}).encode()),
        "reason_phrase": Reply(401, reason=f"Unauthorized {API_KEY}"),
        "url_encoded": Reply(400, body=json.dumps({"message": "k=" + quote(API_KEY + "/x", safe="")}).encode()),
        "base64_message": Reply(400, body=json.dumps({"message": f"token {bearer64}"}).encode()),
        "refused_link": Reply(headers=[("Link", f'<https://{API_KEY}.evil.example.com/?cursor=1>; rel="next"')],
                              body=page_body(syncs(10))),
        "cursor": Reply(headers=[("Link", f'</cdi/integrations/cursor/job_sync_status?cursor={bearer64}>; rel="next"')],
                        body=page_body(syncs(10))),
    }


def test_the_key_echoed_back_is_never_logged_stored_nor_kept_in_state(make_pipeline, caplog):
    """Issue 21 row 10: a server or proxy echoes the Authorization header (as is, Bearer, base64, URL-encoded)
    in an error message, a reason phrase, a refused Link or a cursor: each one integration's answers, all in one
    run. Bound: no form of the key in extraction_errors, the logs or the pipeline state; the normal integration
    loads; one line for each hostile one."""
    import base64

    from tests.hostile_server import API_KEY

    echoes = _echoes()
    def always(reply: Reply) -> Any:
        return lambda seen: reply

    rules = {where: always(reply) for where, reply in echoes.items()}
    with HostileServer({**dict.fromkeys(echoes, []), "good": syncs(25)}, per_integration(rules)) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
    assert good_loaded(pipeline) == 25
    errors = errors_of(pipeline)
    assert errors.keys() == echoes.keys()
    core = base64.b64encode(f"Bearer {API_KEY}".encode()).decode()[12:-4]
    for where, [message] in errors.items():
        assert where in message
        for form in (API_KEY, core):
            assert form not in message, where
    kept = "\n".join([caplog.text, json.dumps(pipeline.state, default=str)])
    for form in (API_KEY, core):
        assert form not in kept


def test_two_syncs_that_differ_below_a_microsecond_merge_visibly(make_pipeline):
    """Issue 21 minor: sync_start_times with seven fraction digits that differ only in the seventh share the key
    (integration_id, sync_start_time), stored to the microsecond, and merge. Bound: the normal integration
    loads; the hostile one loads 11 of 12 rows and the merge is one line in extraction_errors naming both."""
    history = syncs(12)
    history[3]["sync_start_time"] = "2026-01-01T08:00:00.1234568Z"
    history[4]["sync_start_time"] = "2026-01-01T08:00:00.1234567Z"
    with HostileServer({"bad": history, "good": syncs(25)}) as server:
        pipeline = make_pipeline()
        api_run(pipeline, server)
    assert good_loaded(pipeline) == 25
    assert len([r for r in loaded(pipeline) if r[0] == "bad"]) == 11
    [message] = error_messages(pipeline)
    assert "integration bad" in message and "below a microsecond" in message, message
    assert "08:00:00.1234568Z" in message and "08:00:00.1234567Z" in message, message
