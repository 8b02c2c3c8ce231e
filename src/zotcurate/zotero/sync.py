"""Incremental sync of a Zotero library into the store, as Zotero's sync protocol prescribes.

One pass: collection versions changed ``since`` the stored library version (sent with
``If-Modified-Since-Version``: a 304 means nothing changed, and the sync ends after one
request), item versions (top-level first, so parents are stored before children, trash
included), then only the objects whose version differs, by key in batches of 50, then
``/deleted``. Each batch is committed as it arrives, so a killed run loses nothing and the
next run skips what is already stored. The new library version is stored only after a
whole pass during which every response carried the same ``Last-Modified-Version``; if it
moved (someone edited the library meanwhile), the pass is run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from zotcurate.config import Settings
from zotcurate.errors import LibraryKindError, NetworkError, ZotcurateError
from zotcurate.model import Item, Library, LibraryRef
from zotcurate.output import ProgressReporter, plural
from zotcurate.store import Store
from zotcurate.zotero.client import RetryPolicy, ZoteroClient

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
    retry_items = store.retry_keys(lib, "item")
    retry_colls = store.retry_keys(lib, "collection")
    if lib.version == 0 or full:
        result.title = client.group_name()
    for attempt in range(MAX_PASSES):
        result.passes = attempt + 1
        client.take_versions()
        # Only the first pass may short-cut on 304: later passes know the library moved.
        use_304 = attempt == 0 and since > 0 and not full and not retry_items and not retry_colls
        coll_versions = client.collection_versions(since, if_modified=use_304)
        if coll_versions is None:
            result.up_to_date = True
            result.unchanged = store.counts(lib)["items"]
            return
        start_versions = client.take_versions()
        start_version = start_versions[0] if start_versions else 0

        top_versions = client.item_versions(since, top=True)
        all_versions = client.item_versions(since)

        # Queue what differs from the store, plus the retry list (protocol §iii).
        local_colls = store.collection_versions(lib)
        local_items = store.item_versions(lib)
        colls = [k for k, v in coll_versions.items() if full or local_colls.get(k) != v]
        colls += [k for k in retry_colls if k not in colls]
        tops = [k for k, v in top_versions.items() if full or local_items.get(k) != v]
        children = [k for k, v in all_versions.items() if k not in top_versions and (full or local_items.get(k) != v)]
        queue = tops + children + [k for k in retry_items if k not in top_versions and k not in all_versions]
        progress.start(f"Syncing {lib.name}", total=len(colls) + len(queue))

        for batch in client.iter_collections_by_key(colls):
            counts = store.upsert_collections(lib, _parents_first(batch, "parentCollection"))
            result.collections_changed += counts.added + counts.updated
            progress.advance(len(batch))
        fetched: set[str] = set()
        for batch in client.iter_items_by_key(queue):
            counts = store.upsert_items(lib, _parents_first(batch, "parentItem"))
            result.added += counts.added
            result.updated += counts.updated
            fetched.update(o["key"] for o in batch)
            progress.advance(len(batch))
        missing = [k for k in queue if k not in fetched]
        if missing:  # listed but not returned: retry next time rather than lose them
            store.add_retry(lib, "item", missing)

        if client.local:
            # The local API has no /deleted: compare the full key lists.
            gone_items = set(store.item_versions(lib)) - client.all_item_keys()
            gone_colls = set(store.collection_versions(lib)) - client.all_collection_keys()
        else:
            deleted = client.deleted(since) if since else {}
            gone_items = set(deleted.get("items", []))
            gone_colls = set(deleted.get("collections", []))
            if full:
                gone_items |= set(store.item_versions(lib)) - set(all_versions)
                gone_colls |= set(store.collection_versions(lib)) - set(coll_versions)
        result.deleted += store.delete_items(lib, gone_items)
        result.collections_deleted += store.delete_collections(lib, gone_colls)

        seen = set(client.take_versions()) | {start_version}
        if len(seen) == 1:
            store.set_library_version(lib, start_version, title=result.title)
            result.to_version = start_version
            total = store.counts(lib)["items"]
            result.unchanged = max(0, total - result.added - result.updated)
            return
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


def refresh_items(store: Store, client: ZoteroClient, lib: Library, keys: list[str]) -> list[Item]:
    """Re-fetch these items from Zotero into the store (after a 412 on write-back)."""
    objects = client.items_by_key(keys)
    store.upsert_items(lib, objects)
    returned = {o["key"] for o in objects}
    gone = [k for k in keys if k not in returned]
    if gone:
        store.delete_items(lib, gone)
    return [item for k in keys if (item := store.item(lib, k)) is not None]
