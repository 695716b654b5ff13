"""Property-based tests of what the connector parses: any input gives rows or a clear error, never a crash."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from requests import Request, Response

from braze_cdi_source.errors import BrazeCdiError
from braze_cdi_source.extract.rows import rows_of_page as _rows_of_page
from braze_cdi_source.http.client import SameOriginLinkPaginator, origin, results_of
from braze_cdi_source.timestamps import parse_instant

pytestmark = pytest.mark.slow  # hypothesis sweeps

BASE = "https://rest.iad-03.braze.com"
PATH = "/cdi/integrations/5f0c/job_sync_status"

hosts = st.sampled_from(["rest.iad-03.braze.com", "evil.example", "127.0.0.1", "REST.IAD-03.BRAZE.COM", ""])
schemes = st.sampled_from(["https", "http", "ftp", "javascript", ""])
ports = st.one_of(st.none(), st.integers(min_value=0, max_value=70000).map(str), st.text(max_size=4))
paths = st.one_of(
    st.just(PATH),
    st.just("/cdi/integrations5f0c/job_sync_status"),  # the doc's malformed link
    st.text(max_size=40),
)
cursors = st.one_of(st.none(), st.text(max_size=20), st.just("c2tpcDoxMA=="))


@st.composite
def link_headers(draw: st.DrawFn) -> str:
    """Braze-like Link headers, mutated: other origins, broken paths, odd separators, junk."""
    scheme, host, port = draw(schemes), draw(hosts), draw(ports)
    path, cursor = draw(paths), draw(cursors)
    query = "" if cursor is None else f"?cursor={cursor}"
    netloc = host + (f":{port}" if port else "")
    url = draw(st.sampled_from([f"{path}{query}", f"{scheme}://{netloc}{path}{query}", f"//{netloc}{path}{query}"]))
    rel = draw(st.sampled_from(['rel="next"', "rel=next", 'rel="prev"', 'rel="NEXT"', ""]))
    link = f"<{url}>; {rel}"
    return draw(st.sampled_from([link, f'<{PATH}?cursor=c2tpcDow>; rel="prev",{link}', link[:-3], draw(st.text())]))


def page_response(link: str | None, body: bytes = b'{"results": [], "message": "success"}') -> Response:
    response = Response()
    response.status_code = 200
    response.url = f"{BASE}{PATH}"
    response._content = body
    if link is not None:
        response.headers["Link"] = link
    return response


@settings(max_examples=400, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(link=st.one_of(link_headers(), st.text()))
@example(link=f'<https://rest.iad-03.braze.com:[{PATH}>; rel="next"')  # once crashed urlsplit: "Invalid IPv6 URL"
@example(link=f'<https://REST.IAD-03.BRAZE.COM{PATH}?cursor=c2tpcDoxMA==>; rel="next"')
def test_any_link_header_is_followed_only_to_the_same_origin(link: str) -> None:
    request = Request("GET", f"{BASE}{PATH}")
    paginator = SameOriginLinkPaginator(BASE)
    paginator.init_request(request)
    try:
        response = page_response(link)
    except (UnicodeError, ValueError):
        return  # not a header requests would ever hand over
    paginator.update_state(response)
    paginator.update_request(request)
    if paginator.refused is not None:
        assert not paginator.has_next_page
        assert isinstance(paginator.refused, BrazeCdiError) and str(paginator.refused)
    elif paginator.has_next_page:
        assert origin(request.url) == origin(BASE)
        assert urlsplit(request.url).path == PATH  # another path is followed by its cursor only


@settings(max_examples=300, deadline=500)
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_body_gives_results_or_a_clear_error(body: bytes) -> None:
    try:
        results = results_of(page_response(None, body), "5f0c")
    except BrazeCdiError as error:
        assert "5f0c" in str(error) and PATH in str(error)
    else:
        assert isinstance(results, list)


instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)
"""Braze's era: strftime does not zero-pad years before 1000, which no API sends."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
timestamps = st.one_of(
    instants.map(lambda d: d.isoformat()),
    instants.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.text(max_size=30),
    json_values,
)
items = st.one_of(
    st.fixed_dictionaries(
        {"sync_start_time": timestamps},
        optional={"job_status": json_values, "sync_finish_time": timestamps, "rows_synced": json_values},
    ),
    json_values,
)


@settings(max_examples=300, deadline=1000)
@given(
    page=st.lists(items, max_size=12),
    boundary=st.one_of(st.none(), instants),
)
def test_any_page_gives_keyed_rows_and_a_count_of_the_rest(page: list, boundary: datetime | None) -> None:
    rows, reached, bad = _rows_of_page(json.loads(json.dumps(page)), "5f0c", boundary)
    assert bad <= len(page)
    assert len(rows) + bad <= len(page)
    for row in rows:
        assert row["integration_id"] == "5f0c"
        assert isinstance(row["sync_start_time"], datetime) and row["sync_start_time"].tzinfo is not None
        assert boundary is None or row["sync_start_time"] >= boundary
    assert reached in (True, False)


@settings(max_examples=500, deadline=500)
@given(text=st.one_of(st.text(max_size=40), timestamps.filter(lambda v: isinstance(v, str))))
def test_parse_instant_returns_utc_or_raises_value_error(text: str) -> None:
    try:
        value = parse_instant(text)
    except ValueError:
        return
    assert value is None or value.utcoffset() is not None


@given(instants)
def test_every_iso_form_of_an_instant_parses_to_that_instant(moment: datetime) -> None:
    forms = [
        moment.isoformat(),
        moment.isoformat().replace("+00:00", "Z"),
        moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    ]
    for form in forms:
        assert parse_instant(form) == moment
