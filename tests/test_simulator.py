"""The Braze CDI simulator over real HTTP: Braze's paging, errors, rate limits, data, mutations, faults."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from braze_cdi_source.simulator import (
    BrazeSimulator,
    RecordedRequest,
    decode_cursor,
    derive_sync_counts,
    encode_cursor,
)

NOW = datetime(2026, 11, 28, 10, 15, tzinfo=timezone.utc)
COUNTS = (0, 7, 10, 11, 137)
ROOT = Path(__file__).resolve().parent.parent
TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|\+00:00)")


def parse_ts(value: str | None) -> datetime | None:
    """Braze timestamp text as an aware UTC datetime (works on Python 3.10, which rejects "Z")."""
    if value is None:
        return None
    match = TIMESTAMP.fullmatch(value)
    assert match, f"not a Braze-like timestamp: {value!r}"
    microsecond = int((match.group(2) or "").ljust(6, "0"))
    return datetime.fromisoformat(match.group(1)).replace(microsecond=microsecond, tzinfo=timezone.utc)


def as_truth(item: dict) -> dict:
    times = ("sync_start_time", "sync_finish_time", "last_timestamp_synced")
    return {k: parse_ts(v) if k in times else v for k, v in item.items()}


def auth(sim: BrazeSimulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.api_key}"}


def get(sim: BrazeSimulator, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("headers", auth(sim))
    return requests.get(sim.base_url + path, timeout=5, **kwargs)


def job_path(integration_id: str, skip: int | None = None) -> str:
    path = f"/cdi/integrations/{integration_id}/job_sync_status"
    return path if skip is None else f"{path}?cursor={encode_cursor(skip)}"


def links(response: requests.Response) -> dict[str, str]:
    header = response.headers.get("Link")
    return dict((rel, url) for url, rel in re.findall(r'<([^>]*)>; rel="(\w+)"', header or ""))


def fetch_all(sim: BrazeSimulator, path: str, session: requests.Session | None = None) -> tuple[list, int]:
    """Every item behind `path`, following `next` links; and the number of pages."""
    http = session or requests.Session()
    url, items, pages = sim.base_url + path, [], 0
    while url:
        response = http.get(url, headers=auth(sim), timeout=5)
        assert response.status_code == 200, response.text
        items.extend(response.json()["results"])
        pages += 1
        next_link = links(response).get("next")
        url = urljoin(url, next_link) if next_link else None
    return items, pages


@pytest.fixture
def sim():
    with BrazeSimulator(COUNTS, now=NOW) as simulator:
        yield simulator


# --- cursors and paging -------------------------------------------------------------------------


def test_cursor_encoding_matches_braze_examples():
    assert encode_cursor(0) == "c2tpcDow"
    assert encode_cursor(100) == "c2tpcDoxMDA="
    assert decode_cursor("c2tpcDow") == 0
    assert decode_cursor("c2tpcDoxMDA=") == 100
    for bad in ("", "abc", "c2tpcDoxMDA", "skip:0", encode_cursor(-1), "c2tpcDp4", "%%%", "c2tpcDow\n"):
        assert decode_cursor(bad) is None, bad


@pytest.mark.parametrize("index", range(len(COUNTS)))
def test_full_listing_equals_truth(sim, index):
    integration_id = sim.integration_ids[index]
    items, pages = fetch_all(sim, job_path(integration_id))
    assert len(items) == COUNTS[index]
    assert pages == max(1, -(-COUNTS[index] // 10))
    assert [as_truth(item) for item in items] == sim.truth(integration_id)
    assert sim.count("job_sync_status", integration_id, 200) == pages


def test_link_header_format(sim):
    iid = sim.integration_ids[4]  # 137 syncs
    path = job_path(iid)
    first = get(sim, path)
    assert first.headers["Link"] == f'<{path}?cursor=c2tpcDoxMA==>; rel="next"'
    middle = get(sim, job_path(iid, 50))
    assert middle.headers["Link"] == (
        f'<{path}?cursor={encode_cursor(40)}>; rel="prev",<{path}?cursor={encode_cursor(60)}>; rel="next"'
    )
    zero = get(sim, job_path(iid, 0))
    assert links(zero) == {"prev": f"{path}?cursor=c2tpcDow", "next": f"{path}?cursor=c2tpcDoxMA=="}
    last = get(sim, job_path(iid, 130))
    assert list(links(last)) == ["prev"] and len(last.json()["results"]) == 7
    assert decode_cursor(links(last)["prev"].split("cursor=")[1]) == 120
    beyond = get(sim, job_path(iid, 500))
    assert beyond.status_code == 200 and beyond.json() == {"results": [], "message": "success"}
    for index in (0, 1, 2):  # 0, 7 and 10 syncs: no Link at all, with or without cursor
        assert "Link" not in get(sim, job_path(sim.integration_ids[index])).headers
        assert "Link" not in get(sim, job_path(sim.integration_ids[index], 0)).headers
    eleven = get(sim, job_path(sim.integration_ids[3]))
    assert list(links(eleven)) == ["next"]
    assert len(get(sim, job_path(sim.integration_ids[3], 10)).json()["results"]) == 1


def test_first_page_shape(sim):
    response = get(sim, job_path(sim.integration_ids[4]))
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["message"] == "success" and len(body["results"]) == 10
    assert list(body["results"][0]) == [
        "job_status",
        "sync_start_time",
        "sync_finish_time",
        "last_timestamp_synced",
        "rows_synced",
        "rows_failed_with_errors",
    ]


def test_url_encoded_cursor_is_accepted(sim):
    iid = sim.integration_ids[4]
    plain = get(sim, f"{job_path(iid)}?cursor=c2tpcDoxMA==")
    encoded = get(sim, f"{job_path(iid)}?cursor=c2tpcDoxMA%3D%3D")
    assert plain.status_code == encoded.status_code == 200
    assert plain.json() == encoded.json()
    assert sim.requests[-1].query == {"cursor": "c2tpcDoxMA=="}


def test_absolute_malformed_and_foreign_links():
    with BrazeSimulator([25], absolute_links=True, now=NOW) as sim:
        iid = sim.integration_ids[0]
        page = get(sim, job_path(iid, 10))
        assert links(page) == {
            "prev": f"{sim.base_url}{job_path(iid, 0)}",
            "next": f"{sim.base_url}{job_path(iid, 20)}",
        }
        items, pages = fetch_all(sim, job_path(iid))
        assert pages == 3 and [as_truth(i) for i in items] == sim.truth(iid)
    with BrazeSimulator([25], malformed_links=True, now=NOW) as sim:
        iid = sim.integration_ids[0]
        page = get(sim, job_path(iid, 10))
        assert links(page)["prev"] == job_path(iid, 0)
        assert links(page)["next"] == f"/cdi/integrations{iid}/job_sync_status?cursor={encode_cursor(20)}"
        assert get(sim, links(page)["next"]).status_code == 404
    with BrazeSimulator([25], next_link_origin="http://127.0.0.1:9999", now=NOW) as sim:
        iid = sim.integration_ids[0]
        page = get(sim, job_path(iid, 10))
        assert links(page)["next"] == f"http://127.0.0.1:9999{job_path(iid, 20)}"
        assert links(page)["prev"] == job_path(iid, 0)


def test_integration_list_paging():
    with BrazeSimulator([0, 3, 12] * 8, now=NOW) as sim:
        first = get(sim, "/cdi/integrations")
        assert first.headers["Link"] == '</cdi/integrations?cursor=c2tpcDoxMA==>; rel="next"'
        items, pages = fetch_all(sim, "/cdi/integrations")
        assert pages == 3
        assert items == sim.integrations_truth()
        assert [item["integration_id"] for item in items] == sim.integration_ids
        assert sim.count("list", status=200) == 4
    with BrazeSimulator([1] * 10, now=NOW) as sim:
        assert "Link" not in get(sim, "/cdi/integrations").headers


def test_integration_items(sim):
    items = {item["integration_id"]: item for item in sim.integrations_truth()}
    assert len({item["app_group_id"] for item in items.values()}) == 1
    for iid, count in zip(sim.integration_ids, COUNTS, strict=True):
        item = items[iid]
        assert isinstance(item["contact_emails"], str) and "@" in item["contact_emails"]
        assert item["integration_status"] in ("active", "paused")
        parse_ts(item["last_updated_at"])
        truth = sim.truth(iid)
        if count == 0:
            assert [item[k] for k in ("warehouse_type", "last_job_start_time", "last_job_status")] == [None] * 3
            assert item["next_scheduled_run"] is None
        else:
            assert item["warehouse_type"] in ("snowflake", "bigquery", "redshift", "databricks")
            assert parse_ts(item["last_job_start_time"]) == truth[0]["sync_start_time"]
            assert item["last_job_status"] == truth[0]["job_status"]
            if item["integration_status"] == "active":
                assert parse_ts(item["next_scheduled_run"]) > truth[0]["sync_start_time"]


# --- errors ---------------------------------------------------------------------------------------


def test_auth_errors_never_echo_the_key(sim):
    path = job_path(sim.integration_ids[4])
    bad_headers = [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {sim.api_key}"},
        {"Authorization": f'Bearer "{sim.api_key}"'},
        {"Authorization": sim.api_key},
    ]
    for headers in bad_headers:
        response = get(sim, path, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"message": "Invalid API key"}
        assert sim.api_key not in response.text and "wrong-key" not in response.text
    assert get(sim, path, headers={"Authorization": f"bearer {sim.api_key}"}).status_code == 200
    assert sim.requests[1].authorization == "Bearer wrong-key"
    # a 401 does not consume the rate limit
    assert get(sim, path).headers["X-RateLimit-Remaining"] == "98"


def test_missing_permission_names_it():
    with BrazeSimulator([3], permissions=["cdi.integration_list"], now=NOW) as sim:
        response = get(sim, job_path(sim.integration_ids[0]))
        assert response.status_code == 403
        assert response.json() == {
            "message": "Access Denied",
            "errors": ["The API key lacks the permission cdi.integration_job_status"],
        }
        assert get(sim, "/cdi/integrations").status_code == 200
    with BrazeSimulator([3], permissions=["cdi.integration_job_status"], now=NOW) as sim:
        response = get(sim, "/cdi/integrations")
        assert response.status_code == 403
        assert response.json()["errors"] == ["The API key lacks the permission cdi.integration_list"]
        assert get(sim, job_path(sim.integration_ids[0])).status_code == 200


def test_bad_requests(sim):
    unknown = get(sim, job_path("00000000-0000-0000-0000-000000000000"))
    assert unknown.status_code == 400 and unknown.json() == {"message": "Invalid integration ID"}
    iid = sim.integration_ids[4]
    for cursor in ("", "nope", "c2tpcDoxMA", "c2tpcDotMQ==", "c2tpcDp4", "YWJj"):
        for path in (job_path(iid), "/cdi/integrations"):
            response = get(sim, f"{path}?cursor={cursor}")
            assert response.status_code == 400, (path, cursor)
            assert response.json() == {"message": "Invalid cursor"}
    for path in ("/", "/cdi/integrations/", f"/cdi/integrations/{iid}", f"/cdi/integrations/{iid}/sync"):
        response = get(sim, path)
        assert response.status_code == 404 and response.json() == {"message": "Not Found"}
    post = requests.post(sim.base_url + job_path(iid), headers=auth(sim), json={"x": 1}, timeout=5)
    assert post.status_code == 405
    assert sim.count(endpoint="other", status=404) == 4


def test_rate_limit_and_recovery():
    limits = {"job_sync_status": (3, 1.0), "list": (2, 1.0)}
    with BrazeSimulator([5], rate_limits=limits, now=NOW) as sim:
        path = job_path(sim.integration_ids[0])
        started = time.time()
        session = requests.Session()
        answers = [session.get(sim.base_url + path, headers=auth(sim), timeout=5) for _ in range(5)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0", "0"]
        assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"3"}
        reset = int(answers[0].headers["X-RateLimit-Reset"])
        assert started <= reset <= started + 3
        assert answers[3].json() == {"message": "Rate Limited"}
        assert "Retry-After" not in answers[3].headers
        assert sim.throttled == 2
        # the list endpoint has its own window
        assert get(sim, "/cdi/integrations").headers["X-RateLimit-Remaining"] == "1"
        time.sleep(max(0.0, started + 1.05 - time.time()))
        again = session.get(sim.base_url + path, headers=auth(sim), timeout=5)
        assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "2"
        assert sim.count(status=429) == 2


# --- faults ---------------------------------------------------------------------------------------


def check_fault(kind: str, response: requests.Response | None, elapsed: float) -> None:
    if kind == "drop":
        assert response is None
        return
    assert response is not None
    if kind in ("500", "502", "503", "504"):
        assert response.status_code == int(kind)
    elif kind == "429":
        assert response.status_code == 429 and response.json() == {"message": "Rate Limited"}
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert int(response.headers["X-RateLimit-Reset"]) > time.time()
        assert "Retry-After" not in response.headers
    elif kind == "slow":
        assert elapsed >= 0.3 and response.status_code == 200 and len(response.json()["results"]) == 10
    elif kind == "truncated":
        assert response.status_code == 200
        assert len(response.content) == int(response.headers["Content-Length"])
        with pytest.raises(ValueError):
            response.json()
    elif kind == "non_json":
        assert response.status_code == 200 and response.text.startswith("<html")
        with pytest.raises(ValueError):
            response.json()
    elif kind == "wrong_shape":
        assert response.status_code == 200
        assert response.json() == {"results": {"oops": 1}, "message": "success"}


@pytest.mark.parametrize(
    "kind", ["500", "502", "503", "504", "429", "drop", "slow", "truncated", "non_json", "wrong_shape"]
)
def test_fault_fires_exactly_times_on_matching_page(sim, kind):
    target, other = sim.integration_ids[4], sim.integration_ids[3]
    sim.inject(kind, endpoint="job_sync_status", integration_id=target, page=2, times=2, seconds=0.3)
    assert get(sim, job_path(target, 10)).status_code == 200  # page 1
    assert get(sim, job_path(other, 20)).status_code == 200  # page 2 of another integration
    assert get(sim, "/cdi/integrations").status_code == 200
    for _ in range(2):
        started = time.monotonic()
        try:
            response = get(sim, job_path(target, 25))  # skip 25 is on page 2
        except requests.ConnectionError:
            response = None
        check_fault(kind, response, time.monotonic() - started)
    normal = get(sim, job_path(target, 20))
    assert normal.status_code == 200
    assert [as_truth(i) for i in normal.json()["results"]] == sim.truth(target)[20:30]
    if kind == "drop":
        assert sim.count(integration_id=target, status=0) == 2
    if kind == "429":
        assert sim.throttled == 2


def test_fault_filters_and_clear(sim):
    sim.inject("503", endpoint="list")
    assert get(sim, job_path(sim.integration_ids[4])).status_code == 200
    assert get(sim, "/cdi/integrations").status_code == 503
    assert get(sim, "/cdi/integrations").status_code == 200
    sim.inject("500", page=0, times=3)
    assert get(sim, job_path(sim.integration_ids[4], 10)).status_code == 200
    assert get(sim, job_path(sim.integration_ids[1])).status_code == 500
    sim.clear_faults()
    assert get(sim, job_path(sim.integration_ids[1])).status_code == 200
    with pytest.raises(ValueError):
        sim.inject("teapot")


# --- mutations ------------------------------------------------------------------------------------


def test_add_syncs_shifts_offsets(sim):
    iid = sim.integration_ids[1]  # 7 syncs
    before = sim.truth(iid)
    added = sim.add_syncs(iid, 5)
    assert len(added) == 5 and {s["job_status"] for s in added} == {"success"}
    assert added[-1]["sync_start_time"] > before[0]["sync_start_time"]
    truth = sim.truth(iid)
    assert truth == added + before
    items, pages = fetch_all(sim, job_path(iid))
    assert pages == 2 and [as_truth(i) for i in items] == truth
    second_page = get(sim, job_path(iid, 10)).json()["results"]
    assert [as_truth(i) for i in second_page] == before[5:]
    partial = sim.add_syncs(iid, 2, status="partial", running_last=True)
    assert partial[0]["job_status"] == "running" and partial[1]["job_status"] == "partial"
    assert partial[1]["rows_failed_with_errors"] > 0


def test_start_and_finish_running(sim):
    sim.finish_running()
    iid = sim.integration_ids[3]
    running = sim.start_sync(iid)
    assert running["job_status"] == "running"
    assert [running[k] for k in ("sync_finish_time", "rows_synced", "rows_failed_with_errors")] == [None] * 3
    newest = get(sim, job_path(iid)).json()["results"][0]
    assert newest["job_status"] == "running" and newest["sync_finish_time"] is None
    assert newest["last_timestamp_synced"] is None and newest["rows_synced"] is None
    item = next(i for i in get(sim, "/cdi/integrations").json()["results"] if i["integration_id"] == iid)
    assert item["last_job_status"] == "running"
    assert parse_ts(item["last_job_start_time"]) == running["sync_start_time"]
    assert sim.finish_running(iid) == 1
    assert sim.finish_running(iid) == 0
    done = as_truth(get(sim, job_path(iid)).json()["results"][0])
    assert done["sync_start_time"] == running["sync_start_time"]
    assert done["job_status"] == "success" and done["sync_finish_time"] >= done["sync_start_time"]
    assert done["rows_synced"] is not None and done["last_timestamp_synced"] <= done["sync_start_time"]
    item = next(i for i in sim.integrations_truth() if i["integration_id"] == iid)
    assert item["last_job_status"] == "success"
    sim.start_sync(sim.integration_ids[0])
    sim.start_sync(sim.integration_ids[1])
    assert sim.finish_running(status="error") == 2
    assert sim.truth(sim.integration_ids[0])[0]["rows_synced"] == 0


def test_add_integration_and_raw_items(sim):
    new_id = sim.add_integration(12)
    assert sim.integration_ids[-1] == new_id
    assert get(sim, "/cdi/integrations").json()["results"][-1]["integration_id"] == new_id
    items, _ = fetch_all(sim, job_path(new_id))
    assert [as_truth(i) for i in items] == sim.truth(new_id)
    raw = {"job_status": "queued", "sync_start_time": "2026-11-28T10:00:00.5+00:00", "extra": [1, 2]}
    sim.set_job_status_raw(new_id, 0, raw)
    assert get(sim, job_path(new_id)).json()["results"][0] == raw
    assert sim.truth(new_id)[0]["sync_start_time"] == datetime(2026, 11, 28, 10, 0, 0, 500000, timezone.utc)
    with pytest.raises(IndexError):
        sim.set_job_status_raw(new_id, 12, {})
    with pytest.raises(KeyError):
        sim.truth("nope")


# --- data -----------------------------------------------------------------------------------------


def test_same_seed_same_data():
    one, two = BrazeSimulator(COUNTS, now=NOW), BrazeSimulator(COUNTS, now=NOW)
    assert one.api_key == two.api_key and one.api_key.startswith("sim-")
    assert one.integrations_truth() == two.integrations_truth()
    assert all(one.truth(i) == two.truth(i) for i in one.integration_ids)
    assert one.add_syncs(one.integration_ids[2], 3) == two.add_syncs(two.integration_ids[2], 3)
    other = BrazeSimulator(COUNTS, seed=7, now=NOW)
    assert other.integration_ids != one.integration_ids
    assert derive_sync_counts(30, 1) == derive_sync_counts(30, 1) != derive_sync_counts(30, 2)
    assert all(0 <= c <= 300 for c in derive_sync_counts(200, 3))


def test_history_is_realistic():
    sim = BrazeSimulator(derive_sync_counts(60, 5), now=NOW)
    statuses: Counter[str] = Counter()
    running_newest = with_syncs = 0
    for iid in sim.integration_ids:
        syncs = sim.truth(iid)
        if not syncs:
            continue
        with_syncs += 1
        running_newest += syncs[0]["job_status"] == "running"
        assert all(s["job_status"] != "running" for s in syncs[1:])
        starts = [s["sync_start_time"] for s in syncs]
        assert starts == sorted(starts, reverse=True) and len(set(starts)) == len(starts)
        assert starts[0] <= NOW
        for newer, older in pairwise(syncs):
            assert older["sync_finish_time"] <= newer["sync_start_time"]  # one at a time
        watermark = None
        for sync in reversed(syncs):
            statuses[sync["job_status"]] += 1
            if sync["job_status"] == "running":
                assert sync["sync_finish_time"] is sync["rows_synced"] is sync["last_timestamp_synced"] is None
                continue
            assert sync["sync_finish_time"] >= sync["sync_start_time"]
            if sync["last_timestamp_synced"] is not None:
                assert sync["last_timestamp_synced"] <= sync["sync_start_time"]
            if sync["job_status"] in ("error", "config_error"):
                assert sync["rows_synced"] == 0
            if sync["job_status"] == "partial":
                assert sync["rows_failed_with_errors"] > 0
            if sync["job_status"] == "success":
                assert watermark is None or sync["last_timestamp_synced"] >= watermark
                watermark = sync["last_timestamp_synced"]
    total = sum(statuses.values())
    assert total > 5000
    assert 0.80 < statuses["success"] / total < 0.92
    assert 0.04 < statuses["partial"] / total < 0.10
    assert statuses["error"] and statuses["config_error"] and statuses["limit_exceeded"]
    assert 0.15 < running_newest / with_syncs < 0.5


def test_mixed_timestamps_defeat_string_sorting(sim):
    served = fetch_all(sim, job_path(sim.integration_ids[4]))[0]
    starts = [item["sync_start_time"] for item in served]
    assert any(s.endswith("Z") and "." not in s for s in starts)
    assert any(s.endswith("+00:00") and "." not in s for s in starts)
    assert any(re.search(r"\.\d{3}Z$", s) for s in starts)
    assert any(re.search(r"\.\d\+00:00$", s) for s in starts)
    instants = [parse_ts(s) for s in starts]
    assert instants == sorted(instants, reverse=True)
    assert starts != sorted(starts, reverse=True)  # text order is wrong somewhere
    same_second = [(a, b) for a, b in pairwise(starts) if a[:19] == b[:19]]
    assert same_second and all(a < b for a, b in same_second)  # newer sorts first as text: wrong


@pytest.mark.parametrize(
    ("style", "pattern"),
    [("z", r"\d\dZ"), ("offset", r"\d\d\+00:00"), ("fractional", r"\d\d\.\d{3}Z")],
)
def test_timestamp_styles(style, pattern):
    with BrazeSimulator([30], timestamp_style=style, now=NOW) as sim:
        items, _ = fetch_all(sim, job_path(sim.integration_ids[0]))
        assert [as_truth(i) for i in items] == sim.truth(sim.integration_ids[0])
        for item in items:
            for key in ("sync_start_time", "sync_finish_time", "last_timestamp_synced"):
                assert item[key] is None or re.search(pattern + "$", item[key]), item[key]


def test_a_large_history_is_served_over_one_keep_alive_connection():
    """100,000 syncs: the last page is right, and fifty requests on one session reuse one connection (a new
    connection per request would cost each benchmark request a handshake)."""
    sim = BrazeSimulator([100_000], now=NOW)
    with sim:
        iid = sim.integration_ids[0]
        session = requests.Session()
        page = session.get(sim.base_url + job_path(iid, 99_990), headers=auth(sim), timeout=5)
        assert [as_truth(i) for i in page.json()["results"]] == sim.truth(iid)[99_990:]
        assert list(links(page)) == ["prev"]
        for n in range(50):
            assert session.get(sim.base_url + job_path(iid, n * 10), headers=auth(sim), timeout=5).ok
        assert len(sim._connections) == 1


# --- log, lifecycle, CLI ----------------------------------------------------------------------------


def test_request_log(sim):
    iid = sim.integration_ids[4]
    get(sim, job_path(iid, 10))
    get(sim, "/cdi/integrations", headers={"Authorization": "Bearer nope"})
    assert sim.requests == [
        RecordedRequest(
            "GET", job_path(iid), {"cursor": encode_cursor(10)}, 200, "job_sync_status", iid, f"Bearer {sim.api_key}"
        ),
        RecordedRequest("GET", "/cdi/integrations", {}, 401, "list", None, "Bearer nope"),
    ]
    assert sim.count() == 2 and sim.count("list") == 1 and sim.count(status=200) == 1
    sim.reset_log()
    assert sim.requests == [] and sim.count() == 0


def test_latency_and_stop():
    sim = BrazeSimulator([3], latency=0.2, now=NOW)
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    with sim:
        session = requests.Session()
        started = time.monotonic()
        assert session.get(sim.base_url + "/cdi/integrations", headers=auth(sim), timeout=5).ok
        assert time.monotonic() - started >= 0.2
        base_url = sim.base_url
    with pytest.raises(requests.ConnectionError):
        session.get(base_url + "/cdi/integrations", headers=auth(sim), timeout=5)


def test_command_line():
    process = subprocess.Popen(
        [sys.executable, "-m", "braze_cdi_source.simulator", "--port", "0", "--sync-counts", "0,7,12"]
        + ["--api-key", "cli-key", "--rate-limit-window", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip().removeprefix("base_url=")
        assert process.stdout.readline().strip() == "api_key=cli-key"
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        response = requests.get(base_url + "/cdi/integrations", headers={"Authorization": "Bearer cli-key"}, timeout=5)
        assert response.status_code == 200 and len(response.json()["results"]) == 3
        process.terminate()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
