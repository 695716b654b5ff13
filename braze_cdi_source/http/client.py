"""The Braze HTTP client: dlt's RESTClient with Bearer auth, retries, the shared throttle and safe paging.

On top of dlt: checked configuration, error statuses turned into `BrazeApiError` with a hint, and bodies
checked against the documented shape.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Generator
from typing import Any
from urllib.parse import quote, urlsplit

from dlt.common.jsonpath import TJsonPath
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from requests import Response, Session
from requests.exceptions import ChunkedEncodingError, ConnectionError, JSONDecodeError, Timeout

from ..errors import (
    MISSING_API_KEY,
    MISSING_BASE_URL,
    BrazeApiError,
    ConfigurationError,
    Redactor,
    ResponseShapeError,
)
from ..run_stats import RunStats
from ..settings import JOB_SYNC_STATUS_PATH
from .next_link import DEFAULT_MAX_PAGES, SameOriginLinkPaginator
from .retries import RetryBudget, json_body, make_retrying
from .throttle import ASKED_WAIT, DEFAULT_MAX_RATE_LIMIT_WAIT, Throttle
from .transport import DEFAULT_MAX_BODY_BYTES, BoundedAdapter, RequestDeadlineExceeded, origin

__all__ = ["BrazeClient", "SameOriginLinkPaginator", "job_sync_status_path", "origin", "results_of"]

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
    """The normalised REST endpoint; anything but a Braze instance over https (http: loopback only) is refused."""
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
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigurationError(
            f"base_url {base_url.strip()!r} has a path ({parts.path or '?' + parts.query}): the API's paths start at "
            f"the instance's root, so give only the instance, e.g. {parts.scheme}://{parts.netloc}."
        )
    return f"{parts.scheme}://{parts.netloc}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def job_sync_status_path(integration_id: str) -> str:
    """One integration's job sync status path; its id (untrusted) is one path segment (dot segments too)."""
    segment = quote(str(integration_id), safe="")
    return JOB_SYNC_STATUS_PATH.format(integration_id=segment.replace(".", "%2E") if set(segment) <= {"."} else segment)


def _braze_message(response: Response) -> str:
    asked = getattr(response, ASKED_WAIT, None)
    if asked is not None:
        header, value, seconds = asked
        return (
            f"Braze asked to wait {seconds:.0f} s ({header}: {value}), not a per-minute rate-limit window "
            "(max_rate_limit_wait caps any wait); not waiting"
        )
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location") or ""
        try:
            host = urlsplit(location).hostname or ""
        except ValueError:
            host = ""
        host = "".join(c for c in host if c.isalnum() or c in ".-:")[:100]
        return f"redirected to host {host}" if host else "redirected"
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
    """The `results` list of a 2xx body; `ResponseShapeError` for another shape."""
    path = urlsplit(response.url).path
    what = f"integration {integration_id}" if integration_id else "the integration list"
    try:
        body = json_body(response)
    except (ValueError, JSONDecodeError) as exc:
        raise ResponseShapeError(
            f"Braze sent a body that is not JSON for {what} at {path} (truncated or an error page, "
            "after retries): re-run later; nothing loaded twice.",
            response=response,
        ) from exc
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        got = type(body.get("results")).__name__ if isinstance(body, dict) else type(body).__name__
        raise ResponseShapeError(
            f"Braze's answer for {what} at {path} has no `results` list (got {got}): the rows of that page "
            "could not be read; the pages before it loaded. Re-run; report it if it persists.",
            response=response,
        )
    return body["results"]


class _RESTClient(RESTClient):
    """dlt's RESTClient taking `results` from the body the response hook already parsed and checked."""

    def extract_response(self, response: Response, data_selector: TJsonPath) -> list[Any]:
        return results_of(response, None)


class Page(list):  # type: ignore[type-arg]
    """One page's `results`, the cursor that fetched it and the next one, whether a next page exists, its size."""

    def __init__(self, items: Any, cursor: str | None, next_cursor: str | None, has_next: bool, size: int) -> None:
        super().__init__(items)
        self.cursor, self.next_cursor, self.has_next, self.size = cursor, next_cursor, has_next, size


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
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self.stats = stats if stats is not None else RunStats()
        self.base_url = check_base_url(base_url)
        api_key = check_api_key(api_key)
        # keyed by the normalised URL, so every client of one workspace in this process shares it
        self.throttle = Throttle.shared(
            api_key, self.base_url, limits_per_minute=limits_per_minute, max_wait=max_rate_limit_wait
        )
        self.budget = budget or RetryBudget()
        self.max_body_bytes = int(max_body_bytes)
        self.max_pages = int(max_pages)
        self._reached = threading.Event()  # the host answered once: later network errors are transient
        self._auth = BearerTokenAuth(api_key)
        self.redact = Redactor(api_key)  # applied to all Braze says before it is logged, stored or kept
        self._local = threading.local()

    def _rest_client(self) -> RESTClient:
        """This thread's RESTClient over its own session (sessions are not thread-safe; the throttle is shared)."""
        rest: RESTClient | None = getattr(self._local, "rest", None)
        if rest is None:
            session = Session()
            adapter = BoundedAdapter(
                self.base_url,
                throttle=self.throttle,
                on_wait=self.stats.waiting,
                timeout=self.budget.timeout,
                max_body_bytes=self.max_body_bytes,
                reached=self._reached,
                pool_maxsize=4,
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.send = make_retrying(self.budget).wraps(session.send)  # type: ignore[method-assign]
            rest = _RESTClient(base_url=self.base_url, auth=self._auth, session=session, data_selector="results")
            self._local.rest = rest
        return rest

    def pages(
        self, path: str, integration_id: str | None = None, cursor: str | None = None, seen: set[str] | None = None
    ) -> Generator[Page, None, None]:
        """Each page, following `next` links, from `cursor` (a saved resume point) on; `BrazeApiError` on an error
        status. `seen`: the cursors this run requested already (loop detection and `max_pages` across calls)."""
        rest = self._rest_client()
        paginator = SameOriginLinkPaginator(self.base_url, self.max_pages, self.redact, seen)
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
                size = len(page.response.content or b"")
                yield Page(page, paginator.cursor, paginator.next_cursor, paginator.has_next_page, size)
        except (ConnectionError, Timeout, ChunkedEncodingError) as error:
            what = str(error) if isinstance(error, RequestDeadlineExceeded) else type(error).__name__
            raise BrazeApiError(None, path, f"network: {what}", integration_id) from error
        if paginator.refused is not None:
            raise paginator.refused

    def _make_checker(self, integration_id: str | None) -> Any:
        def check(response: Response, *args: Any, **kwargs: Any) -> None:
            self.stats.attempt(integration_id, response.status_code)  # every attempt: hooks run inside retries
            if response.status_code >= 300:
                raise BrazeApiError(
                    response.status_code,
                    urlsplit(response.url).path,
                    self.redact(_braze_message(response)),
                    integration_id,
                    response,
                )
            results_of(response, integration_id)

        return check
