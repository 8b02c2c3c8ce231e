"""The Zotero adapter: the only module that imports pyzotero (and talks to Zotero).

pyzotero is the client. Where it falls short for a sync engine, this module wraps it
rather than scattering raw HTTP:

- a transport under pyzotero's HTTP client keeps at most 4 requests in flight (the
  Zotero developers' request), honours ``Backoff`` and ``Retry-After``, retries 429,
  500, 502, 503 and 504 with bounded exponential waits, says that it is waiting, and
  counts requests and the ``Last-Modified-Version`` of every response;
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

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
from pyzotero import zotero as pyzotero
from pyzotero import zotero_errors as pz_errors

from zotcurate.config import Settings
from zotcurate.errors import AuthError, ConflictError, NetworkError, NotFoundError, ZotcurateError
from zotcurate.model import LibraryRef
from zotcurate.output import ProgressReporter

MAX_IN_FLIGHT = 4
BATCH = 50  # keys per itemKey/collectionKey request, the API's maximum
PAGE = 100  # objects per page of a listing, the API's maximum
# Requests submitted but not yet consumed: MAX_IN_FLIGHT on the wire and one answer waiting for
# the caller to store it. A deeper window bought no speed on 20,000 items and cost memory.
WINDOW = MAX_IN_FLIGHT + 1
RETRY_STATUSES = {429, 500, 502, 503, 504}
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
            return min(max(retry_after, 0.0), self.max_delay * 5)
        # full jitter keeps several clients from retrying in lockstep
        return min(self.max_delay, self.base_delay * (2**attempt)) * (0.5 + random.random() / 2)


class ZoteroUnavailable(Exception):
    """The server kept failing (or could not be reached) after every retry."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class PoliteTransport(httpx2.BaseTransport):
    """Concurrency limit, backoff and retries beneath pyzotero's HTTP client."""

    def __init__(self, policy: RetryPolicy, notice: Callable[[str], None], max_in_flight: int = MAX_IN_FLIGHT,
                 inner: httpx2.BaseTransport | None = None, version_scope: str = "") -> None:
        self.inner = inner or httpx2.HTTPTransport(retries=0)
        # Only responses under this path carry the *library* version (a group's own
        # metadata, /groups/<id>, has a version of its own).
        self.version_scope = version_scope
        self.policy = policy
        self.notice = notice
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self.lock = threading.Lock()
        self.not_before = 0.0  # a Backoff or Retry-After pauses every request until then
        self.requests = 0
        self.versions: list[int] = []

    def _wait_gate(self) -> None:
        while True:
            with self.lock:
                remaining = self.not_before - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 1.0))

    def _pause_all(self, seconds: float, why: str) -> None:
        with self.lock:
            until = time.monotonic() + seconds
            if until <= self.not_before:
                return
            self.not_before = until
        self.notice(f"Zotero answered {why}: waiting {seconds:.0f} s before going on.")

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        attempt = 0
        network_failures = 0
        while True:
            self._wait_gate()
            with self.slots:
                with self.lock:
                    self.requests += 1
                try:
                    response = self.inner.handle_request(request)
                except (httpx2.ConnectError, httpx2.ReadError, httpx2.RemoteProtocolError,
                        httpx2.TimeoutException) as exc:
                    network_failures += 1
                    if network_failures >= self.policy.network_attempts:
                        raise ZoteroUnavailable(type(exc).__name__) from exc
                    response = None
            if response is None:
                wait = self.policy.delay(network_failures - 1, None)
                self.notice(f"Zotero could not be reached; trying again in {wait:.0f} s.")
                time.sleep(wait)
                continue
            lmv = response.headers.get("Last-Modified-Version")
            if (lmv and lmv.isdigit() and response.status_code in (200, 304)
                    and request.url.path.startswith(self.version_scope)):
                with self.lock:
                    self.versions.append(int(lmv))
            backoff = _seconds(response.headers.get("Backoff"))
            if response.status_code not in RETRY_STATUSES:
                if backoff:
                    self._pause_all(backoff, "with a Backoff request")
                return response
            attempt += 1
            retry_after = _seconds(response.headers.get("Retry-After")) or backoff
            response.read()
            response.close()
            if attempt >= self.policy.max_attempts:
                raise ZoteroUnavailable(
                    f"Zotero kept answering {response.status_code} after {attempt} attempts", response.status_code
                )
            wait = self.policy.delay(attempt - 1, retry_after)
            self._pause_all(wait, f"HTTP {response.status_code}")

    def close(self) -> None:
        self.inner.close()


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
            raise ZotcurateError(f"{library.name} is imported from files; it has no Zotero server to talk to.")
        self.library = library
        self.local = library.kind == "local"
        self.api_key = None if self.local else settings.require_api_key()
        self.base_url = settings.local_url if self.local else settings.api_url
        self.progress = progress or ProgressReporter()
        self.prefix = f"/{library.remote_type}s/{library.remote_id}"
        scope = urlsplit(self.base_url).path.rstrip("/") + self.prefix + "/"
        self.transport = PoliteTransport(policy or RetryPolicy(), self.progress.notice, max_in_flight,
                                         version_scope=scope)
        self.http = httpx2.Client(transport=self.transport, timeout=httpx2.Timeout(30.0, connect=10.0),
                                  follow_redirects=True, trust_env=not self.local)
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

    def _unavailable(self, exc: ZoteroUnavailable) -> NetworkError:
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
             headers: dict[str, str] | None = None) -> httpx2.Response:
        """A raw GET through the same transport, for what pyzotero cannot send."""
        try:
            response = self.http.get(self.base_url + path, params=params,
                                     headers={**self._headers(), **(headers or {})})
        except ZoteroUnavailable as exc:
            raise self._unavailable(exc) from exc
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

    def key_info(self) -> KeyInfo:
        """What the API key may do (``/keys/current``)."""
        response = self._get("/keys/current")
        data = response.json()
        return KeyInfo(str(data.get("userID", "")), data.get("username", ""), data.get("access", {}))

    def groups(self, user_id: str) -> list[dict[str, Any]]:
        """Groups a user belongs to: ``[{id, name, version}]``."""
        response = self._get(f"/users/{user_id}/groups", params={"limit": 100})
        return [{"id": str(g["id"]), "name": g.get("data", {}).get("name", ""), "version": g.get("version")}
                for g in response.json()]

    def group_name(self) -> str | None:
        if self.library.remote_type != "group" or self.local:
            return None
        response = self._get(self.prefix)
        return response.json().get("data", {}).get("name")

    def collection_versions(self, since: int, *, if_modified: bool = False) -> dict[str, int] | None:
        """Collection versions changed since ``since``. With ``if_modified``, None when the
        library has not changed at all (304): the one-request "up to date" path."""
        headers = {"If-Modified-Since-Version": str(since)} if if_modified else {}
        response = self._get(f"{self.prefix}/collections", params={"since": since, "format": "versions"},
                             headers=headers)
        if response.status_code == 304:
            return None
        return {k: int(v) for k, v in response.json().items()}

    def item_versions(self, since: int, *, top: bool = False) -> dict[str, int]:
        def call() -> Any:
            zot = self._zot()
            if top:
                return zot.top(since=since, format="versions", includeTrashed=1, limit=None)
            return zot.item_versions(since=since, includeTrashed=1)

        return {k: int(v) for k, v in self._call("listing item versions", call).items()}

    def all_item_keys(self) -> set[str]:
        return set(self.item_versions(0))

    def all_collection_keys(self) -> set[str]:
        return set(self._call("listing collections", lambda: self._zot().collection_versions(since=0)))

    def deleted(self, since: int) -> dict[str, list[str]]:
        return self._call("listing deletions", lambda: self._zot().deleted(since=since))

    def _batches(self, keys: Sequence[str]) -> Iterator[list[str]]:
        keys = list(keys)
        for i in range(0, len(keys), BATCH):
            yield keys[i:i + BATCH]

    def iter_items_by_key(self, keys: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Fetch items by key, ≤ 50 per request, ≤ 4 requests in flight; yields each batch
        in order as it completes, so the caller can store it right away."""
        def fetch(batch: list[str]) -> list[dict[str, Any]]:
            return self._call("fetching items", lambda: self._zot().items(
                itemKey=",".join(batch), includeTrashed=1, limit=BATCH))

        yield from self._windowed(fetch, list(self._batches(keys)))

    def iter_collections_by_key(self, keys: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        def fetch(batch: list[str]) -> list[dict[str, Any]]:
            return self._call("fetching collections", lambda: self._zot().collections(
                collectionKey=",".join(batch), limit=BATCH))

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
            raise ZotcurateError("The local API is read-only: write back through a group:ID or user:ID library.")
        result = WriteResult()
        objects = list(objects)
        for start in range(0, len(objects), BATCH):
            batch = objects[start:start + BATCH]

            def create(b: list[dict[str, Any]] = batch) -> Any:
                return self._zot().create_items(b)

            response = self._call("writing items", create)
            for index, obj in (response.get("successful") or {}).items():
                result.successful[obj.get("key") or batch[int(index)]["key"]] = obj
            for index, key in (response.get("unchanged") or {}).items():
                result.unchanged.append(key if isinstance(key, str) else batch[int(index)]["key"])
            for index, failure in (response.get("failed") or {}).items():
                key = failure.get("key") or batch[int(index)]["key"]
                result.failed[key] = WriteFailure(int(failure.get("code", 0)), str(failure.get("message", "")))
            version = _count(_response_headers(self._zot()).get("Last-Modified-Version"))
            if version is not None:
                result.library_version = version
        return result
