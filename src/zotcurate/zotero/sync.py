"""Sync of a Zotero library into the store, as Zotero's sync protocol prescribes.

First sync (empty store) or ``--full``: the objects themselves are read page by page
(``since=0``, 100 per page, ``start``), collections then items, up to 4 pages in flight:
about half the requests of the incremental recipe, which would first list every version.

Incremental sync: collection versions changed ``since`` the stored library version (sent
with ``If-Modified-Since-Version``: a 304 means nothing changed, and the sync ends after one
request), item versions (top-level first, trash included), then only the objects whose
version differs, by key in batches of 50, then ``/deleted``.

Either way each page or batch is committed as it arrives, so a killed run loses nothing and
the next run (which finds a non-empty store and takes the incremental recipe from version 0)
fetches only what is missing. The new library version is stored only after a whole pass
during which every response carried the same ``Last-Modified-Version`` (and a paged pass
saw as many distinct objects as ``Total-Results`` announced); otherwise (someone edited the
library meanwhile) the pass is run again, by versions and keys.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from zotcurate.config import Settings
from zotcurate.errors import LibraryKindError, NetworkError, ZotcurateError
from zotcurate.model import Item, Library, LibraryRef
from zotcurate.output import ProgressReporter, plural
from zotcurate.store import Store
from zotcurate.zotero.client import KINDS, RetryPolicy, ZoteroClient

MAX_PASSES = 5


@dataclass
class SyncResult:
    library: str
    from_version: int
    to_version: int
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    collections_changed: int = 0
    collections_deleted: int = 0
    requests: int = 0
    passes: int = 0
    up_to_date: bool = False
    title: str | None = None
    notices: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.up_to_date:
            return f"{self.library} is up to date (version {self.to_version}, {plural(self.requests, 'request')})."
        return (
            f"{self.library}: {self.added} added, {self.updated} updated, {self.deleted} deleted, "
            f"{plural(self.unchanged, 'unchanged item')}; {plural(self.collections_changed, 'collection')} changed, "
            f"{self.collections_deleted} deleted; version {self.from_version} → {self.to_version} "
            f"({plural(self.requests, 'request')})."
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "notices"}


def _parents_first(objects: list[dict[str, Any]], parent_field: str) -> list[dict[str, Any]]:
    keys = {o.get("key") for o in objects}
    return sorted(objects, key=lambda o: 1 if (o.get("data") or {}).get(parent_field) in keys else 0)


def sync_library(
    store: Store,
    settings: Settings,
    ref: LibraryRef,
    *,
    full: bool = False,
    progress: ProgressReporter | None = None,
    policy: RetryPolicy | None = None,
    pass_wait: float = 1.0,
) -> SyncResult:
    """Bring the stored copy of ``ref`` up to date with Zotero; returns what changed."""
    if ref.kind == "file":
        raise LibraryKindError(f"{ref.name} is imported from files: re-import it with 'zotcurate import'.")
    if ref.is_web:
        settings.require_api_key()  # a missing or unsendable key is refused before the store is written
    progress = progress or ProgressReporter()
    source = settings.local_url if ref.kind == "local" else settings.api_url
    lib = store.ensure_library(ref.name, ref.kind, ref.remote_id, source=source)
    result = SyncResult(ref.name, lib.version, lib.version)
    log_id = store.start_sync_log(lib, lib.version)
    try:
        with ZoteroClient(settings, ref, progress=progress, policy=policy) as client:
            try:
                _run(store, client, lib, result, full=full, progress=progress, pass_wait=pass_wait)
            finally:
                result.requests = client.requests
    except BaseException as exc:
        message = str(exc) if isinstance(exc, ZotcurateError) else type(exc).__name__
        store.finish_sync_log(log_id, status="failed", to_version=None, added=result.added, updated=result.updated,
                              deleted=result.deleted, requests=result.requests, message=message)
        raise
    store.finish_sync_log(log_id, status="ok", to_version=result.to_version, added=result.added,
                          updated=result.updated, deleted=result.deleted, unchanged=result.unchanged,
                          requests=result.requests, message="up to date" if result.up_to_date else None)
    return result


def _run(store: Store, client: ZoteroClient, lib: Library, result: SyncResult, *, full: bool,
         progress: ProgressReporter, pass_wait: float) -> None:
    since = 0 if full else lib.version
    retry = {"item": store.retry_keys(lib, "item"), "collection": store.retry_keys(lib, "collection")}
    # Paging needs no version list, but only pays when (nearly) everything must be fetched.
    paged = full or (lib.version == 0 and not store.item_versions(lib) and not store.collection_versions(lib))
    # Keys fetched during this run: a later --full pass need not fetch them again.
    fetched: dict[str, set[str]] = {"item": set(), "collection": set()}
    with ThreadPoolExecutor(max_workers=1) as side:
        # The group's name travels with the first page rather than before it (one round trip less).
        title = side.submit(client.group_name) if lib.version == 0 or full else None
        _passes(store, client, lib, result, full=full, progress=progress, pass_wait=pass_wait, paged=paged,
                since=since, retry=retry, fetched=fetched, title=title)


def _passes(store: Store, client: ZoteroClient, lib: Library, result: SyncResult, *, full: bool,
            progress: ProgressReporter, pass_wait: float, paged: bool, since: int, retry: dict[str, list[str]],
            fetched: dict[str, set[str]], title: Future[str | None] | None) -> None:
    for attempt in range(MAX_PASSES):
        result.passes = attempt + 1
        client.take_versions()
        if paged and attempt == 0:
            start_version, complete = _paged_pass(store, client, lib, result, progress, fetched, retry, full=full)
        else:
            # Only the first pass may short-cut on 304: later passes know the library moved.
            use_304 = attempt == 0 and since > 0 and not full and not retry["item"] and not retry["collection"]
            outcome = _keyed_pass(store, client, lib, result, progress, since=since, full=full, use_304=use_304,
                                  fetched=fetched, retry=retry)
            if outcome is None:
                result.up_to_date = True
                result.unchanged = store.counts(lib)["items"]
                return
            start_version, complete = outcome, True
        seen = set(client.take_versions()) | {start_version}
        if len(seen) == 1 and complete:
            if title is not None:
                result.title = title.result()
            store.set_library_version(lib, start_version, title=result.title)
            result.to_version = start_version
            total = store.counts(lib)["items"]
            result.unchanged = max(0, total - result.added - result.updated)
            return
        if len(seen) == 1:
            # Same version throughout, yet pages overlapped: the server's order was not stable.
            # The versions list says what is still missing; no need to wait.
            progress.notice("Some objects were not on any page; fetching them by key.")
            continue
        # Someone edited the library during the pass: go round again from the same `since`.
        wait = pass_wait * (2**attempt)
        # min → max: the pass's first version need not be the lowest seen (never "98 → 98").
        progress.notice(f"The library changed during the sync (version {min(seen)} → {max(seen)}); "
                        f"going round again in {wait:.0f} s.")
        time.sleep(wait)
    raise NetworkError(
        f"{lib.name} kept changing during {MAX_PASSES} sync passes; what was fetched is stored — "
        "run 'zotcurate sync' again in a few minutes."
    )


def _store_objects(store: Store, lib: Library, result: SyncResult, kind: str, objects: list[dict[str, Any]]) -> None:
    if kind == "collection":
        counts = store.upsert_collections(lib, _parents_first(objects, "parentCollection"))
        result.collections_changed += counts.added + counts.updated
    else:
        counts = store.upsert_items(lib, _parents_first(objects, "parentItem"))
        result.added += counts.added
        result.updated += counts.updated


def _paged_pass(store: Store, client: ZoteroClient, lib: Library, result: SyncResult, progress: ProgressReporter,
                fetched: dict[str, set[str]], retry: dict[str, list[str]], *, full: bool) -> tuple[int, bool]:
    """Read every collection and item page by page, committing each page; returns the
    library version of the first response and whether every announced object arrived.
    Always the run's first pass, so ``fetched`` ends up holding exactly what it read."""
    totals: dict[str, int | None] = {}
    progress.start(f"Syncing {lib.name}", total=None)
    for page in client.iter_pages(KINDS, since=0):
        if page.start == 0:
            totals[page.kind] = page.total
            if page.kind == "item":  # both totals known now
                progress.start(f"Syncing {lib.name}", total=sum(t or 0 for t in totals.values()))
                progress.advance(len(fetched["collection"]))
        _store_objects(store, lib, result, page.kind, page.objects)
        fetched[page.kind].update(o["key"] for o in page.objects)
        progress.advance(len(page.objects))
    complete = all(total is None or len(fetched[kind]) == total for kind, total in totals.items())
    versions = client.versions_seen()
    if complete and len(set(versions)) <= 1:
        # Every object of the library was on a page: retry keys that no page carried are
        # gone, and so is what a --full sync finds in the store beyond the pages (a first
        # sync started from an empty store: nothing to compare, and no memory spent on it).
        gone: dict[str, list[str]] = {kind: [k for k in retry[kind] if k not in fetched[kind]] for kind in KINDS}
        if full:
            gone["item"] += [k for k in store.item_versions(lib) if k not in fetched["item"]]
            gone["collection"] += [k for k in store.collection_versions(lib) if k not in fetched["collection"]]
        result.deleted += store.delete_items(lib, gone["item"])
        result.collections_deleted += store.delete_collections(lib, gone["collection"])
    return (versions[0] if versions else 0), complete


def _keyed_pass(store: Store, client: ZoteroClient, lib: Library, result: SyncResult, progress: ProgressReporter, *,
                since: int, full: bool, use_304: bool, fetched: dict[str, set[str]],
                retry: dict[str, list[str]]) -> int | None:
    """Versions since ``since``, then the objects that differ, by key; returns the library
    version of the first response, or None when Zotero said nothing changed (304)."""
    coll_versions = client.collection_versions(since, if_modified=use_304)
    if coll_versions is None:
        return None
    start_versions = client.versions_seen()
    start_version = start_versions[0] if start_versions else 0

    top_versions = client.item_versions(since, top=True)
    all_versions = client.item_versions(since)

    # Queue what differs from the store, plus the retry list (protocol §iii). A --full pass
    # also re-fetches what it has not fetched yet in this run, whatever its stored version.
    local_colls = store.collection_versions(lib)
    local_items = store.item_versions(lib)

    def wanted(kind: str, key: str, version: int, local: dict[str, int]) -> bool:
        return local.get(key) != version or (full and key not in fetched[kind])

    colls = [k for k, v in coll_versions.items() if wanted("collection", k, v, local_colls)]
    colls += [k for k in retry["collection"] if k not in colls]
    tops = [k for k, v in top_versions.items() if wanted("item", k, v, local_items)]
    children = [k for k, v in all_versions.items() if k not in top_versions and wanted("item", k, v, local_items)]
    queue = tops + children + [k for k in retry["item"] if k not in top_versions and k not in all_versions]
    progress.start(f"Syncing {lib.name}", total=len(colls) + len(queue))

    this_pass: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for batch in client.iter_collections_by_key(colls):
        _store_objects(store, lib, result, "collection", batch)
        this_pass["collection"].update(o["key"] for o in batch)
        progress.advance(len(batch))
    for batch in client.iter_items_by_key(queue):
        _store_objects(store, lib, result, "item", batch)
        this_pass["item"].update(o["key"] for o in batch)
        progress.advance(len(batch))
    for kind in KINDS:
        fetched[kind] |= this_pass[kind]
    # Listed but not returned: retry next time rather than lose them. (From version 0 the
    # lists are complete: a retry key they do not hold is gone, not missing.)
    missing = [k for k in queue if k not in this_pass["item"] and (since > 0 or k in all_versions)]
    if missing:
        store.add_retry(lib, "item", missing)

    if since == 0:
        # The lists are complete: what the store (or the retry list) has beyond them is gone
        # (a first sync that was interrupted or went round again, a --full sync).
        gone_items = (set(local_items) | set(retry["item"])) - set(all_versions) - this_pass["item"]
        gone_colls = (set(local_colls) | set(retry["collection"])) - set(coll_versions) - this_pass["collection"]
    elif client.local:
        # The local API has no /deleted: compare the full key lists.
        gone_items = set(store.item_versions(lib)) - client.all_item_keys()
        gone_colls = set(store.collection_versions(lib)) - client.all_collection_keys()
    else:
        deleted = client.deleted(since)
        gone_items = set(deleted.get("items", []))
        gone_colls = set(deleted.get("collections", []))
    result.deleted += store.delete_items(lib, gone_items)
    result.collections_deleted += store.delete_collections(lib, gone_colls)
    return start_version


def refresh_items(store: Store, client: ZoteroClient, lib: Library, keys: list[str]) -> list[Item]:
    """Re-fetch these items from Zotero into the store (after a 412 on write-back)."""
    objects = client.items_by_key(keys)
    store.upsert_items(lib, objects)
    returned = {o["key"] for o in objects}
    gone = [k for k in keys if k not in returned]
    if gone:
        store.delete_items(lib, gone)
    return [item for k in keys if (item := store.item(lib, k)) is not None]
