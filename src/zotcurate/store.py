from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import get_close_matches
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from zotcurate.errors import LockedError, NotFoundError, StoreError, StoreWriteError, ZotcurateError
from zotcurate.fields import date_of, doi_of, title_of
from zotcurate.model import Collection, Item, Library

SCHEMA_VERSION = 4

# Each entry migrates from version i to i+1. Never edit a released entry: append one.
MIGRATIONS: list[str] = [
    # 0 -> 1: libraries, items, collections, tags, sync log
    """
    CREATE TABLE libraries (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,          -- group:ID, user:ID, local, file:NAME
        kind TEXT NOT NULL,                 -- group | user | local | file
        remote_id TEXT NOT NULL,
        title TEXT,                         -- the group's name, when known
        version INTEGER NOT NULL DEFAULT 0, -- library version of the last clean pass
        synced_at TEXT,
        source TEXT                         -- API URL or imported file paths
    );
    CREATE TABLE items (
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        item_type TEXT NOT NULL,
        parent_key TEXT,
        trashed INTEGER NOT NULL DEFAULT 0,
        title TEXT,
        date TEXT,
        url TEXT,
        doi TEXT,
        object TEXT NOT NULL,               -- the whole Zotero API object, as received
        PRIMARY KEY (library_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX items_parent ON items(library_id, parent_key);
    CREATE TABLE collections (
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        name TEXT NOT NULL,
        parent_key TEXT,
        trashed INTEGER NOT NULL DEFAULT 0,
        object TEXT NOT NULL,
        PRIMARY KEY (library_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE item_collections (
        library_id INTEGER NOT NULL,
        item_key TEXT NOT NULL,
        collection_key TEXT NOT NULL,
        PRIMARY KEY (library_id, item_key, collection_key)
    ) WITHOUT ROWID;
    CREATE INDEX item_collections_coll ON item_collections(library_id, collection_key);
    CREATE TABLE item_tags (
        library_id INTEGER NOT NULL,
        item_key TEXT NOT NULL,
        tag TEXT NOT NULL,
        type INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (library_id, item_key, tag)
    ) WITHOUT ROWID;
    CREATE INDEX item_tags_tag ON item_tags(library_id, tag);
    CREATE TABLE sync_log (
        id INTEGER PRIMARY KEY,
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,               -- running | ok | failed
        from_version INTEGER,
        to_version INTEGER,
        added INTEGER DEFAULT 0,
        updated INTEGER DEFAULT 0,
        deleted INTEGER DEFAULT 0,
        unchanged INTEGER DEFAULT 0,
        requests INTEGER DEFAULT 0,
        message TEXT
    );
    """,
    # 1 -> 2: the retry list of the sync protocol (objects whose fetch failed)
    """
    CREATE TABLE sync_retry (
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        object_type TEXT NOT NULL,          -- item | collection
        key TEXT NOT NULL,
        PRIMARY KEY (library_id, object_type, key)
    ) WITHOUT ROWID;
    """,
    # 2 -> 3: link audit history, one row per check of one item's link (zotcurate.links)
    """
    CREATE TABLE link_checks (
        id INTEGER PRIMARY KEY,
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        item_key TEXT NOT NULL,
        kind TEXT NOT NULL,                 -- url | doi
        url TEXT NOT NULL,                  -- the address requested (a DOI through its resolver)
        checked_at TEXT NOT NULL,           -- ISO datetime, UTC
        verdict TEXT NOT NULL,              -- ok | redirected | broken | transient | blocked | invalid
        status INTEGER,                     -- last HTTP status, NULL on network errors
        final_url TEXT,                     -- where the redirect chain ended
        new_url TEXT,                       -- the target of the permanent redirects, if any
        hops TEXT,                          -- JSON [[url, status], ...] of every redirect hop
        elapsed REAL,                       -- seconds, waits included
        detail TEXT
    );
    CREATE INDEX link_checks_link ON link_checks(library_id, item_key, url, checked_at);
    CREATE INDEX link_checks_time ON link_checks(library_id, checked_at);
    """,
    # 3 -> 4: attachment files downloaded by 'sync --files' (zotcurate.zotero.files)
    """
    CREATE TABLE attachment_files (
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        item_key TEXT NOT NULL,             -- the attachment item
        parent_key TEXT,
        md5 TEXT,                           -- the attachment's md5 in Zotero when the file was fetched
        content_md5 TEXT,                   -- the downloaded file's own md5 (it names the file)
        size INTEGER,
        content_type TEXT,
        filename TEXT,
        path TEXT,                          -- relative to the store's files folder; NULL unless stored
        status TEXT NOT NULL,               -- stored | too-large | unavailable
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (library_id, item_key)
    ) WITHOUT ROWID;
    """,
]


def iso_utc(when: datetime) -> str:
    """The stored form of a time: ISO 8601 in UTC, to the second, with a Z (2026-10-02T03:00:00Z)."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso_utc(text: str) -> datetime:
    """A time in its stored form (or any ISO 8601 time with an offset) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_iso() -> str:
    return iso_utc(datetime.now(UTC))


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


class _OlderStore(StoreError):
    """A read-only open found a store from an older zotcurate (readers then try to migrate it)."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


def as_store_error(exc: BaseException, path: Path, *, opening: bool = False) -> ZotcurateError | None:
    """What a failure of the SQLite store at ``path`` means for the user, as one sentence with its
    exit code; None when ``exc`` is no SQLite (or store-opening) failure.

    The SQLite error code tells the cases apart: a damaged file (restore or rebuild it), a
    read-only file or folder and a full disk (the store is fine, its place is not: exit 11),
    a store busy with another run (exit 10)."""
    if isinstance(exc, OSError):  # creating the store's folder
        reason = exc.strerror or str(exc)
        return StoreWriteError(f"The store {path} cannot be created ({reason}: {exc.filename or path.parent}); "
                               "point --store at a file in a folder you can write to.")
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    folder = path.parent
    if code.startswith("SQLITE_FULL"):
        return StoreWriteError(f"The store {path} cannot be written: the disk is full ({text}); nothing was "
                               "changed. Free some space and run the command again.")
    if code.startswith("SQLITE_READONLY") or (code.startswith("SQLITE_CANTOPEN") and path.is_file()
                                              and not os.access(folder, os.W_OK)):
        where = ("its folder " + str(folder) if path.is_file() and os.access(path, os.W_OK)
                 else "the file or its folder")
        return StoreWriteError(
            f"The store {path} cannot be written: {where} is read-only ({text}). Make it writable, or point "
            "--store at a writable copy; commands that only read (collections, check, export, status, render) "
            "work on it as it is.")
    if code.startswith("SQLITE_CANTOPEN"):
        if path.is_dir():
            return StoreError(f"The store {path} is a folder, not a file; point --store at the store file.")
        return StoreWriteError(f"The store {path} cannot be opened or created ({text}) in {folder}; point "
                               "--store at a file in a folder you can write to.")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return LockedError(f"The store {path} is busy: another zotcurate run is writing it ({text}); run the "
                           "command again when that one has finished.")
    if code.startswith("SQLITE_IOERR"):
        return StoreError(f"The store {path} could not be read or written: the disk reported an error ({text}); "
                          "check the disk, then run the command again.")
    return StoreError(
        f"The store {path} cannot be {'opened' if opening else 'read'}: it is damaged or not a zotcurate store "
        f"({text}); nothing was "
        "changed. Restore it from a backup, or move it aside and run 'zotcurate sync' (or 'zotcurate import') "
        "to build a new one.")


class Store:
    """A zotcurate store file. Use as a context manager, or call :meth:`close`.

    ``":memory:"`` is a scratch store that vanishes on close. ``read_only=True`` opens an
    existing file that SQLite itself then refuses to change (no migration, no journal-mode
    switch): for readers such as ``render`` that must leave the user's store as it was; it
    works on a read-only file or folder too. :meth:`for_reading` is what commands that only
    read use. A SQLite failure inside ``with Store(...)`` leaves as a typed error (see
    :func:`as_store_error`), never as a raw ``sqlite3`` exception.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        memory = str(path) == ":memory:"
        if self.path.is_dir():
            raise StoreError(f"The store {self.path} is a folder, not a file; point --store at the store file.")
        if read_only and not self.path.is_file():
            raise StoreError(f"The store {self.path} does not exist; point --store at your store file.")
        try:
            if read_only:
                self.db = _connect_read_only(self.path)
            else:
                if not memory:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            if not memory and not read_only:
                _use_wal(self.db)
            self.db.execute("PRAGMA synchronous = NORMAL")
            if read_only:
                self._check_version()
            else:
                self._migrate()
            self._check_tables()
            if not read_only and not memory:
                self._check_pages()
        except (sqlite3.Error, OSError) as exc:
            self._close_quietly()
            error = as_store_error(exc, self.path, opening=True)
            assert error is not None
            raise error from exc
        except BaseException:
            self._close_quietly()
            raise
        self._in_tx = False

    @classmethod
    def for_reading(cls, path: str | Path) -> Store:
        """The store for a command that only reads: opened read-only, so it works on a read-only
        file or folder. A store that does not exist yet is created (empty) as any command does;
        one from an older zotcurate is brought up to date first, which needs writing."""
        where = Path(path)
        if str(path) == ":memory:" or not where.exists():
            return cls(path)
        try:
            return cls(path, read_only=True)
        except _OlderStore as old:
            try:
                return cls(path)
            except StoreWriteError as exc:
                raise StoreWriteError(
                    f"The store {where} is from an older zotcurate (schema {old.version}) and cannot be brought "
                    "up to date, because it cannot be written here; make it writable and run 'zotcurate status' "
                    "once.") from exc

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        error = as_store_error(exc, self.path) if isinstance(exc, sqlite3.Error) else None
        if error is not None:
            raise error from exc

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self, "db", None)  # None when the open itself failed
        if db is not None:
            db.close()

    def _close_quietly(self) -> None:
        with suppress(sqlite3.Error):
            self.close()

    def _schema_version(self) -> int:
        current = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"The store {self.path} was written by a newer zotcurate (schema {current}, "
                f"this one knows {SCHEMA_VERSION}); upgrade zotcurate."
            )
        return current

    def _check_version(self) -> None:
        """A read-only store cannot be migrated: it must already have this version's tables."""
        current = self._schema_version()
        if current < SCHEMA_VERSION:
            if current == 0:
                raise StoreError(f"The file {self.path} is not a zotcurate store (it has no tables); "
                                 "point --store at your store file.")
            raise _OlderStore(
                f"The store {self.path} is from an older zotcurate (schema {current}) and is opened read-only "
                "here; run 'zotcurate status' once to bring it up to date.", current
            )

    def _migrate(self) -> None:
        """Bring the schema up to date, one step per transaction. Each step re-reads the version
        under the write lock: two runs creating the same new store at once must not both
        create its tables (the second finds the first one's work done)."""
        while self._schema_version() < SCHEMA_VERSION:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                version = self._schema_version()
                if version < SCHEMA_VERSION:
                    for statement in _split_sql(MIGRATIONS[version]):
                        self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {version + 1}")
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _check_tables(self) -> None:
        """Every table of this schema is there with its columns: a store whose tables someone
        changed is refused now, before a command writes anything into it."""
        for table, columns in expected_tables().items():
            found = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in columns if c not in found]
            if missing:
                what = "is missing" if not found else f"lacks the column(s) {', '.join(missing)}"
                raise StoreError(
                    f"The store {self.path} cannot be opened: it is damaged or not a zotcurate store (its table "
                    f"{table} {what}); nothing was changed. Restore it from a backup, or move it aside and run "
                    "'zotcurate sync' (or 'zotcurate import') to build a new one.")

    def _check_pages(self) -> None:
        """A store opened for writing is checked whole first (PRAGMA quick_check: 0.15 s for 100,000
        cached items, see benchmarks/RESULTS.md): a damaged page found halfway through a sync would
        leave that sync's first writes behind; found now, nothing is written."""
        problem = " ".join(str(self.db.execute("PRAGMA quick_check(1)").fetchone()[0]).split())
        if problem != "ok":
            raise StoreError(
                f"The store {self.path} cannot be opened: it is damaged or not a zotcurate store ({problem}); "
                "nothing was changed. "
                "Restore it from a backup, or move it aside and run 'zotcurate sync' (or 'zotcurate import') "
                "to build a new one.")

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite may have rolled back already (a full disk, an I/O
        error), and a failing ROLLBACK must not hide the error that caused it."""
        with suppress(sqlite3.Error):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside are committed together, or not at all."""
        if self._in_tx:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._in_tx = False

    # -- libraries -------------------------------------------------------------------

    def library(self, name: str) -> Library | None:
        row = self.db.execute("SELECT * FROM libraries WHERE name = ?", (name,)).fetchone()
        return Library(**dict(row)) if row else None

    def require_library(self, name: str) -> Library:
        lib = self.library(name)
        if lib is None:
            known = [lib.name for lib in self.libraries()]
            hint = f" Known: {', '.join(known)}." if known else ""
            how = (f"'zotcurate import … --library {name}'" if name.startswith("file:")
                   else f"'zotcurate sync --library {name}'")
            raise NotFoundError(f"The store {self.path} has no library '{name}'; run {how} first.{hint}")
        return lib

    def libraries(self) -> list[Library]:
        rows = self.db.execute("SELECT * FROM libraries ORDER BY name").fetchall()
        return [Library(**dict(r)) for r in rows]

    def ensure_library(self, name: str, kind: str, remote_id: str, *, source: str | None = None) -> Library:
        with self.transaction():
            self.db.execute(
                "INSERT INTO libraries(name, kind, remote_id, source) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET source = COALESCE(excluded.source, source)",
                (name, kind, remote_id, source),
            )
        lib = self.library(name)
        assert lib is not None
        return lib

    def set_library_version(self, lib: Library, version: int, *, title: str | None = None) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE libraries SET version = ?, synced_at = ?, title = COALESCE(?, title) WHERE id = ?",
                (version, now_iso(), title, lib.id),
            )

    def set_library_title(self, lib: Library, title: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE libraries SET title = ? WHERE id = ?", (title, lib.id))

    def clear_library(self, lib: Library) -> None:
        """Forget every object of a library (for --full and re-imports), keeping its row."""
        with self.transaction():
            for table in ("items", "collections", "item_collections", "item_tags", "sync_retry"):
                self.db.execute(f"DELETE FROM {table} WHERE library_id = ?", (lib.id,))
            self.db.execute("UPDATE libraries SET version = 0 WHERE id = ?", (lib.id,))

    # -- writes ----------------------------------------------------------------------

    def item_versions(self, lib: Library) -> dict[str, int]:
        rows = self.db.execute("SELECT key, version FROM items WHERE library_id = ?", (lib.id,))
        return {r[0]: r[1] for r in rows}

    def collection_versions(self, lib: Library) -> dict[str, int]:
        rows = self.db.execute("SELECT key, version FROM collections WHERE library_id = ?", (lib.id,))
        return {r[0]: r[1] for r in rows}

    def _count_change(self, table: str, lib: Library, key: str, version: int, text: str,
                      counts: UpsertCounts) -> bool:
        """Count an upsert as added, updated or unchanged; False when there is nothing to write."""
        old = self.db.execute(
            f"SELECT version, object FROM {table} WHERE library_id = ? AND key = ?", (lib.id, key)
        ).fetchone()
        if old is not None and old[0] == version and old[1] == text:
            counts.unchanged += 1
            return False
        if old is None:
            counts.added += 1
        else:
            counts.updated += 1
        return True

    def upsert_items(self, lib: Library, objects: Iterable[dict[str, Any]]) -> UpsertCounts:
        """Insert or replace items (whole API objects ``{key, version, data, …}``)."""
        counts = UpsertCounts()
        with self.transaction():
            for obj in objects:
                data, key, version, text = _unpack(obj)
                if not key or not data.get("itemType"):
                    raise StoreError(f"An item without key or itemType cannot be stored: {str(obj)[:80]}")
                if not self._count_change("items", lib, key, version, text, counts):
                    continue
                self.db.execute(
                    "INSERT OR REPLACE INTO items(library_id, key, version, item_type, parent_key, trashed,"
                    " title, date, url, doi, object) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        lib.id,
                        key,
                        version,
                        data["itemType"],
                        data.get("parentItem") or None,
                        1 if data.get("deleted") else 0,
                        title_of(data),
                        date_of(data),
                        data.get("url") or None,
                        doi_of(data),
                        text,
                    ),
                )
                self.db.execute(
                    "DELETE FROM item_collections WHERE library_id = ? AND item_key = ?", (lib.id, key)
                )
                self.db.executemany(
                    "INSERT OR IGNORE INTO item_collections VALUES (?, ?, ?)",
                    [(lib.id, key, c) for c in data.get("collections", [])],
                )
                self.db.execute("DELETE FROM item_tags WHERE library_id = ? AND item_key = ?", (lib.id, key))
                self.db.executemany(
                    "INSERT OR IGNORE INTO item_tags VALUES (?, ?, ?, ?)",
                    [(lib.id, key, t["tag"], int(t.get("type", 0) or 0)) for t in data.get("tags", []) if t.get("tag")],
                )
                self.db.execute(
                    "DELETE FROM sync_retry WHERE library_id = ? AND object_type = 'item' AND key = ?",
                    (lib.id, key),
                )
        return counts

    def upsert_collections(self, lib: Library, objects: Iterable[dict[str, Any]]) -> UpsertCounts:
        counts = UpsertCounts()
        with self.transaction():
            for obj in objects:
                data, key, version, text = _unpack(obj)
                if not key or "name" not in data:
                    raise StoreError(f"A collection without key or name cannot be stored: {str(obj)[:80]}")
                if not self._count_change("collections", lib, key, version, text, counts):
                    continue
                self.db.execute(
                    "INSERT OR REPLACE INTO collections(library_id, key, version, name, parent_key, trashed, object)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (
                        lib.id,
                        key,
                        version,
                        data["name"],
                        data.get("parentCollection") or None,
                        1 if data.get("deleted") else 0,
                        text,
                    ),
                )
                self.db.execute(
                    "DELETE FROM sync_retry WHERE library_id = ? AND object_type = 'collection' AND key = ?",
                    (lib.id, key),
                )
        return counts

    def delete_items(self, lib: Library, keys: Iterable[str]) -> int:
        n = 0
        with self.transaction():
            for key in keys:
                cur = self.db.execute("DELETE FROM items WHERE library_id = ? AND key = ?", (lib.id, key))
                n += cur.rowcount
                self.db.execute("DELETE FROM item_collections WHERE library_id = ? AND item_key = ?", (lib.id, key))
                self.db.execute("DELETE FROM item_tags WHERE library_id = ? AND item_key = ?", (lib.id, key))
                self.db.execute(
                    "DELETE FROM sync_retry WHERE library_id = ? AND object_type = 'item' AND key = ?", (lib.id, key)
                )
        return n

    def delete_collections(self, lib: Library, keys: Iterable[str]) -> int:
        n = 0
        with self.transaction():
            for key in keys:
                cur = self.db.execute("DELETE FROM collections WHERE library_id = ? AND key = ?", (lib.id, key))
                n += cur.rowcount
                self.db.execute(
                    "DELETE FROM sync_retry WHERE library_id = ? AND object_type = 'collection' AND key = ?",
                    (lib.id, key),
                )
        return n

    def add_retry(self, lib: Library, object_type: str, keys: Iterable[str]) -> None:
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO sync_retry VALUES (?, ?, ?)", [(lib.id, object_type, k) for k in keys]
            )

    def retry_keys(self, lib: Library, object_type: str) -> list[str]:
        rows = self.db.execute(
            "SELECT key FROM sync_retry WHERE library_id = ? AND object_type = ? ORDER BY key", (lib.id, object_type)
        )
        return [r[0] for r in rows]

    # -- sync log --------------------------------------------------------------------

    def start_sync_log(self, lib: Library, from_version: int) -> int:
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO sync_log(library_id, started_at, status, from_version) VALUES (?, ?, 'running', ?)",
                (lib.id, now_iso(), from_version),
            )
        return int(cur.lastrowid or 0)

    def finish_sync_log(self, log_id: int, *, status: str, to_version: int | None = None, added: int = 0,
                        updated: int = 0, deleted: int = 0, unchanged: int = 0, requests: int = 0,
                        message: str | None = None) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE sync_log SET finished_at = ?, status = ?, to_version = ?, added = ?, updated = ?,"
                " deleted = ?, unchanged = ?, requests = ?, message = ? WHERE id = ?",
                (now_iso(), status, to_version, added, updated, deleted, unchanged, requests, message, log_id),
            )

    def sync_log(self, lib: Library, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM sync_log WHERE library_id = ? ORDER BY id DESC LIMIT ?", (lib.id, limit)
        ).fetchall()
        return [dict(r) for r in rows]

    # -- reads -----------------------------------------------------------------------

    def counts(self, lib: Library) -> dict[str, int]:
        q = self.db.execute
        top = q(
            "SELECT COUNT(*) FROM items WHERE library_id = ? AND parent_key IS NULL AND trashed = 0"
            " AND item_type NOT IN ('note', 'attachment', 'annotation')",
            (lib.id,),
        ).fetchone()[0]
        by_type = dict(
            q(
                "SELECT item_type, COUNT(*) FROM items WHERE library_id = ? AND trashed = 0 GROUP BY item_type",
                (lib.id,),
            ).fetchall()
        )
        return {
            "items": top,
            "notes": by_type.get("note", 0),
            "attachments": by_type.get("attachment", 0),
            "trashed": q("SELECT COUNT(*) FROM items WHERE library_id = ? AND trashed = 1", (lib.id,)).fetchone()[0],
            "collections": q("SELECT COUNT(*) FROM collections WHERE library_id = ?", (lib.id,)).fetchone()[0],
            "tags": q("SELECT COUNT(DISTINCT tag) FROM item_tags WHERE library_id = ?", (lib.id,)).fetchone()[0],
        }

    def split_keys(self, lib: Library, parts: int) -> list[str]:
        """Keys that cut the library's top-level items into ``parts`` runs of about equal size."""
        total = self.counts(lib)["items"]
        cuts = []
        for i in range(1, parts):
            row = self.db.execute(
                "SELECT key FROM items WHERE library_id = ? AND trashed = 0 AND parent_key IS NULL"
                " AND item_type NOT IN ('note', 'attachment', 'annotation') ORDER BY key LIMIT 1 OFFSET ?",
                (lib.id, total * i // parts),
            ).fetchone()
            if row:
                cuts.append(row[0])
        return cuts

    def item(self, lib: Library, key: str) -> Item | None:
        row = self.db.execute(
            "SELECT key, version, item_type, parent_key, trashed, object FROM items WHERE library_id = ? AND key = ?",
            (lib.id, key),
        ).fetchone()
        return _item(row) if row else None

    def items(
        self,
        lib: Library,
        *,
        collections: Sequence[str] | None = None,
        include_trashed: bool = False,
        include_children: bool = False,
        keys: Sequence[str] | None = None,
        key_range: tuple[str | None, str | None] | None = None,
    ) -> Iterator[Item]:
        """Items of a library, streamed in key order.

        ``collections``: only items filed directly in one of these collection keys.
        Children (notes, attachments, annotations) are left out unless
        ``include_children``; trashed items unless ``include_trashed``.
        """
        sql = ("SELECT i.key, i.version, i.item_type, i.parent_key, i.trashed, i.object FROM items i"
               " WHERE i.library_id = ?")
        args: list[Any] = [lib.id]
        if not include_trashed:
            sql += " AND i.trashed = 0"
        if not include_children:
            sql += " AND i.parent_key IS NULL AND i.item_type NOT IN ('note', 'attachment', 'annotation')"
        if collections is not None:
            marks = ",".join("?" * len(collections)) or "NULL"
            sql += (
                f" AND i.key IN (SELECT item_key FROM item_collections WHERE library_id = ?"
                f" AND collection_key IN ({marks}))"
            )
            args += [lib.id, *collections]
        if keys is not None:
            marks = ",".join("?" * len(keys)) or "NULL"
            sql += f" AND i.key IN ({marks})"
            args += list(keys)
        if key_range is not None:  # [low, high): to split a whole-library pass between processes
            low, high = key_range
            if low is not None:
                sql += " AND i.key >= ?"
                args.append(low)
            if high is not None:
                sql += " AND i.key < ?"
                args.append(high)
        sql += " ORDER BY i.key"
        for row in self.db.execute(sql, args):
            yield _item(row)

    def children(self, lib: Library, parent_key: str, *, include_trashed: bool = False) -> list[Item]:
        sql = (
            "SELECT key, version, item_type, parent_key, trashed, object FROM items"
            " WHERE library_id = ? AND parent_key = ?"
        )
        if not include_trashed:
            sql += " AND trashed = 0"
        return [_item(r) for r in self.db.execute(sql + " ORDER BY key", (lib.id, parent_key))]

    def children_by_parent(self, lib: Library, *, include_trashed: bool = False) -> dict[str, list[Item]]:
        """Every child item grouped by parent key, in one query (for whole-library passes)."""
        sql = (
            "SELECT key, version, item_type, parent_key, trashed, object FROM items"
            " WHERE library_id = ? AND parent_key IS NOT NULL"
        )
        if not include_trashed:
            sql += " AND trashed = 0"
        out: dict[str, list[Item]] = {}
        for row in self.db.execute(sql + " ORDER BY key", (lib.id,)):
            item = _item(row)
            out.setdefault(item.parent_key or "", []).append(item)
        return out

    def collections(self, lib: Library, *, include_trashed: bool = False) -> list[Collection]:
        """All collections with their paths, parents before children, siblings by name.

        A cycle of parents (A in B in A, which a sync can deliver when two people move
        collections at once) is cut at its first member by name: that one is listed at the
        top level, with no parent, so every collection keeps a path (see
        :meth:`collection_cycles`, to warn about it)."""
        return _collection_tree(self._collection_rows(lib, include_trashed))[0]

    def collection_cycles(self, lib: Library, *, include_trashed: bool = False) -> list[list[Collection]]:
        """Each cycle of parents in the library's collections, as its members, the one listed at
        the top level first; empty when the collections form a tree, as they should."""
        return _collection_tree(self._collection_rows(lib, include_trashed))[1]

    def _collection_rows(self, lib: Library, include_trashed: bool) -> dict[str, sqlite3.Row]:
        rows = self.db.execute(
            "SELECT key, version, name, parent_key, trashed, object FROM collections WHERE library_id = ?",
            (lib.id,),
        ).fetchall()
        return {r["key"]: r for r in rows if include_trashed or not r["trashed"]}

    def collection_item_counts(self, lib: Library) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT ic.collection_key, COUNT(*) FROM item_collections ic JOIN items i"
            " ON i.library_id = ic.library_id AND i.key = ic.item_key"
            " WHERE ic.library_id = ? AND i.trashed = 0 AND i.parent_key IS NULL GROUP BY ic.collection_key",
            (lib.id,),
        )
        return {r[0]: r[1] for r in rows}

    def resolve_collection(self, lib: Library, ref: str) -> Collection:
        """Find a collection by key or by path ("Parent/Child"); a clear error otherwise."""
        colls = self.collections(lib)
        wanted = ref.strip().strip("/")
        for c in colls:
            if c.key == wanted or c.path == wanted:
                return c
        folded = [c for c in colls if c.path.casefold() == wanted.casefold()]
        if len(folded) == 1:
            return folded[0]
        close = get_close_matches(wanted, [c.path for c in colls], n=1)
        hint = f" Did you mean '{close[0]}'?" if close else " List them with 'zotcurate collections'."
        raise NotFoundError(f"The library {lib.name} has no collection '{ref}'.{hint}")

    def resolve_collections(self, lib: Library, refs: Sequence[str]) -> list[Collection]:
        """The collections named (by key or path), each with its sub-collections, without repeats."""
        out: dict[str, Collection] = {}
        for ref in refs:
            for c in self.descendants(lib, self.resolve_collection(lib, ref).key):
                out.setdefault(c.key, c)
        return list(out.values())

    def descendants(self, lib: Library, key: str) -> list[Collection]:
        """The collection and all its sub-collections, in tree order."""
        colls = self.collections(lib)
        root = next((c for c in colls if c.key == key), None)
        if root is None:
            return []
        return [c for c in colls if c.key == key or c.path.startswith(root.path + "/")]

    # -- attachment files (zotcurate.zotero.files) ----------------------------------

    _FILE_COLUMNS = ("item_key", "parent_key", "md5", "content_md5", "size", "content_type", "filename", "path",
                     "status", "fetched_at")

    @property
    def files_dir(self) -> Path | None:
        """The folder beside the store that holds attachment files (``zotcurate-files`` next to
        ``zotcurate.sqlite``); None for a scratch store."""
        if str(self.path) == ":memory:":
            return None
        return self.path.with_name(self.path.stem + "-files")

    def attachment_files(self, lib: Library) -> dict[str, dict[str, Any]]:
        """Every recorded attachment file of the library, by attachment key."""
        rows = self.db.execute(
            f"SELECT {', '.join(self._FILE_COLUMNS)} FROM attachment_files WHERE library_id = ?", (lib.id,))
        return {r["item_key"]: dict(r) for r in rows}

    def record_attachment_file(self, lib: Library, row: dict[str, Any]) -> None:
        """Record one attachment's file (a dict with the columns of ``attachment_files``)."""
        with self.transaction():
            self.db.execute(
                f"INSERT OR REPLACE INTO attachment_files(library_id, {', '.join(self._FILE_COLUMNS)})"
                f" VALUES (?, {', '.join('?' * len(self._FILE_COLUMNS))})",
                (lib.id, *(row.get(c) for c in self._FILE_COLUMNS)),
            )

    def forget_attachment_files(self, lib: Library, keys: Iterable[str]) -> int:
        with self.transaction():
            return sum(self.db.execute("DELETE FROM attachment_files WHERE library_id = ? AND item_key = ?",
                                       (lib.id, k)).rowcount for k in keys)

    def file_paths_in_use(self) -> set[str]:
        """The files folder's paths that some library still records (files may be shared)."""
        rows = self.db.execute("SELECT DISTINCT path FROM attachment_files WHERE path IS NOT NULL")
        return {r[0] for r in rows}

    def file_counts(self, lib: Library) -> dict[str, int]:
        """How many attachment files are stored for the library, and their bytes."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM attachment_files WHERE library_id = ? AND status = 'stored'",
            (lib.id,)).fetchone()
        return {"files": int(row[0]), "file_bytes": int(row[1])}

    # -- link audit history (zotcurate.links) ----------------------------------------

    _LINK_COLUMNS = ("item_key", "kind", "url", "checked_at", "verdict", "status", "final_url", "new_url",
                     "hops", "elapsed", "detail")

    def add_link_checks(self, lib: Library, checks: Iterable[dict[str, Any]]) -> int:
        """Record link checks (dicts with the columns of ``link_checks``; ``hops`` a list)."""
        rows = [
            tuple(json.dumps(c.get("hops") or []) if col == "hops" else c.get(col) for col in self._LINK_COLUMNS)
            for c in checks
        ]
        with self.transaction():
            self.db.executemany(
                f"INSERT INTO link_checks(library_id, {', '.join(self._LINK_COLUMNS)})"
                f" VALUES (?, {', '.join('?' * len(self._LINK_COLUMNS))})",
                [(lib.id, *row) for row in rows],
            )
        return len(rows)

    def link_history(self, lib: Library,
                     item_keys: Sequence[str] | None = None) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Every recorded check, grouped by ``(item_key, url)``, oldest first."""
        sql = f"SELECT {', '.join(self._LINK_COLUMNS)} FROM link_checks WHERE library_id = ?"
        args: list[Any] = [lib.id]
        if item_keys is not None:
            sql += f" AND item_key IN ({','.join('?' * len(item_keys)) or 'NULL'})"
            args += list(item_keys)
        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in self.db.execute(sql + " ORDER BY checked_at, id", args):
            check = dict(row)
            check["hops"] = json.loads(check["hops"] or "[]")
            out.setdefault((check["item_key"], check["url"]), []).append(check)
        return out

    def links_last_checked(self, lib: Library, item_keys: Sequence[str] | None = None) -> str | None:
        """ISO datetime of the latest link check among these items (all items if None), or None."""
        sql = "SELECT MAX(checked_at) FROM link_checks WHERE library_id = ?"
        args: list[Any] = [lib.id]
        if item_keys is not None:
            sql += f" AND item_key IN ({','.join('?' * len(item_keys)) or 'NULL'})"
            args += list(item_keys)
        return self.db.execute(sql, args).fetchone()[0]


def _collection_tree(by_key: dict[str, sqlite3.Row]) -> tuple[list[Collection], list[list[Collection]]]:
    """The collections in tree order with their paths, and the cycles that had to be cut."""
    def order(key: str) -> tuple[str, str]:
        return by_key[key]["name"].casefold(), key

    parent_of = {key: (r["parent_key"] if r["parent_key"] in by_key else None) for key, r in by_key.items()}
    cycles: list[list[str]] = []
    reaches_top: set[str] = set()
    for start in sorted(by_key, key=order):
        # Follow the parents up to the top level, to a collection known to reach it, or round a loop.
        trail: list[str] = []
        node: str | None = start
        while node is not None and node not in reaches_top and node not in trail:
            trail.append(node)
            node = parent_of[node]
        if node is not None and node in trail:
            loop = trail[trail.index(node):]
            head = min(loop, key=order)  # cut here: this one is listed at the top level
            parent_of[head] = None
            cycles.append([head, *loop[loop.index(head) + 1:], *loop[:loop.index(head)]])
        reaches_top.update(trail)
    cut = {loop[0] for loop in cycles}
    children: dict[str | None, list[str]] = {}
    for key, parent in parent_of.items():
        children.setdefault(parent, []).append(key)
    out: list[Collection] = []
    # Depth first without recursion: a deep (or adversarial) tree must not hit Python's recursion limit.
    stack = [(key, "") for key in sorted(children.get(None, []), key=order, reverse=True)]
    while stack:
        here, above = stack.pop()
        r = by_key[here]
        path = f"{above}/{r['name']}" if above else r["name"]
        out.append(Collection(here, r["version"], r["name"], None if here in cut else r["parent_key"], path,
                              orjson.loads(r["object"])))
        stack.extend((k, path) for k in sorted(children.get(here, []), key=order, reverse=True))
    by_key_out = {c.key: c for c in out}
    return out, [[by_key_out[k] for k in loop] for loop in cycles]


@cache
def expected_tables() -> dict[str, tuple[str, ...]]:
    """Each table of the current schema and its columns, from the migrations themselves."""
    db = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS:
            for statement in _split_sql(script):
                db.execute(statement)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: tuple(r[1] for r in db.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        db.close()


def _use_wal(db: sqlite3.Connection, *, patience: float = 30.0) -> None:
    """Switch a store to WAL (readers never wait for the writer); it stays so in the file.

    Switching takes an exclusive lock, and SQLite answers "database is locked" at once, without
    its busy timeout, when another process is switching the same new store at that moment
    (two runs creating it together): so wait and retry, as the busy timeout would."""
    deadline = time.monotonic() + patience
    delay = 0.01
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorname", "") or "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(delay * (1 + random.random()))  # jitter: two waiting runs must not retry in step
        delay = min(delay * 2, 0.5)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection. A WAL store in a read-only folder cannot get its shared-memory
    file (-shm), so SQLite refuses a plain read-only open there; since then nobody can be
    writing it either (a writer needs that folder too), it is opened as immutable."""
    uri = path.resolve().as_uri()
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30)
        db.execute("PRAGMA user_version").fetchone()  # the first read opens the -shm file
        return db
    except sqlite3.OperationalError as exc:
        if db is not None:
            db.close()
        if not (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_CANTOPEN") \
                or os.access(path.parent, os.W_OK):
            raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, timeout=30)


def _unpack(obj: dict[str, Any]) -> tuple[dict[str, Any], str | None, int, str]:
    """An API object's data, key, version and stored JSON text."""
    data = obj.get("data") or {}
    key = obj.get("key") or data.get("key")
    version = int(obj.get("version", data.get("version", 0)) or 0)
    return data, key, version, json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _item(row: sqlite3.Row | tuple[Any, ...]) -> Item:
    return Item(
        key=row[0],
        version=row[1],
        item_type=row[2],
        parent_key=row[3],
        trashed=bool(row[4]),
        object=orjson.loads(row[5]),  # 2-3x faster than json.loads: every audit reads every item
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our string literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
