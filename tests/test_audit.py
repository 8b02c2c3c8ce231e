"""`zotcurate audit`: the scheduled job end to end — fake Zotero server + loopback web."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import TEST_API_KEY, TEST_GROUP_ID
from loopback_web import LoopbackWeb
from zotcurate.audit import run_lock
from zotcurate.cli import main
from zotcurate.errors import ExitCode, LockedError

LIB = f"group:{TEST_GROUP_ID}"


@pytest.fixture
def web():
    with LoopbackWeb() as w:
        yield w


def env_for(server, tmp_path: Path) -> dict[str, str]:
    return {"ZOTERO_API_KEY": TEST_API_KEY, "ZOTCURATE_API_URL": server.url,
            "ZOTCURATE_STORE": str(tmp_path / "store.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "c.toml"),
            "ZOTCURATE_DOI_RESOLVER": "http://127.0.0.1:9/"}


def seed(server, web) -> dict[str, str]:
    site = web.host("site")
    site.page("/ok")
    site.page("/gone", status=404)
    good = server.put_item(server.prefix, {
        "itemType": "report", "title": "Rapport complet", "institution": "ANS", "date": "2024", "pages": "12",
        "creators": [{"creatorType": "author", "name": "ANS"}], "url": web.url("site", "/ok"),
        "abstractNote": "Un commentaire utile.", "language": "fr", "accessDate": "2024-05-01"})
    bad = server.put_item(server.prefix, {
        "itemType": "report", "title": "Rapport perdu", "institution": "HAS", "date": "2023", "pages": "8",
        "creators": [{"creatorType": "author", "name": "HAS"}], "url": web.url("site", "/gone"),
        "abstractNote": "Un autre commentaire.", "language": "fr", "accessDate": "2024-05-01"})
    return {"good": good["key"], "bad": bad["key"]}


def test_audit_syncs_checks_audits_links_and_writes_a_dated_report(zotero_server, web, tmp_path, capsys) -> None:
    keys = seed(zotero_server, web)
    out_dir = tmp_path / "audits"
    code = main(["audit", "--library", LIB, "--output", str(out_dir), "--confirm-after", "1"],
                env=env_for(zotero_server, tmp_path))
    out = capsys.readouterr().out
    assert code == ExitCode.FINDINGS  # a broken link
    folders = sorted(out_dir.iterdir())
    assert len(folders) == 1 and not folders[0].name.endswith(".part")
    report = json.loads((folders[0] / "report.json").read_text(encoding="utf-8"))
    assert report["sync"]["added"] == 2 and report["exit_code"] == ExitCode.FINDINGS
    verdicts = {row["item_key"]: row["verdict"] for row in report["links"]["links"]}
    assert verdicts == {keys["good"]: "ok", keys["bad"]: "broken"}
    md = (folders[0] / "report.md").read_text(encoding="utf-8")
    assert md.startswith(f"# Audit of {LIB}") and "## Metadata" in md and "## Links" in md and keys["bad"] in md
    assert "### Completeness by collection" in md and "2 items checked" in md
    assert str(folders[0]) in out
    assert TEST_API_KEY not in out and TEST_API_KEY not in md
    assert main(["status", "--format", "json"], env=env_for(zotero_server, tmp_path)) == ExitCode.OK
    status = json.loads(capsys.readouterr().out)["libraries"][0]
    assert status["links_checked_at"].startswith(report["links"]["checked_at"][:10])
    # A second run the same day gets its own folder.
    main(["audit", "--library", LIB, "--output", str(out_dir)], env=env_for(zotero_server, tmp_path))
    assert len(list(out_dir.iterdir())) == 2


def test_audit_of_a_clean_library_exits_0(zotero_server, web, tmp_path, capsys) -> None:
    keys = seed(zotero_server, web)
    zotero_server.delete_item(zotero_server.prefix, keys["bad"])
    code = main(["audit", "--library", LIB, "--output", str(tmp_path / "a"), "--fail-on", "never"],
                env=env_for(zotero_server, tmp_path))
    assert code == ExitCode.OK, capsys.readouterr()


def test_a_failed_sync_still_audits_the_stored_copy_and_exits_6(zotero_server, web, tmp_path, capsys) -> None:
    seed(zotero_server, web)
    env = env_for(zotero_server, tmp_path)
    assert main(["sync", "--library", LIB], env=env) == ExitCode.OK
    zotero_server.down()
    try:
        code = main(["--quiet", "audit", "--library", LIB, "--output", str(tmp_path / "a")], env=env)
    finally:
        zotero_server.up()
    out = capsys.readouterr().out
    assert code == ExitCode.NETWORK and "sync failed" in out
    report = json.loads(next((tmp_path / "a").iterdir()).joinpath("report.json").read_text(encoding="utf-8"))
    assert report["sync_error"] and len(report["links"]["links"]) == 2


def test_two_audits_never_overlap(tmp_path) -> None:
    lock = tmp_path / "store.sqlite.audit.lock"
    with run_lock(lock), pytest.raises(LockedError, match=f"held by PID {os.getpid()}"), run_lock(lock):
        pass
    with run_lock(lock):  # released when the first run ends
        pass


def test_locked_audit_is_exit_10_and_does_nothing(zotero_server, web, tmp_path, capsys) -> None:
    seed(zotero_server, web)
    env = env_for(zotero_server, tmp_path)
    with run_lock(tmp_path / "store.sqlite.audit.lock"):
        code = main(["audit", "--library", LIB, "--output", str(tmp_path / "a")], env=env)
    assert code == ExitCode.LOCKED and "Another zotcurate audit is running" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and zotero_server.requests == []


def test_audit_tags_problems_in_zotero_with_apply(zotero_server, web, tmp_path, capsys) -> None:
    keys = seed(zotero_server, web)
    incomplete = zotero_server.put_item(zotero_server.prefix, {"itemType": "report", "title": "Sans éditeur",
                                                               "tags": [{"tag": "à garder"}]})
    env = env_for(zotero_server, tmp_path)
    args = ["audit", "--library", LIB, "--output", str(tmp_path / "a"), "--confirm-after", "1",
            "--tag-errors", "à compléter", "--tag-broken", "lien mort"]
    # Without --apply: planned and reported, nothing written.
    assert main(args, env=env) == ExitCode.FINDINGS
    assert "not written (add --apply)" in capsys.readouterr().out
    assert not any(r.method == "POST" for r in zotero_server.requests)

    def tags(key: str) -> set[str]:
        return {t["tag"] for t in zotero_server.get_item(zotero_server.prefix, key)["data"]["tags"]}

    assert main([*args, "--apply"], env=env) == ExitCode.FINDINGS
    out = capsys.readouterr().out
    assert "item(s) written to Zotero" in out
    assert tags(incomplete["key"]) == {"à garder", "à compléter"}  # other tags untouched
    assert "lien mort" in tags(keys["bad"]) and "lien mort" not in tags(keys["good"])
    report = json.loads(sorted((tmp_path / "a").iterdir())[-1].joinpath("report.json").read_text(encoding="utf-8"))
    assert report["writeback"]["applied"] and incomplete["key"] in report["writeback"]["written"]
