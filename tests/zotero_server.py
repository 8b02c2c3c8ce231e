"""A fake Zotero Web API v3 server for tests and benchmarks (standard library only).

It is a real HTTP server on 127.0.0.1 (ephemeral port) in a background thread, serving the
parts of the API that a sync client and a write-back need, with Zotero's version semantics.

Start, stop, point a client at it::

    from zotero_server import FakeZotero          # tests/ is on sys.path under pytest
    server = FakeZotero(latency=0.0)               # latency: seconds slept per request, concurrently
    server.add_group(4711, "Numérique et santé")   # -> library prefix "/groups/4711"
    server.add_key("K" * 24, user_id=99, username="doc",
                   groups={4711: {"library": True, "write": True}}, user_library=True)
    server.start()                                 # or: with FakeZotero() as server: ...
    server.url                                     # "http://127.0.0.1:<port>", the API base URL
    zot = pyzotero.zotero.Zotero(4711, "group", "K" * 24); zot.endpoint = server.url
    server.stop()

The ``zotero_server`` fixture (tests/conftest.py) gives a started server with one group and
one key: ``zotero_server.api_key``, ``.group_id``, ``.user_id``, ``.prefix`` ("/groups/<id>").
``zotero_example`` is the same server loaded with examples/numerique-sante.

Simulating other users (each call is ONE write: it bumps the library version once and stamps
the objects it changes with the new version; it returns the full API object or the version).
``prefix`` is "/groups/<id>", "/users/<id>" or a group id (int).

- ``put_item(prefix, data, replace=False)``: create (``data`` needs ``itemType``; ``key`` is
  generated when absent) or update (PATCH-like merge; ``replace=True`` for PUT-like) an item.
  ``data`` is Zotero's ``data`` dict (notes/attachments: ``parentItem``; trash: ``deleted: 1``);
  ``dateModified`` is stamped with the current time unless ``data`` gives one.
- ``put_collection(prefix, data, replace=False)``, ``put_search(prefix, data, replace=False)``.
- ``trash_item(prefix, key)``, ``restore_item(prefix, key)``.
- ``delete_item(prefix, key)`` (permanent, children too, logged for ``/deleted``),
  ``delete_collection(prefix, key)`` (subcollections too; items lose the membership and are
  stamped), ``delete_search(prefix, key)``.
- ``load_export(prefix, items, collections=(), searches=())``: bulk load full objects
  (``{key, version, data}``) or bare ``data`` dicts in ONE version bump; returns the version.
- ``set_group(gid, **data)``: change group metadata (bumps the group's own version).
- Reading state: ``library_version(prefix)``, ``get_item(prefix, key)``,
  ``get_collection(prefix, key)`` (full objects, copies, or None), ``item_keys(prefix)``.

Observation and fault injection:

- ``server.requests``: list of :class:`RecordedRequest` (method, path, query dict, headers with
  lower-case names, body bytes, status); ``server.reset_requests()``.
- ``server.inject(status, headers=None, body=None, path=None, method=None, times=1, after=0,
  query=None)``:
  ``times`` matching requests get that response instead (e.g. 429 with/without ``Retry-After``,
  503 + ``Retry-After``, 500), after ``after`` matching requests were served normally (a 500
  on the third page: ``after=2``). ``path`` is a regular expression searched in the request
  path (without the query string), ``query`` a dict of parameters the request must carry
  (the page at ``{"start": "100"}``); ``times=None`` = until ``server.clear_faults()``, which
  drops every pending injection, Backoff, drip and callback. A callback that raises, or a bug in the server, answers 500
  and lands in ``server.errors`` (the ``zotero_server`` fixture fails the test on it).
- ``server.backoff(seconds, times=1, path=None)``: add ``Backoff: <seconds>`` to the next
  matching responses (whatever their status); ``seconds`` may also be any text (``"nan"``).
- ``server.drip(interval, path=None, times=1, headers_too=True)``: send the next matching
  responses one byte every ``interval`` seconds (status line and headers too, unless
  ``headers_too=False``), as a server that never quite finishes answering.
- ``server.on_request(callback, path=None, method=None, times=None)``: ``callback(request)``
  runs before a matching request is served (e.g. ``put_item`` to move the library version in
  the middle of a sync); returns a function that unregisters it.
- ``server.max_in_flight``: peak number of requests served at once; ``server.in_flight``.
- ``server.down()`` / ``server.up()``: stop listening (and cut open connections), then listen
  again on the same port.
- ``server.total_results = False``: object lists no longer carry ``Total-Results``.

Attachment files (``sync --files``): ``server.storage = FileStorage().start()`` is a SECOND
loopback server standing for Zotero's file storage. ``put_file(prefix, key, content,
content_type=..., filename=...)`` stores the bytes and stamps the attachment item ``key`` (one
write) with their ``md5``, ``mtime``, ``filename`` and ``contentType``. ``GET items/<k>/file``
then answers ``302`` with a ``Location`` on the storage server, as Zotero does; without a
storage server it serves the bytes itself; with ``local_api`` and ``local_files`` (a folder)
it writes the file there and redirects to its ``file://`` URL, as Zotero 7's local API does.
An attachment without a file answers 404. ``storage.requests`` records what the storage server
saw (to check that the API key never reaches it); ``storage.fail(status, times)`` answers the
next requests with an error, ``storage.cut(times)`` sends half a body and closes.

HTTP side (under each library prefix): ``items``, ``items/top``, ``items/trash``,
``items/<k>``, ``items/<k>/children``, ``items/<k>/tags``, ``collections``, ``collections/top``,
``collections/<k>``, ``collections/<k>/collections``, ``collections/<k>/items[/top]``,
``collections/<k>/tags``, ``searches[/<k>]``, ``tags``, ``deleted`` (``since`` required),
``settings``, ``fulltext``; plus ``/keys/current``, ``/keys/<key>``, ``/users/<id>/groups``,
``/groups/<id>`` and the schema endpoints pyzotero uses (``/itemFields``, ``/itemTypes``,
``/creatorFields``, ``/itemTypeFields``, ``/itemTypeCreatorTypes``, ``/items/new``).
Query: ``since``, ``format=json|keys|versions`` (keys/versions unlimited unless ``limit`` is
given), ``itemKey``/``collectionKey``/``searchKey`` (<= 50), ``includeTrashed``, ``limit``
(default 25, max 100), ``start``, ``sort``/``direction`` (ties broken by version, then key: pages
never overlap while the library stays the same), ``tag``, ``itemType``, ``q``;
``locale``, ``v``, ``include``, ``timeout`` are ignored. Writes: ``POST items|collections|searches``
(<= 50 objects, PATCH semantics, per-object ``version`` check, ``If-Unmodified-Since-Version``,
``Zotero-Write-Token``), ``PATCH``/``PUT <type>/<k>``, ``DELETE <type>?<type>Key=``,
``DELETE <type>/<k>``, ``DELETE tags?tag=a || b``. The API key is never echoed in ``Link`` URLs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

KEY_CHARS = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
KEY_RE = re.compile(r"^[23456789ABCDEFGHIJKLMNPQRSTUVWXYZ]{8}$")
MAX_WRITE = 50  # objects per POST and keys per itemKey/DELETE, as Zotero
DEFAULT_LIMIT = 25
MAX_LIMIT = 100

# Item properties that are not schema fields but are valid on every item type.
_COMMON_ITEM_PROPS = {
    "key", "version", "itemType", "creators", "tags", "collections", "relations",
    "dateAdded", "dateModified", "deleted", "inPublications",
}
_CHILD_TYPES = {"note", "attachment", "annotation"}
_EXTRA_PROPS = {
    "note": {"note", "parentItem"},
    "attachment": {"parentItem", "linkMode", "contentType", "charset", "filename", "md5", "mtime",
                   "path", "note"},
    "annotation": {"parentItem", "annotationType", "annotationText", "annotationComment",
                   "annotationColor", "annotationPageLabel", "annotationSortIndex",
                   "annotationPosition", "annotationAuthorName", "annotationIsExternal"},
}
_COLLECTION_PROPS = {"key", "version", "name", "parentCollection", "relations", "deleted"}
_SEARCH_PROPS = {"key", "version", "name", "conditions", "deleted"}
_DATE_SORTS = {"dateAdded", "dateModified", "date", "accessDate"}
_ITEM_SORTS = {
    "dateAdded", "dateModified", "title", "creator", "itemType", "date", "publisher",
    "publicationTitle", "journalAbbreviation", "language", "accessDate", "libraryCatalog",
    "callNumber", "rights", "addedBy", "numItems",
}

# kind -> (path segment, key query parameter, label in messages)
_KINDS = {
    "item": ("items", "itemKey", "Item"),
    "collection": ("collections", "collectionKey", "Collection"),
    "search": ("searches", "searchKey", "Search"),
}
_SEGMENT_KIND = {seg: kind for kind, (seg, _, _) in _KINDS.items()}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RecordedRequest:
    """One request as the server saw it (headers with lower-case names)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    status: int | None = None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class _Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class _Rule:
    """An injected response, a Backoff header or a callback, for the next matching requests."""

    path: re.Pattern[str] | None
    method: str | None
    remaining: int | None  # None = forever
    response: _Response | None = None
    backoff: str | None = None
    callback: Callable[[RecordedRequest], Any] | None = None
    drip: tuple[float, bool] | None = None  # (seconds between bytes, headers dripped too)
    skip: int = 0  # matching requests to let through first
    query: Mapping[str, str] | None = None  # query parameters the request must carry

    def matches(self, req: RecordedRequest) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method and self.method.upper() != req.method:
            return False
        if self.query and any(req.query.get(k) != v for k, v in self.query.items()):
            return False
        return self.path is None or bool(self.path.search(req.path))


@dataclass
class _Key:
    key: str
    user_id: int
    username: str
    user_library: bool
    user_write: bool
    groups: dict[str, dict[str, bool]]  # "<gid>" or "all" -> {"library", "write"}

    def group_access(self, gid: int) -> dict[str, bool]:
        return self.groups.get(str(gid)) or self.groups.get("all") or {}


@dataclass
class _Library:
    type: str  # "group" | "user"
    id: int
    name: str
    version: int = 0
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"item": {}, "collection": {}, "search": {}})
    # deletion log: kind ("item", "collection", "search", "tag") -> key/name -> version at deletion
    deleted: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"item": {}, "collection": {}, "search": {}, "tag": {}})
    # tag name -> library version at which the tag first appeared (tags?since= is about new tags)
    tag_versions: dict[str, int] = field(default_factory=dict)
    group_version: int = 0
    group_data: dict[str, Any] = field(default_factory=dict)
    # what list requests reuse, valid for one library version: ordered key lists (paging 20,000
    # items would otherwise sort the whole library on every page), counts, each object's JSON
    cache_version: int = -1
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"/{self.type}s/{self.id}"

    def web_url(self) -> str:
        return f"https://www.zotero.org/{self.type}s/{self.id}"


class _ObjectFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeZotero

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up, or down() cutting a connection, is not worth a traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API and httpx pools expect
    timeout = 60  # an idle keep-alive connection frees its thread after a minute
    # Headers and body leave in one write, without Nagle: otherwise every keep-alive response
    # waits ~40 ms for the client's delayed ACK.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def _serve(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeZotero:
    """The fake server; see the module docstring for the API."""

    def __init__(self, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 seed: int | None = None) -> None:
        self.latency = latency
        # Zotero 7's local API: no key needed for reads, read-only, and no /deleted endpoint.
        self.local_api = False
        # False: object lists carry no Total-Results header (a client must then follow the pages).
        self.total_results = True
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # unexpected exceptions while serving (server bugs)
        self.in_flight = 0
        self.max_in_flight = 0
        self._libs: dict[str, _Library] = {}
        self._keys: dict[str, _Key] = {}
        self._tokens: dict[str, set[str]] = {}  # API key -> write tokens used
        self._rules: list[_Rule] = []
        self._random = random.Random(seed)
        self._state = threading.RLock()  # library state; never held while sleeping
        self._meta = threading.Lock()  # counters, request log, rules
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._schema: dict[str, Any] | None = None
        # Attachment files: (library prefix, item key) -> bytes; where file requests are redirected.
        self.files: dict[tuple[str, str], bytes] = {}
        self.storage: FileStorage | None = None
        self.local_files: Path | None = None
        # Set by the conftest fixtures for convenience.
        self.api_key: str | None = None
        self.user_id: int | None = None
        self.group_id: int | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def prefix(self) -> str:
        return f"/groups/{self.group_id}"

    def start(self) -> FakeZotero:
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.fake = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-zotero-{self.port}", daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening and cut open connections: clients see connection errors."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._meta:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def up(self) -> None:
        """Listen again on the same port after :meth:`down`."""
        if self._httpd is None:
            self.start()

    stop = down

    def __enter__(self) -> FakeZotero:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._meta:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ------------------------------------------------------------------ set-up
    def add_group(self, gid: int, name: str, *, owner: int | None = None,
                  library_editing: str = "members", library_reading: str = "members",
                  file_editing: str = "members", description: str = "") -> str:
        """Create a group library; returns its prefix "/groups/<gid>"."""
        with self._state:
            lib = _Library("group", int(gid), name, group_version=1)
            lib.group_data = {
                "id": int(gid), "version": 1, "name": name, "owner": owner or 0, "type": "Private",
                "description": description, "url": "", "libraryEditing": library_editing,
                "libraryReading": library_reading, "fileEditing": file_editing, "members": [],
                "hasImage": False,
            }
            self._libs[lib.prefix] = lib
            return lib.prefix

    def set_group(self, gid: int, **data: Any) -> int:
        """Change group metadata (name, description, ...); bumps the group's version."""
        with self._state:
            lib = self._lib(int(gid))
            lib.group_version += 1
            lib.group_data.update(data, version=lib.group_version)
            lib.name = lib.group_data["name"]
            return lib.group_version

    def add_key(self, key: str, user_id: int, username: str = "user",
                groups: Mapping[int | str, Mapping[str, bool]] | None = None,
                user_library: bool = True, user_write: bool = True) -> None:
        """Register an API key; ``groups={gid: {"library": True, "write": True}}`` or ``{"all": ...}``."""
        with self._state:
            self._keys[key] = _Key(key, int(user_id), username, user_library, user_write,
                                   {str(g): dict(a) for g, a in (groups or {}).items()})
            prefix = f"/users/{int(user_id)}"
            if user_library and prefix not in self._libs:
                self._libs[prefix] = _Library("user", int(user_id), username)
            for gid in (groups or {}):
                if str(gid) != "all" and f"/groups/{gid}" in self._libs:
                    members = self._libs[f"/groups/{gid}"].group_data["members"]
                    if int(user_id) not in members:
                        members.append(int(user_id))

    # ------------------------------------------------------------------ observation & faults
    def reset_requests(self) -> None:
        with self._meta:
            self.requests.clear()
            self.max_in_flight = self.in_flight

    def inject(self, status: int, headers: Mapping[str, str] | None = None, body: Any = None,
               path: str | None = None, method: str | None = None, times: int | None = 1,
               after: int = 0, query: Mapping[str, str] | None = None) -> None:
        """Answer ``times`` matching requests with this response instead, after letting ``after`` through.
        ``query``: only requests carrying these query parameters match (e.g. ``{"start": "100"}``)."""
        if body is None:
            payload = f"{status} injected by the test server".encode()
            ctype = "text/plain"
        elif isinstance(body, bytes):
            payload, ctype = body, "application/octet-stream"
        elif isinstance(body, str):
            payload, ctype = body.encode("utf-8"), "text/plain"
        else:
            payload, ctype = json.dumps(body).encode("utf-8"), "application/json"
        hdrs = {"Content-Type": ctype, **{k: str(v) for k, v in (headers or {}).items()}}
        with self._meta:
            self._rules.append(_Rule(_compile(path), method, times, response=_Response(status, hdrs, payload),
                                     skip=after, query=dict(query) if query else None))

    def clear_faults(self) -> None:
        """Forget every pending injection, Backoff header and callback."""
        with self._meta:
            self._rules.clear()

    def backoff(self, seconds: float | str, times: int = 1, path: str | None = None) -> None:
        """Add ``Backoff: <seconds>`` to the next ``times`` matching responses (text is sent as is)."""
        if isinstance(seconds, str):
            value = seconds
        else:
            value = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        with self._meta:
            self._rules.append(_Rule(_compile(path), None, times, backoff=value))

    def drip(self, interval: float, path: str | None = None, method: str | None = None, times: int | None = 1,
             headers_too: bool = True) -> None:
        """Send the next ``times`` matching responses one byte every ``interval`` seconds."""
        with self._meta:
            self._rules.append(_Rule(_compile(path), method, times, drip=(interval, headers_too)))

    def on_request(self, callback: Callable[[RecordedRequest], Any], path: str | None = None,
                   method: str | None = None, times: int | None = None) -> Callable[[], None]:
        """Run ``callback(request)`` before matching requests are served; returns an unregister function."""
        rule = _Rule(_compile(path), method, times, callback=callback)
        with self._meta:
            self._rules.append(rule)

        def remove() -> None:
            with self._meta:
                if rule in self._rules:
                    self._rules.remove(rule)
        return remove

    def _take_rules(self, req: RecordedRequest) -> tuple[list[_Rule], _Rule | None, str | None,
                                                          tuple[float, bool] | None]:
        callbacks: list[_Rule] = []
        injected: _Rule | None = None
        backoff: str | None = None
        drip: tuple[float, bool] | None = None
        with self._meta:
            for rule in self._rules:
                if not rule.matches(req):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                if rule.callback is not None:
                    callbacks.append(rule)
                elif rule.response is not None and injected is None:
                    injected = rule
                elif rule.backoff is not None and backoff is None:
                    backoff = rule.backoff
                elif rule.drip is not None and drip is None:
                    drip = rule.drip
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
            self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        return callbacks, injected, backoff, drip

    # ------------------------------------------------------------------ python-side mutations
    def _lib(self, prefix: str | int) -> _Library:
        if isinstance(prefix, int):
            prefix = f"/groups/{prefix}"
        prefix = "/" + prefix.strip("/")
        try:
            return self._libs[prefix]
        except KeyError:
            raise KeyError(f"no library {prefix} on the test server; call add_group/add_key first") from None

    def library_version(self, prefix: str | int) -> int:
        with self._state:
            return self._lib(prefix).version

    def get_item(self, prefix: str | int, key: str) -> dict[str, Any] | None:
        return self._get("item", prefix, key)

    def get_collection(self, prefix: str | int, key: str) -> dict[str, Any] | None:
        return self._get("collection", prefix, key)

    def item_keys(self, prefix: str | int) -> list[str]:
        with self._state:
            return list(self._lib(prefix).objects["item"])

    def _get(self, kind: str, prefix: str | int, key: str) -> dict[str, Any] | None:
        with self._state:
            lib = self._lib(prefix)
            data = lib.objects[kind].get(key)
            return None if data is None else json.loads(json.dumps(self._full(lib, kind, data)))

    def put_item(self, prefix: str | int, data: Mapping[str, Any], replace: bool = False) -> dict[str, Any]:
        return self._put("item", prefix, data, replace)

    def put_collection(self, prefix: str | int, data: Mapping[str, Any], replace: bool = False) -> dict[str, Any]:
        return self._put("collection", prefix, data, replace)

    def put_search(self, prefix: str | int, data: Mapping[str, Any], replace: bool = False) -> dict[str, Any]:
        return self._put("search", prefix, data, replace)

    def _put(self, kind: str, prefix: str | int, data: Mapping[str, Any], replace: bool) -> dict[str, Any]:
        data = json.loads(json.dumps(dict(data)))
        with self._state:
            lib = self._lib(prefix)
            store = lib.objects[kind]
            key = data.get("key") or self._new_key(lib, kind)
            existing = store.get(key)
            if existing is None and kind == "item" and not data.get("itemType"):
                raise ValueError(f"new item {key} needs an itemType")
            new = self._merge(kind, existing if not replace else None, data, key)
            if existing is not None and replace:
                new.setdefault("dateAdded", existing.get("dateAdded"))
            self._commit(lib, kind, {key: new}, {key: "dateModified" in data})
            return json.loads(json.dumps(self._full(lib, kind, store[key])))

    def put_file(self, prefix: str | int, key: str, content: bytes, content_type: str = "application/pdf",
                 filename: str | None = None) -> dict[str, Any]:
        """Give attachment ``key`` this file (one write: its md5, mtime, filename, contentType)."""
        item = self.get_item(prefix, key)
        if item is None or item["data"].get("itemType") != "attachment":
            raise KeyError(f"no attachment {key} to give a file")
        with self._state:
            self.files[(self._lib(prefix).prefix, key)] = content
        if self.storage is not None:
            self.storage.blobs[hashlib.md5(content).hexdigest()] = content
        return self.put_item(prefix, {"key": key, "md5": hashlib.md5(content).hexdigest(),
                                      "mtime": int(time.time() * 1000), "contentType": content_type,
                                      "filename": filename or item["data"].get("filename") or f"{key}.pdf"})

    def trash_item(self, prefix: str | int, key: str) -> dict[str, Any]:
        if self.get_item(prefix, key) is None:
            raise KeyError(f"no item {key} to trash")
        return self.put_item(prefix, {"key": key, "deleted": 1})

    def restore_item(self, prefix: str | int, key: str) -> dict[str, Any]:
        if self.get_item(prefix, key) is None:
            raise KeyError(f"no item {key} to restore")
        return self.put_item(prefix, {"key": key, "deleted": 0})

    def delete_item(self, prefix: str | int, key: str) -> int:
        return self._delete_py("item", prefix, key)

    def delete_collection(self, prefix: str | int, key: str) -> int:
        return self._delete_py("collection", prefix, key)

    def delete_search(self, prefix: str | int, key: str) -> int:
        return self._delete_py("search", prefix, key)

    def _delete_py(self, kind: str, prefix: str | int, key: str) -> int:
        with self._state:
            lib = self._lib(prefix)
            if key not in lib.objects[kind]:
                raise KeyError(f"no {kind} {key} in {lib.prefix}")
            self._delete(lib, kind, [key])
            return lib.version

    def load_export(self, prefix: str | int, items: Iterable[Mapping[str, Any]],
                    collections: Iterable[Mapping[str, Any]] = (),
                    searches: Iterable[Mapping[str, Any]] = ()) -> int:
        """Bulk load objects (full API objects or bare data dicts) in one version bump."""
        # One JSON round trip copies everything far faster than deepcopy.
        payload = json.loads(json.dumps([list(items), list(collections), list(searches)]))
        now = _now()
        with self._state:
            lib = self._lib(prefix)
            lib.version += 1
            version = lib.version
            for kind, objs in zip(("item", "collection", "search"), payload, strict=True):
                store = lib.objects[kind]
                log = lib.deleted[kind]
                for obj in objs:
                    data = obj["data"] if isinstance(obj.get("data"), dict) else obj
                    key = data.get("key") or obj.get("key") or self._new_key(lib, kind)
                    data["key"] = key
                    data["version"] = version
                    if kind == "item":
                        data.setdefault("tags", [])
                        data.setdefault("collections", [])
                        data.setdefault("relations", {})
                        data.setdefault("dateAdded", now)
                        data.setdefault("dateModified", data["dateAdded"])
                        _normalise_item(data)
                    elif kind == "collection":
                        data.setdefault("parentCollection", False)
                        data.setdefault("relations", {})
                    else:
                        data.setdefault("conditions", [])
                    store[key] = data
                    log.pop(key, None)
                    if kind == "item":
                        _note_tags(lib, data, version)
            return version

    # ------------------------------------------------------------------ state helpers
    def _new_key(self, lib: _Library, kind: str) -> str:
        while True:
            key = "".join(self._random.choice(KEY_CHARS) for _ in range(8))
            if key not in lib.objects[kind]:
                return key

    def _merge(self, kind: str, existing: dict[str, Any] | None, given: Mapping[str, Any],
               key: str) -> dict[str, Any]:
        """PATCH semantics onto ``existing`` (None = create / full replace)."""
        new: dict[str, Any] = json.loads(json.dumps(existing)) if existing else {}
        for prop, value in given.items():
            if prop not in ("key", "version"):
                new[prop] = value
        new["key"] = key
        if kind == "item":
            new.setdefault("tags", [])
            new.setdefault("collections", [])
            new.setdefault("relations", {})
            _normalise_item(new)
        elif kind == "collection":
            if not new.get("parentCollection"):
                new["parentCollection"] = False
            new.setdefault("relations", {})
        else:
            new.setdefault("conditions", [])
        return new

    def _commit(self, lib: _Library, kind: str, changed: Mapping[str, dict[str, Any]],
                client_dates: Mapping[str, bool] | None = None) -> int:
        """Store changed objects with one library version bump."""
        lib.version += 1
        now = _now()
        store = lib.objects[kind]
        for key, data in changed.items():
            data["version"] = lib.version
            if kind == "item":
                data.setdefault("dateAdded", now)
                if not (client_dates or {}).get(key):
                    data["dateModified"] = now
            store[key] = data
            lib.deleted[kind].pop(key, None)
            if kind == "item":
                _note_tags(lib, data, lib.version)
        return lib.version

    def _delete(self, lib: _Library, kind: str, keys: Iterable[str]) -> bool:
        """Delete objects permanently (with cascades) in one version bump; False if none existed."""
        store = lib.objects[kind]
        doomed = [k for k in dict.fromkeys(keys) if k in store]
        if not doomed:
            return False
        lib.version += 1
        version = lib.version
        # Children go with their parent (notes/attachments/annotations, subcollections).
        link = "parentItem" if kind == "item" else "parentCollection"
        if kind != "search":
            todo = set(doomed)
            while todo:
                subs = [k for k, d in store.items() if d.get(link) in todo and k not in doomed]
                doomed += subs
                todo = set(subs)
        if kind == "collection":
            gone = set(doomed)
            now = _now()
            for item in lib.objects["item"].values():
                if gone.intersection(item.get("collections", ())):
                    item["collections"] = [c for c in item["collections"] if c not in gone]
                    item["version"] = version
                    item["dateModified"] = now
        for key in doomed:
            store.pop(key, None)
            lib.deleted[kind][key] = version
        return True

    def _full(self, lib: _Library, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """The full API object for stored ``data``."""
        key = data["key"]
        seg = _KINDS[kind][0]
        library: dict[str, Any] = {"type": lib.type, "id": lib.id, "name": lib.name,
                                   "links": {"alternate": {"href": lib.web_url(), "type": "text/html"}}}
        links: dict[str, Any] = {
            "self": {"href": f"{self.url}{lib.prefix}/{seg}/{key}", "type": "application/json"},
            "alternate": {"href": f"{lib.web_url()}/{seg}/{key}", "type": "text/html"},
        }
        meta: dict[str, Any] = {}
        if kind == "item":
            parent = data.get("parentItem")
            if parent:
                links["up"] = {"href": f"{self.url}{lib.prefix}/items/{parent}", "type": "application/json"}
            summary = _creator_summary(data.get("creators") or [])
            if summary:
                meta["creatorSummary"] = summary
            parsed = _parsed_date(data.get("date", ""))
            if parsed:
                meta["parsedDate"] = parsed
            if data.get("itemType") not in ("note", "annotation"):
                meta["numChildren"] = self._counts(lib)["children"].get(key, 0)
        elif kind == "collection":
            parent = data.get("parentCollection")
            if parent:
                links["up"] = {"href": f"{self.url}{lib.prefix}/collections/{parent}", "type": "application/json"}
            counts = self._counts(lib)
            meta = {"numCollections": counts["subcollections"].get(key, 0),
                    "numItems": counts["members"].get(key, 0)}
        return {"key": key, "version": data["version"], "library": library, "links": links,
                "meta": meta, "data": data}

    def _counts(self, lib: _Library) -> dict[str, dict[str, int]]:
        """numChildren / numItems / numCollections for the current version (cached)."""
        cached = self._cached(lib, ("counts",))
        if cached is not None:
            return cached
        children: dict[str, int] = {}
        members: dict[str, int] = {}
        subs: dict[str, int] = {}
        for item in lib.objects["item"].values():
            if item.get("deleted"):
                continue
            parent = item.get("parentItem")
            if parent:
                children[parent] = children.get(parent, 0) + 1
            for coll in item.get("collections", ()):
                members[coll] = members.get(coll, 0) + 1
        for coll in lib.objects["collection"].values():
            parent = coll.get("parentCollection")
            if parent:
                subs[parent] = subs.get(parent, 0) + 1
        counts = {"children": children, "members": members, "subcollections": subs}
        lib.cache[("counts",)] = counts
        return counts

    @staticmethod
    def _cached(lib: _Library, key: tuple[Any, ...]) -> Any:
        if lib.cache_version != lib.version:
            lib.cache.clear()
            lib.cache_version = lib.version
        return lib.cache.get(key)

    # ------------------------------------------------------------------ schema
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            text = files("zotcurate").joinpath("data", "zotero-schema.json").read_text(encoding="utf-8")
            self._schema = json.loads(text)
        return self._schema

    def _type_fields(self, item_type: str) -> list[dict[str, Any]] | None:
        for t in self.schema()["itemTypes"]:
            if t["itemType"] == item_type:
                return t["fields"]
        return None

    def _valid_props(self, item_type: str) -> set[str] | None:
        fields = self._type_fields(item_type)
        if fields is None:
            return None
        props = set(_COMMON_ITEM_PROPS) | _EXTRA_PROPS.get(item_type, set())
        for f in fields:
            props.add(f["field"])
            if "baseField" in f:
                props.add(f["baseField"])  # Zotero maps base fields (title on a statute, ...)
        return props

    # ------------------------------------------------------------------ HTTP plumbing
    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in h.headers.items()}
        body = _read_body(h, headers)
        req = RecordedRequest(h.command, parts.path, dict(query_pairs), headers, body)
        with self._meta:
            self.requests.append(req)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)  # outside every lock: concurrent requests overlap
            callbacks, injected, backoff, drip = self._take_rules(req)
            try:
                for rule in callbacks:
                    assert rule.callback is not None
                    rule.callback(req)
                if injected is not None and injected.response is not None:
                    resp = _Response(injected.response.status, dict(injected.response.headers),
                                     injected.response.body)
                else:
                    resp = self._route(req, query_pairs)
            except _HTTPError as err:
                resp = _Response(err.status, {"Content-Type": "text/plain", **err.headers},
                                 err.message.encode("utf-8"))
            except Exception as exc:  # a bug in this server or a callback: answer 500, keep it for the test
                self.errors.append(exc)
                resp = _Response(500, {"Content-Type": "text/plain"},
                                 f"test server error: {exc!r}".encode())
            resp.headers.setdefault("Zotero-API-Version", "3")
            if backoff is not None:
                resp.headers["Backoff"] = backoff
            req.status = resp.status
        finally:
            with self._meta:
                self.in_flight -= 1
        if drip is not None:
            _drip(h, resp, *drip)
            return
        h.send_response(resp.status)
        for name, value in resp.headers.items():
            h.send_header(name, value)
        if resp.status not in (204, 304):
            h.send_header("Content-Length", str(len(resp.body)))
        h.end_headers()
        if resp.status not in (204, 304) and resp.body:
            h.wfile.write(resp.body)

    def _auth(self, req: RecordedRequest) -> _Key | None:
        key = req.headers.get("zotero-api-key") or req.query.get("key")
        auth = req.headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            return None
        found = self._keys.get(key)
        if found is None:
            raise _HTTPError(403, "Invalid key")
        return found

    def _route(self, req: RecordedRequest, query_pairs: list[tuple[str, str]]) -> _Response:
        segs = [s for s in req.path.split("/") if s]
        method = req.method
        with self._state:
            key = self._auth(req)
            if not segs:
                return _Response(200, {"Content-Type": "text/plain"}, b"Nothing to see here.")
            if segs[0] in ("itemTypes", "itemFields", "creatorFields", "itemTypeFields",
                           "itemTypeCreatorTypes", "schema") or segs[:2] == ["items", "new"]:
                return self._schema_endpoint(req, segs)
            if segs[0] == "keys" and len(segs) == 2 and method == "GET":
                return self._key_info(req, key, segs[1])
            if len(segs) < 2 or segs[0] not in ("users", "groups") or not segs[1].isdigit():
                raise _HTTPError(404, "Not found")
            prefix = f"/{segs[0]}/{int(segs[1])}"
            lib = self._libs.get(prefix)
            if segs[0] == "users" and segs[2:] == ["groups"] and method == "GET":
                return self._user_groups(req, key, int(segs[1]), query_pairs)
            if lib is None:
                raise _HTTPError(404, "Group not found" if segs[0] == "groups" else "User not found")
            self._check_access(lib, key, write=method != "GET")
            rest = segs[2:]
            if not rest:
                if segs[0] == "groups" and method == "GET":
                    return self._group_meta(req, lib)
                raise _HTTPError(404, "Not found")
            if method == "GET":
                return self._get_route(req, lib, rest, query_pairs)
            return self._write_route(req, lib, rest, key)

    def _check_access(self, lib: _Library, key: _Key | None, write: bool) -> None:
        if self.local_api:
            if write:
                raise _HTTPError(501, "Write access is not supported by the local API")
            return
        if key is None:
            raise _HTTPError(403, "Forbidden")
        if lib.type == "user":
            ok = key.user_id == lib.id and key.user_library
            can_write = ok and key.user_write
        else:
            access = key.group_access(lib.id)
            ok = bool(access.get("library"))
            can_write = ok and bool(access.get("write"))
        if not ok:
            raise _HTTPError(403, "Forbidden")
        if write and not can_write:
            raise _HTTPError(403, "Write access denied")

    # ------------------------------------------------------------------ read endpoints
    def _key_info(self, req: RecordedRequest, key: _Key | None, which: str) -> _Response:
        if which == "current":
            if key is None:
                raise _HTTPError(403, "Forbidden")
            found = key
        else:
            found = self._keys.get(which)
            if found is None:
                raise _HTTPError(404, "Key not found")
        groups = {g: {"library": bool(a.get("library")), "write": bool(a.get("write"))}
                  for g, a in found.groups.items()}
        access: dict[str, Any] = {"groups": groups}
        if found.user_library:
            access["user"] = {"library": True, "files": True, "notes": True, "write": found.user_write}
        return _json(200, {"key": found.key, "userID": found.user_id, "username": found.username,
                           "displayName": "", "access": access})

    def _group_object(self, lib: _Library) -> dict[str, Any]:
        return {
            "id": lib.id, "version": lib.group_version,
            "links": {"self": {"href": f"{self.url}{lib.prefix}", "type": "application/json"},
                      "alternate": {"href": lib.web_url(), "type": "text/html"}},
            "meta": {"created": "2024-01-01T00:00:00Z", "lastModified": _now(),
                     "numItems": sum(1 for d in lib.objects["item"].values() if not d.get("deleted"))},
            "data": dict(lib.group_data),
        }

    def _group_meta(self, req: RecordedRequest, lib: _Library) -> _Response:
        if _int_header(req, "if-modified-since-version") is not None and \
                lib.group_version <= _int_header(req, "if-modified-since-version"):  # type: ignore[operator]
            return _Response(304, {"Last-Modified-Version": str(lib.group_version)})
        return _json(200, self._group_object(lib), {"Last-Modified-Version": str(lib.group_version)})

    def _user_groups(self, req: RecordedRequest, key: _Key | None, uid: int,
                     query_pairs: list[tuple[str, str]]) -> _Response:
        if key is None or key.user_id != uid:
            raise _HTTPError(403, "Forbidden")
        libs = [lib for lib in self._libs.values() if lib.type == "group"
                and (key.group_access(lib.id).get("library") or uid in lib.group_data.get("members", []))]
        libs.sort(key=lambda lib: lib.id)
        version = max([lib.group_version for lib in libs] or [0])
        headers = {"Last-Modified-Version": str(version), "Total-Results": str(len(libs))}
        fmt = req.query.get("format", "json")
        if fmt == "versions":
            return _json(200, {str(lib.id): lib.group_version for lib in libs}, headers)
        if fmt == "keys":
            return _text(200, "".join(f"{lib.id}\n" for lib in libs), headers)
        return _json(200, [self._group_object(lib) for lib in libs], headers)

    def _schema_endpoint(self, req: RecordedRequest, segs: list[str]) -> _Response:
        schema = self.schema()
        labels = schema["locales"]["en-US"]
        name = segs[0] if segs[0] != "items" else "items/new"
        if name == "itemTypes":
            return _json(200, [{"itemType": t["itemType"],
                                "localized": labels["itemTypes"].get(t["itemType"], t["itemType"])}
                               for t in schema["itemTypes"]])
        if name == "itemFields":
            fields = sorted({f["field"] for t in schema["itemTypes"] for f in t["fields"]})
            return _json(200, [{"field": f, "localized": labels["fields"].get(f, f)} for f in fields])
        if name == "creatorFields":
            return _json(200, [{"field": "firstName", "localized": "First"},
                               {"field": "lastName", "localized": "Last"},
                               {"field": "name", "localized": "Name"}])
        if name == "schema":
            return _json(200, schema)
        item_type = req.query.get("itemType", "")
        fields = self._type_fields(item_type)
        if fields is None:
            raise _HTTPError(400, f"Invalid item type '{item_type}'")
        ctypes = next(t["creatorTypes"] for t in schema["itemTypes"] if t["itemType"] == item_type)
        if name == "itemTypeFields":
            return _json(200, [{"field": f["field"], "localized": labels["fields"].get(f["field"], f["field"])}
                               for f in fields])
        if name == "itemTypeCreatorTypes":
            return _json(200, [{"creatorType": c["creatorType"],
                                "localized": labels["creatorTypes"].get(c["creatorType"], c["creatorType"])}
                               for c in ctypes])
        # items/new: an empty item of that type
        template: dict[str, Any] = {"itemType": item_type}
        if item_type == "note":
            template["note"] = ""
        elif item_type == "attachment":
            template.update(linkMode=req.query.get("linkMode") or "linked_url", title="", accessDate="",
                            url="", note="", contentType="", charset="")
            if template["linkMode"] != "linked_url":
                template.update(filename="", md5=None, mtime=None)
        else:
            template.update({f["field"]: "" for f in fields[:1]})
            primary = next((c["creatorType"] for c in ctypes if c.get("primary")), None)
            template["creators"] = [{"creatorType": primary, "firstName": "", "lastName": ""}] if primary else []
            template.update({f["field"]: "" for f in fields[1:]})
        template.update(tags=[], collections=[], relations={})
        if item_type in ("note", "attachment"):
            del template["collections"]
        return _json(200, template)

    def _get_route(self, req: RecordedRequest, lib: _Library, rest: list[str],
                   query_pairs: list[tuple[str, str]]) -> _Response:
        seg = rest[0]
        n = len(rest)
        if seg == "items":
            if n == 1:
                return self._list(req, lib, "item", ("all",), query_pairs)
            if n == 2 and rest[1] in ("top", "trash"):
                return self._list(req, lib, "item", (rest[1],), query_pairs)
            if n == 3 and rest[1] in ("top", "trash") and rest[2] == "tags":
                return self._tags(req, lib, (rest[1],), query_pairs)
            if n >= 2:
                item = self._need(lib, "item", rest[1])
                if n == 2:
                    return self._single(req, lib, "item", item)
                if n == 3 and rest[2] == "children":
                    return self._list(req, lib, "item", ("children", item["key"]), query_pairs)
                if n == 3 and rest[2] == "tags":
                    return self._tags(req, lib, ("one", item["key"]), query_pairs)
                if n == 3 and rest[2] == "file":
                    return self._file(lib, item)
                if n == 3 and rest[2] == "fulltext":
                    raise _HTTPError(404, "Not found")
        elif seg == "collections":
            if n == 1:
                return self._list(req, lib, "collection", ("all",), query_pairs)
            if n == 2 and rest[1] == "top":
                return self._list(req, lib, "collection", ("top",), query_pairs)
            coll = self._need(lib, "collection", rest[1])
            if n == 2:
                return self._single(req, lib, "collection", coll)
            if rest[2:] == ["collections"]:
                return self._list(req, lib, "collection", ("sub", coll["key"]), query_pairs)
            if rest[2:] == ["items"]:
                return self._list(req, lib, "item", ("coll", coll["key"]), query_pairs)
            if rest[2:] == ["items", "top"]:
                return self._list(req, lib, "item", ("colltop", coll["key"]), query_pairs)
            if rest[2:] == ["tags"]:
                return self._tags(req, lib, ("coll", coll["key"]), query_pairs)
        elif seg == "searches":
            if n == 1:
                return self._list(req, lib, "search", ("all",), query_pairs)
            if n == 2:
                return self._single(req, lib, "search", self._need(lib, "search", rest[1]))
        elif seg == "tags" and n == 1:
            return self._tags(req, lib, ("all",), query_pairs)
        elif seg == "deleted" and n == 1 and self.local_api:
            raise _HTTPError(404, "Not found")
        elif seg == "deleted" and n == 1:
            return self._deleted(req, lib)
        elif seg in ("settings", "fulltext") and n == 1:
            if seg == "fulltext" and "since" not in req.query:
                raise _HTTPError(400, "'since' parameter must be provided")
            lmv = {"Last-Modified-Version": str(lib.version)}
            if self._not_modified(req, lib.version):
                return _Response(304, lmv)
            return _json(200, {}, lmv)
        raise _HTTPError(404, "Not found")

    def _file(self, lib: _Library, item: dict[str, Any]) -> _Response:
        content = self.files.get((lib.prefix, item["key"]))
        if content is None or item.get("itemType") != "attachment":
            raise _HTTPError(404, "Not found")
        md5 = hashlib.md5(content).hexdigest()
        if self.local_api and self.local_files is not None:
            path = self.local_files / item["key"] / (item.get("filename") or "file")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            return _Response(302, {"Location": path.resolve().as_uri()})
        if self.storage is not None:
            self.storage.blobs[md5] = content
            # Zotero's storage URLs are signed and short-lived; a token stands for the signature.
            token = "".join(self._random.choice(KEY_CHARS) for _ in range(16))
            return _Response(302, {"Location": f"{self.storage.url}/zotero-files/{md5}?sig={token}"})
        return _Response(200, {"Content-Type": item.get("contentType") or "application/octet-stream"}, content)

    def _need(self, lib: _Library, kind: str, key: str) -> dict[str, Any]:
        data = lib.objects[kind].get(key)
        if data is None:
            raise _HTTPError(404, f"{_KINDS[kind][2]} not found")
        return data

    @staticmethod
    def _not_modified(req: RecordedRequest, version: int) -> bool:
        since = _int_header(req, "if-modified-since-version")
        return since is not None and version <= since

    def _single(self, req: RecordedRequest, lib: _Library, kind: str, data: dict[str, Any]) -> _Response:
        lmv = {"Last-Modified-Version": str(data["version"])}
        if self._not_modified(req, data["version"]):
            return _Response(304, lmv)
        fmt = req.query.get("format", "json")
        if fmt == "keys":
            return _text(200, data["key"] + "\n", lmv)
        if fmt != "json":
            raise _HTTPError(400, f"Invalid 'format' value '{fmt}' (the test server serves json and keys)")
        return _json(200, self._full(lib, kind, data), lmv)

    def _select(self, req: RecordedRequest, lib: _Library, kind: str, scope: tuple[str, ...]) -> list[str]:
        """Keys of the objects a list request matches, in the requested order."""
        q = req.query
        since = _int_param(q, "since")
        key_param = _KINDS[kind][1]
        wanted = [k for k in q.get(key_param, "").split(",") if k]
        if len(wanted) > MAX_WRITE:
            raise _HTTPError(400, f"Cannot specify more than {MAX_WRITE} {_KINDS[kind][0]} keys")
        include_trashed = q.get("includeTrashed") in ("1", "true")
        sort = q.get("sort") or ("title" if kind != "item" else "dateModified")
        if kind == "item" and sort not in _ITEM_SORTS:
            raise _HTTPError(400, f"Invalid 'sort' value '{sort}'")
        direction = q.get("direction") or ("desc" if sort in _DATE_SORTS else "asc")
        if direction not in ("asc", "desc"):
            raise _HTTPError(400, f"Invalid 'direction' value '{direction}'")
        filters = (q.get("tag", ""), q.get("itemType", ""), q.get("q", ""))
        cache_key = (kind, scope, since, tuple(wanted), include_trashed, sort, direction, filters)
        cached = self._cached(lib, cache_key)
        if cached is not None:
            return cached
        store = lib.objects[kind]
        candidates = [store[k] for k in dict.fromkeys(wanted) if k in store] if wanted else list(store.values())
        what = scope[0]
        arg = scope[1] if len(scope) > 1 else None
        out = []
        for d in candidates:
            if since is not None and d["version"] <= since:
                continue
            if kind == "item":
                trashed = bool(d.get("deleted"))
                if what == "trash":
                    if not trashed:
                        continue
                elif trashed and not include_trashed:
                    continue
                if what in ("top", "colltop") and d.get("parentItem"):
                    continue
                if what == "children" and d.get("parentItem") != arg:
                    continue
                if what in ("coll", "colltop") and arg not in d.get("collections", ()):
                    continue
                if not _item_filters(d, *filters):
                    continue
            elif kind == "collection":
                if what == "top" and d.get("parentCollection"):
                    continue
                if what == "sub" and d.get("parentCollection") != arg:
                    continue
            out.append(d)
        out.sort(key=lambda d: _sort_key(d, kind, sort), reverse=direction == "desc")
        keys = [d["key"] for d in out]
        lib.cache[cache_key] = keys
        return keys

    def _list(self, req: RecordedRequest, lib: _Library, kind: str, scope: tuple[str, ...],
              query_pairs: list[tuple[str, str]]) -> _Response:
        headers = {"Last-Modified-Version": str(lib.version)}
        if self._not_modified(req, lib.version):
            return _Response(304, headers)
        fmt = req.query.get("format", "json")
        if fmt not in ("json", "keys", "versions"):
            raise _HTTPError(400, f"Invalid 'format' value '{fmt}' (the test server serves json, keys, versions)")
        keys = self._select(req, lib, kind, scope)
        total = len(keys)
        start = _int_param(req.query, "start") or 0
        if start < 0:
            raise _HTTPError(400, "'start' must be a non-negative integer")
        # keys/versions have no default limit (Zotero); json defaults to 25, at most 100.
        explicit = _int_param(req.query, "limit")
        if explicit is not None and explicit < 1:
            raise _HTTPError(400, "'limit' must be a positive integer")
        limit = None if explicit is None and fmt != "json" else min(explicit or DEFAULT_LIMIT, MAX_LIMIT)
        page = keys[start:start + limit] if limit is not None else keys[start:]
        if self.total_results:
            headers["Total-Results"] = str(total)
        link = self._links(req, lib, query_pairs, start, limit, total)
        if link:
            headers["Link"] = link
        store = lib.objects[kind]
        if fmt == "keys":
            return _text(200, "".join(k + "\n" for k in page), headers)
        if fmt == "versions":
            return _json(200, {k: store[k]["version"] for k in page}, headers)
        # Byte for byte what json.dumps(list) gives, from each object's JSON cached for this
        # library version: 4 pages requested at once would otherwise queue behind one another's
        # encoding here (one process, one GIL), which a real server does not do.
        body = "[" + ", ".join(self._object_json(lib, kind, store[k]) for k in page) + "]"
        return _Response(200, {"Content-Type": "application/json", **headers}, body.encode("utf-8"))

    def _object_json(self, lib: _Library, kind: str, data: dict[str, Any]) -> str:
        # The group's name is in every object and changes without a library version.
        key = ("json", kind, data["key"], lib.name)
        text = self._cached(lib, key)
        if text is None:
            text = lib.cache[key] = json.dumps(self._full(lib, kind, data), ensure_ascii=False)
        return text

    def _links(self, req: RecordedRequest, lib: _Library, query_pairs: list[tuple[str, str]],
               start: int, limit: int | None, total: int) -> str:
        base = [(k, v) for k, v in query_pairs if k not in ("start", "key")]

        def url(at: int) -> str:
            params = base + ([("start", str(at))] if at else [])
            return f"{self.url}{req.path}" + (f"?{urlencode(params)}" if params else "")

        links = []
        if limit is not None:
            if start > 0:
                links.append(f'<{url(0)}>; rel="first"')
                links.append(f'<{url(max(0, start - limit))}>; rel="prev"')
            if start + limit < total:
                links.append(f'<{url(start + limit)}>; rel="next"')
                links.append(f'<{url(((total - 1) // limit) * limit)}>; rel="last"')
        tail = req.path[len(lib.prefix):]
        links.append(f'<{lib.web_url()}{tail}>; rel="alternate"')
        return ", ".join(links)

    def _tags(self, req: RecordedRequest, lib: _Library, scope: tuple[str, ...],
              query_pairs: list[tuple[str, str]]) -> _Response:
        headers = {"Last-Modified-Version": str(lib.version)}
        if self._not_modified(req, lib.version):
            return _Response(304, headers)
        since = _int_param(req.query, "since")
        items = lib.objects["item"]
        what = scope[0]
        arg = scope[1] if len(scope) > 1 else None
        counts: dict[tuple[str, int], int] = {}
        for d in items.values():
            trashed = bool(d.get("deleted"))
            if what == "trash" and not trashed:
                continue
            if what != "trash" and what != "one" and trashed:
                continue
            if what == "top" and d.get("parentItem"):
                continue
            if what == "one" and d["key"] != arg:
                continue
            if what == "coll" and arg not in d.get("collections", ()):
                continue
            for t in d.get("tags", ()):
                if since is not None and lib.tag_versions.get(t["tag"], 0) <= since:
                    continue
                tk = (t["tag"], int(t.get("type") or 0))
                counts[tk] = counts.get(tk, 0) + 1
        names = sorted(counts, key=lambda tk: (tk[0].lower(), tk[1]),
                       reverse=req.query.get("direction") == "desc")
        start = _int_param(req.query, "start") or 0
        limit = min(_int_param(req.query, "limit") or DEFAULT_LIMIT, MAX_LIMIT)
        page = names[start:start + limit]
        headers["Total-Results"] = str(len(names))
        headers["Link"] = self._links(req, lib, query_pairs, start, limit, len(names))
        out = [{"tag": name,
                "links": {"self": {"href": f"{self.url}{lib.prefix}/tags/{name}", "type": "application/json"},
                          "alternate": {"href": f"{lib.web_url()}/tags/{name}", "type": "text/html"}},
                "meta": {"type": ttype, "numItems": counts[(name, ttype)]}} for name, ttype in page]
        return _json(200, out, headers)

    def _deleted(self, req: RecordedRequest, lib: _Library) -> _Response:
        headers = {"Last-Modified-Version": str(lib.version)}
        if self._not_modified(req, lib.version):
            return _Response(304, headers)
        since = _int_param(req.query, "since")
        if since is None:
            raise _HTTPError(400, "'since' parameter must be provided")
        log = lib.deleted
        return _json(200, {
            "collections": [k for k, v in log["collection"].items() if v > since],
            "searches": [k for k, v in log["search"].items() if v > since],
            "items": [k for k, v in log["item"].items() if v > since],
            "tags": [k for k, v in log["tag"].items() if v > since],
            "settings": [],
        }, headers)

    # ------------------------------------------------------------------ write endpoints
    def _write_route(self, req: RecordedRequest, lib: _Library, rest: list[str], key: _Key | None) -> _Response:
        seg = rest[0]
        method = req.method
        if seg == "tags" and len(rest) == 1 and method == "DELETE":
            return self._delete_tags(req, lib)
        kind = _SEGMENT_KIND.get(seg)
        if kind is None:
            known = seg in ("tags", "deleted", "settings", "fulltext")
            raise _HTTPError(405 if known else 404, "Method not allowed" if known else "Not found")
        if len(rest) == 1:
            if method == "POST":
                return self._post(req, lib, kind, key)
            if method == "DELETE":
                return self._delete_many(req, lib, kind)
        elif len(rest) == 2:
            if method in ("PATCH", "PUT"):
                return self._put_one(req, lib, kind, rest[1])
            if method == "DELETE":
                return self._delete_one(req, lib, kind, rest[1])
        raise _HTTPError(405, "Method not allowed")

    def _check_library_version(self, req: RecordedRequest, lib: _Library) -> int | None:
        expected = _int_header(req, "if-unmodified-since-version")
        if expected is not None and lib.version > expected:
            raise _HTTPError(412, f"Library has been modified since specified version "
                                  f"(expected {expected}, found {lib.version})",
                             {"Last-Modified-Version": str(lib.version)})
        return expected

    def _post(self, req: RecordedRequest, lib: _Library, kind: str, key: _Key | None) -> _Response:
        body = _parse_json(req.body)
        if not isinstance(body, list):
            raise _HTTPError(400, "Uploaded data must be a JSON array")
        if len(body) > MAX_WRITE:
            raise _HTTPError(413, f"Only {MAX_WRITE} objects can be saved in a single request")
        token = req.headers.get("zotero-write-token")
        api_key = key.key if key else ""
        if token and token in self._tokens.get(api_key, set()):
            raise _HTTPError(412, "Write token already used")
        header_version = self._check_library_version(req, lib)
        store = lib.objects[kind]
        pending: dict[str, dict[str, Any]] = {}
        client_dates: dict[str, bool] = {}
        order: list[tuple[int, str]] = []
        unchanged: dict[str, str] = {}
        failed: dict[str, dict[str, Any]] = {}
        for i, obj in enumerate(body):
            obj_key = obj.get("key") if isinstance(obj, dict) else None
            try:
                if not isinstance(obj, dict):
                    raise _ObjectFailure(400, "Object must be a JSON object")
                new, existing = self._prepare(lib, kind, obj, header_version is not None, pending, patch=True)
                obj_key = new["key"]
                if existing is not None and _same(existing, new):
                    unchanged[str(i)] = obj_key
                    continue
                pending[obj_key] = new
                client_dates[obj_key] = "dateModified" in obj and (existing is None or
                                                                   obj["dateModified"] != existing.get("dateModified"))
                order.append((i, obj_key))
            except _ObjectFailure as fail:
                failed[str(i)] = {"key": obj_key or "", "code": fail.code, "message": fail.message}
        successful: dict[str, Any] = {}
        success: dict[str, str] = {}
        if pending:
            self._commit(lib, kind, pending, client_dates)
            for i, obj_key in order:
                successful[str(i)] = json.loads(json.dumps(self._full(lib, kind, store[obj_key])))
                success[str(i)] = obj_key
        if token:
            self._tokens.setdefault(api_key, set()).add(token)
        return _json(200, {"successful": successful, "success": success, "unchanged": unchanged,
                           "failed": failed}, {"Last-Modified-Version": str(lib.version)})

    def _prepare(self, lib: _Library, kind: str, obj: dict[str, Any], has_header: bool,
                 pending: Mapping[str, dict[str, Any]], patch: bool, path_key: str | None = None
                 ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Validate one uploaded object; returns (new data, existing data or None)."""
        label = _KINDS[kind][2]
        key = path_key or obj.get("key")
        if key is not None and (not isinstance(key, str) or not KEY_RE.match(key)):
            raise _ObjectFailure(400, f"'{key}' is not a valid {kind} key")
        if path_key and obj.get("key") not in (None, path_key):
            raise _ObjectFailure(400, "Key in body does not match key in URL")
        existing = pending.get(key) if key else None
        if existing is None and key:
            existing = lib.objects[kind].get(key)
        given_version = obj.get("version")
        if given_version is not None and not isinstance(given_version, int):
            raise _ObjectFailure(400, "'version' must be an integer")
        if existing is not None:
            if given_version is not None:
                if given_version != existing["version"]:
                    raise _ObjectFailure(412, f"{label} has been modified since specified version "
                                              f"(expected {given_version}, found {existing['version']})")
            elif not has_header:
                raise _ObjectFailure(428, "Either If-Unmodified-Since-Version or object version must be provided")
            if "dateAdded" in obj and obj["dateAdded"] != existing.get("dateAdded"):
                raise _ObjectFailure(400, "'dateAdded' cannot be modified for existing items")
        elif given_version:
            raise _ObjectFailure(404, f"{kind} doesn't exist (expected version {given_version}; use 0 instead)")
        if not key:
            key = self._new_key(lib, kind)
        new = self._merge(kind, existing if patch else None, obj, key)
        if existing is not None and not patch:
            new.setdefault("dateAdded", existing.get("dateAdded"))
        if existing is not None:
            new["version"] = existing["version"]
        self._validate(lib, kind, new, pending)
        return new, existing

    def _validate(self, lib: _Library, kind: str, data: dict[str, Any], pending: Mapping[str, dict[str, Any]]) -> None:
        def exists(k: str, what: str) -> bool:
            return k in lib.objects[what] or (what == kind and k in pending)

        if kind == "item":
            item_type = data.get("itemType")
            if not item_type:
                raise _ObjectFailure(400, "'itemType' property not provided")
            props = self._valid_props(item_type)
            if props is None:
                raise _ObjectFailure(400, f"'{item_type}' is not a valid itemType")
            for prop in data:
                if prop not in props:
                    raise _ObjectFailure(400, f"'{prop}' is not a valid field for type '{item_type}'")
            parent = data.get("parentItem")
            if parent:
                if item_type not in _CHILD_TYPES:
                    raise _ObjectFailure(400, "Only notes, attachments and annotations can be child items")
                if parent == data["key"] or not exists(parent, "item"):
                    raise _ObjectFailure(400, f"Parent item {parent} doesn't exist")
            if not isinstance(data.get("tags"), list) or any(
                    not isinstance(t, dict) or not isinstance(t.get("tag"), str) or not t["tag"].strip()
                    for t in data["tags"]):
                raise _ObjectFailure(400, "'tags' must be an array of objects with a non-empty 'tag'")
            if not isinstance(data.get("creators", []), list) or any(
                    not isinstance(c, dict) or not c.get("creatorType") for c in data.get("creators", [])):
                raise _ObjectFailure(400, "'creators' must be an array of objects with a 'creatorType'")
            colls = data.get("collections")
            if not isinstance(colls, list):
                raise _ObjectFailure(400, "'collections' must be an array of collection keys")
            for coll in colls:
                if coll not in lib.objects["collection"]:
                    raise _ObjectFailure(409, f"Collection {coll} doesn't exist")
        elif kind == "collection":
            for prop in data:
                if prop not in _COLLECTION_PROPS:
                    raise _ObjectFailure(400, f"Invalid property '{prop}'")
            if not isinstance(data.get("name"), str) or not data["name"].strip():
                raise _ObjectFailure(400, "Collection name cannot be empty")
            parent = data.get("parentCollection")
            if parent and not exists(parent, "collection"):
                raise _ObjectFailure(400, f"Parent collection {parent} doesn't exist")
            seen = set()
            while parent and parent not in seen:  # walk up: a collection cannot be its own ancestor
                if parent == data["key"]:
                    raise _ObjectFailure(400, "A collection cannot be moved inside itself")
                seen.add(parent)
                up = pending.get(parent) if kind == "collection" else None
                parent = (up or lib.objects["collection"].get(parent) or {}).get("parentCollection")
        else:
            for prop in data:
                if prop not in _SEARCH_PROPS:
                    raise _ObjectFailure(400, f"Invalid property '{prop}'")
            if not isinstance(data.get("name"), str) or not data["name"].strip():
                raise _ObjectFailure(400, "Search name cannot be empty")
            if not isinstance(data.get("conditions"), list):
                raise _ObjectFailure(400, "'conditions' must be an array")

    def _put_one(self, req: RecordedRequest, lib: _Library, kind: str, obj_key: str) -> _Response:
        body = _parse_json(req.body)
        if not isinstance(body, dict):
            raise _HTTPError(400, "Uploaded data must be a JSON object")
        existing = lib.objects[kind].get(obj_key)
        expected = _int_header(req, "if-unmodified-since-version")
        if existing is None:
            # A missing object may only be created with version 0 (header or property), as Zotero.
            if expected != 0 and body.get("version") != 0:
                raise _HTTPError(404, f"{_KINDS[kind][2]} not found")
        elif expected is not None:
            if existing["version"] > expected:
                raise _HTTPError(412, f"{_KINDS[kind][2]} has been modified since specified version "
                                      f"(expected {expected}, found {existing['version']})",
                                 {"Last-Modified-Version": str(lib.version)})
            body = {k: v for k, v in body.items() if k != "version"}  # the header decided
        try:
            new, existing = self._prepare(lib, kind, body, expected is not None, {},
                                          patch=req.method == "PATCH", path_key=obj_key)
        except _ObjectFailure as fail:
            raise _HTTPError(fail.code, fail.message) from None
        if existing is not None and _same(existing, new):
            return _Response(204, {"Last-Modified-Version": str(existing["version"])})
        client_date = "dateModified" in body and (existing is None or
                                                  body["dateModified"] != existing.get("dateModified"))
        version = self._commit(lib, kind, {obj_key: new}, {obj_key: client_date})
        return _Response(204, {"Last-Modified-Version": str(version)})

    def _delete_many(self, req: RecordedRequest, lib: _Library, kind: str) -> _Response:
        key_param = _KINDS[kind][1]
        keys = [k for k in req.query.get(key_param, "").split(",") if k]
        if not keys:
            raise _HTTPError(400, f"No {key_param} values provided")
        if len(keys) > MAX_WRITE:
            raise _HTTPError(400, f"Cannot delete more than {MAX_WRITE} objects at once")
        if _int_header(req, "if-unmodified-since-version") is None:
            raise _HTTPError(428, "If-Unmodified-Since-Version not provided")
        self._check_library_version(req, lib)
        self._delete(lib, kind, keys)
        return _Response(204, {"Last-Modified-Version": str(lib.version)})

    def _delete_one(self, req: RecordedRequest, lib: _Library, kind: str, obj_key: str) -> _Response:
        data = self._need(lib, kind, obj_key)
        expected = _int_header(req, "if-unmodified-since-version")
        if expected is None:
            raise _HTTPError(428, "If-Unmodified-Since-Version not provided")
        if data["version"] > expected:
            raise _HTTPError(412, f"{_KINDS[kind][2]} has been modified since specified version "
                                  f"(expected {expected}, found {data['version']})",
                             {"Last-Modified-Version": str(lib.version)})
        self._delete(lib, kind, [obj_key])
        return _Response(204, {"Last-Modified-Version": str(lib.version)})

    def _delete_tags(self, req: RecordedRequest, lib: _Library) -> _Response:
        names = [t.strip() for t in req.query.get("tag", "").split("||") if t.strip()]
        if not names:
            raise _HTTPError(400, "No tags provided")
        if len(names) > MAX_WRITE:
            raise _HTTPError(400, f"Cannot delete more than {MAX_WRITE} tags at once")
        if _int_header(req, "if-unmodified-since-version") is None:
            raise _HTTPError(428, "If-Unmodified-Since-Version not provided")
        self._check_library_version(req, lib)
        gone = set(names)
        changed = {}
        for key, item in lib.objects["item"].items():
            if any(t["tag"] in gone for t in item.get("tags", ())):
                new = json.loads(json.dumps(item))
                new["tags"] = [t for t in new["tags"] if t["tag"] not in gone]
                changed[key] = new
        if changed:
            version = self._commit(lib, "item", changed)
            for name in names:
                lib.deleted["tag"][name] = version
                lib.tag_versions.pop(name, None)
        return _Response(204, {"Last-Modified-Version": str(lib.version)})


# ---------------------------------------------------------------------- helpers
def _drip(h: BaseHTTPRequestHandler, resp: _Response, interval: float, headers_too: bool) -> None:
    """Write the response a byte at a time; a client that gives up ends it (a broken pipe)."""
    head = [f"HTTP/1.1 {resp.status} {h.responses.get(resp.status, ('',))[0]}"]
    head += [f"{name}: {value}" for name, value in resp.headers.items()]
    head += [f"Content-Length: {len(resp.body)}", "Connection: close", "", ""]
    raw = "\r\n".join(head).encode("latin-1") + resp.body
    h.close_connection = True
    start = 0
    if not headers_too:
        start = len(raw) - len(resp.body)
        h.wfile.write(raw[:start])
        h.wfile.flush()
    for i in range(start, len(raw)):
        time.sleep(interval)
        h.wfile.write(raw[i:i + 1])
        h.wfile.flush()


class _StorageHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    disable_nagle_algorithm = True
    server: Any

    def do_GET(self) -> None:
        storage: FileStorage = self.server.storage
        parts = urlsplit(self.path)
        req = RecordedRequest("GET", parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                              {k.lower(): v for k, v in self.headers.items()}, b"")
        with storage._lock:
            storage.requests.append(req)
            fail = storage._fail.pop(0) if storage._fail else None
            storage.in_flight += 1
            storage.max_in_flight = max(storage.max_in_flight, storage.in_flight)
        try:
            self._answer(storage, parts, req, fail)
        finally:
            with storage._lock:
                storage.in_flight -= 1

    def _answer(self, storage: FileStorage, parts: Any, req: RecordedRequest, fail: str | None) -> None:
        if storage.latency:
            time.sleep(storage.latency)
        segs = [s for s in parts.path.split("/") if s]
        blob = storage.blobs.get(segs[1]) if len(segs) == 2 and segs[0] == "zotero-files" else None
        if fail is not None and fail != "cut":
            req.status = int(fail)
            self.send_response(int(fail))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if blob is None:
            req.status = 404
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        req.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        if fail == "cut":  # half the body, then the connection drops: a download killed midway
            self.wfile.write(blob[: len(blob) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(blob)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FileStorage:
    """Zotero's file storage, on another loopback port: serves files by md5 to anyone with the
    URL the API redirected to (as a signed S3 URL does), and records every request."""

    def __init__(self, host: str = "127.0.0.1", latency: float = 0.0) -> None:
        self.host = host
        self.port = 0
        self.latency = latency
        self.blobs: dict[str, bytes] = {}
        self.requests: list[RecordedRequest] = []
        self._fail: list[str] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.in_flight = 0
        self.max_in_flight = 0  # peak number of downloads served at once

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FileStorage:
        httpd = _HTTPServer((self.host, 0), _StorageHandler)
        httpd.storage = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name=f"fake-storage-{self.port}").start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status``."""
        with self._lock:
            self._fail += [str(status)] * times

    def cut(self, times: int = 1) -> None:
        """Send half of the next ``times`` files, then drop the connection."""
        with self._lock:
            self._fail += ["cut"] * times

    def saw(self, secret: str) -> bool:
        """Whether any request this server received carried ``secret`` (header, path or query)."""
        for req in self.requests:
            texts = [req.path, *req.query.values(), *req.query.keys(), *req.headers.values()]
            if any(secret in t for t in texts):
                return True
        return False


def _compile(path: str | None) -> re.Pattern[str] | None:
    return re.compile(path) if path else None


def _read_body(h: BaseHTTPRequestHandler, headers: Mapping[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                h.rfile.readline()
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(headers.get("content-length") or 0)
    return h.rfile.read(length) if length else b""


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> _Response:
    return _Response(status, {"Content-Type": "application/json", **(headers or {})},
                     json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _text(status: int, text: str, headers: Mapping[str, str] | None = None) -> _Response:
    return _Response(status, {"Content-Type": "text/plain", **(headers or {})}, text.encode("utf-8"))


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _HTTPError(400, "Invalid JSON in request body") from None


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _HTTPError(400, f"Invalid '{name}' value '{raw}'") from None


def _int_header(req: RecordedRequest, name: str) -> int | None:
    raw = req.headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise _HTTPError(400, f"Invalid {name} header '{raw}'") from None


def _note_tags(lib: _Library, data: Mapping[str, Any], version: int) -> None:
    for tag in data.get("tags", ()):
        name = tag.get("tag") if isinstance(tag, dict) else None
        if name and name not in lib.tag_versions:
            lib.tag_versions[name] = version
            lib.deleted["tag"].pop(name, None)


def _normalise_item(data: dict[str, Any]) -> None:
    # Zotero sends "deleted": 1 only on trashed items and no parentItem on top-level ones.
    if data.get("deleted"):
        data["deleted"] = 1
    else:
        data.pop("deleted", None)
    if not data.get("parentItem"):
        data.pop("parentItem", None)


def _same(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    ignore = ("version", "dateModified")
    return {k: v for k, v in old.items() if k not in ignore} == {k: v for k, v in new.items() if k not in ignore}


def _creator_summary(creators: list[dict[str, Any]]) -> str:
    names = [c.get("lastName") or c.get("name") or "" for c in creators
             if c.get("creatorType") in ("author", "director", "podcaster", "programmer", "artist",
                                         "sponsor", "inventor", "presenter", "cartographer",
                                         "performer", "composer", "interviewee")]
    names = [n for n in names if n] or [c.get("lastName") or c.get("name") or "" for c in creators[:1]]
    names = [n for n in names if n]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


def _parsed_date(date: str) -> str:
    match = re.search(r"\b(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\b", date or "")
    if not match:
        return ""
    return "-".join(p for p in match.groups() if p)


def _item_title(d: Mapping[str, Any]) -> str:
    title = d.get("title") or d.get("nameOfAct") or d.get("caseName") or d.get("subject") or ""
    if not title and d.get("note"):
        title = re.sub(r"<[^>]+>", "", d["note"])[:80]
    return title


def _sort_key(d: Mapping[str, Any], kind: str, sort: str) -> tuple[Any, ...]:
    if kind != "item":
        return (str(d.get("name", "")).lower(), d["key"])
    if sort == "title":
        value: Any = _item_title(d).lower()
    elif sort == "creator":
        value = _creator_summary(d.get("creators") or []).lower()
    elif sort == "date":
        value = _parsed_date(d.get("date", ""))
    else:
        value = str(d.get(sort, "")).lower()
    return (value, d["version"], d["key"])


def _item_filters(d: Mapping[str, Any], tag: str, item_type: str, q: str) -> bool:
    if tag:
        names = {t["tag"] for t in d.get("tags", ())}
        wanted = [t.strip() for t in tag.split("||")]
        if tag.startswith("-"):
            if tag[1:] in names:
                return False
        elif not names.intersection(wanted):
            return False
    if item_type:
        if item_type.startswith("-"):
            if d.get("itemType") == item_type[1:]:
                return False
        elif d.get("itemType") not in [t.strip() for t in item_type.split("||")]:
            return False
    if q:
        hay = " ".join([_item_title(d), _creator_summary(d.get("creators") or []), d.get("date", "")]).lower()
        if q.lower() not in hay:
            return False
    return True
