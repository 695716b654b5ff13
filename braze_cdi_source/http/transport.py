"""The transport every Braze request goes through: only to base_url, in bounded time, with a bounded body.

requests and urllib3 bound each socket read, not a request, and `Response.content` inflates a gzip body of any
size. `BoundedAdapter` checks the origin with urllib3's own parser before anything is sent, gives each request a
total deadline that every socket read obeys (and a stop, Ctrl-C), reads the body through urllib3's bounded
streaming decoder against a size cap, and passes each attempt through the workspace's throttle.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError, ConnectionError, Timeout
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection, port_by_scheme
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import LocationParseError, NameResolutionError, NewConnectionError
from urllib3.util import parse_url

from ..errors import BaseUrlUnreachableError, ResponseTooLargeError, UnsafeLinkError, find_cause
from ..settings import JOB_SYNC_STATUS_ENDPOINT, LIST_ENDPOINT, endpoint_of
from . import cancel

if TYPE_CHECKING:
    from .throttle import Throttle

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""A body past this (after decompression) is not a Braze page."""

_CHUNK = 64 * 1024
_POLL_SECONDS = 0.25
"""Longest a socket read blocks before looking at the deadline and for a stop again."""


class RequestDeadlineExceeded(Timeout):  # noqa: N818 - reads as what happened
    """A request took longer than its total deadline (connect, headers and body together)."""


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, host and effective port of `url` as urllib3 parses it: the parser that connects."""
    parts = parse_url(url)
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.host or "").lower().rstrip("."), parts.port or port_by_scheme.get(scheme, -1)


_current = threading.local()
"""The deadline (monotonic seconds) of the request this thread is sending."""


class _DeadlineSocket:
    """A socket whose reads wait at most until the request's deadline, in short waits that notice a stop."""

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **kwargs: Any) -> Any:
        self._sock._io_refs += 1  # closed with the real socket's own reference count, as socket.makefile does
        return io.BufferedReader(socket.SocketIO(self, "rb"), buffering or io.DEFAULT_BUFFER_SIZE)  # type: ignore[arg-type]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        while True:
            cancel.check()
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request deadline passed")
            self._sock.settimeout(min(left, _POLL_SECONDS))
            try:
                return int(self._sock.recv_into(buffer, nbytes, flags))
            except TimeoutError:
                continue


class _ReadsWithinDeadline:
    """A connection (mixed into urllib3's two) that reads its answer within the current request's deadline."""

    sock: Any

    def getresponse(self) -> Any:
        deadline: float | None = getattr(_current, "deadline", None)
        real = self.sock
        if deadline is not None and real is not None and hasattr(real, "_io_refs"):
            self.sock = _DeadlineSocket(real, deadline)
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            if isinstance(self.sock, _DeadlineSocket):  # kept alive: the next request gets its own deadline
                self.sock = real


class _Pool(HTTPConnectionPool):
    ConnectionCls = type("_DeadlineConnection", (_ReadsWithinDeadline, HTTPConnection), {})


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("_DeadlineHTTPSConnection", (_ReadsWithinDeadline, HTTPSConnection), {})


_POOLS = {"http": _Pool, "https": _HTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """A requests transport bound to one origin, with a total deadline and a body cap per request; with a
    `throttle`, every attempt waits for the workspace's rate-limit window first."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        reached: threading.Event | None = None,
        throttle: Throttle | None = None,
        on_wait: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.origin = origin(base_url)
        self.timeout = float(timeout)
        self.max_body_bytes = int(max_body_bytes)
        self.reached = reached if reached is not None else threading.Event()
        """Set once the host answered: after that, network errors are transient, not configuration."""
        self.throttle, self.on_wait = throttle, on_wait

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def check_origin(self, request: PreparedRequest) -> None:
        """Refuse, before any byte is sent, a request that urllib3 would send elsewhere than base_url."""
        try:
            target = origin(request.url or "")
            auth = parse_url(request.url or "").auth
        except (LocationParseError, ValueError):
            raise UnsafeLinkError("refusing to send a request to a URL that does not parse") from None
        if target != self.origin or auth is not None:
            scheme, host, port = target
            raise UnsafeLinkError(
                f"refusing to send the API key to {scheme}://{host}:{port}: only the configured base_url "
                f"{self.origin[0]}://{self.origin[1]}:{self.origin[2]} gets requests."
            )

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        self.check_origin(request)  # before waiting for the throttle: a refused request costs nothing
        kind = endpoint_of(request.path_url)[0]
        kind = kind if kind == JOB_SYNC_STATUS_ENDPOINT else LIST_ENDPOINT  # any other path counts as the list
        if self.throttle is not None:
            self.throttle.acquire(kind, self.on_wait)
        cancel.check()
        kwargs.update(stream=True, timeout=self.timeout)
        deadline = _current.deadline = time.monotonic() + self.timeout
        try:
            try:
                response = super().send(request, *args, **kwargs)
            except ConnectionError as error:
                self._raise_unreachable(error)
                raise
            self.reached.set()
            try:
                self._read_body(response)
            except BaseException:
                response.close()
                raise
        except (ConnectionError, Timeout, ChunkedEncodingError) as error:
            cancel.check()
            if time.monotonic() >= deadline:
                raise RequestDeadlineExceeded(
                    f"no complete answer within request_timeout = {self.timeout:g} s"
                ) from error
            raise
        finally:
            _current.deadline = None
        if self.throttle is not None:
            self.throttle.observe(kind, response)
        return response

    def _raise_unreachable(self, error: ConnectionError) -> None:
        """A first request whose host does not resolve or refuses the connection: base_url is wrong."""
        if self.reached.is_set():
            return
        if find_cause(error, NameResolutionError):
            reason = "does not resolve (DNS)"
        elif find_cause(error, ConnectionRefusedError) or "refused" in str(find_cause(error, NewConnectionError)):
            reason = "refuses connections"
        else:
            return
        raise BaseUrlUnreachableError(
            f"base_url host {self.origin[1]}:{self.origin[2]} {reason}: check base_url (your instance's REST "
            "endpoint, e.g. https://rest.iad-03.braze.com) and the network or proxy settings."
        ) from None

    def _read_body(self, response: Response) -> None:
        """Read and decode the whole body within the deadline and the size cap; keep it on `response`."""
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            # urllib3 decodes at most _CHUNK bytes a step: a gzip bomb never inflates past that
            for piece in response.raw.stream(_CHUNK, decode_content=True):
                size += len(piece)
                if size > limit:
                    raise ResponseTooLargeError(
                        f"Braze's answer at {parse_url(response.url).path} is larger than max_response_bytes "
                        f"= {limit} bytes (after decompression): stopped reading it. A Braze page is a few "
                        "kilobytes: check base_url and any proxy in between."
                    )
                chunks.append(piece)
        except (Urllib3HTTPError, OSError, RecursionError) as error:  # cut, timed out or undecodable: retryable
            raise ChunkedEncodingError(error, request=response.request) from error
        response._content = b"".join(chunks)
        response._content_consumed = True
        response.raw.release_conn()
