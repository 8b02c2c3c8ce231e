"""The store on its own: schema, migrations, upserts, trash, collection paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from zotcurate.errors import NotFoundError, StoreError
from zotcurate.store import SCHEMA_VERSION, Store


def obj(key: str, version: int = 1, **data: object) -> dict:
    base = {"key": key, "version": version, "itemType": "report", "title": f"Title {key}"}
    base.update(data)
    return {"key": key, "version": version, "data": base}


def coll(key: str, name: str, parent: str | bool = False, version: int = 1) -> dict:
    return {"key": key, "version": version, "data": {"key": key, "version": version, "name": name,
                                                     "parentCollection": parent, "relations": {}}}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "s.sqlite") as s:
        yield s


def test_new_store_is_at_current_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_from_a_newer_zotcurate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer zotcurate"):
        Store(path)


def test_garbage_file_is_a_clear_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot be opened"):
        Store(path)


def test_upsert_counts_added_updated_unchanged(store: Store) -> None:
    lib = store.ensure_library("group:1", "group", "1")
    c = store.upsert_items(lib, [obj("AAAA2222"), obj("BBBB3333")])
    assert (c.added, c.updated, c.unchanged) == (2, 0, 0)
    c = store.upsert_items(lib, [obj("AAAA2222"), obj("BBBB3333", 2, title="New")])
    assert (c.added, c.updated, c.unchanged) == (0, 1, 1)
    assert store.item(lib, "BBBB3333").data["title"] == "New"
    assert store.item_versions(lib) == {"AAAA2222": 1, "BBBB3333": 2}


def test_trashed_items_are_kept_but_left_out_by_default(store: Store) -> None:
    lib = store.ensure_library("group:1", "group", "1")
    store.upsert_items(lib, [obj("AAAA2222"), obj("BBBB3333", deleted=1)])
    assert [i.key for i in store.items(lib)] == ["AAAA2222"]
    assert [i.key for i in store.items(lib, include_trashed=True)] == ["AAAA2222", "BBBB3333"]
    assert store.counts(lib)["trashed"] == 1


def test_children_tags_and_collections_are_queryable(store: Store) -> None:
    lib = store.ensure_library("group:1", "group", "1")
    store.upsert_collections(lib, [coll("PPPP2222", "Parent"), coll("CCCC2222", "Child", "PPPP2222")])
    note = {"key": "NNNN2222", "version": 1, "data": {"key": "NNNN2222", "itemType": "note", "note": "<p>x</p>",
                                                      "parentItem": "AAAA2222", "tags": [{"tag": "commentaire"}]}}
    store.upsert_items(lib, [obj("AAAA2222", collections=["CCCC2222"], tags=[{"tag": "a"}, {"tag": "b", "type": 1}]),
                             note])
    assert [i.key for i in store.items(lib)] == ["AAAA2222"]  # the note is a child
    assert [i.key for i in store.children(lib, "AAAA2222")] == ["NNNN2222"]
    assert store.item(lib, "AAAA2222").tags == ["a", "b"]
    assert [i.key for i in store.items(lib, collections=["CCCC2222"])] == ["AAAA2222"]
    assert [c.path for c in store.collections(lib)] == ["Parent", "Parent/Child"]
    assert store.resolve_collection(lib, "Parent/Child").key == "CCCC2222"
    assert store.resolve_collection(lib, "CCCC2222").name == "Child"
    assert [c.key for c in store.descendants(lib, "PPPP2222")] == ["PPPP2222", "CCCC2222"]
    assert [c.key for c in store.resolve_collections(lib, ["Parent", "Parent/Child"])] == ["PPPP2222", "CCCC2222"]


def test_unknown_collection_suggests_the_closest_path(store: Store) -> None:
    lib = store.ensure_library("group:1", "group", "1")
    store.upsert_collections(lib, [coll("PPPP2222", "Numérique et santé")])
    with pytest.raises(NotFoundError, match="Did you mean 'Numérique et santé'"):
        store.resolve_collection(lib, "Numerique et sante")


def test_a_failed_batch_leaves_the_store_as_before(store: Store) -> None:
    lib = store.ensure_library("group:1", "group", "1")
    store.upsert_items(lib, [obj("AAAA2222")])
    with pytest.raises(StoreError):
        store.upsert_items(lib, [obj("BBBB3333"), {"key": "CCCC4444", "version": 1, "data": {}}])
    assert store.item_versions(lib) == {"AAAA2222": 1}


def test_objects_round_trip_exactly(store: Store) -> None:
    lib = store.ensure_library("group:1", "group", "1")
    original = obj("AAAA2222", extra="bib-et-al: true", creators=[{"creatorType": "author", "name": "ANS"}])
    original["meta"] = {"numChildren": 0}
    store.upsert_items(lib, [original])
    assert json.dumps(store.item(lib, "AAAA2222").object, sort_keys=True) == json.dumps(original, sort_keys=True)
