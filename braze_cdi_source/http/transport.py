"""The transport every Braze request goes through: only to base_url, in bounded time, with a bounded body.

requests and urllib3 bound each socket read, not a request: a server that sends one byte every few seconds
keeps a request alive forever, and `Response.content` inflates a gzip body of any size. `BoundedAdapter`:

- refuses (before anything is sent) a request whose URL, as urllib3 parses it to connect, is not the
  configured scheme, host and port, or carries userinfo: the key goes to base_url's host:port or nowhere;
- gives each request a total deadline (connect, headers and body): a watchdog shuts the socket down when it
  passes, and a stop request (Ctrl-C) does the same at once;
- reads the body itself, decompressing gzip / deflate with a bounded output size, and stops as soon as
  the decompressed body passes `max_body_bytes`;
- turns a first request that cannot resolve or connect to the host into a `BaseUrlUnreachableError` at
  once (a wrong base_url is a configuration error, not something to retry for minutes).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import zlib
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError, ConnectionError, ReadTimeout, Timeout
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    DecodeError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.util import parse_url

from ..errors import BaseUrlUnreachableError, ResponseTooLargeError, UnsafeLinkError
from . import cancel

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""A Braze page of 10 syncs is about 3 KB; a body past 4 MiB (after decompression) is not a Braze page."""

_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RequestDeadlineExceeded(Timeout):  # noqa: N818 - reads as what happened
    """A request took longer than its total deadline (connect, headers and body together)."""


def url_origin(url: str) -> tuple[str, str, int]:
    """Scheme, host and effective port of `url` as urllib3 parses it: the parser that connects."""
    parts = parse_url(url)
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.host or "").lower().rstrip("."), parts.port or _DEFAULT_PORTS.get(scheme, -1)


class _Watch:
    """One request in flight: the connection it uses, shut down when the deadline passes or a stop comes."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sock: Any = None
        self.fired = False
        self.done = False
        """The request ended: the watchdog drops this watch instead of firing it."""
        self._lock = threading.Lock()

    def attach(self, sock: Any) -> None:
        """The socket carrying the request (http.client forgets it once a `Connection: close` answer starts)."""
        if sock is None:
            return
        with self._lock:
            self.sock = sock
            fired = self.fired
        if fired:
            self.fire()

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that fires the watches whose deadline passed: a `threading.Timer` per request started
    (and joined the start of) a thread for each of a backfill's thousands of requests, about a tenth of the
    extraction's CPU. Deadlines wait in a heap; a finished request's entry is dropped when its time comes."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._sleeps_until: float | None = None
        """When the thread wakes next by itself (None: only when notified)."""

    def watch(self, watch: _Watch) -> None:
        """Fire `watch` at its deadline unless it is `done` by then."""
        with self._wake:
            while self._heap and self._heap[0][2].done:  # requests end about in the order they started
                heapq.heappop(self._heap)
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="braze-cdi-deadlines", daemon=True)
                self._thread.start()
            elif self._sleeps_until is None or watch.deadline < self._sleeps_until:
                # waking the thread for every request was a thread switch per request: only when it would
                # sleep past this deadline (deadlines mostly grow, so it wakes about once per request_timeout)
                self._wake.notify()

    def _run(self) -> None:
        while True:
            due: list[_Watch] = []
            with self._wake:
                now = time.monotonic()
                while self._heap and (self._heap[0][0] <= now or self._heap[0][2].done):
                    watch = heapq.heappop(self._heap)[2]
                    if not watch.done:
                        due.append(watch)
                if not due:
                    self._sleeps_until = self._heap[0][0] if self._heap else None
                    self._wake.wait(self._sleeps_until - now if self._sleeps_until is not None else None)
                    self._sleeps_until = now
            for watch in due:
                watch.fire()


_WATCHDOG = _Watchdog()

_current = threading.local()
"""The `_Watch` of the request this thread is sending, read by the connection pools below."""


def _watch_socket(sock: Any) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(sock)


class _WatchedConnection(HTTPConnection):
    """A connection that hands its new socket to the current request's watch."""

    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedPool(HTTPConnectionPool):
    """A pool that tells the current request's watch which socket carries it (a kept-alive one too)."""

    ConnectionCls = _WatchedConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        _watch_socket(getattr(conn, "sock", None))
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        _watch_socket(getattr(conn, "sock", None))
        return super()._make_request(conn, *args, **kwargs)


_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """A requests transport bound to one origin, with a total deadline and a body-size cap per request."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        reached: threading.Event | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.origin = url_origin(base_url)
        self.timeout = float(timeout)
        self.max_body_bytes = int(max_body_bytes)
        self._pool_keys: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
        self.reached = reached if reached is not None else threading.Event()
        """Set once the host answered anything: after that, network errors are transient, not configuration."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # requests stats the CA bundle path (`os.path.isdir`) on every request to pick a pool: once per origin
        # and TLS settings here (the request's origin is base_url's, `check_origin` made sure)
        key = (self.origin, verify if isinstance(verify, (bool, str)) else repr(verify), repr(cert))
        cached = self._pool_keys.get(key)
        if cached is None:
            cached = self._pool_keys[key] = super().build_connection_pool_key_attributes(request, verify, cert)
        return dict(cached[0]), dict(cached[1])

    def check_origin(self, request: PreparedRequest) -> None:
        """Refuse, before any byte is sent, a request that urllib3 would send elsewhere than base_url."""
        url = request.url or ""
        try:
            parts = parse_url(url)
            scheme = (parts.scheme or "").lower()
            target = (scheme, (parts.host or "").lower().rstrip("."), parts.port or _DEFAULT_PORTS.get(scheme, -1))
        except (LocationParseError, ValueError):
            raise UnsafeLinkError("refusing to send a request to a URL that does not parse") from None
        if target != self.origin or parts.auth is not None:
            scheme, host, port = target
            raise UnsafeLinkError(
                f"refusing to send the API key to {scheme}://{host}:{port}: only the configured base_url "
                f"{self.origin[0]}://{self.origin[1]}:{self.origin[2]} gets requests."
            )

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        self.check_origin(request)
        return self.send_checked(request, *args, **kwargs)

    def send_checked(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        """`send` for a request whose origin `check_origin` has just passed (the check is not repeated)."""
        cancel.check()
        # Only encodings this adapter can decompress with a bounded output.
        request.headers["Accept-Encoding"] = "gzip, deflate"
        kwargs["stream"] = True
        deadline = time.monotonic() + self.timeout
        watch = _Watch(deadline)
        forget = cancel.on_stop(watch.fire)
        _current.watch = watch
        _WATCHDOG.watch(watch)
        try:
            kwargs["timeout"] = self.timeout
            try:
                response = super().send(request, *args, **kwargs)
            except ConnectionError as error:
                self._raise_unreachable(error)
                raise
            finally:
                _current.watch = None
            self.reached.set()
            try:
                self._read_body(response, watch)
            except BaseException:
                response.close()
                raise
            return response
        except (ConnectionError, Timeout, ChunkedEncodingError) as error:
            cancel.check()
            if watch.fired:
                raise self._late() from error
            raise
        finally:
            watch.done = True
            forget()

    def _late(self) -> RequestDeadlineExceeded:
        return RequestDeadlineExceeded(f"no complete answer within request_timeout = {self.timeout:g} s")

    def _cut(self) -> Exception:
        """Why a fired watch shut the socket mid-body: a stop (Ctrl-C) interrupts the run, not this request's
        deadline, which would be retried or recorded as the integration's failure."""
        if cancel.stopping():
            return cancel.RunInterrupted("the run was interrupted")
        return self._late()

    def _raise_unreachable(self, error: ConnectionError) -> None:
        """A first request whose host does not resolve or refuses the connection: base_url is wrong."""
        if self.reached.is_set():
            return
        cause: BaseException | None = error
        reason = None
        for _ in range(20):  # a chain of causes, never a cycle for long
            if cause is None or reason is not None:
                break
            if isinstance(cause, NameResolutionError):
                reason = "does not resolve (DNS)"
            elif isinstance(cause, ConnectionRefusedError) or (
                isinstance(cause, NewConnectionError) and "refused" in str(cause).lower()
            ):
                reason = "refuses connections"
            reason_of = getattr(cause, "reason", None)  # urllib3 keeps the cause there; ssl puts a str there
            cause = reason_of if isinstance(reason_of, BaseException) else (cause.__cause__ or cause.__context__)
        if reason is not None:
            scheme, host, port = self.origin
            raise BaseUrlUnreachableError(
                f"base_url host {host}:{port} {reason}: check base_url (your instance's REST endpoint, "
                "e.g. https://rest.iad-03.braze.com) and the network or proxy settings."
            ) from None

    def _read_body(self, response: Response, watch: _Watch) -> None:
        """Read and decompress the whole body within the deadline and the size cap; keep it on `response`."""
        raw = response.raw
        encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        decoder = _Decoder(encoding)
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() >= watch.deadline:
                    watch.fire()
                    raise self._late()
                cancel.check()
                data = raw.read(_CHUNK, decode_content=False)
                if not data:
                    if watch.fired:  # the watchdog or a stop shut the socket: a cut body, not the end of one
                        raise self._cut()
                    break
                for piece in decoder.feed(data, limit - size + 1):
                    size += len(piece)
                    if size > limit:
                        raise ResponseTooLargeError(
                            f"Braze's answer at {parse_url(response.url).path} is larger than max_response_bytes "
                            f"= {limit} bytes (after decompression): stopped reading it. A Braze page is about "
                            "3 KB: check base_url and any proxy in between."
                        )
                    chunks.append(piece)
        except ReadTimeoutError as error:
            raise ReadTimeout(error, request=response.request) from error
        except (ProtocolError, DecodeError, zlib.error, OSError) as error:
            if watch.fired:
                raise self._cut() from error
            raise ChunkedEncodingError(error, request=response.request) from error
        except Urllib3HTTPError as error:
            raise ConnectionError(error, request=response.request) from error
        response._content = b"".join(chunks)
        response._content_consumed = True
        raw.release_conn()


class _Decoder:
    """gzip / deflate / identity with a bounded output per call (a gzip bomb never inflates past the cap)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._first = True
        if encoding in ("identity", ""):
            self._zlib: Any = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise DecodeError(f"unsupported Content-Encoding {encoding[:40]!r}")

    def feed(self, data: bytes, max_out: int) -> list[bytes]:
        """Decompressed pieces of `data`, stopping once `max_out` bytes have come out."""
        if self._zlib is None:
            return [data]
        if self._first and self.encoding == "deflate":
            self._first = False
            try:
                probe = zlib.decompressobj()
                out = probe.decompress(data, max(1, max_out))
                self._zlib = probe
                return [out, *self._drain(max_out - len(out))]
            except zlib.error:  # raw deflate without the zlib header, as some servers send it
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        pieces: list[bytes] = []
        out = self._zlib.decompress(data, max(1, max_out))
        pieces.append(out)
        pieces += self._drain(max_out - len(out))
        if self._zlib.eof and self._zlib.unused_data and self.encoding != "deflate":
            # another gzip member follows
            rest = self._zlib.unused_data
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            pieces += self.feed(rest, max_out - sum(len(p) for p in pieces))
        return pieces

    def _drain(self, max_out: int) -> list[bytes]:
        pieces = []
        while self._zlib.unconsumed_tail and max_out > 0:
            out = self._zlib.decompress(self._zlib.unconsumed_tail, max_out)
            pieces.append(out)
            max_out -= len(out)
        return pieces
