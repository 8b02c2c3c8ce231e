"""``zotcurate status``: what the store holds, one plain row per library."""

from __future__ import annotations

from typing import Any

from zotcurate.store import Store


def library_status(store: Store) -> list[dict[str, Any]]:
    """Each library: its version, counts, attachment files on disk, last sync (when and how it
    ended) and last link audit."""
    rows = []
    for lib in store.libraries():
        log = store.sync_log(lib, limit=1)
        rows.append({
            "library": lib.name, "title": lib.title, "version": lib.version, **store.counts(lib),
            **store.file_counts(lib),  # attachment files downloaded by 'sync --files', and their bytes
            "synced_at": lib.synced_at, "last_sync_status": log[0]["status"] if log else None,
            "links_checked_at": store.links_last_checked(lib),
        })
    return rows
