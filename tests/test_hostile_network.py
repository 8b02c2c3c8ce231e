"""Hostile servers: redirects that would carry the key away, answers that drip or never end,
waits a server asks for without bound, answers that are not the Zotero API's, and links
that point at link-local, cloud-metadata or private addresses.

Everything runs on loopback: the fake Zotero server (tests/zotero_server.py), a second
one on another port (another origin) and the misbehaving web sites of tests/loopback_web.py.
Times are asserted with generous bounds (a 1 s deadline must end the run within 10 s).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx2
import pytest
from aiohttp import abc as aiohttp_abc

from conftest import TEST_API_KEY, TEST_GROUP_ID
from loopback_web import LoopbackWeb
from zotcurate.cli import main
from zotcurate.config import load_settings
from zotcurate.errors import ExitCode, NetworkError
from zotcurate.links.audit import LinkOptions, audit_links
from zotcurate.links.engine import _page_says_not_found, address_refusal, check_urls
from zotcurate.links.verdicts import Verdict
from zotcurate.model import LibraryRef
from zotcurate.output import ProgressReporter
from zotcurate.store import Store
from zotcurate.zotero.client import (
    ELSEWHERE_WITHOUT_KEY,
    NOT_JSON,
    ForeignOrigin,
    PoliteTransport,
    RetryPolicy,
    ZoteroClient,
    origin,
    server_wait,
)
from zotero_server import FakeZotero

LIB = f"group:{TEST_GROUP_ID}"
KEY_HEADERS = ("zotero-api-key", "authorization")


def env_for(server: FakeZotero, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ZOTERO_API_KEY": TEST_API_KEY, "ZOTCURATE_API_URL": server.url,
            "ZOTCURATE_STORE": str(tmp_path / "store.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "config.toml"),
            **extra}


def run(args: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    started = time.monotonic()
    code = main(args, env=env)
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    return code, captured.out, captured.err, elapsed


def snapshot(tmp_path: Path) -> tuple[int, int, str | None]:
    """What a failed sync must leave as it was: the library version, item count, one title."""
    path = tmp_path / "store.sqlite"
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store(path) as store:
        lib = store.require_library(LIB)
        item = store.item(lib, "SKJ3FVUF")
        return lib.version, store.counts(lib)["items"], item.data.get("title") if item else None


def one_sentence(err: str) -> None:
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err


@pytest.fixture
def elsewhere():
    """A second Zotero server on another port: another origin, which must never see the key."""
    server = FakeZotero(seed=2).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def synced(zotero_example: FakeZotero, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> FakeZotero:
    """The example library, synced once; then edited remotely, so the next sync has work to do."""
    code, _, err, _ = run(["sync", "--library", LIB], env_for(zotero_example, tmp_path), capsys)
    assert code == ExitCode.OK, err
    zotero_example.put_item(zotero_example.prefix, {"key": "SKJ3FVUF", "title": "Edited remotely"})
    zotero_example.reset_requests()
    return zotero_example


# -- 1. the API key stays with the API's origin -------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("path", [r"/collections$", r"/items/top$"], ids=["own-request", "pyzotero"])
def test_a_redirect_to_another_origin_is_refused_and_never_carries_the_key(
        synced: FakeZotero, elsewhere: FakeZotero, tmp_path: Path, capsys, status: int, path: str) -> None:
    before = snapshot(tmp_path)
    target = f"{elsewhere.url}/groups/{TEST_GROUP_ID}/collections?format=versions"
    synced.inject(status, headers={"Location": target}, path=path, times=None)
    code, out, err, _ = run(["sync", "--library", LIB], env_for(synced, tmp_path), capsys)
    assert code == ExitCode.NETWORK
    one_sentence(err)
    assert "another address" in err and origin(elsewhere.url) in err and "api_url" in err
    assert TEST_API_KEY not in out + err
    # Refused before sending: the other origin saw nothing, so certainly not the key.
    assert elsewhere.requests == []
    assert snapshot(tmp_path) == before


def test_a_redirect_within_the_api_origin_is_followed(synced: FakeZotero, tmp_path: Path, capsys) -> None:
    again = f"{synced.url}/groups/{TEST_GROUP_ID}/items/top?format=versions&includeTrashed=1"
    synced.inject(307, headers={"Location": again}, path=r"/items/top$", times=1)
    code, _out, err, _ = run(["sync", "--library", LIB], env_for(synced, tmp_path), capsys)
    assert code == ExitCode.OK, err
    assert snapshot(tmp_path)[2] == "Edited remotely"
    redirected = [r for r in synced.requests if r.path.endswith("/items/top")]
    assert [r.status for r in redirected][:2] == [307, 200]
    assert all(r.headers.get("authorization") == f"Bearer {TEST_API_KEY}" for r in redirected)


def transport_client(api: FakeZotero) -> tuple[httpx2.Client, list[str]]:
    notices: list[str] = []
    transport = PoliteTransport(RetryPolicy(max_attempts=2, base_delay=0.01), notices.append,
                                api_origin=origin(api.url))
    return httpx2.Client(transport=transport, follow_redirects=True), notices


def test_a_download_may_follow_a_redirect_elsewhere_but_without_the_key(
        zotero_server: FakeZotero, elsewhere: FakeZotero) -> None:
    """The way file downloads (issue 14) will go: the hop elsewhere is made, the key dropped."""
    zotero_server.inject(302, headers={"Location": f"{elsewhere.url}/file.pdf"}, path=r"/file$", times=None)
    elsewhere.inject(200, headers={"Content-Type": "application/pdf"}, body=b"%PDF-1.4", path=r"/file.pdf$",
                     times=None)
    url = f"{zotero_server.url}/groups/{TEST_GROUP_ID}/items/ABCD2345/file"
    headers = {"Zotero-API-Key": TEST_API_KEY, "Authorization": f"Bearer {TEST_API_KEY}"}
    client, _ = transport_client(zotero_server)
    with client:
        answer = client.get(url, headers=headers, extensions={ELSEWHERE_WITHOUT_KEY: True, NOT_JSON: True})
        assert answer.status_code == 200 and answer.content == b"%PDF-1.4"
        assert len(elsewhere.requests) == 1
        assert not any(h in elsewhere.requests[0].headers for h in KEY_HEADERS)
        # The same request without the flag is refused before anything reaches the other origin.
        with pytest.raises(ForeignOrigin):
            client.get(url, headers=headers, extensions={NOT_JSON: True})
        assert len(elsewhere.requests) == 1
    # The API itself got the key both times.
    assert all(r.headers.get("zotero-api-key") == TEST_API_KEY for r in zotero_server.requests)


def test_a_redirect_to_a_non_web_scheme_is_refused(zotero_server: FakeZotero) -> None:
    zotero_server.inject(302, headers={"Location": "file:///etc/passwd"}, path=r"/keys/current$")
    client, _ = transport_client(zotero_server)
    with client, pytest.raises(ForeignOrigin):
        client.get(f"{zotero_server.url}/keys/current")


# -- 2. hangs: a total deadline per request, capped waits ---------------------------------


@pytest.mark.parametrize("path, interval, headers_too", [(r"/collections$", 0.05, True), (r"/items/top$", 0.2, False)],
                         ids=["headers-drip-own-request", "body-drip-pyzotero"])
def test_an_api_answer_dripping_byte_by_byte_meets_the_deadline(
        synced: FakeZotero, tmp_path: Path, capsys, path: str, interval: float, headers_too: bool) -> None:
    # A read timeout alone (30 s) would never fire: a byte comes every `interval` seconds.
    before = snapshot(tmp_path)
    synced.drip(interval, path=path, times=None, headers_too=headers_too)
    code, _out, err, elapsed = run(["sync", "--library", LIB],
                                  env_for(synced, tmp_path, ZOTCURATE_API_DEADLINE="1"), capsys)
    assert code == ExitCode.NETWORK
    one_sentence(err)
    assert "did not finish answering within 1 s" in err and "api_deadline" in err
    assert elapsed < 10  # one attempt: a request that ran out of time is not tried again
    assert len([r for r in synced.requests if re.search(path, r.path)]) == 1
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["100000", "inf", "1e308"])
def test_a_huge_backoff_is_capped_and_said(synced: FakeZotero, tmp_path: Path, capsys, value: str) -> None:
    synced.backoff(value, times=1, path=r"/collections$")
    code, _, err, elapsed = run(["sync", "--library", LIB],
                                env_for(synced, tmp_path, ZOTCURATE_API_MAX_WAIT="1"), capsys)
    assert code == ExitCode.OK, err
    assert "zotcurate waits at most 1 s at a time (setting api_max_wait)" in err
    assert "Backoff request: waiting 1 s" in err
    assert elapsed < 10
    assert snapshot(tmp_path)[2] == "Edited remotely"


@pytest.mark.parametrize("value", ["nan", "-5", "soon", "-inf"])
def test_an_unusable_backoff_is_ignored_and_said(synced: FakeZotero, tmp_path: Path, capsys, value: str) -> None:
    synced.backoff(value, times=1, path=r"/collections$")
    code, _, err, elapsed = run(["sync", "--library", LIB], env_for(synced, tmp_path), capsys)
    assert code == ExitCode.OK, err
    assert "Backoff header that is not a number of seconds; it was ignored" in err
    assert "Traceback" not in err and elapsed < 10


@pytest.mark.parametrize("value", ["inf", "100000"])
def test_a_huge_retry_after_is_capped(synced: FakeZotero, tmp_path: Path, capsys, value: str) -> None:
    synced.inject(429, headers={"Retry-After": value}, path=r"/items$", times=1)
    code, _, err, elapsed = run(["sync", "--library", LIB],
                                env_for(synced, tmp_path, ZOTCURATE_API_MAX_WAIT="1"), capsys)
    assert code == ExitCode.OK, err
    assert "(Retry-After); zotcurate waits at most 1 s" in err and "429: waiting 1 s" in err
    assert elapsed < 10


def test_the_waits_of_a_run_have_a_budget(synced: FakeZotero, tmp_path: Path, capsys) -> None:
    before = snapshot(tmp_path)
    synced.inject(503, headers={"Retry-After": "1"}, path=r"/collections$", times=None)
    env = env_for(synced, tmp_path, ZOTCURATE_API_MAX_WAIT="1", ZOTCURATE_API_WAIT_BUDGET="2")
    code, _out, err, elapsed = run(["sync", "--library", LIB], env, capsys)
    assert code == ExitCode.NETWORK
    one_sentence(err)
    assert "beyond the 2 s a run may wait (setting api_wait_budget)" in err
    assert elapsed < 10
    assert snapshot(tmp_path) == before


def test_server_wait_values() -> None:
    assert server_wait("12") == (12.0, False)
    assert server_wait("inf") == (float("inf"), False)  # kept, to be capped (and said)
    assert server_wait(None) == (None, False)
    for unusable in ("nan", "-1", "later", "-inf"):
        assert server_wait(unusable) == (None, True)
    seconds, unusable = server_wait("Wed, 21 Oct 2015 07:28:00 GMT")  # a date in the past: no wait
    assert seconds == 0.0 and not unusable


@pytest.mark.parametrize("name, value, said", [
    ("ZOTCURATE_API_DEADLINE", "0", "ZOTCURATE_API_DEADLINE is '0'"),
    ("ZOTCURATE_API_MAX_WAIT", "nan", "ZOTCURATE_API_MAX_WAIT is 'nan'"),
    ("ZOTCURATE_API_WAIT_BUDGET", "ten", "ZOTCURATE_API_WAIT_BUDGET is 'ten'"),
    ("ZOTCURATE_LINKS_MAX_DURATION", "-1h", "ZOTCURATE_LINKS_MAX_DURATION is '-1h'"),
    ("ZOTCURATE_LINKS_ALLOW_PRIVATE", "2", "ZOTCURATE_LINKS_ALLOW_PRIVATE is '2'"),
    ("ZOTCURATE_API_URL", "api.zotero.org", "api_url is 'api.zotero.org'; it must be a web address"),
])
def test_a_bad_limit_setting_is_a_configuration_error(zotero_server: FakeZotero, tmp_path: Path, capsys,
                                                      name: str, value: str, said: str) -> None:
    code, _, err, _ = run(["sync", "--library", LIB], env_for(zotero_server, tmp_path, **{name: value}), capsys)
    assert code == ExitCode.CONFIG
    one_sentence(err)
    assert said in err
    assert zotero_server.requests == []


def test_limit_settings_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('api_deadline = "2m"\napi_max_wait = 30\nlinks_allow_private = false\n'
                      'links_max_duration = "90m"\n', encoding="utf-8")
    settings = load_settings(env={"ZOTCURATE_CONFIG": str(config), "ZOTCURATE_API_WAIT_BUDGET": "45s"})
    assert (settings.api_deadline, settings.api_max_wait, settings.api_wait_budget) == (120.0, 30.0, 45.0)
    assert settings.links_allow_private is False and settings.links_max_duration == 5400.0
    defaults = load_settings(env={"ZOTCURATE_CONFIG": str(tmp_path / "none.toml")})
    assert (defaults.api_deadline, defaults.api_max_wait, defaults.api_wait_budget) == (120.0, 120.0, 600.0)
    assert defaults.links_allow_private is True


# -- 3. answers that are not the Zotero API's ---------------------------------------------

NONSENSE = {
    "malformed-json-own-request": (r"/collections$", 0, b'{"ABCD2345": 1,', "application/json", "malformed JSON"),
    "malformed-json-pyzotero": (r"/items/top$", 0, b"[{", "application/json", "malformed JSON"),
    "html-page-with-200": (r"/items/top$", 0, "<html><title>Connexion</title></html>", "text/html", "a web page"),
    "empty-200": (r"/collections$", 0, b"", "application/json", "not JSON"),
    "versions-of-wrong-shape": (r"/collections$", 0, [1, 2, 3], None, "wrong shape"),
    "versions-not-numbers": (r"/items/top$", 0, {"ABCD2345": "x"}, None, "wrong shape"),
    "objects-of-wrong-shape": (r"/items$", 1, [{"nokey": 1}], None, "wrong shape"),
    "objects-not-a-list": (r"/items$", 1, {"key": "ABCD2345"}, None, "wrong shape"),
}


@pytest.mark.parametrize("case", list(NONSENSE))
def test_a_sync_answered_nonsense_says_so_and_keeps_the_store(synced: FakeZotero, tmp_path: Path, capsys,
                                                              case: str) -> None:
    path, after, body, ctype, words = NONSENSE[case]
    before = snapshot(tmp_path)
    synced.inject(200, headers={"Content-Type": ctype} if ctype else None, body=body, path=path, times=None,
                  after=after)
    code, out, err, _ = run(["sync", "--library", LIB], env_for(synced, tmp_path), capsys)
    assert code == ExitCode.NETWORK
    one_sentence(err)
    assert words in err and "not an answer of the Zotero API" in err
    assert TEST_API_KEY not in out + err
    assert snapshot(tmp_path) == before
    with Store(tmp_path / "store.sqlite") as store:
        assert store.sync_log(store.require_library(LIB))[0]["status"] == "failed"


def test_doctor_names_a_nonsense_answer(zotero_example: FakeZotero, tmp_path: Path, capsys) -> None:
    zotero_example.inject(200, headers={"Content-Type": "text/html"}, body="<html>Wi-Fi login</html>",
                          path=r"/keys/current$", times=None)
    code, out, err, _ = run(["--library", LIB, "doctor"], env_for(zotero_example, tmp_path), capsys)
    assert code == ExitCode.NETWORK
    assert "PROBLEM  key" in out and "a web page" in out
    assert "Traceback" not in out + err and TEST_API_KEY not in out + err


def test_doctor_names_a_key_info_of_the_wrong_shape(zotero_example: FakeZotero, tmp_path: Path, capsys) -> None:
    zotero_example.inject(200, body={"userID": 1, "access": {"groups": {"all": True}}}, path=r"/keys/current$",
                          times=None)
    code, out, err, _ = run(["--library", LIB, "doctor"], env_for(zotero_example, tmp_path), capsys)
    assert code == ExitCode.NETWORK
    assert "PROBLEM  key" in out and "wrong shape" in out and "Traceback" not in out + err


def test_the_nightly_audit_reports_a_nonsense_sync_and_exits_network(zotero_server: FakeZotero, tmp_path: Path,
                                                                     capsys) -> None:
    # An empty group (the example library's links are real web addresses: never checked in tests).
    zotero_server.inject(200, headers={"Content-Type": "text/html"}, body="<html>proxy</html>",
                         path=r"/collections$", times=None)
    env = env_for(zotero_server, tmp_path, ZOTCURATE_DOI_RESOLVER="http://127.0.0.1:9/")
    code, out, err, _ = run(["--quiet", "audit", "--library", LIB, "--output", str(tmp_path / "audits")], env,
                            capsys)
    assert code == ExitCode.NETWORK
    assert "Traceback" not in out + err and TEST_API_KEY not in out + err
    [folder] = sorted((tmp_path / "audits").iterdir())
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert "a web page" in report["sync_error"] and report["exit_code"] == ExitCode.NETWORK


# -- 3b. a key that cannot be a key is a configuration problem, not a network one ---------


@pytest.mark.parametrize("key", ["zTestKey0123456789abcdé", "zTestKey01234\n56789abcdef", "zTest Key0123456789abcd"],
                         ids=["non-ascii", "newline", "space"])
def test_an_impossible_api_key_is_a_configuration_error(zotero_server: FakeZotero, tmp_path: Path, capsys,
                                                        key: str) -> None:
    env = env_for(zotero_server, tmp_path, ZOTERO_API_KEY=key)
    code, out, err, _ = run(["sync", "--library", LIB], env, capsys)
    assert code == ExitCode.CONFIG
    one_sentence(err)
    says = "a space or a line break" if key.isascii() else "a non-ASCII character"  # the character is named
    assert "API key" in err and says in err and "network" not in err.lower()
    assert key not in out + err and key.split()[0] not in out + err
    assert zotero_server.requests == []  # nothing was sent
    code, out, _, _ = run(["--library", LIB, "doctor"], env, capsys)
    assert code == ExitCode.CONFIG and "PROBLEM  key" in out


def test_a_key_with_a_trailing_line_break_is_used_without_it(zotero_example: FakeZotero, tmp_path: Path,
                                                             capsys) -> None:
    env = env_for(zotero_example, tmp_path, ZOTERO_API_KEY=TEST_API_KEY + "\n")
    code, _, err, _ = run(["sync", "--library", LIB], env, capsys)
    assert code == ExitCode.OK, err


# -- 6. the "library changed" notice names two different versions -------------------------


def test_the_changed_library_notice_never_says_the_same_version_twice(synced: FakeZotero, tmp_path: Path,
                                                                      capsys) -> None:
    # A /deleted answer from a lagging replica: an older library version than the pass began with.
    version = synced.library_version(synced.prefix)
    synced.inject(200, headers={"Last-Modified-Version": str(version - 1)},
                  body={"items": [], "collections": [], "searches": [], "tags": [], "settings": []},
                  path=r"/deleted$", times=1)
    code, _, err, _ = run(["sync", "--library", LIB], env_for(synced, tmp_path), capsys)
    assert code == ExitCode.OK, err
    moves = re.findall(r"changed during the sync \(version (\d+) → (\d+)\)", err)
    assert moves and all(int(a) < int(b) for a, b in moves), err
    assert snapshot(tmp_path)[0] == version



# -- link audits: deadlines, time limit, addresses never connected to ---------------------


@pytest.fixture
def web():
    with LoopbackWeb() as w:
        yield w


def link_options(**kw: object) -> LinkOptions:
    base: dict[str, object] = {"read_timeout": 1.0, "connect_timeout": 1.0, "backoff": 0.05, "retries": 1,
                               "doi_resolver": "http://127.0.0.1:9/"}
    base.update(kw)
    return LinkOptions(**base)  # type: ignore[arg-type]


def check(urls: list[str], options: LinkOptions, resolver: object = None) -> tuple[dict, object, float]:
    started = time.monotonic()
    results, checker = asyncio.run(check_urls([(u, "url") for u in urls], options, resolver=resolver))
    return results, checker, time.monotonic() - started


def link_store(path: Path, urls: list[str]) -> tuple[Store, object]:
    store = Store(path)
    lib = store.ensure_library("file:liens", "file", "liens")
    store.upsert_items(lib, [{"key": f"LINK{i:04d}", "version": 1,
                              "data": {"key": f"LINK{i:04d}", "itemType": "webpage", "title": f"Page {i}", "url": u}}
                             for i, u in enumerate(urls)])
    return store, lib


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address the event loop connects a socket to; anything off loopback is refused
    here too, so a bug in the guard cannot send a test off the machine."""
    seen: list[str] = []
    real = asyncio.selector_events.BaseSelectorEventLoop.sock_connect

    async def spy(self, sock, address):  # type: ignore[no-untyped-def]
        seen.append(str(address[0]))
        if not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
            raise OSError(f"the test refuses to connect to {address[0]}")
        return await real(self, sock, address)

    monkeypatch.setattr(asyncio.selector_events.BaseSelectorEventLoop, "sock_connect", spy)
    return seen


@pytest.mark.parametrize("drip_headers", [False, True], ids=["body", "headers"])
def test_a_page_dripping_byte_by_byte_meets_the_request_deadline(web: LoopbackWeb, drip_headers: bool) -> None:
    site = web.host("site")
    url = site.page("/slow", drip=0.05, drip_headers=drip_headers)
    results, _, elapsed = check([url], link_options(deadline=1.0))
    assert results[url].verdict is Verdict.TRANSIENT
    assert results[url].detail == "did not finish answering within 1 s"
    assert elapsed < 10
    assert site.methods("/slow") == ["GET"]  # a timeout is not retried


def test_a_hung_audit_ends_at_its_time_limit_and_keeps_what_it_checked(web: LoopbackWeb, tmp_path: Path) -> None:
    site = web.host("site")
    fine = site.page("/ok")
    slow = [site.page(f"/slow{i}", drip=0.2) for i in range(6)]
    store, lib = link_store(tmp_path / "s.sqlite", [fine, *slow])
    notices: list[str] = []

    class Notices(ProgressReporter):
        def notice(self, message: str) -> None:
            notices.append(message)

    progress = Notices()
    started = time.monotonic()
    with store:
        audit = audit_links(store, lib, link_options(per_host=1, deadline=30.0, max_duration=1.5), progress=progress)
    assert time.monotonic() - started < 10
    assert any("reached its time limit (2 s, setting links_max_duration)" in n for n in notices), notices
    checked = {r.url: r.verdict for r in audit.links}
    assert checked == {fine: Verdict.OK}  # the unfinished checks are not recorded as failures


@pytest.mark.parametrize("value", ["100000", "inf"])
def test_a_huge_retry_after_on_a_link_is_not_waited_for(web: LoopbackWeb, value: str) -> None:
    url = web.host("site").page("/busy", status=503, retry_after=value)
    results, _, elapsed = check([url], link_options(max_retry_after=5))
    assert results[url].verdict is Verdict.TRANSIENT and "more than the 5 s allowed" in results[url].detail
    assert elapsed < 10


@pytest.mark.parametrize("value", ["nan", "-3", "soon"])
def test_an_unusable_retry_after_on_a_link_falls_back_to_backoff(web: LoopbackWeb, value: str) -> None:
    url = web.host("site").page("/busy", status=503, retry_after=value, times=1)
    results, _, elapsed = check([url], link_options())
    assert results[url].verdict is Verdict.OK and elapsed < 10


NEVER = ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/",
         "http://100.100.100.200/", "http://[fd00:ec2::254]/", "http://0.0.0.0/", "http://224.0.0.1/",
         "http://[2002:a9fe:a9fe::]/", "http://240.0.0.1/"]


@pytest.mark.parametrize("url", NEVER)
@pytest.mark.parametrize("allow_private", [True, False])
def test_link_local_and_metadata_addresses_are_never_connected_to(connects: list[str], url: str,
                                                                 allow_private: bool) -> None:
    results, _, elapsed = check([url], link_options(allow_private=allow_private))
    assert results[url].verdict is Verdict.BLOCKED
    detail = results[url].detail
    assert detail.startswith("not checked: ")
    assert "zotcurate never connects there" in detail or "not the address of a web site" in detail
    assert connects == []  # refused before any connection
    assert elapsed < 5


def test_a_redirect_to_the_metadata_service_is_blocked_at_the_hop(web: LoopbackWeb, connects: list[str]) -> None:
    site = web.host("site")
    url = site.page("/moved", status=302, to="http://169.254.169.254/latest/meta-data/iam/")
    results, _, _ = check([url], link_options())
    res = results[url]
    assert res.verdict is Verdict.BLOCKED and "cloud metadata address" in res.detail
    assert "after redirects" in res.detail and res.hops == [(url, 302)]
    assert connects == [site.address]


class _Resolver(aiohttp_abc.AbstractResolver):
    """Names resolved to chosen addresses, without DNS (as a hostile DNS answer would)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, object]]:
        self.asked.append(host)
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET6 if ":" in address
                 else socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST} for address in self.table[host]]

    async def close(self) -> None:
        return None


def test_a_name_resolving_to_a_blocked_address_is_refused_after_resolution(connects: list[str]) -> None:
    resolver = _Resolver({"metadata.example.test": ["169.254.169.254"]})
    url = "http://metadata.example.test/computeMetadata/v1/"
    results, _, _ = check([url], link_options(), resolver=resolver)
    assert resolver.asked == ["metadata.example.test"]
    assert results[url].verdict is Verdict.BLOCKED and "link-local" not in results[url].detail
    assert "cloud metadata address" in results[url].detail
    assert connects == []


def test_private_and_loopback_addresses_are_blocked_when_not_allowed(web: LoopbackWeb, connects: list[str]) -> None:
    site = web.host("site")
    url = site.page("/ok")
    with socket.socket() as listener:  # would see any connection attempt
        listener.bind(("127.0.0.9", 0))
        listener.listen()
        listener.setblocking(False)
        quiet = f"http://127.0.0.9:{listener.getsockname()[1]}/"
        resolver = _Resolver({"intranet.example.test": ["10.1.2.3"]})
        results, _, _ = check([url, quiet, "http://10.0.0.1/admin", "http://intranet.example.test/"],
                              link_options(allow_private=False), resolver=resolver)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert results[url].verdict is results[quiet].verdict is Verdict.BLOCKED
    assert "this machine's own address" in results[url].detail and "links_allow_private" in results[url].detail
    for private in ("http://10.0.0.1/admin", "http://intranet.example.test/"):
        assert results[private].verdict is Verdict.BLOCKED and "private network" in results[private].detail
    assert connects == [] and site.requests == []
    # Allowed (the default), the same loopback site is checked.
    results, _, _ = check([url], link_options())
    assert results[url].verdict is Verdict.OK and connects == [site.address]


def test_the_links_command_blocks_private_addresses_on_request(web: LoopbackWeb, tmp_path: Path, capsys) -> None:
    site = web.host("site")
    url = site.page("/ok")
    store, _ = link_store(tmp_path / "s.sqlite", [url])
    store.close()
    env = {"ZOTCURATE_STORE": str(tmp_path / "s.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "c.toml")}
    args = ["links", "-l", "file:liens", "--format", "json", "--timeout", "2"]
    for extra, env_extra in (([], {"ZOTCURATE_LINKS_ALLOW_PRIVATE": "false"}), (["--block-private-addresses"], {})):
        code = main([*args, *extra], env={**env, **env_extra})
        rows = json.loads(capsys.readouterr().out)
        assert code == ExitCode.OK  # blocked is not broken
        assert [(r["url"], r["verdict"]) for r in rows] == [(url, "blocked")]
        assert "links_allow_private" in rows[0]["detail"]
    assert site.requests == []
    code = main([*args, "--allow-private-addresses"], env={**env, "ZOTCURATE_LINKS_ALLOW_PRIVATE": "false"})
    assert code == ExitCode.OK and json.loads(capsys.readouterr().out)[0]["verdict"] == "ok"


def test_address_refusals() -> None:
    never = ["169.254.169.254", "169.254.0.1", "fe80::1%eth0", "fd00:ec2::254", "100.100.100.200", "168.63.129.16",
             "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "0.0.0.0", "::", "224.0.0.251", "255.255.255.255"]
    private = ["127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "fd12:3456::1",
               "::ffff:10.0.0.1"]
    public = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"]
    for address in never:
        assert address_refusal(address, allow_private=True), address
    for address in private:
        assert address_refusal(address, allow_private=True) is None, address
        assert address_refusal(address, allow_private=False), address
    for address in public:
        assert address_refusal(address, allow_private=False) is None, address


# -- the soft-404 detector is linear in the page ------------------------------------------

HOSTILE_PAGES = {
    "unclosed h1": "<h1>" * 16384,
    "unclosed title, many tags": "<title>" + "<a" * 32764,
    "many openings": "<title" * 10923,
    "h1 with attributes": "<h1 " * 16384,
}


def _best_time(page: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        _page_says_not_found(page)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("name", list(HOSTILE_PAGES))
def test_the_soft_404_scan_of_a_hostile_64_kb_page_is_linear(name: str) -> None:
    page = (HOSTILE_PAGES[name] * 2)[: 64 * 1024]
    small, large = _best_time(page[: 16 * 1024]), _best_time(page)
    assert large < 1.0  # the quadratic scan took ~4 s on the first page
    # 4 times the bytes: about 4 times the time when linear, 16 times when quadratic.
    assert large < 8 * small + 0.005, (small, large)


def test_the_soft_404_scan_still_reads_titles_and_headings() -> None:
    assert _page_says_not_found("<html><head><title>Page introuvable</title></head></html>") == "Page introuvable"
    assert _page_says_not_found("<TITLE lang=fr>Rapport</TITLE><h1 class=x>Erreur <b>404</b></h1>") == "Erreur 404"
    junk = "<div>" * 5000 + "<p>texte</p>" * 1000
    assert _page_says_not_found(f"<title>Rapport annuel</title>{junk}<h1>Rapport</h1>") is None
    assert _page_says_not_found("<h1>Not found") is None  # never closed: not a heading


@pytest.mark.parametrize("body", [{"successful": {"7": {"key": "ABCD2345"}}}, {"failed": ["x"]}, [1]],
                         ids=["position-out-of-the-batch", "failed-not-an-object", "not-an-object"])
def test_a_write_answered_nonsense_is_a_network_error(zotero_example: FakeZotero, tmp_path: Path, body) -> None:
    settings = load_settings(env=env_for(zotero_example, tmp_path))
    zotero_example.inject(200, body=body, path=r"/items$", method="POST", times=None)
    item = zotero_example.get_item(zotero_example.prefix, "SKJ3FVUF")
    with ZoteroClient(settings, LibraryRef.parse(LIB)) as client, \
            pytest.raises(NetworkError, match=r"JSON of the wrong shape .* while writing items"):
        client.post_items([{"key": "SKJ3FVUF", "version": item["version"], "extra": "x"}])
