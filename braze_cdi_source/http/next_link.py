"""Braze's next-page links, turned into requests that cannot leave base_url nor go round in circles: a link's
authority is never used, URL parsers disagree on odd URLs (docs/reliability.md, "Security guarantees")."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from requests import Request, Response

from ..errors import PagingLoopError, UnsafeLinkError
from ..terminal_text import shown
from .transport import origin

DEFAULT_MAX_PAGES = 50_000
"""Pages read for one resource in one run at most (a year of syncs every 5 minutes is about 10,500)."""


_UNSAFE_CHARACTER = re.compile(r"[^\x21-\x7e]|\\")  # a backslash, or anything but printable ASCII

_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)')
"""One link-value of a `Link` header: `<URI>` then its parameters, quoted strings kept whole."""
_PARAM = re.compile(r';\s*([^;,=\s]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*))?')


def next_links(header: str) -> list[str]:
    """The targets of every link whose relation list holds `next` (any case), in order (requests' `links` keys
    by the whole `rel` text: `rel="next prev"` was no next page, and a second `next` replaced the first)."""
    found = []
    for link in _LINK.finditer(header):
        for name, value in _PARAM.findall(link.group(2)):
            if name.lower() == "rel" and "next" in value.strip('"').lower().split():
                found.append(link.group(1))
    return found


class SameOriginLinkPaginator(HeaderLinkPaginator):
    """Braze's `Link` paging that only ever requests base_url + this resource's path + a cursor.

    A link to another origin, with unsafe characters, without a cursor, or with a cursor already in `seen` (the
    run's cursors, across slices) ends paging before any request; `refused` holds the error for the caller to
    raise once the current page is handed over (the rows read so far load). After each page, `cursor` is the
    one that fetched it (None: the newest) and `next_cursor` the next page's.
    """

    def __init__(
        self,
        base_url: str,
        max_pages: int = DEFAULT_MAX_PAGES,
        redact: Callable[[str], str] = str,
        seen: set[str] | None = None,
    ) -> None:
        super().__init__(links_next_key="next")
        self._base = base_url.rstrip("/")
        self._origin = origin(self._base)
        self._path = ""
        self._seen: set[str] = seen if seen is not None else set()
        self._max_pages = max(1, int(max_pages))
        self._redact = redact
        self.refused: UnsafeLinkError | None = None
        self.cursor: str | None = None
        self.next_cursor: str | None = None

    def init_request(self, request: Request) -> None:
        super().init_request(request)
        parts = urlsplit(request.url)
        self._path = parts.path
        params = request.params if isinstance(request.params, dict) else {}
        self.next_cursor = str(params.get("cursor") or parse_qs(parts.query).get("cursor", [""])[0]) or None
        self._seen.add(self.next_cursor or "")

    def update_state(self, response: Response, data: Any = None) -> None:
        links = next_links(response.headers.get("Link") or "")
        self._next_reference = links[0] if links else None
        if len(set(links)) > 1:
            self._refuse(
                f"Braze's Link header names {len(set(links))} different next pages ({shown(', '.join(links), 120)}): "
                "cannot tell which one continues; stopped paging, the pages before it loaded."
            )

    def update_request(self, request: Request) -> None:
        self.cursor, self.next_cursor = self.next_cursor, None
        link = self._next_reference
        if link is None:  # no next page; an empty link ("<>") is a next page without a cursor: refused below
            return
        cursor = self._cursor_of(link)
        if cursor is None:
            return
        if cursor in self._seen:
            return self._refuse(
                f"Braze's next-page link repeats cursor {shown(cursor, 120)!r}, already read in this run (a loop): "
                f"stopped paging after {len(self._seen)} page(s); the rows read so far load. "
                "Re-run; report it to Braze if it persists.", PagingLoopError,
            )
        if len(self._seen) >= self._max_pages:
            return self._refuse(
                f"more than max_pages = {self._max_pages} pages for one resource in one run: stopped paging; "
                "the rows read so far load and the next run goes on. Raise max_pages for a longer history.",
                PagingLoopError,
            )
        self._seen.add(cursor)
        request.url = f"{self._base}{self._path}?{urlencode({'cursor': cursor})}"
        request.params = None
        self.next_cursor = cursor

    def _cursor_of(self, link: str) -> str | None:
        """The cursor the next request carries; None (and `refused` set) for a link that cannot be used."""
        if _UNSAFE_CHARACTER.search(link):
            return self._refuse(
                f"Braze's next-page link {shown(link, 120)!r} contains a backslash, whitespace, a control or non-ASCII "
                "character: refusing to follow it. Check base_url and any proxy in between; the pages before it "
                "loaded."
            )
        try:
            parts = urlsplit(link)
            target = origin(link) if parts.scheme or parts.netloc else self._origin
        except ValueError:
            return self._refuse(f"Braze's next-page link {shown(link, 120)!r} is not a valid URL: cannot go on paging.")
        if target != self._origin or parts.username is not None or parts.password is not None:
            scheme, host, port = target
            return self._refuse(
                f"Braze's next-page link points to {shown(f'{scheme}://{host}:{port}', 120)}, not to the configured "
                "instance: refusing to send the API key there. Check base_url; report it if it persists."
            )
        cursors = parse_qs(parts.query).get("cursor")
        if not cursors or not cursors[0]:
            return self._refuse(f"Braze's next-page link {shown(link, 120)!r} has no cursor: cannot continue paging.")
        if self._redact(cursors[0]) != cursors[0]:
            return self._refuse(
                f"Braze's next-page link {shown(link, 120)!r} carries the API key (a proxy echoing it?): refusing to "
                "follow it or keep it as a resume point. Check any proxy in between; the pages before it loaded."
            )
        return cursors[0]

    def _refuse(self, message: str, kind: type[UnsafeLinkError] = UnsafeLinkError) -> None:
        """End paging; `refused` holds the error, the key redacted from what Braze's link put in it."""
        self.refused = kind(self._redact(message))
        self._has_next_page = False

