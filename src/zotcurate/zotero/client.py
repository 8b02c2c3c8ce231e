"""The Zotero adapter: the only module that imports pyzotero (and talks to Zotero).

pyzotero is the client. Where it falls short for a sync engine, this module wraps it
rather than scattering raw HTTP:

- a transport under pyzotero's HTTP client keeps at most 4 requests in flight (the
  Zotero developers' request), honours ``Backoff`` and ``Retry-After``, retries 429,
  500, 502, 503 and 504 with bounded exponential waits, says that it is waiting, and
  counts requests and the ``Last-Modified-Version`` of every response;
- against a hostile or broken server, the same transport follows redirects itself so the
  API key never leaves the API's origin, gives every request a total deadline, caps each
  wait and all waits of a run, and refuses answers that are not JSON; the ``expect_*``
  functions at the end refuse JSON of the wrong shape before it reaches the store;
- ``If-Modified-Since-Version`` (pyzotero has no 304 handling) and ``/keys/current``
  are sent through the same HTTP client;
- objects are fetched by key in batches of 50 (``get_subset`` makes one request per key),
  or, for a first sync, page by page (100 per page, the API's maximum) with several pages
  in flight (``everything()`` follows ``Link`` one page at a time and keeps every page in
  memory);
- writes go through ``create_items`` per batch so the per-object ``failed`` map is kept
  (``update_items`` drops it).
"""

from __future__ import annotations

import json
import math
import os
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpcore2
import httpx2
from pyzotero import zotero as pyzotero
from pyzotero import zotero_errors as pz_errors

from zotcurate.config import DEFAULT_API_DEADLINE, DEFAULT_API_MAX_WAIT, DEFAULT_API_WAIT_BUDGET, Settings
from zotcurate.errors import AuthError, ConflictError, LibraryKindError, NetworkError, NotFoundError
from zotcurate.model import LibraryRef
from zotcurate.output import ProgressReporter

MAX_IN_FLIGHT = 4
BATCH = 50  # keys per itemKey/collectionKey request, the API's maximum
PAGE = 100  # objects per page of a listing, the API's maximum
# Requests submitted but not yet consumed: MAX_IN_FLIGHT on the wire and one answer waiting for
# the caller to store it. A deeper window bought no speed on 20,000 items and cost memory.
WINDOW = MAX_IN_FLIGHT + 1
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_REDIRECTS = 10
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_BODY = 64 * 1024 * 1024  # no API answer is near this; a server streaming without end is cut off here

# Only these carry the API key (pyzotero sends the Bearer form, zotcurate's own requests the header).
CREDENTIAL_HEADERS = ("zotero-api-key", "authorization")
# Request extensions (``extensions={...}`` on a request through this transport):
# - the request may be sent on to another origin, without the key (file downloads from storage);
#   without it, a hop elsewhere is refused;
# - the answer is not JSON (a file), so it is not checked as one;
# - a redirect is handed back as it is, not followed (the file download reads its Location and
#   fetches from storage with a client that holds no key at all).
ELSEWHERE_WITHOUT_KEY = "zotcurate.elsewhere_without_key"
NOT_JSON = "zotcurate.not_json"
NO_FOLLOW = "zotcurate.no_follow"
_JSON_FORMATS = ("", "json", "versions")  # the ?format= values whose answers are JSON documents

KINDS = ("collection", "item")

W = TypeVar("W")
R = TypeVar("R")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff. ``max_attempts`` counts the first try."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    network_attempts: int = 3  # connection failures: the network may just be blinking

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(retry_after, 0.0)  # the transport caps it (TransportLimits.max_wait)
        # full jitter keeps several clients from retrying in lockstep
        return min(self.max_delay, self.base_delay * (2**attempt)) * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class TransportLimits:
    """What a server may make zotcurate do: a total deadline per request, capped waits."""

    deadline: float = DEFAULT_API_DEADLINE  # one request, answer included, even trickling in byte by byte
    max_wait: float = DEFAULT_API_MAX_WAIT  # one Backoff / Retry-After wait
    wait_budget: float = DEFAULT_API_WAIT_BUDGET  # every wait of the run together
    max_body: int = MAX_BODY

    @classmethod
    def from_settings(cls, settings: Settings) -> TransportLimits:
        return cls(deadline=settings.api_deadline, max_wait=settings.api_max_wait,
                   wait_budget=settings.api_wait_budget)


class ZoteroUnavailable(Exception):
    """The server kept failing (or could not be reached) after every retry.

    ``answered``: it was reached, but took too long or asked for too much waiting; the
    message then says what it did ("did not finish answering within 120 s ...").
    """

    def __init__(self, message: str, status: int | None = None, *, answered: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.answered = answered


class DeadlinePassed(httpx2.ReadTimeout):
    """A request did not finish within ``TransportLimits.deadline``, however fast bytes came."""


class ForeignOrigin(Exception):
    """A request carrying the API key was about to leave the API's origin (a redirect, a link)."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class NonsenseAnswer(Exception):
    """The server answered, but not as the Zotero API does: ``words`` say how, for a message."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


def origin(url: httpx2.URL | str) -> str:
    """scheme://host:port, the port always written: what the API key is confined to."""
    u = httpx2.URL(url)
    port = u.port or {"http": 80, "https": 443}.get(u.scheme, 0)
    return f"{u.scheme}://{u.host.lower()}:{port}"


def server_wait(value: str | None) -> tuple[float | None, bool]:
    """A ``Backoff`` or ``Retry-After`` value in seconds (``inf`` kept, to be capped), and
    whether it was unusable (``nan``, negative, not a number or a date): then ``(None, True)``."""
    if value is None or not value.strip():
        return None, False
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)  # Retry-After may be an HTTP date
        except (TypeError, ValueError, IndexError):
            return None, True
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds()), False
    if math.isnan(seconds) or seconds < 0:
        return None, True
    return seconds, False


class _DeadlineStream(httpcore2.NetworkStream):
    """A connection whose every read and write gets at most the time left to the request.

    A read timeout alone restarts with every byte, so a server dripping its answer would
    hold a request for ever; this bounds the whole request.
    """

    def __init__(self, stream: httpcore2.NetworkStream, left: Callable[[], float | None]) -> None:
        self._stream = stream
        self._left = left

    def _timeout(self, timeout: float | None, error: type[Exception]) -> float | None:
        left = self._left()
        if left is None:
            return timeout
        if left <= 0:
            raise error("the request's deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._timeout(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._timeout(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, self._timeout(timeout, httpcore2.ConnectTimeout))
        return _DeadlineStream(tls, self._left)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore2.NetworkBackend):
    def __init__(self, left: Callable[[], float | None]) -> None:
        self._backend = httpcore2.SyncBackend()
        self._left = left

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        left = self._left()
        if left is not None:
            if left <= 0:
                raise httpcore2.ConnectTimeout("the request's deadline passed")
            timeout = left if timeout is None else min(timeout, left)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._left)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _deadline_transport(left: Callable[[], float | None]) -> httpx2.HTTPTransport:
    """httpx2's own transport, on a connection pool whose connections keep the request's deadline."""
    transport = httpx2.HTTPTransport(retries=0)
    # httpx2 has no option for a network backend: its pool is replaced by one built the same way
    # (tests/test_hostile_network.py's dripping server fails if this stops taking effect).
    assert isinstance(getattr(transport, "_pool", None), httpcore2.ConnectionPool), "httpx2 changed its transport"
    transport._pool = httpcore2.ConnectionPool(
        ssl_context=httpx2.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
        keepalive_expiry=5.0, http1=True, http2=False, retries=0, network_backend=_DeadlineBackend(left))
    return transport


class PoliteTransport(httpx2.BaseTransport):
    """Beneath pyzotero's HTTP client: the key kept to its origin, a deadline on every
    request, concurrency limit, capped backoff and retries, answers checked to be JSON."""

    def __init__(self, policy: RetryPolicy, notice: Callable[[str], None], max_in_flight: int = MAX_IN_FLIGHT,
                 inner: httpx2.BaseTransport | None = None, *, api_origin: str | None = None,
                 limits: TransportLimits | None = None, version_scope: str = "") -> None:
        # Only responses under this path carry the *library* version (a group's own
        # metadata, /groups/<id>, has a version of its own).
        self.version_scope = version_scope
        self.policy = policy
        self.limits = limits or TransportLimits()
        self.api_origin = api_origin  # None: no origin to keep the key to (tests of the transport alone)
        self.notice = notice
        self._request_deadline = threading.local()  # each thread runs its own request
        self.inner = inner or _deadline_transport(self._time_left)
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self.lock = threading.Lock()
        self.not_before = 0.0  # a Backoff or Retry-After pauses every request until then
        self.waited = 0.0  # seconds of waiting so far in this run (against limits.wait_budget)
        self.told: set[str] = set()  # notices said once per run
        self.requests = 0
        self.versions: list[int] = []

    # -- the key stays with the API ---------------------------------------------------
    # Redirects are followed here, not by the HTTP client: only here is it known that a
    # request is a hop of one that carried the key (httpx drops Authorization on a hop
    # elsewhere, but not Zotero-API-Key, and the hop itself would still be made).

    def _keep_key_home(self, request: httpx2.Request, *, carried_key: bool) -> httpx2.Request:
        """The request as it may be sent: refused if it would take the key elsewhere."""
        if request.url.scheme not in ("http", "https"):
            raise ForeignOrigin(f"a {request.url.scheme or 'relative'}: address")  # not echoed: it is the server's text
        if self.api_origin is None or origin(request.url) == self.api_origin:
            return request
        carried = [name for name in CREDENTIAL_HEADERS if name in request.headers]
        if not carried and not carried_key:
            return request
        if request.extensions.get(ELSEWHERE_WITHOUT_KEY):
            for name in carried:
                del request.headers[name]
            return request
        raise ForeignOrigin(origin(request.url))

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        carried_key = any(name in request.headers for name in CREDENTIAL_HEADERS)
        for _ in range(MAX_REDIRECTS + 1):
            request = self._keep_key_home(request, carried_key=carried_key)
            response = self._exchange(request)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location or request.extensions.get(NO_FOLLOW):
                self._check_json(request, response)
                return response
            request = _next_hop(request, response.status_code, location)
        raise NonsenseAnswer(f"more than {MAX_REDIRECTS} redirects")

    # -- waiting ----------------------------------------------------------------------

    def _time_left(self) -> float | None:
        deadline = getattr(self._request_deadline, "at", None)
        return None if deadline is None else deadline - time.monotonic()

    def _wait_gate(self) -> None:
        while True:
            with self.lock:
                remaining = self.not_before - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 1.0))

    def _capped(self, seconds: float, what: str) -> float:
        if seconds <= self.limits.max_wait:
            return seconds
        asked = "for ever" if math.isinf(seconds) else f"{seconds:.0f} s"
        self.notice(f"Zotero asked to wait {asked} ({what}); zotcurate waits at most "
                    f"{self.limits.max_wait:.0f} s at a time (setting api_max_wait).")
        return self.limits.max_wait

    def _spend(self, seconds: float) -> None:
        """Count a wait against the run's budget; past it, give up rather than wait on."""
        with self.lock:
            if self.waited + seconds > self.limits.wait_budget:
                raise ZoteroUnavailable(
                    f"made zotcurate wait {self.waited:.0f} s already and asked for {seconds:.0f} s more, "
                    f"beyond the {self.limits.wait_budget:.0f} s a run may wait (setting api_wait_budget)",
                    answered=True)
            self.waited += seconds

    def _pause_all(self, seconds: float, why: str) -> None:
        with self.lock:
            now = time.monotonic()
            until = now + seconds
            if until <= self.not_before:
                return
            extra = until - max(self.not_before, now)  # overlapping pauses are waited once
        self._spend(extra)
        with self.lock:
            self.not_before = max(self.not_before, until)
        self.notice(f"Zotero answered {why}: waiting {seconds:.0f} s before going on.")

    def _server_asks(self, response: httpx2.Response, header: str) -> float | None:
        seconds, unusable = server_wait(response.headers.get(header))
        with self.lock:
            first = unusable and header not in self.told
            if first:
                self.told.add(header)
        if first:
            self.notice(f"Zotero sent a {header} header that is not a number of seconds; it was ignored.")
        return None if seconds is None else self._capped(seconds, header)

    # -- one request ------------------------------------------------------------------

    def _exchange(self, request: httpx2.Request) -> httpx2.Response:
        """One request (one hop), with the retries and waits it takes."""
        attempt = 0
        network_failures = 0
        while True:
            self._wait_gate()
            with self.slots:
                with self.lock:
                    self.requests += 1
                try:
                    response = self._send(request)
                except (httpx2.ConnectError, httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError,
                        httpx2.TimeoutException) as exc:
                    network_failures += 1
                    # A server that answered, too slowly to finish in time, would do it again.
                    if isinstance(exc, DeadlinePassed):
                        raise ZoteroUnavailable(
                            f"did not finish answering within {self.limits.deadline:.0f} s (setting api_deadline), "
                            "however slowly it kept sending", answered=True) from exc
                    if network_failures >= self.policy.network_attempts:
                        raise ZoteroUnavailable(type(exc).__name__) from exc
                    response = None
            if response is None:
                wait = self.policy.delay(network_failures - 1, None)
                self._spend(wait)
                self.notice(f"Zotero could not be reached; trying again in {wait:.0f} s.")
                time.sleep(wait)
                continue
            lmv = response.headers.get("Last-Modified-Version")
            if (lmv and lmv.isdigit() and response.status_code in (200, 304)
                    and request.url.path.startswith(self.version_scope)):
                with self.lock:
                    self.versions.append(int(lmv))
            backoff = self._server_asks(response, "Backoff")
            if response.status_code not in RETRY_STATUSES:
                if backoff:
                    self._pause_all(backoff, "with a Backoff request")
                return _without_waits(response)  # waited here: pyzotero must not wait again
            attempt += 1
            retry_after = self._server_asks(response, "Retry-After") or backoff
            if attempt >= self.policy.max_attempts:
                raise ZoteroUnavailable(
                    f"Zotero kept answering {response.status_code} after {attempt} attempts", response.status_code
                )
            wait = min(self.policy.delay(attempt - 1, retry_after), self.limits.max_wait)
            self._pause_all(wait, f"HTTP {response.status_code}")

    def _send(self, request: httpx2.Request) -> httpx2.Response:
        """One exchange under the deadline, the whole answer read (at most ``max_body`` bytes)."""
        deadline = self._request_deadline.at = time.monotonic() + self.limits.deadline
        try:
            response = self.inner.handle_request(request)
            stream = response.stream
            assert isinstance(stream, httpx2.SyncByteStream), "a sync transport gives sync streams"
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in stream:
                    size += len(chunk)
                    if size > self.limits.max_body:
                        raise NonsenseAnswer(f"more than {self.limits.max_body // 2**20} MB")
                    chunks.append(chunk)
            finally:
                stream.close()
        except httpx2.TimeoutException as exc:
            if time.monotonic() >= deadline - 0.01:  # the last read got only the time that was left
                raise DeadlinePassed(str(exc), request=request) from exc
            raise
        finally:
            self._request_deadline.at = None
        try:
            return httpx2.Response(response.status_code, headers=response.headers, content=b"".join(chunks),
                                   extensions=response.extensions)
        except httpx2.DecodingError as exc:
            raise NonsenseAnswer("a body that cannot be decoded") from exc

    def _check_json(self, request: httpx2.Request, response: httpx2.Response) -> None:
        """A successful API answer is a JSON document: not a web page, not an empty body."""
        if response.status_code not in (200, 201) or request.extensions.get(NOT_JSON):
            return
        if request.url.params.get("format", "") not in _JSON_FORMATS:
            return
        ctype = response.headers.get("Content-Type", "").lower()
        start = response.content.lstrip()[:1]
        if "html" in ctype or start not in (b"{", b"["):
            what = "a web page" if "html" in ctype or start == b"<" else "something that is not JSON"
            raise NonsenseAnswer(f"HTTP {response.status_code} with {what}")
        if "json" not in ctype:
            response.headers["Content-Type"] = "application/json"  # pyzotero picks its parser by this

    def close(self) -> None:
        self.inner.close()


def _next_hop(request: httpx2.Request, status: int, location: str) -> httpx2.Request:
    """The request a redirect asks for, as browsers (and httpx) make it."""
    try:
        url = request.url.join(location)
    except httpx2.InvalidURL as exc:
        raise NonsenseAnswer("a redirect to a malformed address") from exc
    method = request.method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    headers = httpx2.Headers(request.headers)
    headers.pop("Host", None)  # the new request names its own host
    headers.pop("Cookie", None)
    content = None
    if method == request.method:
        content = request.read() or None  # a 307/308 sends the same body again
    else:
        headers.pop("Content-Length", None)
        headers.pop("Transfer-Encoding", None)
    return httpx2.Request(method, url, headers=headers, content=content, extensions=request.extensions)


def _without_waits(response: httpx2.Response) -> httpx2.Response:
    for header in ("Backoff", "Retry-After"):
        if header in response.headers:
            del response.headers[header]
    return response


class _Zotero(pyzotero.Zotero):
    """pyzotero's client, minus the ``__del__`` that closes the HTTP client it was given: that
    client is shared by every thread's instance, and a worker's instance collected after its
    pool ended would otherwise close it under the calls still to come. ZoteroClient closes it."""

    def __del__(self) -> None:
        pass


@dataclass(frozen=True)
class Page:
    """One page of a listing (``start`` … ``start + PAGE``) and what its response said."""

    kind: str  # "item" | "collection"
    start: int
    objects: list[dict[str, Any]]
    total: int | None  # Total-Results: the size of the whole listing (None if not sent)
    version: int | None  # Last-Modified-Version: the library version the page was read at


def _count(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _response_headers(zot: pyzotero.Zotero) -> httpx2.Headers:
    """Headers of the response pyzotero received last (on this thread's instance)."""
    return zot.request.headers if zot.request is not None else httpx2.Headers()


@dataclass(frozen=True)
class WriteFailure:
    code: int
    message: str


@dataclass
class WriteResult:
    successful: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, WriteFailure] = field(default_factory=dict)
    library_version: int | None = None


@dataclass(frozen=True)
class KeyInfo:
    user_id: str
    username: str
    access: dict[str, Any]

    def readable_groups(self) -> list[str] | None:
        """IDs of groups the key can read, or None for 'all groups'."""
        groups = self.access.get("groups", {})
        if groups.get("all", {}).get("library"):
            return None
        return [gid for gid, perms in groups.items() if gid != "all" and perms.get("library")]

    def can_read(self, ref: LibraryRef) -> bool:
        if ref.kind == "user":
            return ref.remote_id == self.user_id and bool(self.access.get("user", {}).get("library"))
        readable = self.readable_groups()
        return readable is None or ref.remote_id in readable

    def can_write(self, ref: LibraryRef) -> bool:
        if ref.kind == "user":
            return bool(self.access.get("user", {}).get("write"))
        groups = self.access.get("groups", {})
        return bool(groups.get(ref.remote_id, groups.get("all", {})).get("write"))


class ZoteroClient:
    """One library on a Zotero server (Web API or Zotero 7's local API)."""

    def __init__(self, settings: Settings, library: LibraryRef, *, progress: ProgressReporter | None = None,
                 policy: RetryPolicy | None = None, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        if library.kind == "file":
            raise LibraryKindError(f"{library.name} is imported from files; it has no Zotero server to talk to.")
        self.library = library
        self.local = library.kind == "local"
        self.api_key = None if self.local else settings.require_api_key()
        self.base_url = settings.local_url if self.local else settings.api_url
        self.progress = progress or ProgressReporter()
        self.prefix = f"/{library.remote_type}s/{library.remote_id}"
        scope = urlsplit(self.base_url).path.rstrip("/") + self.prefix + "/"
        self.transport = PoliteTransport(policy or RetryPolicy(), self.progress.notice, max_in_flight,
                                         api_origin=origin(self.base_url),
                                         limits=TransportLimits.from_settings(settings), version_scope=scope)
        # The transport follows redirects itself (it alone keeps the key to its origin).
        self.http = httpx2.Client(transport=self.transport, timeout=httpx2.Timeout(30.0, connect=10.0),
                                  follow_redirects=False, trust_env=not self.local)
        self._local = threading.local()

    # -- plumbing --------------------------------------------------------------------

    def __enter__(self) -> ZoteroClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    @property
    def requests(self) -> int:
        return self.transport.requests

    def take_versions(self) -> list[int]:
        """Library versions seen on responses since the last call (to spot concurrent edits)."""
        with self.transport.lock:
            seen, self.transport.versions = self.transport.versions, []
        return seen

    def versions_seen(self) -> list[int]:
        """The same, in the order the responses arrived, without forgetting them."""
        with self.transport.lock:
            return list(self.transport.versions)

    def _zot(self) -> pyzotero.Zotero:
        # pyzotero keeps per-request state on the instance: one instance per thread.
        zot = getattr(self._local, "zot", None)
        if zot is None:
            zot = _Zotero(self.library.remote_id, self.library.remote_type, self.api_key,
                          local=self.local, client=self.http)
            zot.endpoint = self.base_url
            self._local.zot = zot
        return zot

    def _headers(self) -> dict[str, str]:
        headers = {"Zotero-API-Version": "3"}
        if self.api_key:
            headers["Zotero-API-Key"] = self.api_key
        return headers

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run a pyzotero call and turn its failures into zotcurate errors."""
        try:
            return fn()
        except ZoteroUnavailable as exc:
            raise self._unavailable(exc) from exc
        except ForeignOrigin as exc:
            raise self._foreign(exc) from exc
        except NonsenseAnswer as exc:
            raise self._nonsense(exc.words, what) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._nonsense("malformed JSON", what) from exc
        except (httpx2.HTTPError, OSError) as exc:
            raise NetworkError(
                f"Zotero at {self.base_url} could not be reached while {what} ({type(exc).__name__}); "
                "check the network (or that Zotero is running, for the local API) and run the command again."
            ) from exc
        except pz_errors.UserNotAuthorisedError as exc:
            raise self._auth_error() from exc
        except pz_errors.ResourceNotFoundError as exc:
            raise self._not_found() from exc
        except (pz_errors.PreConditionFailedError, pz_errors.PreConditionRequiredError) as exc:
            raise ConflictError(
                f"Zotero refused the write to {self.library.name} because the library changed meanwhile; "
                "run 'zotcurate sync' and try again."
            ) from exc
        except pz_errors.PyZoteroError as exc:
            status = getattr(getattr(self._zot(), "request", None), "status_code", "?")
            raise NetworkError(
                f"Zotero answered HTTP {status} while {what}; try again later, or report it if it persists."
            ) from exc

    def _foreign(self, exc: ForeignOrigin) -> NetworkError:
        return NetworkError(
            f"Zotero at {self.base_url} sent zotcurate on to another address ({exc.target}), where the API key "
            f"is never sent, so it stopped; if the API has really moved, set api_url (--api-url or "
            "ZOTCURATE_API_URL) to its new address."
        )

    def _nonsense(self, words: str, what: str) -> NetworkError:
        return NetworkError(
            f"Zotero at {self.base_url} answered {words} while {what}, which is not an answer of the Zotero API "
            "(a proxy or a login page in the way?); try again later, or check api_url if it persists."
        )

    def _unavailable(self, exc: ZoteroUnavailable) -> NetworkError:
        if exc.answered:
            return NetworkError(f"Zotero at {self.base_url} {exc}; try again later (what was fetched so far is kept).")
        if exc.status is None:
            where = "Is Zotero running with the local API enabled?" if self.local else "Check the network connection."
            return NetworkError(f"Zotero at {self.base_url} could not be reached ({exc}). {where}")
        return NetworkError(f"{exc}; Zotero is busy or down: try again later (what was fetched so far is kept).")

    def _auth_error(self) -> AuthError:
        if self.local:
            return AuthError("Zotero's local API refused the request: enable it in Zotero's settings "
                             "(Advanced → 'Allow other applications on this computer to communicate with Zotero').")
        return AuthError(
            f"The Zotero API key was refused for {self.library.name}: check that the key is right and that it can "
            "read this library (https://www.zotero.org/settings/keys), or run 'zotcurate init'."
        )

    def _not_found(self) -> NotFoundError:
        what = "group" if self.library.remote_type == "group" else "user library"
        return NotFoundError(
            f"Zotero has no {what} {self.library.remote_id}: check the ID (the number in the group's zotero.org "
            "address) or list your groups with 'zotcurate init'."
        )

    def _get(self, path: str, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, *, elsewhere_without_key: bool = False,
             not_json: bool = False) -> httpx2.Response:
        """A raw GET through the same transport, for what pyzotero cannot send.

        ``elsewhere_without_key``: redirects to another origin are followed, without the key
        (file downloads); otherwise they are refused. ``not_json``: the answer is a file.
        """
        extensions = {ELSEWHERE_WITHOUT_KEY: elsewhere_without_key, NOT_JSON: not_json}
        try:
            response = self.http.get(self.base_url + path, params=params,
                                     headers={**self._headers(), **(headers or {})}, extensions=extensions)
        except ZoteroUnavailable as exc:
            raise self._unavailable(exc) from exc
        except ForeignOrigin as exc:
            raise self._foreign(exc) from exc
        except NonsenseAnswer as exc:
            raise self._nonsense(exc.words, f"reading {path}") from exc
        except httpx2.HTTPError as exc:
            raise NetworkError(f"Zotero at {self.base_url} could not be reached ({type(exc).__name__}); "
                               "check the network and run the command again.") from exc
        if response.status_code in (401, 403):
            raise self._auth_error()
        if response.status_code == 404:
            raise self._not_found()
        if response.status_code not in (200, 304):
            raise NetworkError(f"Zotero answered HTTP {response.status_code} for {path}; try again later.")
        return response

    # -- reads -----------------------------------------------------------------------

    def _json(self, response: httpx2.Response, what: str, check: Callable[[Any], Any]) -> Any:
        """The JSON of a raw answer, through ``check`` (one of the ``expect_*`` functions)."""
        try:
            return check(response.json())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._nonsense("malformed JSON", what) from exc
        except NonsenseAnswer as exc:
            raise self._nonsense(exc.words, what) from exc

    def key_info(self) -> KeyInfo:
        """What the API key may do (``/keys/current``)."""
        data = self._json(self._get("/keys/current"), "reading what the API key may do", expect_key_info)
        return KeyInfo(str(data.get("userID", "")), str(data.get("username") or ""), data.get("access") or {})

    def groups(self, user_id: str) -> list[dict[str, Any]]:
        """Groups a user belongs to: ``[{id, name, version}]``."""
        response = self._get(f"/users/{user_id}/groups", params={"limit": 100})
        groups = self._json(response, "listing the groups", expect_groups)
        return [{"id": str(g["id"]), "name": str(g.get("data", {}).get("name") or ""), "version": g.get("version")}
                for g in groups]

    def group_name(self) -> str | None:
        if self.library.remote_type != "group" or self.local:
            return None
        group = self._json(self._get(self.prefix), "reading the group", expect_group)
        name = group.get("data", {}).get("name")
        return name if isinstance(name, str) else None

    def collection_versions(self, since: int, *, if_modified: bool = False) -> dict[str, int] | None:
        """Collection versions changed since ``since``. With ``if_modified``, None when the
        library has not changed at all (304): the one-request "up to date" path."""
        headers = {"If-Modified-Since-Version": str(since)} if if_modified else {}
        response = self._get(f"{self.prefix}/collections", params={"since": since, "format": "versions"},
                             headers=headers)
        if response.status_code == 304:
            return None
        return self._json(response, "listing collection versions", expect_versions)

    def item_versions(self, since: int, *, top: bool = False) -> dict[str, int]:
        def call() -> Any:
            zot = self._zot()
            if top:
                return zot.top(since=since, format="versions", includeTrashed=1, limit=None)
            return zot.item_versions(since=since, includeTrashed=1)

        return self._call("listing item versions", lambda: expect_versions(call()))

    def all_item_keys(self) -> set[str]:
        return set(self.item_versions(0))

    def all_collection_keys(self) -> set[str]:
        return set(self._call("listing collections",
                              lambda: expect_versions(self._zot().collection_versions(since=0))))

    def deleted(self, since: int) -> dict[str, list[str]]:
        return self._call("listing deletions", lambda: expect_deleted(self._zot().deleted(since=since)))

    def _batches(self, keys: Sequence[str]) -> Iterator[list[str]]:
        keys = list(keys)
        for i in range(0, len(keys), BATCH):
            yield keys[i:i + BATCH]

    def iter_items_by_key(self, keys: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Fetch items by key, ≤ 50 per request, ≤ 4 requests in flight; yields each batch
        in order as it completes, so the caller can store it right away."""
        def fetch(batch: list[str]) -> list[dict[str, Any]]:
            return self._call("fetching items", lambda: expect_objects(self._zot().items(
                itemKey=",".join(batch), includeTrashed=1, limit=BATCH)))

        yield from self._windowed(fetch, list(self._batches(keys)))

    def iter_collections_by_key(self, keys: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        def fetch(batch: list[str]) -> list[dict[str, Any]]:
            return self._call("fetching collections", lambda: expect_objects(self._zot().collections(
                collectionKey=",".join(batch), limit=BATCH)))

        yield from self._windowed(fetch, list(self._batches(keys)))

    def items_by_key(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        return [obj for batch in self.iter_items_by_key(keys) for obj in batch]

    def fetch_page(self, kind: str, start: int, *, since: int = 0) -> Page:
        """One page of every item (trash included) or collection modified after ``since``."""
        def call() -> Page:
            zot = self._zot()
            if kind == "item":
                # dateAdded ascending: an edit made while paging does not move an item to
                # another page (the default, dateModified descending, would shift them all).
                objects = zot.items(since=since, start=start, limit=PAGE, includeTrashed=1,
                                    sort="dateAdded", direction="asc")
            else:
                objects = zot.collections(since=since, start=start, limit=PAGE)
            headers = _response_headers(zot)
            return Page(kind, start, list(objects), _count(headers.get("Total-Results")),
                        _count(headers.get("Last-Modified-Version")))

        return self._call(f"fetching {kind}s", call)

    def iter_pages(self, kinds: Sequence[str] = KINDS, *, since: int = 0) -> Iterator[Page]:
        """Every object of these kinds, page by page, ≤ 4 pages in flight, yielded in order
        as they arrive so the caller can store each one right away.

        A kind's first page says how many objects follow (``Total-Results``); the rest of
        its pages then go out together with the next kind's first page. Without
        ``Total-Results``, pages are followed one by one until a short page."""
        def more(page: Page) -> list[tuple[str, int]]:
            follow: list[tuple[str, int]] = []
            if page.start == 0:
                at = kinds.index(page.kind)
                if at + 1 < len(kinds):
                    follow.append((kinds[at + 1], 0))
                if page.total is not None:
                    follow += [(page.kind, s) for s in range(PAGE, page.total, PAGE)]
            if page.total is None and len(page.objects) >= PAGE:
                follow.append((page.kind, page.start + PAGE))
            return follow

        if not kinds:
            return
        yield from self._windowed(lambda work: self.fetch_page(work[0], work[1], since=since),
                                  [(kinds[0], 0)], more=more)

    def _windowed(self, fetch: Callable[[W], R], work: Iterable[W],
                  more: Callable[[R], Iterable[W]] | None = None) -> Iterator[R]:
        """``fetch`` each piece of work, ≤ 4 at once, yielding results in submission order.
        ``more(result)`` adds work a result reveals (the pages after a first page). After a
        failure nothing new is sent; what did arrive is still yielded, then the failure raised."""
        todo = deque(work)
        if more is None and len(todo) <= 1:
            for piece in todo:  # one request: no threads needed
                yield fetch(piece)
            return
        with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT) as pool:
            pending: deque[Future[R]] = deque()
            failure: BaseException | None = None
            try:
                while todo and len(pending) < WINDOW:
                    pending.append(pool.submit(fetch, todo.popleft()))
                while pending:
                    done = pending.popleft()
                    try:
                        result = done.result()
                    except BaseException as exc:  # keep yielding what did arrive, then fail
                        failure = failure or exc
                        continue
                    if failure is None:
                        if more is not None:
                            todo.extend(more(result))
                        while todo and len(pending) < WINDOW:
                            pending.append(pool.submit(fetch, todo.popleft()))
                    yield result
            finally:
                for future in pending:  # the caller stopped early: do not send the rest
                    future.cancel()
            if failure is not None:
                raise failure

    # -- writes ----------------------------------------------------------------------

    def post_items(self, objects: Sequence[dict[str, Any]]) -> WriteResult:
        """POST items (create or partial update) in batches of 50, keeping every
        per-object outcome. Each object carries ``key`` and ``version``."""
        if self.local:
            raise LibraryKindError("The local API is read-only: write back through a group:ID or user:ID library.")
        result = WriteResult()
        objects = list(objects)
        for start in range(0, len(objects), BATCH):
            batch = objects[start:start + BATCH]

            def create(b: list[dict[str, Any]] = batch) -> Any:
                return expect_write_result(self._zot().create_items(b), len(b))

            response = self._call("writing items", create)
            for index, obj in response["successful"].items():
                result.successful[obj.get("key") or batch[int(index)]["key"]] = obj
            for index, key in response["unchanged"].items():
                result.unchanged.append(key if isinstance(key, str) else batch[int(index)]["key"])
            for index, failure in response["failed"].items():
                key = failure.get("key") or batch[int(index)]["key"]
                result.failed[key] = WriteFailure(_int(failure.get("code")), str(failure.get("message", "")))
            version = _count(_response_headers(self._zot()).get("Last-Modified-Version"))
            if version is not None:
                result.library_version = version
        return result


# -- what the API's answers must look like ---------------------------------------------
# A server (or whatever stands in its way) may answer anything; these turn an answer of
# the wrong shape into NonsenseAnswer (one clear sentence, exit 6) before it reaches the
# store, where it would be a KeyError deep inside a sync.


def _shape(expected: str) -> NonsenseAnswer:
    return NonsenseAnswer(f"JSON of the wrong shape (expected {expected})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any) -> int:
    return value if _is_int(value) else int(value) if isinstance(value, str) and value.isdigit() else 0


def expect_mapping(value: Any, expected: str = "an object") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _shape(expected)
    return value


def expect_versions(value: Any) -> dict[str, int]:
    """``{key: version}`` (format=versions)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and _is_int(v) for k, v in value.items()):
        raise _shape("an object of keys and version numbers")
    return value


def expect_objects(value: Any) -> list[dict[str, Any]]:
    """A list of API objects, each with a key, a version and its data."""
    if not isinstance(value, list) or not all(
            isinstance(o, dict) and isinstance(o.get("key"), str) and _is_int(o.get("version"))
            and isinstance(o.get("data"), dict) for o in value):
        raise _shape("a list of objects with key, version and data")
    return value


def expect_deleted(value: Any) -> dict[str, list[str]]:
    """``/deleted``: lists of keys by kind."""
    if not isinstance(value, dict) or not all(
            isinstance(keys, list) and all(isinstance(k, str) for k in keys) for keys in value.values()):
        raise _shape("lists of deleted keys")
    return value


def expect_key_info(value: Any) -> dict[str, Any]:
    """``/keys/current``: the key's user and its access, group by group."""
    data = expect_mapping(value, "the key's user and access")
    access = data.get("access", {})
    if not isinstance(access, dict) or not all(isinstance(v, dict) for v in access.values()):
        raise _shape("the key's access, library by library")
    groups = access.get("groups", {})
    if not all(isinstance(perms, dict) for perms in groups.values()):
        raise _shape("the key's access, group by group")
    return data


def expect_groups(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
            isinstance(g, dict) and (_is_int(g.get("id")) or isinstance(g.get("id"), str))
            and isinstance(g.get("data", {}), dict) for g in value):
        raise _shape("a list of groups")
    return value


def expect_group(value: Any) -> dict[str, Any]:
    group = expect_mapping(value, "a group")
    if not isinstance(group.get("data", {}), dict):
        raise _shape("a group with its data")
    return group


def expect_write_result(value: Any, size: int) -> dict[str, dict[str, Any]]:
    """A write's outcome: ``successful``, ``unchanged``, ``failed``, keyed by position in the batch."""
    data = expect_mapping(value, "the outcome of a write")
    out: dict[str, dict[str, Any]] = {}
    for part in ("successful", "unchanged", "failed"):
        entries = data.get(part) or {}
        if not isinstance(entries, dict) or not all(
                isinstance(i, str) and i.isdigit() and int(i) < size for i in entries):
            raise _shape(f"'{part}' keyed by position in the batch")
        if part != "unchanged" and not all(isinstance(e, dict) for e in entries.values()):
            raise _shape(f"objects in '{part}'")
        out[part] = entries
    return out


# -- attachment files (zotcurate.zotero.files) ------------------------------------------
#
# Kept apart from the metadata transport above: Zotero answers GET …/items/KEY/file with a
# redirect to its file storage, on another host. The API key goes with the first request only,
# to the API's own origin; the redirect is followed by a second client that has no key at all,
# so no redirect (however many hops) can carry the key anywhere. Zotero 7's local API redirects
# to a file:// URL on this machine: that file is read directly.


class FileUnavailable(Exception):
    """Zotero has no file for this attachment (never uploaded, or deleted from its storage)."""


class FileTooLarge(Exception):
    """The file is larger than the limit; ``size`` is what is known of its size (or the limit passed)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 1 << 16


class FileFetcher:
    """Streams attachment files: the API request with the key, the storage request without."""

    def __init__(self, client: ZoteroClient) -> None:
        self.client = client
        self.storage = httpx2.Client(
            transport=PoliteTransport(RetryPolicy(), client.progress.notice, MAX_IN_FLIGHT),
            timeout=httpx2.Timeout(60.0, connect=10.0), follow_redirects=True, trust_env=not client.local)

    def close(self) -> None:
        self.storage.close()

    def __enter__(self) -> FileFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, key: str, write: Callable[[bytes], None], max_bytes: int) -> str | None:
        """Stream the file of attachment ``key`` into ``write``; returns the Content-Type it came with.
        Raises FileUnavailable, FileTooLarge, or the client's NetworkError/AuthError."""
        c = self.client
        url = httpx2.URL(c.base_url + f"{c.prefix}/items/{key}/file")
        request = c.http.build_request("GET", url, headers=c._headers(), extensions={NO_FOLLOW: True, NOT_JSON: True})
        try:
            response = c.http.send(request, stream=True, follow_redirects=False)
        except ZoteroUnavailable as exc:
            raise c._unavailable(exc) from exc
        except httpx2.HTTPError as exc:
            raise NetworkError(f"Zotero at {c.base_url} could not be reached ({type(exc).__name__}); "
                               "check the network and run the command again.") from exc
        try:
            status = response.status_code
            if status in REDIRECTS:
                location = response.headers.get("Location", "")
                target = url.join(location) if location else None
            elif status == 200:
                return self._stream(response, write, max_bytes)
            else:
                target = None
        finally:
            response.close()
        if status in (401, 403):
            raise c._auth_error()
        if status == 404 or (status in REDIRECTS and target is None):
            raise FileUnavailable(key)
        if status not in REDIRECTS:
            raise NetworkError(f"Zotero answered HTTP {status} for the file of {key}; try again later.")
        assert target is not None
        if target.scheme == "file" and c.local:
            return self._local_file(target, write, max_bytes)
        if target.scheme not in ("http", "https"):
            raise NetworkError(f"Zotero sent the file of {key} to an address zotcurate does not follow "
                               f"({target.scheme}:); report it if it persists.")
        return self._from_storage(target, key, write, max_bytes)

    def _from_storage(self, target: httpx2.URL, key: str, write: Callable[[bytes], None], max_bytes: int) -> str | None:
        # A fresh request without any of the API's headers: never the key, whatever the host.
        try:
            with self.storage.stream("GET", target, extensions={NOT_JSON: True}) as response:
                if response.status_code == 404:
                    raise FileUnavailable(key)
                if response.status_code != 200:
                    raise NetworkError(f"Zotero's file storage answered HTTP {response.status_code} for the file "
                                       f"of {key}; try again later.")
                return self._stream(response, write, max_bytes)
        except ZoteroUnavailable as exc:
            raise NetworkError(f"Zotero's file storage could not be reached ({exc}); try again later "
                               "(files already downloaded are kept).") from exc
        except httpx2.HTTPError as exc:
            raise NetworkError(f"Zotero's file storage could not be reached ({type(exc).__name__}); "
                               "try again later (files already downloaded are kept).") from exc

    @staticmethod
    def _stream(response: httpx2.Response, write: Callable[[bytes], None], max_bytes: int) -> str | None:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise FileTooLarge(int(length))
        total = 0
        for chunk in response.iter_bytes(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise FileTooLarge(total)
            write(chunk)
        return response.headers.get("Content-Type")

    @staticmethod
    def _local_file(target: httpx2.URL, write: Callable[[bytes], None], max_bytes: int) -> str | None:
        path = url2pathname(unquote(target.path))
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > max_bytes:
                    raise FileTooLarge(size)
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    write(chunk)
        except FileNotFoundError as exc:
            raise FileUnavailable(target.path) from exc
        return None
