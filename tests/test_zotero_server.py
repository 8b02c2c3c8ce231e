"""The fake Zotero API behaves like the Zotero Web API v3 for a sync client and write-back.

Raw HTTP (urllib) for the exact wire semantics, then pyzotero 1.16 as a real client.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pyzotero import errors as zerrors
from pyzotero import zotero

from conftest import TEST_GROUP_ID
from zotero_server import FakeZotero


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def version(self) -> int:
        return int(self.headers["Last-Modified-Version"])

    def links(self) -> dict[str, str]:
        out = {}
        for part in (self.headers.get("Link") or "").split(","):
            if part.strip():
                url, rel = part.split(";")
                out[rel.strip()[5:-1]] = url.strip()[1:-1]
        return out


def call(server: FakeZotero, method: str, path: str, body: Any = None, key: str | None = "default",
         **headers: str) -> Reply:
    """One HTTP request; ``key="default"`` sends the fixture's key in Zotero-API-Key."""
    url = path if path.startswith("http") else server.url + path
    hdrs = {"Zotero-API-Version": "3", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if key == "default":
        key = server.api_key
    if key:
        hdrs["Zotero-API-Key"] = key
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Reply(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.headers, err.read())


def get(server: FakeZotero, path: str, **headers: str) -> Reply:
    return call(server, "GET", path, **headers)


def pyzot(server: FakeZotero) -> zotero.Zotero:
    zot = zotero.Zotero(server.group_id, "group", server.api_key)
    zot.endpoint = server.url
    return zot


def book(title: str, **extra: Any) -> dict[str, Any]:
    return {"itemType": "book", "title": title, "creators": [], "tags": [], "collections": [], **extra}


# ---------------------------------------------------------------------- keys, auth, groups
def test_keys_current_with_each_auth_style(zotero_server):
    p = zotero_server
    by_header = get(p, "/keys/current")
    assert by_header.status == 200
    info = by_header.json()
    assert info["userID"] == p.user_id and info["key"] == p.api_key
    assert info["access"]["groups"] == {str(TEST_GROUP_ID): {"library": True, "write": True}}
    assert by_header.headers["Zotero-API-Version"] == "3"
    bearer = call(p, "GET", "/keys/current", key=None, Authorization=f"Bearer {p.api_key}")
    assert bearer.status == 200 and bearer.json()["username"] == "documentaliste"
    query = call(p, "GET", f"/keys/current?key={p.api_key}", key=None)
    assert query.status == 200
    assert get(p, f"/keys/{p.api_key}").json()["userID"] == p.user_id


def test_wrong_key_missing_access_and_unknown_group(zotero_server):
    p = zotero_server
    wrong = call(p, "GET", f"{p.prefix}/items", key="not-a-key")
    assert (wrong.status, wrong.body) == (403, b"Invalid key")
    assert call(p, "GET", f"{p.prefix}/items", key=None).status == 403
    p.add_group(999, "Autre groupe")
    forbidden = get(p, "/groups/999/items")
    assert (forbidden.status, forbidden.body) == (403, b"Forbidden")
    missing = get(p, "/groups/12345/items")
    assert missing.status == 404
    p.add_key("readonly-key", user_id=7, groups={TEST_GROUP_ID: {"library": True, "write": False}})
    denied = call(p, "POST", f"{p.prefix}/items", [book("x")], key="readonly-key")
    assert denied.status == 403
    assert call(p, "GET", f"{p.prefix}/items", key="readonly-key").status == 200


def test_group_metadata_and_user_groups(zotero_server):
    p = zotero_server
    meta = get(p, p.prefix)
    assert meta.status == 200 and meta.json()["data"]["name"] == "Numérique et santé"
    assert meta.version == 1
    assert get(p, p.prefix, If_Modified_Since_Version="1").status == 304
    assert p.set_group(TEST_GROUP_ID, description="Veille") == 2
    assert get(p, p.prefix, If_Modified_Since_Version="1").status == 200
    groups = get(p, f"/users/{p.user_id}/groups?format=versions")
    assert groups.json() == {str(TEST_GROUP_ID): 2}
    listed = get(p, f"/users/{p.user_id}/groups").json()
    assert [g["id"] for g in listed] == [TEST_GROUP_ID]
    assert get(p, "/users/1/groups").status == 403


# ---------------------------------------------------------------------- versions and reads
def test_versions_since_and_not_modified(zotero_example):
    p = zotero_example
    first = get(p, f"{p.prefix}/items?format=versions")
    assert first.status == 200 and first.version == 1
    versions = first.json()
    assert len(versions) == 99 and set(versions.values()) == {1}
    assert first.headers["Total-Results"] == "99"
    assert get(p, f"{p.prefix}/items", If_Modified_Since_Version="1").status == 304
    key = next(iter(versions))
    edited = p.put_item(p.prefix, {"key": key, "title": "Titre corrigé"})
    assert edited["version"] == 2 and edited["data"]["version"] == 2
    assert p.library_version(p.prefix) == 2
    # since is strictly greater: only the edited item
    since1 = get(p, f"{p.prefix}/items?since=1&format=versions")
    assert since1.json() == {key: 2} and since1.version == 2
    assert get(p, f"{p.prefix}/items?since=2&format=versions").json() == {}
    assert get(p, f"{p.prefix}/items", If_Modified_Since_Version="1").status == 200
    # single object: Last-Modified-Version is the object's version, 304 on the object's version
    other = next(k for k in versions if k != key)
    single = get(p, f"{p.prefix}/items/{other}")
    assert single.version == 1 and single.json()["data"]["key"] == other
    assert get(p, f"{p.prefix}/items/{other}", If_Modified_Since_Version="1").status == 304
    assert get(p, f"{p.prefix}/items/{key}", If_Modified_Since_Version="1").status == 200
    assert get(p, f"{p.prefix}/items/ZZZZZZZZ").status == 404
    keys = get(p, f"{p.prefix}/items?format=keys")
    assert sorted(keys.body.decode().split()) == sorted(versions)
    assert keys.headers["Content-Type"] == "text/plain"


def test_item_objects_have_the_zotero_shape(zotero_example):
    p = zotero_example
    obj = get(p, f"{p.prefix}/items/SKJ3FVUF").json()
    assert set(obj) == {"key", "version", "library", "links", "meta", "data"}
    assert obj["library"]["type"] == "group" and obj["library"]["id"] == TEST_GROUP_ID
    assert obj["links"]["self"]["href"] == f"{p.url}{p.prefix}/items/SKJ3FVUF"
    assert obj["data"]["version"] == obj["version"]
    assert obj["meta"]["parsedDate"] == "2023" and obj["meta"]["numChildren"] == 0
    assert obj["data"]["collections"] == ["QEWG4TQH", "XHLJXWFI"]
    coll = get(p, f"{p.prefix}/collections/R8VDYDNR").json()
    assert coll["data"]["parentCollection"] is False and coll["meta"]["numCollections"] == 5


def test_pagination_total_results_and_links(zotero_example):
    p = zotero_example
    page = get(p, f"{p.prefix}/items?sort=title&locale=fr-FR")
    assert len(page.json()) == 25 and page.headers["Total-Results"] == "99"
    links = page.links()
    assert links["next"] == f"{p.url}{p.prefix}/items?sort=title&locale=fr-FR&start=25"
    assert links["last"].endswith("start=75") and "first" not in links and "prev" not in links
    assert links["alternate"] == f"https://www.zotero.org/groups/{TEST_GROUP_ID}/items"
    seen: list[str] = [o["key"] for o in page.json()]
    url = links["next"]
    while True:
        page = get(p, url)
        seen += [o["key"] for o in page.json()]
        links = page.links()
        assert links["first"] == f"{p.url}{p.prefix}/items?sort=title&locale=fr-FR"
        assert "prev" in links
        if "next" not in links:
            break
        url = links["next"]
    assert len(seen) == 99 and len(set(seen)) == 99
    # titles ascending, limit clamped at 100, limit=0 refused
    titles = [o["data"].get("title", "").lower() for o in get(p, f"{p.prefix}/items?sort=title&limit=500").json()]
    with_title = [t for t in titles if t]  # untitled items sort on other fields (nameOfAct, ...)
    assert len(titles) == 99 and with_title == sorted(with_title) and len(with_title) == 91
    assert get(p, f"{p.prefix}/items?limit=0").status == 400
    newest = get(p, f"{p.prefix}/items?limit=1")  # default sort dateModified desc
    p.put_item(p.prefix, {"key": "SKJ3FVUF", "extra": "bib-role: introduction"})
    assert get(p, f"{p.prefix}/items?limit=1").json()[0]["key"] == "SKJ3FVUF"
    assert newest.status == 200


def test_item_key_batches(zotero_example):
    p = zotero_example
    keys = list(get(p, f"{p.prefix}/items?format=versions").json())
    batch = get(p, f"{p.prefix}/items?itemKey={','.join(keys[:50])}&limit=100")
    assert sorted(o["key"] for o in batch.json()) == sorted(keys[:50])
    too_many = get(p, f"{p.prefix}/items?itemKey={','.join(keys[:51])}")
    assert too_many.status == 400
    colls = get(p, f"{p.prefix}/collections?collectionKey=QEWG4TQH,R8VDYDNR").json()
    assert sorted(c["key"] for c in colls) == ["QEWG4TQH", "R8VDYDNR"]


def test_trash_is_excluded_unless_asked(zotero_example):
    p = zotero_example
    trashed = p.trash_item(p.prefix, "SKJ3FVUF")
    assert trashed["data"]["deleted"] == 1 and trashed["version"] == 2
    assert "SKJ3FVUF" not in get(p, f"{p.prefix}/items?format=versions").json()
    assert get(p, f"{p.prefix}/items?format=versions&includeTrashed=1&since=1").json() == {"SKJ3FVUF": 2}
    trash = get(p, f"{p.prefix}/items/trash").json()
    assert [o["key"] for o in trash] == ["SKJ3FVUF"]
    assert get(p, f"{p.prefix}/collections/QEWG4TQH").json()["meta"]["numItems"] == 0
    restored = p.restore_item(p.prefix, "SKJ3FVUF")
    assert "deleted" not in restored["data"] and restored["version"] == 3
    assert get(p, f"{p.prefix}/items/trash").json() == []


def test_children_top_and_collection_scopes(zotero_example):
    p = zotero_example
    note = p.put_item(p.prefix, {"itemType": "note", "note": "<p>À relire</p>", "parentItem": "SKJ3FVUF"})
    assert note["links"]["up"]["href"].endswith("/items/SKJ3FVUF")
    children = get(p, f"{p.prefix}/items/SKJ3FVUF/children").json()
    assert [c["key"] for c in children] == [note["key"]]
    assert get(p, f"{p.prefix}/items/SKJ3FVUF").json()["meta"]["numChildren"] == 1
    assert get(p, f"{p.prefix}/items/top").headers["Total-Results"] == "99"
    assert get(p, f"{p.prefix}/items").headers["Total-Results"] == "100"
    top_colls = get(p, f"{p.prefix}/collections/top").json()
    assert [c["key"] for c in top_colls] == ["R8VDYDNR"]
    subs = get(p, f"{p.prefix}/collections/R8VDYDNR/collections?format=keys").body.decode().split()
    assert len(subs) == 5
    assert get(p, f"{p.prefix}/collections/R8VDYDNR/items").json() == []  # no subcollection items
    intro = get(p, f"{p.prefix}/collections/QEWG4TQH/items/top?format=keys").body.decode().split()
    assert intro == ["SKJ3FVUF"]
    tags = get(p, f"{p.prefix}/items/SKJ3FVUF/tags").json()
    assert sorted(t["tag"] for t in tags) == ["bib:entry", "bib:footnote", "ocr:gap"]


def test_deleted_log(zotero_example):
    p = zotero_example
    assert get(p, f"{p.prefix}/deleted").status == 400
    note = p.put_item(p.prefix, {"itemType": "note", "note": "x", "parentItem": "SKJ3FVUF"})
    v_before = p.library_version(p.prefix)
    p.delete_item(p.prefix, "SKJ3FVUF")  # the child note goes too
    deleted = get(p, f"{p.prefix}/deleted?since={v_before}").json()
    assert sorted(deleted["items"]) == sorted(["SKJ3FVUF", note["key"]])
    assert get(p, f"{p.prefix}/deleted?since={v_before + 1}").json()["items"] == []
    # deleting a collection removes subcollections and stamps member items
    v = p.library_version(p.prefix)
    p.delete_collection(p.prefix, "R8VDYDNR")
    deleted = get(p, f"{p.prefix}/deleted?since={v}").json()
    assert len(deleted["collections"]) == 6 and deleted["items"] == []
    changed = get(p, f"{p.prefix}/items?since={v}&format=versions").json()
    assert len(changed) == 98 and set(changed.values()) == {v + 1}
    assert get(p, f"{p.prefix}/collections").json() == []


# ---------------------------------------------------------------------- writes
def test_post_creates_updates_and_reports_per_object(zotero_example):
    p = zotero_example
    old = get(p, f"{p.prefix}/items/SKJ3FVUF").json()["data"]
    body = [
        book("Nouveau livre", collections=["QEWG4TQH"]),               # created
        {"key": "SKJ3FVUF", "version": 1, "title": "Titre corrigé"},  # updated (PATCH semantics)
        {"key": "ZWUW9UXX", "version": 1},                             # nothing new: unchanged
        {"key": "RAJUC9HQ", "title": "sans version"},                 # existing, no version: 428
        book("Mauvais champ", nameOfAct="x"),                          # invalid field: 400
        book("Collection inconnue", collections=["AAAAAAAA"]),         # 409
    ]
    token = uuid.uuid4().hex
    reply = call(p, "POST", f"{p.prefix}/items", body, Zotero_Write_Token=token)
    assert reply.status == 200 and reply.version == 2
    result = reply.json()
    assert sorted(result["successful"]) == ["0", "1"] and result["success"]["1"] == "SKJ3FVUF"
    assert result["unchanged"] == {"2": "ZWUW9UXX"}
    assert {i: f["code"] for i, f in result["failed"].items()} == {"3": 428, "4": 400, "5": 409}
    assert result["failed"]["3"]["key"] == "RAJUC9HQ"
    saved = result["successful"]["1"]["data"]
    assert saved["title"] == "Titre corrigé" and saved["version"] == 2
    assert saved["abstractNote"] == old["abstractNote"]  # untouched properties kept
    assert get(p, f"{p.prefix}/items?since=1&format=versions").json() == {
        result["success"]["0"]: 2, "SKJ3FVUF": 2}
    # replaying the write token is refused; an unchanged write does not bump
    assert call(p, "POST", f"{p.prefix}/items", [book("encore")], Zotero_Write_Token=token).status == 412
    again = call(p, "POST", f"{p.prefix}/items", [{"key": "SKJ3FVUF", "version": 2, "title": "Titre corrigé"}])
    assert again.json()["unchanged"] == {"0": "SKJ3FVUF"} and again.version == 2


def test_post_version_checks(zotero_example):
    p = zotero_example
    p.put_item(p.prefix, {"key": "SKJ3FVUF", "title": "modifié ailleurs"})  # library -> 2
    stale = call(p, "POST", f"{p.prefix}/items", [{"key": "SKJ3FVUF", "version": 1, "title": "moi"}])
    assert stale.status == 200
    assert stale.json()["failed"]["0"]["code"] == 412 and stale.json()["successful"] == {}
    assert p.library_version(p.prefix) == 2
    header = call(p, "POST", f"{p.prefix}/items", [{"key": "ZWUW9UXX", "title": "moi"}],
                  If_Unmodified_Since_Version="1")
    assert header.status == 412 and header.version == 2
    ok = call(p, "POST", f"{p.prefix}/items", [{"key": "ZWUW9UXX", "title": "moi"}],
              If_Unmodified_Since_Version="2")
    assert ok.status == 200 and ok.json()["success"] == {"0": "ZWUW9UXX"} and ok.version == 3
    assert call(p, "POST", f"{p.prefix}/items", [book(str(i)) for i in range(51)]).status == 413
    assert call(p, "POST", f"{p.prefix}/items", {"itemType": "book"}).status == 400
    new_coll = call(p, "POST", f"{p.prefix}/collections", [{"name": "5. Annexes", "parentCollection": "R8VDYDNR"}])
    assert new_coll.json()["successful"]["0"]["data"]["parentCollection"] == "R8VDYDNR"
    assert get(p, f"{p.prefix}/collections/R8VDYDNR").json()["meta"]["numCollections"] == 6


def test_patch_put_and_delete_single_objects(zotero_example):
    p = zotero_example
    path = f"{p.prefix}/items/SKJ3FVUF"
    assert call(p, "PATCH", path, {"title": "x"}).status == 428
    patched = call(p, "PATCH", path, {"title": "Nouveau titre"}, If_Unmodified_Since_Version="1")
    assert patched.status == 204 and patched.version == 2
    assert get(p, path).json()["data"]["title"] == "Nouveau titre"
    assert call(p, "PATCH", path, {"title": "y"}, If_Unmodified_Since_Version="1").status == 412
    assert call(p, "PATCH", path, {"version": 1, "title": "y"}).status == 412
    same = call(p, "PATCH", path, {"title": "Nouveau titre"}, If_Unmodified_Since_Version="2")
    assert same.status == 204 and same.version == 2  # unchanged: no bump
    replaced = call(p, "PUT", path, {"itemType": "report", "title": "Seul titre", "version": 2})
    assert replaced.status == 204 and replaced.version == 3
    data = get(p, path).json()["data"]
    assert data["title"] == "Seul titre" and "abstractNote" not in data and data["tags"] == []
    assert call(p, "DELETE", path).status == 428
    assert call(p, "DELETE", path, If_Unmodified_Since_Version="2").status == 412
    gone = call(p, "DELETE", path, If_Unmodified_Since_Version="3")
    assert gone.status == 204 and gone.version == 4
    assert get(p, path).status == 404
    assert get(p, f"{p.prefix}/deleted?since=3").json()["items"] == ["SKJ3FVUF"]


def test_delete_many_and_tags(zotero_example):
    p = zotero_example
    keys = list(get(p, f"{p.prefix}/items?format=versions&limit=3").json())
    url = f"{p.prefix}/items?itemKey={','.join(keys)}"
    assert call(p, "DELETE", url).status == 428
    assert call(p, "DELETE", url, If_Unmodified_Since_Version="0").status == 412
    done = call(p, "DELETE", url, If_Unmodified_Since_Version="1")
    assert done.status == 204 and done.version == 2
    assert sorted(get(p, f"{p.prefix}/deleted?since=1").json()["items"]) == sorted(keys)
    assert get(p, f"{p.prefix}/items").headers["Total-Results"] == "96"
    tagged = get(p, f"{p.prefix}/items?tag=ocr:gap&format=keys").body.decode().split()
    assert tagged
    untag = call(p, "DELETE", f"{p.prefix}/tags?tag=ocr:gap", If_Unmodified_Since_Version="2")
    assert untag.status == 204 and untag.version == 3
    assert get(p, f"{p.prefix}/items?tag=ocr:gap&format=keys").body == b""
    assert get(p, f"{p.prefix}/deleted?since=2").json()["tags"] == ["ocr:gap"]
    assert sorted(get(p, f"{p.prefix}/items?since=2&format=keys").body.decode().split()) == sorted(tagged)


# ---------------------------------------------------------------------- faults and observation
def test_injected_errors_backoff_and_request_log(zotero_example):
    p = zotero_example
    p.inject(429, headers={"Retry-After": "2"}, path=r"/items$")
    p.inject(503, headers={"Retry-After": "5"}, path=r"/collections$")
    limited = get(p, f"{p.prefix}/items")
    assert limited.status == 429 and limited.headers["Retry-After"] == "2"
    assert get(p, f"{p.prefix}/items").status == 200  # times=1
    assert get(p, f"{p.prefix}/collections").headers["Retry-After"] == "5"
    p.backoff(30, times=1)
    slow = get(p, f"{p.prefix}/items?limit=1")
    assert slow.status == 200 and slow.headers["Backoff"] == "30"
    assert "Backoff" not in get(p, f"{p.prefix}/items?limit=1").headers
    p.inject(500, times=2, method="GET")
    assert [get(p, "/keys/current").status for _ in range(3)] == [500, 500, 200]
    statuses = [(r.method, r.path, r.status) for r in p.requests]
    assert statuses[0] == ("GET", f"{p.prefix}/items", 429)
    assert p.requests[3].query == {"limit": "1"} and p.requests[3].headers["zotero-api-key"] == p.api_key
    p.reset_requests()
    assert p.requests == []


def test_on_request_moves_the_library_version_mid_sync(zotero_example):
    p = zotero_example
    first = get(p, f"{p.prefix}/items?limit=50")
    remove = p.on_request(lambda req: p.put_item(p.prefix, {"key": "SKJ3FVUF", "title": "édité"}),
                          path=r"/items$", times=1)
    second = get(p, first.links()["next"])
    assert (first.version, second.version) == (1, 2)
    assert get(p, first.links()["next"]).version == 2  # the callback ran once
    remove()


def test_requests_are_served_concurrently_with_latency():
    server = FakeZotero(latency=0.05)
    server.add_group(1, "g")
    server.add_key("k", user_id=1, groups={1: {"library": True, "write": True}})
    barrier = threading.Barrier(4, timeout=10)
    # All four must be inside the server at once to pass the barrier.
    server.on_request(lambda req: barrier.wait())
    with server:
        server.api_key = "k"
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda _: get(server, "/groups/1/items").status, range(4)))
    assert statuses == [200] * 4
    assert server.max_in_flight == 4 and server.in_flight == 0


def test_down_and_up(zotero_server):
    p = zotero_server
    assert get(p, "/keys/current").status == 200
    p.down()
    with pytest.raises(urllib.error.URLError):
        get(p, "/keys/current")
    p.up()
    assert get(p, "/keys/current").status == 200


def test_bulk_load_of_twenty_thousand_items_is_one_version(zotero_server):
    p = zotero_server
    colls = [{"key": f"C{n:07d}".replace("0", "A").replace("1", "B"), "name": f"Coll {n}"} for n in range(30)]
    items = [{"key": f"{n:08d}".translate(str.maketrans("01", "AB")), "itemType": "journalArticle",
              "title": f"Article {n}", "collections": [colls[n % 30]["key"]]} for n in range(20_000)]
    assert p.load_export(p.prefix, items, colls) == 1
    versions = get(p, f"{p.prefix}/items?format=versions")
    assert len(versions.json()) == 20_000 and set(versions.json().values()) == {1}
    page = get(p, f"{p.prefix}/items?limit=100&start=19900")
    assert len(page.json()) == 100 and "next" not in page.links()
    assert get(p, f"{p.prefix}/collections?limit=100").json()[0]["meta"]["numItems"] in (666, 667)


# ---------------------------------------------------------------------- pyzotero as the client
def test_pyzotero_reads(zotero_example):
    p = zotero_example
    for n in range(60):  # 159 items: pyzotero's everything() needs two pages of 100
        last = p.put_item(p.prefix, book(f"Livre {n}"))
    zot = pyzot(p)
    assert zot.key_info()["userID"] == p.user_id
    everything = zot.everything(zot.items())
    assert len(everything) == 159 and len({o["key"] for o in everything}) == 159
    item_requests = [r for r in p.requests if r.path == f"{p.prefix}/items"]
    assert [r.query.get("start") for r in item_requests] == [None, "100"]
    assert item_requests[0].headers["authorization"] == f"Bearer {p.api_key}"
    assert zot.item_versions(since=60) == {last["key"]: 61}
    assert len(zot.item_versions()) == 159
    keys = [o["key"] for o in everything[:10]]
    batch = zot.items(itemKey=",".join(keys), includeTrashed=1)
    assert sorted(o["key"] for o in batch) == sorted(keys)
    assert {c["key"] for c in zot.collections_top()} == {"R8VDYDNR"}
    assert len(zot.collections_sub("R8VDYDNR")) == 5
    assert len(zot.collection_versions()) == 6
    assert zot.last_modified_version() == 61
    p.delete_item(p.prefix, "SKJ3FVUF")
    assert zot.deleted(since=61)["items"] == ["SKJ3FVUF"]
    assert "bib:entry" in zot.everything(zot.tags())


def test_pyzotero_writes(zotero_example):
    p = zotero_example
    zot = pyzot(p)
    template = zot.item_template("book")
    assert template["itemType"] == "book" and template["creators"][0]["creatorType"] == "author"
    template.update(title="Guide", collections=["QEWG4TQH"])
    created = zot.create_items([template])
    key = created["success"]["0"]
    assert created["successful"]["0"]["version"] == 2 and created["failed"] == {}
    item = zot.item(key)
    item["data"]["title"] = "Guide (2e éd.)"
    assert zot.update_items([item["data"]]) is True
    assert zot.item(key)["data"]["title"] == "Guide (2e éd.)" and zot.item(key)["version"] == 3
    # update_item sends If-Unmodified-Since-Version = the item's version: stale -> 412
    stale = dict(item["data"], title="conflit")  # still version 2
    with pytest.raises(zerrors.PreConditionFailedError):
        zot.update_item(stale)
    fresh = zot.item(key)["data"]
    fresh["title"] = "Guide final"
    assert zot.update_item(fresh) is True
    assert zot.item(key)["version"] == 4
    assert zot.delete_item(zot.item(key)) is True
    assert zot.deleted(since=4)["items"] == [key]


def test_pyzotero_retries_429_with_retry_after_and_gives_up_without(zotero_example):
    p = zotero_example
    zot = pyzot(p)
    p.inject(429, headers={"Retry-After": "0"}, path=r"/items$")
    assert len(zot.items(limit=5)) == 5
    assert [r.status for r in p.requests] == [429, 200]
    p.inject(429, path=r"/items$")
    with pytest.raises(zerrors.TooManyRetriesError):
        zot.items(limit=5)
    p.inject(503, headers={"Retry-After": "0"})
    with pytest.raises(zerrors.HTTPError):
        zot.items(limit=5)


def test_link_urls_never_carry_the_api_key(zotero_example):
    p = zotero_example
    page = call(p, "GET", f"{p.prefix}/items?key={p.api_key}&limit=10", key=None)
    assert page.status == 200 and p.api_key not in page.headers["Link"]
    nxt = urlsplit(page.links()["next"])
    assert parse_qs(nxt.query) == {"limit": ["10"], "start": ["10"]}


def test_single_object_writes_on_missing_objects_follow_zotero(zotero_example):
    p = zotero_example
    assert call(p, "PATCH", f"{p.prefix}/items/TPMBJWNV", book("x")).status == 404
    assert call(p, "PATCH", f"{p.prefix}/items/TPMBJWVH", book("x"), If_Unmodified_Since_Version="123").status == 404
    created = call(p, "PATCH", f"{p.prefix}/items/TPMBWVZH", book("créé"), If_Unmodified_Since_Version="0")
    assert created.status == 204 and created.version == 2
    assert get(p, f"{p.prefix}/items/TPMBWVZH").json()["data"]["title"] == "créé"
    missing = call(p, "POST", f"{p.prefix}/items", [dict(book("x"), key="TPMBJSWV", version=123)])
    assert missing.json()["failed"]["0"] == {
        "key": "TPMBJSWV", "code": 404, "message": "item doesn't exist (expected version 123; use 0 instead)"}
    p.put_item(p.prefix, {"key": "SKJ3FVUF", "title": "autre"})  # library 3, item 3
    stale = call(p, "PUT", f"{p.prefix}/items/ZWUW9UXX", book("y"), If_Unmodified_Since_Version="0")
    assert stale.status == 412 and stale.version == 3  # the library version, as Zotero


def test_tags_since_lists_only_new_tags(zotero_server):
    p = zotero_server
    first = p.put_item(p.prefix, book("a", tags=[{"tag": "a"}, {"tag": "aa"}, {"tag": "b"}]))
    p.put_item(p.prefix, book("b", tags=[{"tag": "b"}, {"tag": "c"}, {"tag": "cc", "type": 1}]))
    new = get(p, f"{p.prefix}/tags?since={first['version']}").json()
    assert sorted((t["tag"], t["meta"]["type"]) for t in new) == [("c", 0), ("cc", 1)]
    assert get(p, f"{p.prefix}/tags").headers["Total-Results"] == "5"
    assert get(p, f"{p.prefix}/tags", If_Modified_Since_Version=str(p.library_version(p.prefix))).status == 304


def test_error_in_the_middle_of_pagination(zotero_example):
    p = zotero_example
    zot = pyzot(p)
    p.inject(500, path=r"/items$", after=1)  # the second page fails
    first = zot.items(limit=50)
    assert len(first) == 50
    with pytest.raises(zerrors.HTTPError):
        zot.follow()
    assert [r.status for r in p.requests] == [200, 500]
    assert len(zot.follow()) == 49  # the same next link works once the fault is gone


def test_permanent_fault_until_cleared(zotero_server):
    p = zotero_server
    p.inject(503, headers={"Retry-After": "1"}, times=None)
    p.backoff(5, times=None)
    assert [get(p, "/keys/current").status for _ in range(3)] == [503, 503, 503]
    p.clear_faults()
    ok = get(p, "/keys/current")
    assert ok.status == 200 and "Backoff" not in ok.headers


def test_pyzotero_children_trash_collections_and_user_groups(zotero_example):
    p = zotero_example
    zot = pyzot(p)
    note = p.put_item(p.prefix, {"itemType": "note", "note": "<p>n</p>", "parentItem": "SKJ3FVUF"})
    assert [c["key"] for c in zot.children("SKJ3FVUF")] == [note["key"]]
    assert zot.num_items() == 99 and zot.count_items() == 100
    p.trash_item(p.prefix, "RAJUC9HQ")
    assert [t["key"] for t in zot.trash()] == ["RAJUC9HQ"]
    assert {i["key"] for i in zot.everything(zot.collection_items("QEWG4TQH"))} == {"SKJ3FVUF"}
    made = zot.create_collections([{"name": "5. Annexes", "parentCollection": "R8VDYDNR"}])
    new_key = made["success"]["0"]
    assert zot.collection(new_key)["data"]["parentCollection"] == "R8VDYDNR"
    assert zot.delete_collection(zot.collection(new_key)) is True
    assert new_key in zot.deleted(since=0)["collections"]
    assert zot.add_tags(zot.item("SKJ3FVUF"), "relu") is True
    assert {"tag": "relu"} in zot.item("SKJ3FVUF")["data"]["tags"]
    user = zotero.Zotero(p.user_id, "user", p.api_key)
    user.endpoint = p.url
    assert [g["id"] for g in user.groups()] == [TEST_GROUP_ID]


def test_searches_and_collection_edits(zotero_example):
    p = zotero_example
    made = call(p, "POST", f"{p.prefix}/searches",
                [{"name": "Sans résumé", "conditions": [{"condition": "abstractNote", "operator": "doesNotContain", "value": "%"}]}])
    key = made.json()["success"]["0"]
    assert get(p, f"{p.prefix}/searches?format=versions").json() == {key: 2}
    assert get(p, f"{p.prefix}/searches/{key}").json()["data"]["name"] == "Sans résumé"
    assert call(p, "POST", f"{p.prefix}/searches", [{"name": ""}]).json()["failed"]["0"]["code"] == 400
    renamed = call(p, "PATCH", f"{p.prefix}/collections/QEWG4TQH", {"name": "0. Intro"}, If_Unmodified_Since_Version="2")
    assert renamed.status == 204 and renamed.version == 3
    assert get(p, f"{p.prefix}/collections?since=2&format=versions").json() == {"QEWG4TQH": 3}
    cycle = call(p, "PATCH", f"{p.prefix}/collections/QEWG4TQH", {"parentCollection": "QEWG4TQH", "version": 3})
    assert cycle.status == 400
    loop = call(p, "PATCH", f"{p.prefix}/collections/R8VDYDNR", {"parentCollection": "QEWG4TQH", "version": 1})
    assert (loop.status, loop.body) == (400, b"A collection cannot be moved inside itself")
    gone = call(p, "DELETE", f"{p.prefix}/searches?searchKey={key}", If_Unmodified_Since_Version="3")
    assert gone.status == 204 and get(p, f"{p.prefix}/deleted?since=3").json()["searches"] == [key]
    assert get(p, f"{p.prefix}/items?format=atom").status == 400
    assert get(p, f"{p.prefix}/items?sort=nonsense").status == 400
