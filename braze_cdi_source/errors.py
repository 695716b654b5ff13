"""Errors the connector raises (each says what failed and what to do, never holding the API key), the one
walker of exception chains (dlt wraps our errors) and the one wording of the configuration messages."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TypeVar
from urllib.parse import quote, quote_plus

from requests import HTTPError, Response

from .settings import JOB_STATUS_PERMISSION, LIST_ENDPOINT, LIST_PERMISSION, endpoint_of


class BrazeCdiError(Exception):
    """Base class: the message is one plain sentence fit for a terminal or a log."""


class ConfigurationError(BrazeCdiError):
    """Missing or malformed configuration (key, base URL, dates)."""


MISSING_API_KEY = (
    "No Braze API key: set SOURCES__BRAZE_CDI__API_KEY, or api_key under [sources.braze_cdi] "
    "in .dlt/secrets.toml (see .dlt/secrets.toml.example)."
)
MISSING_BASE_URL = (
    "No Braze base URL: set SOURCES__BRAZE_CDI__BASE_URL, or base_url under [sources.braze_cdi] "
    "in .dlt/config.toml (your instance's REST endpoint, e.g. https://rest.iad-03.braze.com)."
)


def missing_config_message(fields: set[str]) -> str:
    """What to set when configuration `fields` (dlt's names: api_key, base_url, ...) are missing."""
    if "api_key" in fields:
        return MISSING_API_KEY
    if "base_url" in fields:
        return MISSING_BASE_URL
    return f"Missing configuration: {', '.join(sorted(fields))} under [sources.braze_cdi]."


def missing_destination_message(config: object) -> str | None:
    """What to set when a destination's settings (dlt's configuration `config`) are missing; None if not one's."""
    name = getattr(config, "destination_name", None) or getattr(config, "destination_type", None)
    if not name:
        return None
    return (
        f"No credentials for destination {name}: set [destination.{name}.credentials] in .dlt/secrets.toml "
        f'(e.g. credentials = "postgresql://user:password@host:5432/database" for postgres), or the '
        f"environment variable DESTINATION__{str(name).upper()}__CREDENTIALS."
    )


class Redactor:
    """Removes the API key from text a server or proxy sent back: as is, percent-encoded, and inside base64 at
    any alignment (both alphabets)."""

    def __init__(self, secret: str) -> None:
        raw = secret.encode()
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        for offset in range(3):  # the characters of a base64 text that only the key's bits decide
            start, end = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                forms.add(encode(b"\0" * offset + raw).decode()[start:end])
        self.forms = sorted((f for f in forms if len(f) >= 8), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, "[API key]")
        return text


class BaseUrlUnreachableError(ConfigurationError):
    """The first request to base_url's host could not resolve or connect."""


class UnsafeLinkError(BrazeCdiError):
    """A pagination link the client refuses to follow (another origin, or unusable)."""


class PagingLoopError(UnsafeLinkError):
    """Braze's next-page links came back to a page already read, or passed the page limit."""


class ResponseTooLargeError(BrazeCdiError):
    """A response body larger than the configured cap (after decompression)."""


class ResponseShapeError(BrazeCdiError, HTTPError):
    """A 2xx body that is not the documented JSON shape (an `HTTPError`: the retry policy sees the response)."""


class BrazeApiError(BrazeCdiError, HTTPError):
    """Braze answered with an error status (an `HTTPError`: the retry policy sees each attempt's status)."""

    def __init__(
        self,
        status: int | None,
        path: str,
        braze_message: str = "",
        integration_id: str | None = None,
        response: Response | None = None,
    ) -> None:
        self.status = status
        self.path = path
        self.braze_message = braze_message
        self.integration_id = integration_id
        what = f"integration {integration_id}" if integration_id else "the integration list"
        said = f" ({braze_message})" if braze_message else ""
        answered = status if status is not None else "no response"
        advice = hint(status, braze_message, path)
        super().__init__(f"Braze answered {answered}{said} for {what} at {path}: {advice}", response=response)


_HINTS = (  # (status, words in Braze's message, what to do): the first that matches
    (401, "", "the API key is not valid for this instance: check the key (no quotes or spaces) and that base_url is "
     "your workspace's REST endpoint."),
    (403, "access denied", "the API key lacks the permission {permission}: add it to the key in Braze's dashboard."),
    (403, "", "Braze refused the request for this account or plan: ask your Braze admin to enable CDI."),
    (400, "integration", "this integration does not exist in the workspace: check the integration id."),
    (400, "cursor", "Braze rejected a pagination cursor: re-run; if it persists, report it with this path."),
    (404, "", "the URL does not exist: check base_url (e.g. https://rest.iad-03.braze.com, no path)."),
    (429, "max_rate_limit_wait", "the integration stopped here; the next run goes on (check the clock of this "
     "machine and any proxy)."),
    (429, "", "rate limited past the retry budget: re-run later or raise the retry budget."),
)


def hint(status: int | None, braze_message: str, path: str) -> str:
    """What the user should do about an error status, in Braze's own terms."""
    permission = LIST_PERMISSION if endpoint_of(path)[0] == LIST_ENDPOINT else JOB_STATUS_PERMISSION
    for code, words, advice in _HINTS:
        if status == code and words in braze_message.lower():
            return advice.format(permission=permission)
    if status is not None and 300 <= status < 400:
        return (
            "redirects are not followed (the API key stays on base_url): check base_url is your instance's "
            "REST endpoint, e.g. https://rest.iad-03.braze.com, and any proxy in between."
        )
    if status is None or status >= 500:
        return "Braze or the network failed past the retry budget: re-run later; nothing loaded twice."
    return "see Braze's API error reference for this status."


_E = TypeVar("_E", bound=BaseException)


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and what it wraps, outermost first, each once: dlt's `exception` attribute, else `__cause__`,
    else `__context__`."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        inner = getattr(current, "exception", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__ or current.__context__


def find_cause(error: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of `kind` in `error`'s chain, if any."""
    return next((e for e in exception_chain(error) if isinstance(e, kind)), None)


def root_cause(error: BaseException) -> BaseException:
    """What to tell the user about `error`: our own error inside dlt's wrappers, else the innermost exception."""
    innermost = error
    for current in exception_chain(error):
        if isinstance(current, BrazeCdiError):
            return current
        innermost = current
    return innermost
