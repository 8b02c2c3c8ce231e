"""`zotcurate links`: verdicts, politeness, history and reports, against a loopback web.

Every address used here is in 127.0.0.0/8: the sites are tests/loopback_web.py, the DOI
resolver is one of them (``--doi-resolver``).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loopback_web import Host, LoopbackWeb, challenge_body, challenge_headers, soft_404_body
from zotcurate.cli import main
from zotcurate.errors import ExitCode
from zotcurate.fields import read_doi
from zotcurate.links.audit import LinkOptions, audit_links, parse_age
from zotcurate.links.extract import links_of_items
from zotcurate.links.report import format_markdown
from zotcurate.links.verdicts import Group, Verdict
from zotcurate.model import Library
from zotcurate.store import Store

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 10, 2, 3, 0, tzinfo=UTC)
_paths = itertools.count()


@pytest.fixture(scope="module")
def web() -> Iterator[LoopbackWeb]:
    with LoopbackWeb() as w:
        w.host("site")
        w.host("other")
        w.host("publisher", max_in_flight=2)
        w.host("doi")
        yield w


def fresh(host: Host, status: int = 200, **kwargs: object) -> str:
    """A page at a path no other test uses (pages with a counter keep state)."""
    return host.page(f"/p{next(_paths)}", status, **kwargs)


def item(key: str, url: str | None = None, doi: str | None = None, **data: object) -> dict:
    d: dict = {"key": key, "version": 1, "itemType": "report", "title": f"Rapport {key}", "tags": []}
    if url:
        d["url"] = url
    if doi:
        d["DOI"] = doi
    d.update(data)
    return {"key": key, "version": 1, "data": d}


def make_store(path: Path, items: list[dict], collections: list[dict] = ()) -> tuple[Store, Library]:
    store = Store(path)
    lib = store.ensure_library("file:liens", "file", "liens")
    store.upsert_items(lib, items)
    store.upsert_collections(lib, list(collections))
    return store, lib


def options(web: LoopbackWeb, **kw: object) -> LinkOptions:
    base = {"read_timeout": 1.0, "connect_timeout": 1.0, "backoff": 0.05,
            "doi_resolver": web.url("doi", "/")}
    base.update(kw)
    return LinkOptions(**base)  # type: ignore[arg-type]


def by_key(audit) -> dict:  # type: ignore[no-untyped-def]
    return {(r.item_key, r.kind): r for r in audit.links}


# -- verdicts ---------------------------------------------------------------------------


def test_each_kind_of_link_gets_its_verdict(web: LoopbackWeb, tmp_path: Path) -> None:
    site, other, pub, doi = (web.hosts[n] for n in ("site", "other", "publisher", "doi"))
    new_home = fresh(other)
    hop2 = fresh(other, 301, to=new_home)
    loop_b = f"/p{next(_paths)}"
    loop_a = fresh(site, 302, to=other.url(loop_b))
    other.page(loop_b, 302, to=loop_a)
    landing = fresh(pub)
    doi.page("/10.1234/ok.1", 302, to=landing)
    pdf_head405 = site.page(f"/r{next(_paths)}.pdf", head_status=405, content_type="application/pdf", body="%PDF-1.7")
    pdf = site.page(f"/r{next(_paths)}.pdf", content_type="application/pdf", body="%PDF-1.7")
    gate = f"/gate{next(_paths)}"
    cookie_page = fresh(site, 302, times=1, to=site.url(gate))  # sends you to a gate once, then answers
    site.page(gate, 302, to=cookie_page)
    cases = {
        "OK000001": (fresh(site), "ok"),
        "PERM0301": (fresh(site, 301, to=hop2), "redirected"),  # 301 -> 301 across hosts -> 200
        "PERM0308": (fresh(site, 308, to=new_home), "redirected"),
        "TEMP0302": (fresh(site, 302, to=new_home), "ok"),
        "TEMP0307": (fresh(site, 307, to=new_home), "ok"),
        "GONE0404": (fresh(site, 404), "broken"),
        "GONE0410": (fresh(site, 410), "broken"),
        "ERR00500": (fresh(site, 500), "transient"),
        "BADGW502": (fresh(site, 502), "transient"),
        "FLAKY503": (fresh(site, 503, times=1, retry_after=0), "ok"),
        "FLAKY429": (fresh(other, 429, times=1, retry_after=0), "ok"),
        "SLOW0001": (fresh(other, delay=0.3), "ok"),
        "HANG0001": (fresh(other, hang=True), "transient"),
        "REFUSED1": (web.refused_url(), "broken"),
        "HEAD0405": (pdf_head405, "ok"),
        "PDF00001": (pdf, "ok"),
        "SOFT0404": (fresh(site, body=soft_404_body()), "broken"),
        "LOOP0001": (loop_a, "broken"),
        "COOKIE01": (cookie_page, "ok"),  # back where it started, once, is not a loop
        "DEADMOVE": (fresh(site, 301, to=site.url("/nothing-here")), "broken"),
        "HOMEPAGE": (site.page(f"/rapports/{next(_paths)}/synthese", 302, to=site.url("/")), "broken"),
        "SECTION1": (site.page(f"/fr{next(_paths)}", 301, to=site.url("/")), "redirected"),
        "BOTWALL1": (fresh(other, 403, headers=challenge_headers(), body=challenge_body()), "blocked"),
        "FORBID01": (fresh(other, 403), "blocked"),
        "LOGIN401": (fresh(other, 401), "blocked"),
        "NOSCHEME": ("www.example.org/rapport", "invalid"),
    }
    site.page("/", body="<html><title>Accueil</title></html>")
    items = [item(k, url) for k, (url, _) in cases.items()]
    items += [item("DOI00001", doi="10.1234/ok.1"), item("DOI00404", doi="https://doi.org/10.1234/unknown"),
              item("DOIBAD01", doi="not-a-doi"), item("DOIEXTRA", extra="DOI: 10.1234/ok.1")]
    store, lib = make_store(tmp_path / "s.sqlite", items)
    audit = audit_links(store, lib, options(web))
    got = by_key(audit)
    verdicts = {k: got[(k, "url")].verdict for k in cases}
    assert verdicts == {k: v for k, (_, v) in cases.items()}
    assert got[("DOI00001", "doi")].verdict == "ok"
    assert got[("DOIEXTRA", "doi")].verdict == "ok"
    assert got[("DOI00404", "doi")].verdict == "broken"
    assert "DOI resolver" in got[("DOI00404", "doi")].detail
    assert got[("DOIBAD01", "doi")].verdict == "invalid"

    # Permanent redirects give the new address, every hop is recorded; temporary ones are left alone.
    perm = got[("PERM0301", "url")]
    assert perm.new_url == new_home and perm.final_url == new_home
    assert [status for _, status in perm.hops] == [301, 301]
    assert got[("PERM0308", "url")].new_url == new_home
    assert got[("TEMP0302", "url")].new_url is None and got[("TEMP0302", "url")].final_url == new_home
    # Soft 404, bot wall and the dead DOI say why.
    assert "Page introuvable" in got[("SOFT0404", "url")].detail
    assert "Cloudflare" in got[("BOTWALL1", "url")].detail
    assert "loop" in got[("LOOP0001", "url")].detail
    assert "timed out" in got[("HANG0001", "url")].detail
    # HEAD first for files; GET when HEAD is refused; pages are fetched with GET directly.
    assert site.methods(urlpath(pdf_head405)) == ["HEAD", "GET"]
    assert site.methods(urlpath(pdf)) == ["HEAD"]
    assert site.methods(urlpath(cases["OK000001"][0])) == ["GET"]
    # The flaky pages were retried; a 502 too (retries=2), then given up; a 500 is not asked again.
    assert site.methods(urlpath(cases["FLAKY503"][0])) == ["GET", "GET"]
    assert len(site.methods(urlpath(cases["BADGW502"][0]))) == 3
    assert len(site.methods(urlpath(cases["ERR00500"][0]))) == 1
    # Every check is in the store, with its time.
    history = store.link_history(lib)
    assert len(history) == len(audit.links)
    assert all(c[-1]["checked_at"] == r.checked_at for r in audit.links for c in [history[(r.item_key, r.url)]])
    assert max(web.peaks().values()) <= 2


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_dead_page_is_not_taken_for_a_soft_404_when_it_is_a_real_page(web: LoopbackWeb, tmp_path: Path) -> None:
    site = web.hosts["site"]
    real = fresh(site, body="<html><title>Loi n° 2019-404 du 3 mai 2019</title><h1>Texte intégral</h1></html>")
    novel = fresh(site, body="<html><title>L'introuvable Léviathan</title><h1>Roman</h1></html>")
    gone = fresh(site, body="<html><title>Ministère</title><h1>Erreur 404 : document introuvable</h1></html>")
    store, lib = make_store(tmp_path / "s.sqlite", [item("LOI00001", real), item("NOVEL001", novel),
                                                    item("GONE0001", gone)])
    got = {r.item_key: r.verdict for r in audit_links(store, lib, options(web)).links}
    assert got == {"LOI00001": "ok", "NOVEL001": "ok", "GONE0001": "broken"}


def test_per_host_limit_holds_when_a_doi_resolver_redirects_to_a_publisher(tmp_path: Path) -> None:
    # Fresh hosts so the peaks only count this test. The publisher answers 429 above 2 in flight.
    with LoopbackWeb(base="127.0.1") as w:
        resolver, pub, site = w.host("doi"), w.host("pub", max_in_flight=2), w.host("site")
        items = []
        for i in range(16):
            landing = pub.page(f"/article/{i}", delay=0.03)
            resolver.page(f"/10.5555/a{i}", 302, to=landing, delay=0.02)
            items.append(item(f"DOI{i:05d}", doi=f"10.5555/a{i}"))
            items.append(item(f"URL{i:05d}", url=pub.page(f"/direct/{i}", delay=0.03)))
            items.append(item(f"OTH{i:05d}", url=site.page(f"/x/{i}", 301, to=pub.url(f"/direct/{i}"))))
        store, lib = make_store(tmp_path / "s.sqlite", items)
        audit = audit_links(store, lib, LinkOptions(concurrency=64, per_host=2, doi_resolver=resolver.url("/")))
        assert {r.verdict for r in audit.links} == {"ok", "redirected"}
        assert pub.peak <= 2 and resolver.peak <= 2 and site.peak <= 2
        assert pub.rate_limited == 0
        assert max(audit.peak_per_host.values()) <= 2
        # With one slot per host, one request at a time reaches the publisher.
        for page in pub.pages.values():
            page.served = 0
        store2, lib2 = make_store(tmp_path / "s2.sqlite", items[:12])
        pub.peak = 0
        audit_links(store2, lib2, LinkOptions(concurrency=64, per_host=1, doi_resolver=resolver.url("/")))
        assert pub.peak == 1


def test_retry_after_is_honoured_without_holding_the_hosts_slot(tmp_path: Path) -> None:
    with LoopbackWeb(base="127.0.2") as w:
        site = w.host("site")
        waiting = site.page("/wait", 429, times=1, retry_after=1)
        others = [site.page(f"/other/{i}") for i in range(6)]
        store, lib = make_store(tmp_path / "s.sqlite", [item("AWAIT001", waiting)]
                                + [item(f"OTHER{i:03d}", u) for i, u in enumerate(others)])
        audit = audit_links(store, lib, LinkOptions(per_host=1))
        assert {r.verdict for r in audit.links} == {"ok"}
        order = [path for _, path in site.requests]
        # /wait was asked twice; the other pages were served while it waited for its Retry-After.
        assert order.count("/wait") == 2
        assert order.index("/wait") == 0 and order[-1] == "/wait"
        assert site.peak == 1


def test_a_retry_after_longer_than_allowed_is_not_waited_for(web: LoopbackWeb, tmp_path: Path) -> None:
    site = web.hosts["site"]
    url = fresh(site, 503, retry_after=3600)
    store, lib = make_store(tmp_path / "s.sqlite", [item("LATER001", url)])
    audit = audit_links(store, lib, options(web, max_retry_after=30))
    assert audit.links[0].verdict == "transient"
    assert "3600 s" in audit.links[0].detail
    assert len(site.methods(urlpath(url))) == 1


def test_rate_limited_after_every_retry_is_transient(web: LoopbackWeb, tmp_path: Path) -> None:
    other = web.hosts["other"]
    url = fresh(other, 429, retry_after=0)
    store, lib = make_store(tmp_path / "s.sqlite", [item("RATE0001", url)])
    audit = audit_links(store, lib, options(web, retries=3))
    assert audit.links[0].verdict == "transient" and audit.links[0].status == 429
    assert len(other.methods(urlpath(url))) == 4


# -- history ----------------------------------------------------------------------------


def test_max_age_reuses_recent_successes_and_rechecks_failures(web: LoopbackWeb, tmp_path: Path) -> None:
    site = web.hosts["site"]
    good, bad = fresh(site), fresh(site, 404)
    store, lib = make_store(tmp_path / "s.sqlite", [item("GOOD0001", good), item("BAD00001", bad)])
    audit_links(store, lib, options(web), now=T0)
    again = audit_links(store, lib, options(web, max_age=parse_age("30d")), now=T0 + timedelta(days=1))
    assert again.checked == 1 and again.reused == 1
    assert site.methods(urlpath(good)) == ["GET"]  # not asked again
    assert site.methods(urlpath(bad)) == ["GET", "GET"]
    rows = by_key(again)
    assert rows[("GOOD0001", "url")].checked is False and rows[("GOOD0001", "url")].verdict == "ok"
    assert rows[("BAD00001", "url")].since == "2026-10-02T03:00:00Z"
    later = audit_links(store, lib, options(web, max_age=parse_age("30d")), now=T0 + timedelta(days=31))
    assert later.checked == 2
    assert site.methods(urlpath(good)) == ["GET", "GET"]
    assert store.links_last_checked(lib) == "2026-11-02T03:00:00Z"
    assert store.links_last_checked(lib, ["GOOD0001"]) == "2026-11-02T03:00:00Z"
    assert store.links_last_checked(lib, ["NOTCHECK"]) is None


def test_confirm_after_needs_failures_a_day_apart(web: LoopbackWeb, tmp_path: Path) -> None:
    site = web.hosts["site"]
    url = fresh(site, 404)
    store, lib = make_store(tmp_path / "s.sqlite", [item("FLAP0001", url)])
    first = audit_links(store, lib, options(web, confirm_after=2), now=T0).links[0]
    assert first.verdict == "transient" and first.raw_verdict == "broken"
    assert "1 of the 2" in first.detail
    same_night = audit_links(store, lib, options(web, confirm_after=2), now=T0 + timedelta(hours=3)).links[0]
    assert same_night.verdict == "transient"
    next_day = audit_links(store, lib, options(web, confirm_after=2), now=T0 + timedelta(days=1)).links[0]
    assert next_day.verdict == "broken" and next_day.change == "newly broken"
    assert next_day.since == "2026-10-02T03:00:00Z"


def test_changes_since_the_previous_audit(web: LoopbackWeb, tmp_path: Path) -> None:
    site, other = web.hosts["site"], web.hosts["other"]
    dies, heals, moves, stays = fresh(site), fresh(site, 500), fresh(site), fresh(site)
    store, lib = make_store(tmp_path / "s.sqlite", [item("DIES0001", dies), item("HEALS001", heals),
                                                    item("MOVES001", moves), item("STAYS001", stays)])
    first = audit_links(store, lib, options(web, retries=0), now=T0)
    assert [r.change for r in first.links] == [None] * 4  # a first audit has nothing to compare with
    assert "since the previous audit" not in format_markdown(first)
    site.pages[urlpath(dies)].status = 410
    site.pages[urlpath(heals)].status = 200
    target = fresh(other)
    site.pages[urlpath(moves)].status, site.pages[urlpath(moves)].to = 301, target
    audit = audit_links(store, lib, options(web, retries=0), now=T0 + timedelta(days=1))
    changes = {r.item_key: r.change for r in audit.links}
    assert changes == {"DIES0001": "newly broken", "HEALS001": "recovered", "MOVES001": "moved", "STAYS001": None}
    md = format_markdown(audit)
    assert "## Newly broken since the previous audit" in md and "DIES0001" in md
    assert "## Recovered since the previous audit" in md
    assert f"→ <{target}>" in md


def test_dois_are_read_from_the_field_or_extra_and_normalized() -> None:
    assert read_doi("https://doi.org/10.1016/j.x.2020.01.002").doi == "10.1016/j.x.2020.01.002"
    assert read_doi("doi: 10.1000/182").doi == "10.1000/182"
    assert read_doi("1000/182").doi is None
    items = json.loads((REPO / "examples" / "numerique-sante" / "items.json").read_text(encoding="utf-8"))
    from zotcurate.model import Item

    links = links_of_items([Item(o["key"], 1, o["data"]["itemType"], None, False, o) for o in items])
    with_url = [o for o in items if o["data"].get("url")]
    assert len([lk for lk in links if lk.kind == "url"]) == len(with_url)
    assert all(lk.invalid is None for lk in links), [lk for lk in links if lk.invalid]


# -- the command line -------------------------------------------------------------------


def run_cli(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    env = {"ZOTCURATE_CONFIG": str(tmp_path / "none.toml"), "HOME": str(tmp_path)}
    code = main(["--store", str(tmp_path / "s.sqlite"), *args], env=env)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_report_and_exit_status(web: LoopbackWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = web.hosts["site"]
    good, dead = fresh(site), fresh(site, 404)
    store, _ = make_store(tmp_path / "s.sqlite", [item("GOOD0001", good), item("DEAD0001", dead)])
    store.close()
    args = ["links", "--library", "file:liens", "--timeout", "2", "--doi-resolver", web.url("doi", "/")]
    code, out, err = run_cli([*args, "--format", "json"], tmp_path, capsys)
    assert code == ExitCode.FINDINGS
    rows = {r["item_key"]: r for r in json.loads(out)}
    assert rows["DEAD0001"]["verdict"] == "broken" and rows["DEAD0001"]["status"] == 404
    assert rows["GOOD0001"]["verdict"] == "ok" and rows["GOOD0001"]["final_url"] == good
    for key in ("item_key", "url", "verdict", "status", "final_url", "checked_at", "since"):
        assert key in rows["DEAD0001"]
    code, out, _ = run_cli([*args, "--format", "csv", "--fail-on", "never"], tmp_path, capsys)
    assert code == ExitCode.OK
    table = list(csv.DictReader(io.StringIO(out)))
    assert {r["item_key"]: r["verdict"] for r in table} == {"GOOD0001": "ok", "DEAD0001": "broken"}
    code, out, _ = run_cli(args, tmp_path, capsys)
    assert code == ExitCode.FINDINGS
    assert "DEAD0001" in out and "GOOD0001" not in out  # the table lists what needs attention
    assert "2 links in file:liens: 1 ok, 1 broken" in out


def test_cli_collection_filter(web: LoopbackWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = web.hosts["site"]
    colls = [{"key": "COLLROOT", "version": 1, "data": {"key": "COLLROOT", "name": "Santé", "parentCollection": False}},
             {"key": "COLLSUB1", "version": 1, "data": {"key": "COLLSUB1", "name": "Données",
                                                        "parentCollection": "COLLROOT"}}]
    inside, outside = fresh(site), fresh(site, 404)
    store, _ = make_store(tmp_path / "s.sqlite", [item("INSIDE01", inside, collections=["COLLSUB1"]),
                                                  item("OUTSIDE1", outside)], colls)
    store.close()
    code, out, _ = run_cli(["links", "-l", "file:liens", "-c", "Santé", "--format", "json"], tmp_path, capsys)
    assert code == ExitCode.OK
    assert [r["item_key"] for r in json.loads(out)] == ["INSIDE01"]
    code, _, err = run_cli(["links", "-l", "file:liens", "-c", "Sante/Nope"], tmp_path, capsys)
    assert code == ExitCode.NOT_FOUND and "no collection" in err


def test_ctrl_c_stops_cleanly_and_keeps_what_was_checked(web: LoopbackWeb, tmp_path: Path) -> None:
    site = web.hosts["site"]
    quick = [fresh(site) for _ in range(4)]
    stuck = [fresh(site, hang=True) for _ in range(2)]
    store, lib = make_store(tmp_path / "s.sqlite", [item(f"QUICK{i:03d}", u) for i, u in enumerate(quick)]
                            + [item(f"STUCK{i:03d}", u) for i, u in enumerate(stuck)])
    env = {**os.environ, "ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "zotcurate"), "--store", str(tmp_path / "s.sqlite"), "links",
         "-l", "file:liens", "--timeout", "60", "--format", "json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(store.link_history(lib)) < 4:
            time.sleep(0.05)
        assert len(store.link_history(lib)) == 4, "the quick links should be saved as they finish"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED
    assert "Interrupted" in err and "Traceback" not in err
    assert {r["item_key"] for r in json.loads(out)} == {f"QUICK{i:03d}" for i in range(4)}
    assert set(k for k, _ in store.link_history(lib)) == {f"QUICK{i:03d}" for i in range(4)}


def test_progress_shows_live_counts_per_verdict(web: LoopbackWeb, tmp_path: Path) -> None:
    from zotcurate.output import ProgressReporter

    class Recorder(ProgressReporter):
        def __init__(self) -> None:
            self.started: list[tuple[str, int | None]] = []
            self.descriptions: list[str] = []
            self.advanced = 0

        def start(self, description: str, total: int | None) -> None:
            self.started.append((description, total))

        def advance(self, n: int = 1) -> None:
            self.advanced += n

        def describe(self, description: str) -> None:
            self.descriptions.append(description)

    site = web.hosts["site"]
    store, lib = make_store(tmp_path / "s.sqlite", [item("GOOD0001", fresh(site)), item("GOOD0002", fresh(site)),
                                                    item("DEAD0001", fresh(site, 404))])
    rec = Recorder()
    audit_links(store, lib, options(web), progress=rec)
    assert rec.started == [("Checking links", 3)] and rec.advanced == 3
    assert rec.descriptions[-1] == "Links: ok 2 · broken 1"


def test_network_failures_map_to_verdicts() -> None:
    import socket

    import aiohttp
    from aiohttp.client_reqrep import ConnectionKey

    from zotcurate.links.engine import _connect_error

    key = ConnectionKey("gone.example", 443, True, True, None, None, None)

    def failure(os_error: OSError):  # type: ignore[no-untyped-def]
        return _connect_error("https://gone.example/", aiohttp.ClientConnectorError(key, os_error))

    dns = failure(socket.gaierror(-2, "Name or service not known"))
    assert (dns.error_verdict, dns.error) == ("broken", "the host name does not exist (DNS)")
    refused = failure(ConnectionRefusedError(111, "refused"))
    assert refused.error_verdict == "broken"
    unreachable = failure(OSError(101, "Network is unreachable"))
    assert unreachable.error_verdict == "transient" and unreachable.retryable


def test_busiest_hosts_and_slowest_links_start_first() -> None:
    from zotcurate.links.engine import _busiest_hosts_first

    a = [f"http://127.0.0.2:80/{i}" for i in range(3)]
    b = [f"http://127.0.0.3:80/{i}" for i in range(1)]
    assert _busiest_hosts_first(b + a) == [a[0], b[0], a[1], a[2]]
    # With last run's times, the slow page of a host goes first, and the host with most work leads.
    cost = {a[0]: 0.1, a[1]: 0.1, a[2]: 0.2, b[0]: 3.0}
    assert _busiest_hosts_first(b + a, cost) == [b[0], a[2], a[0], a[1]]


def test_cli_max_age_reuses_yesterdays_successes(web: LoopbackWeb, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    site = web.hosts["site"]
    good, dead = fresh(site), fresh(site, 410)
    store, _ = make_store(tmp_path / "s.sqlite", [item("GOOD0001", good), item("DEAD0001", dead)])
    store.close()
    args = ["links", "-l", "file:liens", "--timeout", "2"]
    assert run_cli(args, tmp_path, capsys)[0] == ExitCode.FINDINGS
    code, out, _ = run_cli([*args, "--max-age", "30d", "--format", "md"], tmp_path, capsys)
    assert code == ExitCode.FINDINGS
    assert "(1 checked now, 1 recent successes reused)" in out
    assert "| `DEAD0001` | Rapport DEAD0001 | broken | 410 |" in out
    assert site.methods(urlpath(good)) == ["GET"] and site.methods(urlpath(dead)) == ["GET", "GET"]
    code, _, err = run_cli([*args, "--max-age", "soon"], tmp_path, capsys)
    assert code == ExitCode.CONFIG and "'soon' is not a duration" in err


def test_retry_after_in_seconds_or_as_a_date() -> None:
    from email.utils import format_datetime

    from zotcurate.links.engine import _retry_after

    assert _retry_after("120") == 120.0
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 50 <= (_retry_after(in_a_minute) or 0) <= 61
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go ahead
    assert _retry_after("soon") is None and _retry_after(None) is None


def test_verdicts_are_an_enum_kept_in_the_store_as_plain_text(web: LoopbackWeb, tmp_path: Path) -> None:
    # Every verdict says what it means to history and reports, in one order without ties.
    assert [v.value for v in Verdict] == ["ok", "redirected", "broken", "transient", "blocked", "invalid"]
    assert sorted(v.attention for v in Verdict) == list(range(len(Verdict)))
    assert {v for v in Verdict if v.works} == {Verdict.OK, Verdict.REDIRECTED}
    assert {v for v in Verdict if v.failing} == {Verdict.BROKEN, Verdict.TRANSIENT}
    assert {v.group for v in Verdict} == set(Group)
    site = web.hosts["site"]
    store, lib = make_store(tmp_path / "s.sqlite", [item("GOOD0001", fresh(site)), item("DEAD0001", fresh(site, 404)),
                                                    item("BADURL01", "www.example.org/x")])
    audit = audit_links(store, lib, options(web))
    assert {r.item_key: r.verdict for r in audit.links} == {"GOOD0001": Verdict.OK, "DEAD0001": Verdict.BROKEN,
                                                           "BADURL01": Verdict.INVALID}
    assert all(type(r.verdict) is Verdict for r in audit.links)
    store.close()
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        stored = db.execute("SELECT item_key, verdict, typeof(verdict) FROM link_checks ORDER BY item_key").fetchall()
    assert stored == [("BADURL01", "invalid", "text"), ("DEAD0001", "broken", "text"), ("GOOD0001", "ok", "text")]
    # Read back from the store, the history gives verdicts again (here: a success reused by --max-age).
    again = audit_links(Store(tmp_path / "s.sqlite"), lib, options(web, max_age=parse_age("1d")))
    reused = {r.item_key: r for r in again.links}["GOOD0001"]
    assert reused.checked is False and type(reused.verdict) is Verdict and reused.verdict.works


def test_markdown_report_escapes_titles_and_keeps_the_table_whole(web: LoopbackWeb, tmp_path: Path) -> None:
    site = web.hosts["site"]
    title = "Rapport | *annuel* [projet] <b>2024</b>"
    store, lib = make_store(tmp_path / "s.sqlite", [item("DEAD0001", fresh(site, 404), title=title)])
    md = format_markdown(audit_links(store, lib, options(web)))
    row = next(line for line in md.splitlines() if line.startswith("| `DEAD0001`"))
    assert row.count("|") - row.count("\\|") == 8  # seven cells, the title's pipe escaped
    assert "\\*annuel\\*" in row and "\\<b\\>" in row and "*annuel*" not in row.replace("\\*", "")
