"""Sync benchmark: 20,000 items on the fake Zotero server at 30 ms per request.

Run on demand (never from pytest):

    .venv/bin/python benchmarks/bench_sync.py [--items 20000] [--latency 0.03] [--baseline-src DIR]

Scenarios, each in a fresh client process: a naive pyzotero ``everything(items())`` dump,
then zotcurate's first sync (empty store: pages of 100, up to 4 in flight), a no-change
sync, a sync after 100 edits and a ``--full`` sync, all in the same run against the same
server. ``--baseline-src`` adds a first sync made by another zotcurate source tree (e.g. the
previous release, unpacked with ``git archive``) for comparison. Peak memory is the client
process's own high-water mark (``VmHWM``; ``ru_maxrss`` would also count the benchmark
process it was forked from). Prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

KEY = "benchKey0123456789abcdef"
GROUP = 4242


def synthetic_items(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    types = ["report", "journalArticle", "webpage", "book", "document", "magazineArticle"]
    items = []
    for i in range(n):
        t = rng.choice(types)
        data = {
            "itemType": t,
            "title": f"Rapport sur la santé numérique n° {i} : enjeux, usages et perspectives",
            "creators": [{"creatorType": "author", "lastName": f"NOM{i % 997}", "firstName": "Prénom"}],
            "abstractNote": "Commentaire. " * rng.randint(20, 80),
            "date": f"{2000 + i % 25}-{1 + i % 12:02d}",
            "url": f"https://example{i % 50}.org/doc/{i}",
            "language": "fr",
            "tags": [{"tag": "bib:entry"}],
        }
        items.append(data)
    return items


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (exec), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Elsewhere: ru_maxrss (kilobytes on Linux, bytes on macOS), which may include the parent's.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def client(mode: str, url: str, store: str) -> None:
    """One measured client run; prints JSON on stdout."""
    start = time.perf_counter()
    if mode == "naive":
        from pyzotero import zotero

        zot = zotero.Zotero(GROUP, "group", KEY)
        zot.endpoint = url
        items = zot.everything(zot.items(limit=100))
        count = len(items)
    else:
        from zotcurate.config import load_settings
        from zotcurate.store import Store
        from zotcurate.zotero.sync import sync_library

        settings = load_settings(env={"ZOTERO_API_KEY": KEY, "ZOTCURATE_API_URL": url,
                                      "ZOTCURATE_CONFIG": store + ".toml"}, library=f"group:{GROUP}", store=store)
        with Store(store) as s:
            result = sync_library(s, settings, settings.library, full=mode == "full")
            count = result.added + result.updated + result.unchanged
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "rss_mb": peak_rss_mb(), "count": count}))


def run_client(mode: str, url: str, store: str, src: Path = ROOT / "src") -> dict:
    out = subprocess.run([sys.executable, __file__, "--client", mode, "--url", url, "--store", store],
                         check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm(server, count: int) -> None:
    """Read every item once, untimed: the fake caches each object's JSON for the library
    version, so the first measured run must not be the only one to pay for encoding."""
    latency, server.latency = server.latency, 0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for start in range(0, count, 100):
        query = urlencode({"start": start, "limit": 100, "includeTrashed": 1})
        request = urllib.request.Request(f"{server.url}/groups/{GROUP}/items?{query}", headers={"Zotero-API-Key": KEY})
        with opener.open(request, timeout=30) as response:
            response.read()
    server.latency = latency


def median_row(runs: list[dict]) -> dict:
    """The run with the median wall time, carrying every wall time measured."""
    ordered = sorted(runs, key=lambda r: r["wall"])
    row = dict(ordered[len(ordered) // 2])
    row["walls"] = [r["wall"] for r in runs]
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure the naive dump and the first sync this many times, alternately (median)")
    parser.add_argument("--baseline-src", type=Path, help="another zotcurate src/ tree: adds its first sync")
    parser.add_argument("--client")
    parser.add_argument("--url")
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.client:
        client(args.client, args.url, args.store)
        return

    from zotero_server import FakeZotero

    server = FakeZotero(latency=args.latency, seed=1)
    server.add_group(GROUP, "Bench")
    server.add_key(KEY, user_id=1, groups={GROUP: {"library": True, "write": True}})
    server.start()
    server.load_export(f"/groups/{GROUP}", synthetic_items(args.items))
    warm(server, args.items)
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:

        def measure(name: str, mode: str, at: str, src: Path = ROOT / "src", keep: bool = True) -> dict:
            server.reset_requests()
            r = run_client(mode, server.url, at, src)
            r.update(name=name, requests=len(server.requests), in_flight=server.max_in_flight)
            if keep:
                rows.append(r)
            print(f"{name}: {r['wall']:.2f} s, {r['requests']} requests, {r['in_flight']} in flight, "
                  f"{r['rss_mb']:.0f} MB, {r['count']} objects", file=sys.stderr)
            return r

        # Alternate the two runs the target compares, each first sync into an empty store.
        naives, firsts, baselines = [], [], []
        for i in range(args.repeat):
            naives.append(measure("naive pyzotero everything(items())", "naive", "", keep=False))
            if args.baseline_src:
                baselines.append(measure(f"first sync, {args.baseline_src}", "sync", str(Path(tmp) / f"base{i}.sqlite"),
                                         args.baseline_src.resolve(), keep=False))
            firsts.append(measure("zotcurate first sync (empty store)", "sync", str(Path(tmp) / f"first{i}.sqlite"),
                                  keep=False))
        naive, first = median_row(naives), median_row(firsts)
        rows += [naive] + ([median_row(baselines)] if baselines else []) + [first]
        store = str(Path(tmp) / f"first{args.repeat - 1}.sqlite")
        measure("zotcurate no-change sync", "sync", store)
        keys = server.item_keys(f"/groups/{GROUP}")[:100]
        for k in keys:
            server.put_item(f"/groups/{GROUP}", {"key": k, "title": "Édité"})
        measure("zotcurate sync after 100 edits", "sync", store)
        measure("zotcurate sync --full", "full", store)
    server.stop()
    load_after = os.getloadavg()[0]

    print(f"\n### Sync — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {load_before:.1f} → {load_after:.1f}")
    print(f"\n{args.items:,} items on the fake Zotero server, {args.latency * 1000:.0f} ms latency per request; "
          "each run in a fresh process; peak RSS is the client process's own (VmHWM)"
          + (f"; median of {args.repeat} alternating runs where several times are given" if args.repeat > 1 else "")
          + ".\n")
    print("| run | wall time (s) | requests | most in flight | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        walls = f" ({', '.join(f'{w:.2f}' for w in r['walls'])})" if len(r.get("walls", [])) > 1 else ""
        print(f"| {r['name']} | {r['wall']:.2f}{walls} | {r['requests']} | {r['in_flight']} | {r['rss_mb']:.0f} |")
    ratios = ", ".join(f"{f['wall'] / n['wall']:.2f}" for n, f in zip(naives, firsts, strict=True))
    print(f"\nFirst sync vs naive dump: {first['wall'] / naive['wall']:.2f}× the wall time (target ≤ 0.35; "
          f"run by run: {ratios}), {first['rss_mb'] / naive['rss_mb']:.2f}× the memory.")
    if baselines:
        base = median_row(baselines)
        print(f"First sync vs {args.baseline_src}: {first['wall'] / base['wall']:.2f}× the wall time, "
              f"{first['rss_mb'] / base['rss_mb']:.2f}× the memory.")


if __name__ == "__main__":
    main()
