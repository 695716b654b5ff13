"""Property: whatever a `Link` header says, every request the transport sends goes to base_url's host:port.

Checked where requests hands the request to urllib3 (requests' `HTTPAdapter.send`, under our adapter): the URL
that connects, as urllib3 parses it. A trap server on another port proves nothing got there either.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter
from urllib3.util import parse_url

from braze_cdi_source.errors import BrazeCdiError
from braze_cdi_source.http.client import BrazeClient
from braze_cdi_source.http.retries import RetryBudget
from tests.hostile_server import HostileServer, Reply, Seen, page_body, syncs

PATH = "/cdi/integrations/abc/job_sync_status"


class Servers:
    def __init__(self) -> None:
        self.link = ""
        self.main = HostileServer(script=self.answer)
        self.trap = HostileServer()

    def answer(self, seen: Seen) -> Reply:
        if seen.path == PATH and not seen.query:
            return Reply(headers=[("Link", self.link)], body=page_body(syncs(10)))
        return Reply(body=page_body(syncs(2)))


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    both = Servers()
    with both.main, both.trap:
        yield both


HOST_PARTS = st.sampled_from(
    ["127.0.0.1", "localhost", "127.0.0.2", "LOCALHOST", "xn--nxasmq6b", "ex\u00e4mple.com", "[::1]", "0x7f.1",
     "127.0.0.1%2F", "127.1", "2130706433", "127.0.0.1.", "\uff11\uff12\uff17.0.0.1"]
)
SEPARATORS = st.sampled_from(["", "\\", "\t", "\n", " ", "%40", "@", "\\@", "#@", "?@", ";", "%5C"])


@st.composite
def links(draw: st.DrawFn) -> str:
    main, trap = "{main}", "{trap}"
    scheme = draw(st.sampled_from(["http://", "https://", "HTTP://", "//", "http:/", "http:\\\\", ""]))
    userinfo = draw(st.sampled_from(["", "u@", "u:p@", f"127.0.0.1:{trap}@", f"127.0.0.1:{trap}\\@", ":@"]))
    host = draw(HOST_PARTS)
    port = draw(st.sampled_from([f":{main}", f":{trap}", "", ":0", ":65536", f":{main}:{trap}", ":-1", f":0{main}"]))
    middle = draw(SEPARATORS)
    tail_host = draw(st.sampled_from(["", f"127.0.0.1:{trap}", f"127.0.0.1:{main}"]))
    path = draw(st.sampled_from([PATH, "/x", "", "/cdi/integrations/other/job_sync_status", PATH.upper(),
                                 "/cdi/integrations/abc/../../users/export/ids", "%2Fcdi"]))
    query = draw(st.sampled_from(["?cursor=c2tpcDoxMA==", "?cursor=", "", "?cursor=a&cursor=b", "?cursor=%00",
                                  "?cursor=x%0d%0aHost:evil"]))
    url = f"{scheme}{userinfo}{host}{port}{middle}{tail_host}{path}{query}"
    rel = draw(st.sampled_from(['rel="next"', "rel=next", 'rel="NEXT"']))
    return f"<{url}>; {rel}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=st.one_of(links(), st.text(max_size=80).map(lambda t: f'<{t}>; rel="next"')))
@example(template='<>; rel="next"')  # once looped forever: an empty link kept "a next page" with no cursor
@example(template=f'<http://127.0.0.1:{{trap}}\\@127.0.0.1:{{main}}{PATH}?cursor=x>; rel="next"')
@example(template=f'<http://127.0.0.1:{{main}}\t@127.0.0.1:{{trap}}{PATH}?cursor=x>; rel="next"')
def test_every_request_goes_to_base_url_host_and_port(servers: Servers, template: str) -> None:
    """Bound: 0 requests to the trap; every send is to 127.0.0.1:<main> on the resource's path; <= 2 requests."""
    link = template.replace("{main}", str(servers.main.port)).replace("{trap}", str(servers.trap.port))
    try:
        link.encode("latin-1")
    except UnicodeEncodeError:
        return  # http.server cannot send it as a header; nor could a real server
    if "\n" in link or "\r" in link:
        return  # not a header value (it would end the header)
    servers.link = link
    servers.main.requests.clear()
    sent: list[tuple[str, int | None, str]] = []
    original = HTTPAdapter.send

    def recording_send(self, request, *args, **kwargs):  # the transport urllib3 gets the request from
        parts = parse_url(request.url)
        sent.append((parts.host, parts.port, parts.path))
        return original(self, request, *args, **kwargs)

    client = BrazeClient(
        servers.main.api_key,
        servers.main.base_url,
        budget=RetryBudget(max_attempts=1, timeout=2.0),
        max_rate_limit_wait=1.0,
        limits_per_minute={"list": 1_000_000, "job_sync_status": 1_000_000},  # not a rate-limit test
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HTTPAdapter, "send", recording_send)
        try:
            pages = list(client.pages(PATH, "abc"))
        except BrazeCdiError as error:
            assert servers.main.api_key not in str(error)
            pages = None
    assert servers.trap.requests == []
    assert 1 <= len(sent) <= 2
    assert all(host == "127.0.0.1" and port == servers.main.port and path == PATH for host, port, path in sent), sent
    assert [seen.path for seen in servers.main.requests] == [PATH] * len(sent)
    if pages is not None:
        assert len(pages) == len(sent)
