"""The Braze HTTP client: dlt's RESTClient with Bearer auth, retries, the shared throttle and safe paging.

dlt does the requests, retries and Link-header paging; this module adds what Braze needs on top:
checked configuration, a paginator that never sends the key to another origin, error statuses turned
into `BrazeApiError` with a hint, and bodies checked against the documented shape.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from dlt.common.jsonpath import TJsonPath
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from requests import Request, Response, Session
from requests.exceptions import ChunkedEncodingError, ConnectionError, JSONDecodeError, Timeout

from ..errors import (
    MISSING_API_KEY,
    MISSING_BASE_URL,
    BrazeApiError,
    ConfigurationError,
    ResponseShapeError,
    UnsafeLinkError,
)
from ..run_stats import RunStats
from .retries import RetryBudget, json_body, make_retrying
from .throttle import RateLimitAdapter, Throttle

_INSTANCE_HOST = re.compile(r"^rest\.[a-z0-9-]+\.braze\.(com|eu)$")
_DASHBOARD_HOST = re.compile(r"^dashboard(-[a-z0-9]+)?\.braze\.(com|eu)$")


def check_api_key(api_key: Any) -> str:
    """Reject keys that cannot work before any request is sent, naming the problem, never the key."""
    if not isinstance(api_key, str) or not api_key:
        raise ConfigurationError(MISSING_API_KEY)
    if api_key != api_key.strip() or any(c.isspace() for c in api_key):
        raise ConfigurationError("The Braze API key contains spaces or line breaks: paste it without them.")
    if api_key[0] in "\"'" or api_key[-1] in "\"'":
        raise ConfigurationError("The Braze API key is wrapped in quotes: remove the quotes around it.")
    return api_key


def check_base_url(base_url: Any) -> str:
    """Return the normalised REST endpoint; refuse anything that is not a Braze instance over https.

    Plain http is allowed only for loopback hosts (the bundled simulator, tests).
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError(MISSING_BASE_URL)
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("http", "https"):
        raise ConfigurationError(
            f"base_url {base_url.strip()!r} is not a URL: use your instance's REST endpoint, "
            "e.g. https://rest.iad-03.braze.com."
        )
    if parts.scheme != "https" and not _is_loopback(host):
        raise ConfigurationError(
            f"base_url must use https:// (got {parts.scheme}://{host}): the API key would travel in clear text."
        )
    if not _is_loopback(host) and not _INSTANCE_HOST.match(host):
        if _DASHBOARD_HOST.match(host):
            raise ConfigurationError(
                f"{host} is a Braze dashboard address, not a REST endpoint: use the matching "
                "https://rest.<instance>.braze.com (see Braze's 'API and SDK endpoints' page)."
            )
        raise ConfigurationError(
            f"{host} is not a Braze REST instance: use https://rest.<instance>.braze.com or .braze.eu, "
            "e.g. https://rest.iad-03.braze.com."
        )
    return f"{parts.scheme}://{parts.netloc}".rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: what must not change between pages."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port or default
    except ValueError:  # a port that is not a number
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class SameOriginLinkPaginator(HeaderLinkPaginator):
    """Braze's `Link: <…>; rel="next"` paging that refuses to leave the first request's origin.

    dlt would send the Authorization header to whatever URL a `next` link names. A link to another
    scheme, host or port ends paging before any request goes there, and `refused` holds the
    `UnsafeLinkError` for the caller to raise once the current page is handed over. A same-origin link to
    another path (Braze's documentation shows one missing a `/`) is not followed as is: its `cursor` is
    applied to the current path instead, since the cursor is all the link carries.
    """

    def __init__(self) -> None:
        super().__init__(links_next_key="next")
        self._origin: tuple[str, str, int | None] | None = None
        self._path = ""
        self.refused: UnsafeLinkError | None = None
        self.current_url: str | None = None

    def init_request(self, request: Request) -> None:
        super().init_request(request)
        parts = urlsplit(request.url)
        self._origin = origin(request.url)
        self._path = parts.path
        self.current_url = request.url

    def update_request(self, request: Request) -> None:
        if not self._next_reference:
            return
        try:
            target = urljoin(request.url, self._next_reference)
            urlsplit(target).port  # noqa: B018 - raises on a malformed host or port
        except ValueError:
            return self._refuse(
                f"Braze's next-page link {self._next_reference[:200]!r} is not a valid URL: cannot continue paging."
            )
        if origin(target) != self._origin:
            scheme, host, port = origin(target)
            return self._refuse(
                f"Braze's next-page link points to {scheme}://{host}:{port}, not to the configured instance: "
                "refusing to send the API key there. Check base_url; report it if it persists."
            )
        parts = urlsplit(target)
        if parts.path != self._path:
            cursor = parse_qs(parts.query).get("cursor")
            if not cursor:
                return self._refuse(
                    f"Braze's next-page link {self._next_reference[:200]!r} has another path and no cursor: "
                    "cannot continue paging."
                )
            base = urlsplit(request.url)
            target = base._replace(query=urlencode({"cursor": cursor[0]})).geturl()
        request.url = self.current_url = target
        request.params = None

    def _refuse(self, message: str) -> None:
        self.refused = UnsafeLinkError(message)
        self._has_next_page = False


def _braze_message(response: Response) -> str:
    try:
        body = json_body(response)
    except ValueError:
        return response.reason or ""
    if isinstance(body, dict):
        message = body.get("message")
        errors = body.get("errors")
        text = str(message) if message else ""
        if errors and isinstance(errors, list):
            text += (": " if text else "") + "; ".join(str(e) for e in errors[:3])
        return text[:300]
    return ""


def results_of(response: Response, integration_id: str | None) -> list[Any]:
    """The `results` list of a 2xx body; `ResponseShapeError` for a body of another shape."""
    path = urlsplit(response.url).path
    what = f"integration {integration_id}" if integration_id else "the integration list"
    try:
        body = json_body(response)
    except (ValueError, JSONDecodeError) as exc:
        raise ResponseShapeError(
            f"Braze sent a body that is not JSON for {what} at {path} (truncated or an error page, "
            "after retries): re-run later; nothing loaded twice.",
            response,
        ) from exc
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        got = type(body.get("results")).__name__ if isinstance(body, dict) else type(body).__name__
        raise ResponseShapeError(
            f"Braze's answer for {what} at {path} has no `results` list (got {got}): the rows of that page "
            "could not be read; the pages before it loaded. Re-run; report it if it persists.",
            response,
        )
    return body["results"]


class _Session(Session):
    """A requests session that reads the environment's proxy settings once per origin, not once per request.

    requests re-reads every `*_PROXY` variable (walking all of `os.environ`, twice) on each request: with a
    few hundred variables that was about a sixth of extraction CPU. Proxies still come from the environment
    (`HTTPS_PROXY`, `NO_PROXY`, `REQUESTS_CA_BUNDLE`), read when this session first talks to an origin.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str, int | None], dict[str, Any]] = {}

    def merge_environment_settings(  # type: ignore[override]
        self, url: str | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if proxies or stream is not None or verify is not None or cert is not None or not url:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = origin(url)
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, {}, None, None, None)
        return {**settings, "proxies": dict(settings["proxies"])}


class _RESTClient(RESTClient):
    """dlt's RESTClient reading a page's `results` from the body the response hook already parsed."""

    def extract_response(self, response: Response, data_selector: TJsonPath) -> list[Any]:
        # the response hook has checked the shape (`results_of`); dlt would parse the body again and
        # walk a jsonpath selector for what is one key
        return results_of(response, None)


def cursor_of(url: str | None) -> str | None:
    """The `cursor` query parameter of a page URL (None for the first page or no URL)."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("cursor")
    return values[0] if values else None


class Page(list):  # type: ignore[type-arg]
    """One page's `results`, with the cursor that fetched it, the one that fetches the next (None when the
    next link carries none) and whether there is a next page at all."""

    def __init__(
        self, items: Any, cursor: str | None = None, next_cursor: str | None = None, has_next: bool = False
    ) -> None:
        super().__init__(items)
        self.cursor = cursor
        self.next_cursor = next_cursor
        self.has_next = has_next


class BrazeClient:
    """One Braze workspace: every request goes through one throttle and one retrying session."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        limits_per_minute: dict[str, int] | None = None,
        budget: RetryBudget | None = None,
        stats: RunStats | None = None,
    ) -> None:
        self.stats = stats if stats is not None else RunStats()
        self.base_url = check_base_url(base_url)
        api_key = check_api_key(api_key)
        # keyed by the normalised URL, so every client of one workspace in this process shares it
        self.throttle = Throttle.shared(api_key, self.base_url, limits_per_minute=limits_per_minute)
        self.budget = budget or RetryBudget()
        self._auth = BearerTokenAuth(api_key)
        self._local = threading.local()

    @property
    def session(self) -> Session:
        """This thread's session: requests sessions are not shared across threads; the throttle is."""
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            session = _Session()
            adapter = RateLimitAdapter(self.throttle, on_wait=self.stats.waiting, pool_maxsize=4)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            # Every attempt, retries included, passes the throttle in the adapter.
            session.send = make_retrying(self.budget).wraps(session.send)  # type: ignore[method-assign]
            self._local.session = session
        return session

    def _rest_client(self) -> RESTClient:
        """This thread's RESTClient, made once: its constructor resolves dlt config (~15 ms a call)."""
        rest: RESTClient | None = getattr(self._local, "rest", None)
        if rest is None:
            rest = _RESTClient(
                base_url=self.base_url, auth=self._auth, session=self.session, data_selector="results"
            )
            self._local.rest = rest
        return rest

    def pages(self, path: str, integration_id: str | None = None, cursor: str | None = None) -> Iterator[Page]:
        """Each page's `results`, following `next` links; raises `BrazeApiError` on an error status.

        `cursor` starts at a page a previous run saved (Braze's cursor as it sent it); each `Page` says
        which cursor fetched it and which one fetches the next, so a backfill can stop and resume.
        """
        rest = self._rest_client()
        paginator = SameOriginLinkPaginator()
        pages = rest.paginate(
            path,
            params={"cursor": cursor} if cursor else None,
            paginator=paginator,
            hooks={"response": [self._make_checker(integration_id)]},
            allow_redirects=False,
            timeout=self.budget.timeout,
        )
        try:
            for page in pages:
                self.stats.page(integration_id)
                following = paginator.current_url if paginator.has_next_page else None
                yield Page(
                    page,
                    cursor=cursor_of(page.response.url),
                    next_cursor=cursor_of(following),
                    has_next=paginator.has_next_page,
                )
        except (ConnectionError, Timeout, ChunkedEncodingError) as error:
            # Spent the retry budget on the network: name the path, not the URL's host details.
            current = urlsplit(paginator.current_url or path).path
            raise BrazeApiError(None, current, f"network: {type(error).__name__}", integration_id) from error
        if paginator.refused is not None:
            raise paginator.refused

    def _make_checker(self, integration_id: str | None) -> Any:
        def check(response: Response, *args: Any, **kwargs: Any) -> None:
            self.stats.attempt(integration_id, response.status_code)  # every attempt: hooks run inside retries
            if response.status_code >= 300:
                raise BrazeApiError(
                    response.status_code,
                    urlsplit(response.url).path,
                    _braze_message(response),
                    integration_id,
                    response,
                )
            results_of(response, integration_id)

        return check
