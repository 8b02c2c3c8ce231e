"""Write-back of check results as a tag, against the fake Zotero server over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from zotcurate.check.engine import run_check
from zotcurate.check.profile import load_profile
from zotcurate.cli import main
from zotcurate.config import load_settings
from zotcurate.errors import ConflictError, ExitCode
from zotcurate.model import LibraryRef
from zotcurate.store import Store
from zotcurate.zotero.client import RetryPolicy, ZoteroClient
from zotcurate.zotero.writeback import Change, apply_changes, patch_for, plan_tag_changes

TAG = "zotcurate:erreur"


@pytest.fixture
def synced(zotero_example, tmp_path):
    """The example group on the fake server, synced into a fresh store."""
    server = zotero_example
    store_path = tmp_path / "store.sqlite"
    env = {"ZOTERO_API_KEY": server.api_key}
    lib = f"group:{server.group_id}"
    args = ["--store", str(store_path), "--api-url", server.url, "-q"]
    assert main([*args, "sync", "--library", lib], env=env) == ExitCode.OK
    return server, store_path, env, lib, args


def server_tags(server, key):
    return [t["tag"] for t in server.get_item(server.prefix, key)["data"].get("tags", [])]


def error_keys(store_path: Path, lib: str) -> set[str]:
    with Store(store_path) as store:
        return run_check(store, store.require_library(lib), load_profile()).keys_with("error")


def posts(server):
    return [r for r in server.requests if r.method == "POST"]


def test_plan_without_apply_writes_nothing(synced, capsys):
    server, store_path, env, lib, args = synced
    expected = error_keys(store_path, lib)
    version = server.library_version(server.prefix)
    server.reset_requests()
    capsys.readouterr()
    assert main([*args, "check", "--library", lib, "--tag", TAG], env=env) == ExitCode.FINDINGS
    out = capsys.readouterr().out
    assert f"Tag '{TAG}': add to {len(expected)} item(s), remove from 0 item(s)." in out
    assert f"+{TAG}" in out and "G6823GC4" in out
    assert "Nothing was written: add --apply" in out
    assert server.requests == [] and server.library_version(server.prefix) == version


def test_apply_adds_and_removes_the_tag_and_nothing_else(synced, capsys):
    server, store_path, env, lib, args = synced
    expected = error_keys(store_path, lib)
    assert len(expected) == 26  # the items behind the example's 51 errors
    before = {k: server_tags(server, k) for k in server.item_keys(server.prefix)}
    assert main([*args, "check", "--library", lib, "--tag", TAG, "--apply"], env=env) == ExitCode.FINDINGS
    assert "Wrote 26 item(s)" in capsys.readouterr().out
    for key, tags in before.items():
        now = server_tags(server, key)
        assert now == ([*tags, TAG] if key in expected else tags), key  # other tags kept, in order
    assert len(posts(server)) == 1  # 26 items fit in one batch
    # the store is at the versions Zotero gave the written items
    with Store(store_path) as store:
        stored = store.item_versions(store.require_library(lib))
    for key in expected:
        assert stored[key] == server.get_item(server.prefix, key)["version"]
    # A colleague fixes one item in Zotero; after a sync the tag comes off it, only it.
    server.put_item(server.prefix, {"key": "FMRZGZK6", "title": "Rapport retrouvé",
                                    "abstractNote": "Commentaire retrouvé."})
    assert main([*args, "sync", "--library", lib], env=env) == ExitCode.OK
    server.reset_requests()
    assert main([*args, "check", "--library", lib, "--tag", TAG, "--apply"], env=env) == ExitCode.FINDINGS
    assert TAG not in server_tags(server, "FMRZGZK6")
    assert server_tags(server, "FMRZGZK6") == [t for t in before["FMRZGZK6"]]
    sent = posts(server)[0].json()
    assert [o["key"] for o in sent] == ["FMRZGZK6"] and set(sent[0]) == {"key", "version", "tags"}
    # and a third run has nothing left to do
    server.reset_requests()
    assert main([*args, "check", "--library", lib, "--tag", TAG, "--apply"], env=env) == ExitCode.FINDINGS
    assert posts(server) == []


def test_conflict_resyncs_rechecks_and_retries(synced, capsys):
    server, store_path, env, lib, args = synced
    # Between sync and apply, colleagues edit two flagged items in Zotero: one adds a tag,
    # the other fixes what was missing.
    server.put_item(server.prefix, {"key": "G6823GC4", "tags": [{"tag": "ocr:fragment"}, {"tag": "à revoir"}]})
    server.put_item(server.prefix, {"key": "FMRZGZK6", "title": "Rapport retrouvé",
                                    "abstractNote": "Commentaire retrouvé."})
    assert main([*args, "check", "--library", lib, "--tag", TAG, "--apply"], env=env) == ExitCode.FINDINGS
    out = capsys.readouterr()
    assert "after a re-sync" in out.out
    assert server_tags(server, "G6823GC4")[-2:] == ["à revoir", TAG]  # their tag kept, ours added
    assert TAG not in server_tags(server, "FMRZGZK6")  # re-checked: nothing to flag any more
    with Store(store_path) as store:
        library = store.require_library(lib)
        for key in ("G6823GC4", "FMRZGZK6"):
            assert store.item(library, key).version == server.get_item(server.prefix, key)["version"]
        assert store.item(library, "FMRZGZK6").data["title"] == "Rapport retrouvé"


def test_a_conflict_that_persists_is_a_conflict_error(synced):
    server, store_path, env, lib, _ = synced
    settings = load_settings(env=env, store=store_path, api_url=server.url)
    # Every write to this item is preceded by a colleague's edit: the retry fails too.
    server.on_request(lambda req: server.put_item(server.prefix, {"key": "G6823GC4", "extra": "édité"}),
                      path="/items$", method="POST")
    with Store(store_path) as store, ZoteroClient(settings, LibraryRef.parse(lib)) as client:
        library = store.require_library(lib)
        with pytest.raises(ConflictError, match=r"1 item\(s\) kept changing in Zotero .*G6823GC4"):
            apply_changes(store, client, library, [Change("G6823GC4", add_tags=(TAG,)),
                                                   Change("SIWDG8IN", add_tags=(TAG,))])
    assert TAG in server_tags(server, "SIWDG8IN")  # the rest was written
    assert TAG not in server_tags(server, "G6823GC4")


def test_interrupted_apply_is_safe_to_run_again(synced, capsys):
    server, store_path, env, lib, args = synced
    # Flag every item (a profile requiring a field none has) so the plan needs two batches.
    profile = store_path.parent / "strict.toml"
    profile.write_text('[types."*"]\nerror = ["rights"]\n', encoding="utf-8")
    keys = sorted(server.item_keys(server.prefix))
    assert len(keys) == 99
    # The first batch goes through; then Zotero fails every request until retries run out.
    attempts = RetryPolicy().max_attempts
    server.on_request(lambda req: server.inject(500, headers={"Retry-After": "0.01"}, method="POST",
                                                times=attempts),
                      path="/items$", method="POST", times=1)
    code = main([*args, "check", "--library", lib, "--profile", str(profile), "--tag", TAG, "--apply"], env=env)
    assert code == ExitCode.NETWORK
    assert "Zotero kept answering 500" in capsys.readouterr().err
    done = [k for k in keys if TAG in server_tags(server, k)]
    assert len(done) == 50
    with Store(store_path) as store:
        library = store.require_library(lib)
        assert all(TAG in store.item(library, k).tags for k in done)  # the store kept the first batch
        assert not any(TAG in store.item(library, k).tags for k in keys if k not in done)
    server.reset_requests()  # Zotero is back: the injected failures are used up
    assert main([*args, "check", "--library", lib, "--profile", str(profile), "--tag", TAG, "--apply"],
                env=env) == ExitCode.FINDINGS
    assert all(TAG in server_tags(server, k) for k in keys)
    sent = [o["key"] for r in posts(server) for o in r.json()]
    assert sorted(sent) == [k for k in keys if k not in done]  # only what was left


def test_plan_and_patch_are_plain_deltas():
    from zotcurate.model import Item

    def item(key, *tags):
        return Item(key, 3, "report", None, False, {"data": {"tags": [{"tag": t} for t in tags]}})

    changes = plan_tag_changes(TAG, flagged={"A", "B"}, checked=[item("A"), item("B", TAG), item("C", "x", TAG),
                                                                 item("D", "x")])
    assert changes == [Change("A", add_tags=(TAG,)), Change("C", remove_tags=(TAG,))]
    data = {"tags": [{"tag": "x", "type": 1}, {"tag": TAG}], "title": "T"}
    assert patch_for(Change("C", remove_tags=(TAG,)), data, 7) == {"key": "C", "version": 7,
                                                                   "tags": [{"tag": "x", "type": 1}]}
    assert patch_for(Change("C", add_tags=("x",)), data, 7) is None  # already there: nothing to send
    assert patch_for(Change("C", set_fields={"title": "U"}), data, 7) == {"key": "C", "version": 7, "title": "U"}


def test_apply_refuses_file_libraries(tmp_path, capsys):
    path = tmp_path / "store.sqlite"
    example = Path(__file__).resolve().parents[1] / "examples" / "numerique-sante"
    assert main(["--store", str(path), "import", str(example), "--library", "file:ex"], env={}) == ExitCode.OK
    code = main(["--store", str(path), "check", "--library", "file:ex", "--tag", TAG, "--apply"], env={})
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG and "no Zotero server" in err


def test_retry_policy_is_what_the_interrupted_test_relies_on():
    # Retry-After is honoured, so the injected 500s above cost milliseconds, not minutes.
    assert RetryPolicy().delay(3, 0.01) == 0.01


def test_a_read_only_key_is_told_to_get_write_access(synced, capsys):
    server, store_path, env, lib, args = synced
    server.add_key("readOnlyKey0123456789ab", user_id=server.user_id, username="lecteur",
                   groups={server.group_id: {"library": True, "write": False}})
    code = main([*args, "check", "--library", lib, "--tag", TAG, "--apply"],
                env={"ZOTERO_API_KEY": "readOnlyKey0123456789ab"})
    err = capsys.readouterr().err
    assert code == ExitCode.AUTH and "readOnlyKey0123456789ab" not in err
    assert not any(TAG in server_tags(server, k) for k in server.item_keys(server.prefix))


def test_a_collection_check_leaves_items_outside_it_alone(synced):
    server, store_path, env, lib, args = synced
    # A complete item outside the checked collection carries the tag from an earlier run.
    server.put_item(server.prefix, {"key": "SKJ3FVUF", "tags": [{"tag": "bib:entry"}, {"tag": TAG}]})
    server.put_item(server.prefix, {"key": "RAJUC9HQ", "tags": [{"tag": TAG}]})  # in part 1, no commentary
    assert main([*args, "sync", "--library", lib], env=env) == ExitCode.OK
    from zotcurate.check.engine import plan_check_tag

    with Store(store_path) as store:
        library = store.require_library(lib)
        part2 = run_check(store, library, load_profile(), collections=["Numérique et santé/2. Obstacles et freins"])
        changes = plan_check_tag(store, library, part2, TAG)
        assert {c.item_key for c in changes} <= set(part2.checked_keys)
        assert all(c.add_tags == (TAG,) for c in changes) and len(changes) == len(part2.keys_with("error"))
        intro = run_check(store, library, load_profile(), collections=["Numérique et santé/0. Introduction"])
        # SKJ3FVUF is in the introduction and complete: its old tag comes off; RAJUC9HQ is not checked
        assert plan_check_tag(store, library, intro, TAG) == [Change("SKJ3FVUF", remove_tags=(TAG,))]
