"""`zotcurate links` write-back: accessDate, the broken-link tag and moved URLs, against the
fake Zotero server (tests/zotero_server.py) and a loopback web, both on 127.0.0.0/8."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopback_web import LoopbackWeb
from zotcurate.cli import main
from zotcurate.errors import ExitCode
from zotcurate.store import Store

TAG = "lien-mort"


@pytest.fixture(scope="module")
def web() -> Iterator[LoopbackWeb]:
    with LoopbackWeb(base="127.0.4") as w:
        site, other = w.host("site"), w.host("other")
        site.page("/ok")
        site.page("/heal")
        site.page("/dead", 404)
        site.page("/down", 500)
        other.page("/new-home")
        site.page("/moved", 301, to=other.url("/new-home"))
        site.page("/temporary", 302, to=other.url("/new-home"))
        yield w


def items(web: LoopbackWeb) -> list[dict]:
    def it(key: str, path: str, tags: list[str], item_type: str = "webpage") -> dict:
        return {"key": key, "itemType": item_type, "title": f"Page {key}", "url": web.url("site", path),
                "accessDate": "2020-01-01T00:00:00Z", "tags": [{"tag": t} for t in tags]}

    return [
        it("AAAA2222", "/ok", ["garder"]),
        it("DEAD2222", "/dead", ["à lire"]),
        it("HEAL2222", "/heal", [TAG, "autre"]),
        it("MVED2222", "/moved", []),
        it("DWN22222", "/down", [TAG]),
        it("TMPR2222", "/temporary", []),
    ]


@pytest.fixture
def synced(zotero_server, web: LoopbackWeb, tmp_path: Path):  # type: ignore[no-untyped-def]
    server = zotero_server
    server.load_export(server.prefix, items(web))
    env = {"ZOTERO_API_KEY": server.api_key, "ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}
    lib = f"group:{server.group_id}"
    args = ["--store", str(tmp_path / "store.sqlite"), "--api-url", server.url, "-q"]
    assert main([*args, "sync", "--library", lib], env=env) == ExitCode.OK
    links = [*args, "links", "--library", lib, "--timeout", "2", "--retries", "0",
             "--doi-resolver", web.url("site", "/doi/")]
    return server, tmp_path / "store.sqlite", env, lib, links


def data(server, key: str) -> dict:  # type: ignore[no-untyped-def]
    return server.get_item(server.prefix, key)["data"]


def tags(server, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [t["tag"] for t in data(server, key).get("tags", [])]


WRITE = ["--tag-broken", TAG, "--update-access-date", "--fix-redirects"]


def test_without_apply_the_plan_is_shown_and_nothing_is_written(synced, web, capsys) -> None:  # type: ignore[no-untyped-def]
    server, _, env, _, links = synced
    version = server.library_version(server.prefix)
    server.reset_requests()
    capsys.readouterr()
    assert main([*links, *WRITE], env=env) == ExitCode.FINDINGS  # a broken link
    out = capsys.readouterr().out
    assert "Write-back: 5 item(s) to change in Zotero." in out
    assert f"DEAD2222  +{TAG}" in out
    assert f"HEAL2222  -{TAG}" in out
    assert f"url='{web.url('other', '/new-home')}'" in out
    assert "add --apply" in out
    assert server.requests == [] and server.library_version(server.prefix) == version


def test_apply_writes_tags_access_dates_and_moved_urls(synced, web, capsys) -> None:  # type: ignore[no-untyped-def]
    server, store_path, env, lib, links = synced
    assert main([*links, *WRITE, "--apply"], env=env) == ExitCode.FINDINGS
    assert "Wrote 5 item(s)" in capsys.readouterr().out
    # The tag goes on the broken item, comes off the recovered one; other tags stay, in order.
    assert tags(server, "DEAD2222") == ["à lire", TAG]
    assert tags(server, "HEAL2222") == ["autre"]
    assert tags(server, "AAAA2222") == ["garder"]
    # A server error says nothing about the page: its tag stays.
    assert tags(server, "DWN22222") == [TAG]
    # A permanent redirect replaces the URL; a temporary one does not.
    assert data(server, "MVED2222")["url"] == web.url("other", "/new-home")
    assert data(server, "TMPR2222")["url"] == web.url("site", "/temporary")
    # accessDate: set where the link answered, untouched where it did not.
    with Store(store_path) as store:
        library = store.require_library(lib)
        checked_at = store.link_history(library)[("AAAA2222", web.url("site", "/ok"))][-1]["checked_at"]
        for key in ("AAAA2222", "HEAL2222", "MVED2222", "TMPR2222"):
            assert data(server, key)["accessDate"] in (checked_at, checked_at.replace("T", " ").rstrip("Z")), key
        assert data(server, "DEAD2222")["accessDate"] == "2020-01-01T00:00:00Z"
        # The store holds what Zotero saved, at Zotero's versions.
        for key in ("DEAD2222", "MVED2222"):
            assert store.item(library, key).version == server.get_item(server.prefix, key)["version"]
        assert store.item(library, "MVED2222").data["url"] == web.url("other", "/new-home")
    # Run again a moment later the same day: nothing left to write (the moved URL is now
    # checked at its new address, and accessDate already says today).
    time.sleep(1.1)
    server.reset_requests()
    assert main([*links, *WRITE, "--apply"], env=env) == ExitCode.FINDINGS
    assert "Write-back: nothing to change in Zotero." in capsys.readouterr().out
    assert [r for r in server.requests if r.method == "POST"] == []


def test_a_colleagues_edit_wins_after_a_412(synced, web, capsys) -> None:  # type: ignore[no-untyped-def]
    server, store_path, env, lib, links = synced
    # After our sync, a colleague fixes the moved URL by hand and tags the dead item.
    server.put_item(server.prefix, {"key": "MVED2222", "url": "https://example.org/fixed-by-hand"})
    server.put_item(server.prefix, {"key": "DEAD2222", "tags": [{"tag": "à lire"}, {"tag": "vu"}]})
    assert main([*links, *WRITE, "--apply"], env=env) == ExitCode.FINDINGS
    out = capsys.readouterr().out
    assert "after a re-sync" in out
    assert data(server, "MVED2222")["url"] == "https://example.org/fixed-by-hand"
    assert tags(server, "DEAD2222") == ["à lire", "vu", TAG]
    with Store(store_path) as store:
        library = store.require_library(lib)
        assert store.item(library, "MVED2222").data["url"] == "https://example.org/fixed-by-hand"


def test_file_libraries_cannot_be_written(web, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    env = {"ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}
    with Store(tmp_path / "s.sqlite") as store:
        lib = store.ensure_library("file:liens", "file", "liens")
        store.upsert_items(lib, [{"key": "DEAD2222", "version": 1, "data": {
            "key": "DEAD2222", "itemType": "webpage", "url": web.url("site", "/dead"), "tags": []}}])
    code = main(["--store", str(tmp_path / "s.sqlite"), "links", "-l", "file:liens", "--tag-broken", TAG, "--apply"],
                env=env)
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG and "Traceback" not in err
    assert "file:liens is not a Zotero group or user library" in err
    with Store(tmp_path / "s.sqlite") as store:
        assert store.links_last_checked(store.require_library("file:liens")) is None  # refused before any check


def test_apply_alone_is_a_usage_error(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["--store", str(tmp_path / "s.sqlite"), "links", "-l", "file:x", "--apply"],
                env={"ZOTCURATE_CONFIG": str(tmp_path / "none.toml")})
    assert code == ExitCode.USAGE and "--tag-broken" in capsys.readouterr().err
