"""`zotcurate sync` against the fake Zotero server over loopback, pyzotero as the client."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from conftest import TEST_API_KEY, TEST_GROUP_ID
from zotcurate.cli import main
from zotcurate.config import load_settings
from zotcurate.errors import ExitCode, NetworkError
from zotcurate.output import ProgressReporter
from zotcurate.store import Store
from zotcurate.zotero.client import RetryPolicy, ZoteroClient
from zotcurate.zotero.sync import sync_library
from zotero_server import KEY_CHARS

LIB = f"group:{TEST_GROUP_ID}"


def env_for(server, tmp_path: Path, key: str = TEST_API_KEY) -> dict[str, str]:
    return {
        "ZOTERO_API_KEY": key,
        "ZOTCURATE_API_URL": server.url,
        "ZOTCURATE_STORE": str(tmp_path / "store.sqlite"),
        "ZOTCURATE_CONFIG": str(tmp_path / "config.toml"),
    }


def sync(server, tmp_path: Path, capsys, *args: str, key: str = TEST_API_KEY) -> tuple[int, str, str]:
    code = main(["sync", "--library", LIB, *args], env=env_for(server, tmp_path, key))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(tmp_path: Path, name: str = "store.sqlite"):
    store = Store(tmp_path / name)
    return store, store.require_library(LIB)


def item_pages(server) -> list:
    """The requests that read item objects page by page (the first-sync path)."""
    return [r for r in server.requests if r.path.endswith("/items") and "start" in r.query and "itemKey" not in r.query]


def fetched_by_key(server) -> int:
    """How many items were asked for by key (the incremental path)."""
    return sum(len(r.query["itemKey"].split(",")) for r in server.requests if "itemKey" in r.query)


def object_fetches(server) -> list:
    """Answered requests that carried item objects, by page or by key."""
    return [r for r in server.requests
            if r.status == 200 and r.path.endswith("/items") and ("start" in r.query or "itemKey" in r.query)]


def test_first_sync_copies_the_whole_library(zotero_example, tmp_path, capsys) -> None:
    code, out, _ = sync(zotero_example, tmp_path, capsys)
    assert code == ExitCode.OK
    assert out.startswith(f"{LIB}: 99 added, 0 updated, 0 deleted")
    store, lib = stored(tmp_path)
    with store:
        assert lib.version == zotero_example.library_version(zotero_example.prefix)
        assert lib.title == "Numérique et santé"
        assert store.counts(lib)["items"] == 99
        paths = [c.path for c in store.collections(lib)]
        assert paths[:2] == ["Numérique et santé", "Numérique et santé/0. Introduction"]
        assert store.item(lib, "SKJ3FVUF").data["institution"] == "Délégation ministérielle au numérique en santé"
        assert store.sync_log(lib)[0]["status"] == "ok"
    # A first sync reads the objects page by page (100 per page), never by key, never one by one.
    pages = item_pages(zotero_example)
    assert [(r.query["since"], r.query["start"], r.query["limit"]) for r in pages] == [("0", "0", "100")]
    assert not [r for r in zotero_example.requests if "itemKey" in r.query or "/items/" in r.path]
    assert len(zotero_example.requests) == 3  # group name, the collections page, the items page


def test_no_change_sync_is_one_request_and_says_up_to_date(zotero_example, tmp_path, capsys) -> None:
    sync(zotero_example, tmp_path, capsys)
    zotero_example.reset_requests()
    code, out, _ = sync(zotero_example, tmp_path, capsys)
    assert code == ExitCode.OK and "is up to date" in out
    assert len(zotero_example.requests) == 1
    assert zotero_example.requests[0].status == 304


def test_edits_and_deletions_between_syncs(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    sync(server, tmp_path, capsys)
    server.put_item(server.prefix, {"key": "SKJ3FVUF", "title": "Feuille de route (révisée)"})
    new = server.put_item(server.prefix, {"itemType": "webpage", "title": "Nouvelle page", "url": "https://example.org"})
    server.put_item(server.prefix, {"itemType": "note", "note": "<p>Un commentaire</p>", "parentItem": new["key"]})
    server.delete_item(server.prefix, "RAJUC9HQ")
    server.reset_requests()
    code, out, _ = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK
    assert out.startswith(f"{LIB}: 2 added, 1 updated, 1 deleted")
    store, lib = stored(tmp_path)
    with store:
        assert store.item(lib, "SKJ3FVUF").data["title"] == "Feuille de route (révisée)"
        assert store.item(lib, "RAJUC9HQ") is None
        assert [c.data["note"] for c in store.children(lib, new["key"])] == ["<p>Un commentaire</p>"]
        assert lib.version == server.library_version(server.prefix)
    assert len(server.requests) <= 10


def test_hundred_edits_cost_at_most_ten_requests(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    sync(server, tmp_path, capsys)
    items = json.loads((Path(__file__).parents[1] / "examples/numerique-sante/items.json").read_text(encoding="utf-8"))
    for obj in items[:99]:
        server.put_item(server.prefix, {"key": obj["key"], "language": "fr-FR"})
    server.put_item(server.prefix, {"key": items[0]["key"], "language": "fr"})
    server.reset_requests()
    code, out, _ = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK and out.startswith(f"{LIB}: 0 added, 99 updated")
    assert len(server.requests) <= 10
    # Objects were fetched by key in batches of at most 50, never one by one.
    fetches = [r for r in server.requests if "itemKey" in r.query]
    assert len(fetches) == 2 and all(len(r.query["itemKey"].split(",")) <= 50 for r in fetches)


def test_a_remote_edit_during_the_sync_sends_it_round_again(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    edited = []

    def edit_once(_request) -> None:
        if not edited:
            edited.append(server.put_item(server.prefix, {"key": "SKJ3FVUF", "title": "Edited mid-sync"}))

    server.on_request(edit_once, path=r"/items$", times=1)
    code, _, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    assert "changed during the sync" in err
    store, lib = stored(tmp_path)
    with store:
        assert store.item(lib, "SKJ3FVUF").data["title"] == "Edited mid-sync"
        assert lib.version == server.library_version(server.prefix) == edited[0]["version"]
        assert store.counts(lib)["items"] == 99


def test_trash_and_restore(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    sync(server, tmp_path, capsys)
    server.trash_item(server.prefix, "SKJ3FVUF")
    sync(server, tmp_path, capsys)
    store, lib = stored(tmp_path)
    with store:
        assert store.item(lib, "SKJ3FVUF").trashed
        assert "SKJ3FVUF" not in {i.key for i in store.items(lib)}
        assert store.counts(lib)["trashed"] == 1
    server.restore_item(server.prefix, "SKJ3FVUF")
    sync(server, tmp_path, capsys)
    store, lib = stored(tmp_path)
    with store:
        assert not store.item(lib, "SKJ3FVUF").trashed


def test_429_with_retry_after_and_backoff_are_waited_out(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    server.inject(429, headers={"Retry-After": "1"}, path=r"/items$", times=1)
    server.backoff(1, times=1, path=r"/collections$")
    code, _, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK
    assert "429: waiting 1 s" in err and "Backoff request: waiting 1 s" in err
    assert [r.status for r in server.requests].count(429) == 1
    store, lib = stored(tmp_path)
    with store:
        assert store.counts(lib)["items"] == 99


def test_503_and_500_are_retried(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    server.inject(503, headers={"Retry-After": "1"}, path=r"/items$", times=1)
    server.inject(500, path=r"/deleted$", times=1)
    server.inject(500, path=r"/collections$", times=1)  # a first sync asks for no /deleted
    code, _, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    assert [r.status for r in server.requests].count(503) == 1
    assert [r.status for r in server.requests].count(500) == 1
    # An incremental sync asks /deleted: its 500 is retried as well.
    server.put_item(server.prefix, {"key": "SKJ3FVUF", "title": "Révisé"})
    server.reset_requests()
    code, _, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    assert [(r.path.rsplit("/", 1)[1], r.status) for r in server.requests if r.status == 500] == [("deleted", 500)]


def test_at_most_four_requests_in_flight(zotero_server, tmp_path, capsys) -> None:
    server = zotero_server
    server.load_export(server.prefix, [{"itemType": "book", "title": f"Livre {i}"} for i in range(600)])
    server.latency = 0.05
    code, out, _ = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK and out.startswith(f"{LIB}: 600 added")
    assert 2 <= server.max_in_flight <= 4


def test_failure_mid_sync_keeps_batches_and_the_next_run_finishes(zotero_server, tmp_path) -> None:
    server = zotero_server
    server.load_export(server.prefix, [{"itemType": "book", "title": f"Livre {i}"} for i in range(320)])
    settings = load_settings(env=env_for(server, tmp_path), library=LIB)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    with Store(settings.store_path) as store:
        # First sync, four pages (100, 100, 100, 20): the first page and one of the three
        # sent together get through, then every attempt at the other two fails.
        server.inject(500, path=r"/items$", after=2, times=None)
        with pytest.raises(NetworkError, match="kept answering 500"):
            sync_library(store, settings, settings.library, policy=policy)
        server.clear_faults()
        lib = store.require_library(LIB)
        kept = store.counts(lib)["items"]
        assert lib.version == 0 and kept in (120, 200)  # two pages kept; version not advanced
        # The next run resumes by key, batches of 50: the item versions list and two batches
        # get through, then every attempt at the others fails.
        server.inject(500, path=r"/items$", after=3, times=None)
        with pytest.raises(NetworkError, match="kept answering 500"):
            sync_library(store, settings, settings.library, policy=policy)
        server.clear_faults()
        lib = store.require_library(LIB)
        resumed = store.counts(lib)["items"] - kept
        assert lib.version == 0 and resumed in (70, 100)  # two batches kept; version not advanced
        kept += resumed
        server.reset_requests()
        result = sync_library(store, settings, settings.library, policy=policy)
        lib = store.require_library(LIB)
        assert (result.added, store.counts(lib)["items"]) == (320 - kept, 320)
        assert lib.version == server.library_version(server.prefix)
    fetched = sum(len(r.query["itemKey"].split(",")) for r in server.requests if "itemKey" in r.query)
    assert fetched == 320 - kept


def test_killed_sync_resumes_without_duplicates_or_losses(zotero_server, tmp_path, capsys) -> None:
    server = zotero_server
    server.load_export(server.prefix, [{"itemType": "book", "title": f"Livre {i}"} for i in range(1000)])
    server.latency = 0.3
    env = {**os.environ, **env_for(server, tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "zotcurate", "--quiet", "sync", "--library", LIB], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(object_fetches(server)) < 2:  # pages of 100 (a first sync), or batches by key
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.02)
    # The store exists by now; kill the run as soon as its first batch is committed.
    with Store(tmp_path / "store.sqlite") as store:
        lib = store.require_library(LIB)
        while store.counts(lib)["items"] == 0:
            assert time.monotonic() < deadline, "no batch was ever committed"
            time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    store, lib = stored(tmp_path)
    with store:
        partial = store.counts(lib)["items"]
        assert lib.version == 0 and 0 < partial < 1000
    server.latency = 0
    server.reset_requests()
    code, _, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    store, lib = stored(tmp_path)
    with store:
        assert store.counts(lib)["items"] == 1000
        assert lib.version == server.library_version(server.prefix)
    fetched = sum(len(r.query["itemKey"].split(",")) for r in server.requests if "itemKey" in r.query)
    assert fetched == 1000 - partial  # only what the killed run had not stored


def zkey(prefix: str, n: int) -> str:
    """A valid Zotero object key: a letter, then ``n`` in base 33 over Zotero's key alphabet."""
    digits = ""
    for _ in range(7):
        n, r = divmod(n, len(KEY_CHARS))
        digits = KEY_CHARS[r] + digits
    return prefix + digits


def big_library(n_items: int, n_collections: int) -> tuple[list[dict], list[dict]]:
    """Books in nested collections (parents and children on different pages), tags, a note
    on every twentieth book, a trashed book in fifty."""
    collections = [{"key": zkey("C", c), "name": f"Collection {c:03d}",
                    "parentCollection": zkey("C", c // 10) if c >= 10 else False} for c in range(n_collections)]
    items = []
    for i in range(n_items):
        book = {"key": zkey("I", i), "itemType": "book", "title": f"Livre {i}", "tags": [{"tag": f"thème {i % 7}"}],
                "collections": [zkey("C", i % n_collections)]}
        if i % 50 == 7:
            book["deleted"] = 1
        items.append(book)
        if i % 20 == 3:
            items.append({"key": zkey("N", i), "itemType": "note", "note": f"<p>Note {i}</p>",
                          "parentItem": book["key"]})
    return items, collections


def dump(path: Path) -> dict[str, list]:
    """Everything a sync writes for the library, but timestamps and the sync log."""
    with Store(path) as store:
        lib = store.require_library(LIB)
        tables = {
            "items": "SELECT key, version, item_type, parent_key, trashed, title, date, url, doi, object FROM items",
            "collections": "SELECT key, version, name, parent_key, trashed, object FROM collections",
            "item_collections": "SELECT item_key, collection_key FROM item_collections",
            "item_tags": "SELECT item_key, tag, type FROM item_tags",
            "sync_retry": "SELECT object_type, key FROM sync_retry",
        }
        out = {name: sorted(tuple(r) for r in store.db.execute(f"{sql} WHERE library_id = ?", (lib.id,)))
               for name, sql in tables.items()}
        out["library"] = [(lib.version, lib.title)]
        return out


class Notices(ProgressReporter):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def notice(self, message: str) -> None:
        self.seen.append(message)


def test_first_sync_reads_collections_and_items_in_pages_of_100(zotero_server, tmp_path, capsys) -> None:
    server = zotero_server
    items, collections = big_library(430, 230)  # 452 items (5 pages), 230 collections (3 pages)
    server.load_export(server.prefix, items, collections)
    server.latency = 0.02
    code, out, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    assert out.startswith(f"{LIB}: 452 added, 0 updated, 0 deleted")
    pages = [(r.path.rsplit("/", 1)[1], int(r.query["start"])) for r in server.requests if "start" in r.query]
    assert sorted(pages) == [("collections", s) for s in (0, 100, 200)] + [("items", s) for s in range(0, 500, 100)]
    assert all(r.query["limit"] == "100" and r.query["since"] == "0" for r in server.requests if "start" in r.query)
    assert not [r for r in server.requests if "itemKey" in r.query or "collectionKey" in r.query]
    assert not [r for r in server.requests if r.query.get("format") in ("versions", "keys")]
    assert 2 <= server.max_in_flight <= 4
    store, lib = stored(tmp_path)
    with store:
        assert lib.version == server.library_version(server.prefix)
        assert len(store.item_versions(lib)) == 452 and store.counts(lib)["trashed"] == 9
        paths = {c.key: c.path for c in store.collections(lib)}
        # Collection 123 sits on the second page, its parent 12 and grandparent 1 on the first.
        assert paths[zkey("C", 123)] == "Collection 001/Collection 012/Collection 123"
        assert [n.data["note"] for n in store.children(lib, zkey("I", 23))] == ["<p>Note 23</p>"]


def test_killed_first_sync_resumes_to_the_same_store_as_a_clean_sync(zotero_server, tmp_path, capsys) -> None:
    server = zotero_server
    items, collections = big_library(1100, 130)  # 1,155 items (12 pages), 130 collections (2 pages)
    server.load_export(server.prefix, items, collections)
    total = len(items)
    server.latency = 0.2
    env = {**os.environ, **env_for(server, tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "zotcurate", "--quiet", "sync", "--library", LIB], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not item_pages(server):
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.01)
    # Kill the run as soon as its first page of items is committed.
    with Store(tmp_path / "store.sqlite") as store:
        lib = store.require_library(LIB)
        while not store.item_versions(lib):
            assert time.monotonic() < deadline, "no page was ever committed"
            time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # The killed run read pages only, and committed whole pages only.
    assert not [r for r in server.requests if "itemKey" in r.query or "collectionKey" in r.query]
    store, lib = stored(tmp_path)
    with store:
        partial = len(store.item_versions(lib))
        assert lib.version == 0 and 0 < partial < total
        assert partial % 100 in (0, total % 100)
    # The next run fetches exactly what is missing, by key, and nothing twice.
    server.latency = 0
    server.reset_requests()
    code, out, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    assert out.startswith(f"{LIB}: {total - partial} added, 0 updated, 0 deleted")
    assert fetched_by_key(server) == total - partial
    assert not item_pages(server)
    # Same store as a sync that was never interrupted.
    server.reset_requests()
    code, _, err = sync(server, tmp_path / "clean", capsys)
    assert code == ExitCode.OK, err
    assert dump(tmp_path / "store.sqlite") == dump(tmp_path / "clean" / "store.sqlite")
    assert dump(tmp_path / "store.sqlite")["library"] == [(server.library_version(server.prefix), "Numérique et santé")]


def test_a_deletion_and_an_addition_during_the_first_sync_are_caught(zotero_server, tmp_path) -> None:
    server = zotero_server
    items, collections = big_library(430, 20)
    server.load_export(server.prefix, items, collections)
    first = zkey("I", 0)  # sorts first: on the first page, stored before the deletion
    done = []

    def meanwhile(request) -> None:
        if request.query.get("start") == "300" and not done:
            server.delete_item(server.prefix, first)
            done.append(server.put_item(server.prefix, {"itemType": "book", "title": "Arrivé pendant la sync"}))

    server.on_request(meanwhile, path=r"/items$")
    settings = load_settings(env=env_for(server, tmp_path), library=LIB)
    notices = Notices()
    with Store(settings.store_path) as store:
        result = sync_library(store, settings, settings.library, progress=notices, pass_wait=0.01)
        lib = store.require_library(LIB)
        assert done and any("changed during the sync" in n for n in notices.seen)
        assert result.passes == 2
        assert sorted(store.item_versions(lib)) == sorted(server.item_keys(server.prefix))
        assert store.item(lib, first) is None
        assert store.item(lib, done[0]["key"]).data["title"] == "Arrivé pendant la sync"
        assert lib.version == server.library_version(server.prefix)


def test_pages_that_overlap_without_a_version_change_are_completed_by_key(zotero_server, tmp_path) -> None:
    server = zotero_server
    server.load_export(server.prefix, [{"itemType": "book", "title": f"Livre {i}"} for i in range(300)])
    # A server whose order is not stable: a later page repeats the first page's objects
    # (same library version, same Total-Results), so 100 items are on no page at all.
    query = urlencode({"since": 0, "start": 0, "limit": 100, "includeTrashed": 1, "sort": "dateAdded",
                       "direction": "asc"})
    request = urllib.request.Request(f"{server.url}{server.prefix}/items?{query}",
                                     headers={"Zotero-API-Key": server.api_key})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
        first_page = json.loads(response.read().decode("utf-8"))
        headers = {h: response.headers[h] for h in ("Last-Modified-Version", "Total-Results")}
    server.inject(200, body=first_page, path=r"/items$", query={"start": "100"}, headers=headers)
    server.reset_requests()
    settings = load_settings(env=env_for(server, tmp_path), library=LIB)
    notices = Notices()
    with Store(settings.store_path) as store:
        result = sync_library(store, settings, settings.library, progress=notices, pass_wait=0.01)
        lib = store.require_library(LIB)
        assert any("not on any page" in n for n in notices.seen)
        assert (result.added, len(store.item_versions(lib))) == (300, 300)
        assert lib.version == server.library_version(server.prefix)
    assert fetched_by_key(server) == 100


def test_full_sync_pages_and_drops_what_zotero_no_longer_has(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    sync(server, tmp_path, capsys)
    store, lib = stored(tmp_path)
    with store:  # objects the store has but Zotero does not (deleted long ago, log expired)
        store.upsert_items(lib, [{"key": "GHOST234", "version": 1, "data": {"itemType": "book", "title": "Fantôme"}}])
        store.upsert_collections(lib, [{"key": "GHOSTC23", "version": 1, "data": {"name": "Fantôme"}}])
    server.reset_requests()
    code, out, err = sync(server, tmp_path, capsys, "--full")
    assert code == ExitCode.OK, err
    assert out.startswith(f"{LIB}: 0 added, 0 updated, 1 deleted, 99 unchanged items; 0 collections changed, 1 deleted")
    assert [r.query["start"] for r in item_pages(server)] == ["0"]
    assert not [r for r in server.requests if "itemKey" in r.query or r.path.endswith("/deleted")]
    store, lib = stored(tmp_path)
    with store:
        assert store.item(lib, "GHOST234") is None and "GHOSTC23" not in store.collection_versions(lib)
        assert len(store.item_versions(lib)) == len(server.item_keys(server.prefix))


def test_without_total_results_the_pages_are_followed_one_by_one(zotero_server, tmp_path, capsys) -> None:
    server = zotero_server
    server.load_export(server.prefix, [{"itemType": "book", "title": f"Livre {i}"} for i in range(250)])
    server.total_results = False
    code, out, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    assert out.startswith(f"{LIB}: 250 added")
    assert [r.query["start"] for r in item_pages(server)] == ["0", "100", "200"]  # the third one is short
    store, lib = stored(tmp_path)
    with store:
        assert len(store.item_versions(lib)) == 250 and lib.version == server.library_version(server.prefix)


def test_resumed_first_sync_drops_what_zotero_deleted_meanwhile(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    settings = load_settings(env=env_for(server, tmp_path), library=LIB)
    with Store(settings.store_path) as store:
        # What a killed first run may leave: an item Zotero has deleted since, a retry key
        # Zotero does not have, and no library version.
        lib = store.ensure_library(LIB, "group", str(TEST_GROUP_ID), source=server.url)
        store.upsert_items(lib, [{"key": "GONE2345", "version": 1, "data": {"itemType": "book", "title": "Supprimé"}}])
        store.add_retry(lib, "item", ["NOPE2345"])
    server.reset_requests()
    code, out, err = sync(server, tmp_path, capsys)
    assert code == ExitCode.OK, err
    assert out.startswith(f"{LIB}: 99 added, 0 updated, 1 deleted")
    assert fetched_by_key(server) == 100  # the 99 missing items and the retry key, by key
    store, lib = stored(tmp_path)
    with store:
        assert store.item(lib, "GONE2345") is None and store.retry_keys(lib, "item") == []
        assert len(store.item_versions(lib)) == len(server.item_keys(server.prefix))
        assert lib.version == server.library_version(server.prefix)


def test_the_http_client_outlives_the_threads_that_used_it(zotero_server, tmp_path) -> None:
    # pyzotero closes the HTTP client it was given when an instance is collected; the
    # per-thread instances of a finished pool must not close the client the next calls share.
    server = zotero_server
    server.load_export(server.prefix, [{"itemType": "book", "title": f"Livre {i}"} for i in range(120)])
    settings = load_settings(env=env_for(server, tmp_path), library=LIB)
    with ZoteroClient(settings, settings.library) as client:
        assert sum(len(batch) for batch in client.iter_items_by_key(server.item_keys(server.prefix))) == 120
        assert sum(len(page.objects) for page in client.iter_pages()) == 120
        gc.collect()
        assert len(client.item_versions(0)) == 120
        assert client.deleted(0) == {"collections": [], "searches": [], "items": [], "tags": [], "settings": []}


def test_wrong_key_is_exit_4_and_never_printed(zotero_example, tmp_path, capsys) -> None:
    bad = "WrongKey000000000000abcd"
    code, out, err = sync(zotero_example, tmp_path, capsys, key=bad)
    assert code == ExitCode.AUTH
    assert "API key was refused" in err and bad not in out + err
    assert err.count("\n") == 1  # one sentence, no traceback


def test_unknown_group_is_exit_5(zotero_example, tmp_path, capsys) -> None:
    code = main(["sync", "--library", "group:999999"], env=env_for(zotero_example, tmp_path))
    err = capsys.readouterr().err
    assert code == ExitCode.NOT_FOUND
    assert "Zotero has no group 999999" in err and "zotcurate init" in err


def test_group_the_key_cannot_read_is_exit_4(zotero_example, tmp_path, capsys) -> None:
    zotero_example.add_group(777, "Autre groupe")
    code = main(["sync", "--library", "group:777"], env=env_for(zotero_example, tmp_path))
    err = capsys.readouterr().err
    assert code == ExitCode.AUTH and "refused for group:777" in err


def test_network_down_is_exit_6_and_store_untouched(zotero_example, tmp_path, capsys) -> None:
    sync(zotero_example, tmp_path, capsys)
    before = (tmp_path / "store.sqlite").read_bytes()
    zotero_example.put_item(zotero_example.prefix, {"key": "SKJ3FVUF", "title": "changed"})
    zotero_example.down()
    try:
        code, _, err = sync(zotero_example, tmp_path, capsys)
    finally:
        zotero_example.up()
    assert code == ExitCode.NETWORK and "could not be reached" in err
    store, lib = stored(tmp_path)
    with store:
        assert store.item(lib, "SKJ3FVUF").data["title"] != "changed"
        assert store.sync_log(lib)[0]["status"] == "failed"
    assert before  # the file existed and still opens


def test_status_and_collections_after_sync(zotero_example, tmp_path, capsys) -> None:
    sync(zotero_example, tmp_path, capsys)
    env = env_for(zotero_example, tmp_path)
    assert main(["status", "--format", "json"], env=env) == ExitCode.OK
    status = json.loads(capsys.readouterr().out)
    row = status["libraries"][0]
    assert (row["library"], row["items"], row["collections"], row["last_sync_status"]) == (LIB, 99, 6, "ok")
    assert row["links_checked_at"] is None  # no link audit yet
    assert main(["collections", "--library", LIB], env=env) == ExitCode.OK
    out = capsys.readouterr().out
    assert "  1. Données de cadrage (36)  [XHLJXWFI]" in out


def test_init_lists_groups_and_writes_a_private_config(zotero_example, tmp_path, capsys) -> None:
    env = env_for(zotero_example, tmp_path)
    code = main(["init", "--group", str(TEST_GROUP_ID)], env=env)
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert f"{TEST_GROUP_ID}  Numérique et santé" in out and TEST_API_KEY not in out
    cfg = tmp_path / "config.toml"
    assert oct(cfg.stat().st_mode & 0o777) == "0o600"
    assert f'library = "group:{TEST_GROUP_ID}"' in cfg.read_text(encoding="utf-8")
    # The config now carries the library and key: a bare sync works.
    bare = {k: v for k, v in env.items() if k != "ZOTERO_API_KEY"}
    assert main(["sync"], env=bare) == ExitCode.OK


def test_doctor_explains_each_problem(zotero_example, tmp_path, capsys) -> None:
    env = env_for(zotero_example, tmp_path)
    assert main(["doctor", "--library", LIB] if False else ["--library", LIB, "doctor"], env=env) == ExitCode.OK
    out = capsys.readouterr().out
    assert "ok       key" in out and "can read group" in out
    code = main(["--library", LIB, "doctor"], env={**env, "ZOTERO_API_KEY": "WrongKey000000000000abcd"})
    out = capsys.readouterr().out
    assert code == ExitCode.AUTH and "PROBLEM  key" in out and "WrongKey" not in out


def test_local_api_sync_finds_deletions_by_comparing_keys(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    server.local_api = True  # no key, read-only, no /deleted — as Zotero 7's local API
    env = {"ZOTCURATE_LOCAL_URL": server.url, "ZOTCURATE_STORE": str(tmp_path / "store.sqlite"),
           "ZOTCURATE_CONFIG": str(tmp_path / "config.toml")}
    local = f"local:group:{TEST_GROUP_ID}"
    assert main(["sync", "--library", local], env=env) == ExitCode.OK
    assert "99 added" in capsys.readouterr().out
    server.delete_item(server.prefix, "RAJUC9HQ")
    server.reset_requests()
    assert main(["sync", "--library", local], env=env) == ExitCode.OK
    assert "1 deleted" in capsys.readouterr().out
    assert not any(r.path.endswith("/deleted") for r in server.requests)
    with Store(tmp_path / "store.sqlite") as store:
        lib = store.require_library(local)
        assert store.item(lib, "RAJUC9HQ") is None and store.counts(lib)["items"] == 98


def test_full_sync_repairs_a_damaged_copy(zotero_example, tmp_path, capsys) -> None:
    server = zotero_example
    sync(server, tmp_path, capsys)
    store, lib = stored(tmp_path)
    with store:  # damage the copy behind zotcurate's back: same version, wrong data
        damaged = store.item(lib, "SKJ3FVUF").object
        damaged["data"]["title"] = "damaged"
        store.upsert_items(lib, [damaged])
    code, out, _ = sync(server, tmp_path, capsys)
    assert "up to date" in out  # an incremental sync cannot see it
    code, out, _ = sync(server, tmp_path, capsys, "--full")
    assert code == ExitCode.OK and "1 updated" in out
    store, lib = stored(tmp_path)
    with store:
        assert store.item(lib, "SKJ3FVUF").data["title"].startswith("Feuille de route")
        assert store.counts(lib)["items"] == 99


def test_user_library_sync(zotero_server, tmp_path, capsys) -> None:
    server = zotero_server
    prefix = f"/users/{server.user_id}"
    server.put_item(prefix, {"itemType": "book", "title": "Mon livre"})
    code = main(["sync", "--library", f"user:{server.user_id}"], env=env_for(server, tmp_path))
    assert code == ExitCode.OK and "1 added" in capsys.readouterr().out
    with Store(tmp_path / "store.sqlite") as store:
        lib = store.require_library(f"user:{server.user_id}")
        assert [i.data["title"] for i in store.items(lib)] == ["Mon livre"]
    # A user library that does not exist is a clear error, not a crash.
    assert main(["sync", "--library", "user:1"], env=env_for(server, tmp_path)) == ExitCode.NOT_FOUND
    assert "Zotero has no user library 1" in capsys.readouterr().err
