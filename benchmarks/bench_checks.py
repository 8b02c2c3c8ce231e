"""Check benchmark: the default profile over 100,000 synthetic items in a store.

Run on demand (never from pytest):

    .venv/bin/python benchmarks/bench_checks.py [--items 100000]

Builds a store of realistic items (reports, articles, web pages, books, documents,
videos; creators, Extra lines, tags, child commentary notes, collections), with about 2 %
duplicates (same DOI, same ISBN, same title/year/creator) and a sprinkling of format
errors. The check runs in a fresh process so its peak memory (ru_maxrss) is its own.
Targets: under 10 s and under 500 MB. Also compares duplicate detection by key grouping
with the pairwise comparison it replaces, on a sample.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY_CHARS = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"


def isbn_of(n: int) -> str:
    """A valid ISBN-13, one per source item (a wrong check digit now and then)."""
    from stdnum import ean

    body = f"9782{n:08d}"
    digit = ean.calc_check_digit(body)
    if n % 101 == 0:
        digit = str((int(digit) + 1) % 10)
    return body + digit


def key_of(i: int) -> str:
    out = []
    for _ in range(8):
        i, r = divmod(i, len(KEY_CHARS))
        out.append(KEY_CHARS[r])
    return "".join(out)


def synthetic(n: int, seed: int = 11) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    colls = [{"key": key_of(10_000_000 + c), "version": 1,
              "data": {"key": key_of(10_000_000 + c), "name": f"Partie {c}", "parentCollection": False}}
             for c in range(20)]
    types = ["report"] * 5 + ["journalArticle"] * 2 + ["webpage"] * 2 + ["book", "document", "videoRecording"]
    publishers = ["HAS", "ANS", "DREES", "Santé publique France", "ARS Occitanie", "Inserm", "ANAP"]
    objects: list[dict] = []
    for i in range(n):
        t = rng.choice(types)
        key = key_of(i)
        dup = i % 50 == 49  # 2 %: a copy of an earlier item, entered again
        src = i - 1 - rng.randrange(min(i, 500)) if dup else i
        creators = ([{"creatorType": "author", "lastName": f"NOM{src % 1997}", "firstName": "Jeanne"},
                     {"creatorType": "author", "lastName": f"AUTRE{src % 211}", "firstName": "Paul"}]
                    if src % 3 else [{"creatorType": "author", "name": rng.choice(publishers)}])
        data: dict = {
            "key": key, "version": 1, "itemType": t,
            "title": f"Santé numérique et territoires n° {src} : usages, freins et perspectives",
            "creators": creators,
            "abstractNote": ("Ce document analyse les usages du numérique en santé. " * rng.randint(2, 8)).strip(),
            "date": f"{2000 + src % 25}-{1 + src % 12:02d}" if i % 97 else "2021-02-30",
            "language": "fr" if i % 211 else "Français",
            "url": f"https://www.example{src % 40}.fr/doc/{src}.pdf" if i % 7 else "",
            "tags": [{"tag": "bib:entry"}] + ([{"tag": "ocr:gap"}] if i % 13 == 0 else []),
            "collections": [colls[src % 20]["key"]],
            "relations": {},
            "extra": f"bib-role: part{src % 4 + 1} entry {src % 40}\nbib-access: "
                     + ("online" if i % 7 else "on-request"),
        }
        if t == "report":
            data.update(institution=rng.choice(publishers), pages=str(10 + src % 200))
        elif t == "journalArticle":
            data.update(publicationTitle="Santé publique", volume=str(src % 40), issue=str(src % 6),
                        pages=f"{src % 100}-{src % 100 + 9}", DOI=f"10.3917/spub.{src:06d}", ISSN="0995-3914")
        elif t == "webpage":
            data.update(websiteTitle=rng.choice(publishers))
        elif t == "book":
            data.update(publisher="Presses de l'EHESP", ISBN=isbn_of(src) if src % 5 == 0 else "", numPages="240")
        elif t == "document":
            data.update(publisher=rng.choice(publishers), extra=data["extra"] + "\nnumber-of-pages: 4")
        else:
            data.update(studio=rng.choice(publishers), runningTime="4 min 20 sec")
        if i % 10 == 0:  # the commentary lives in a tagged child note instead
            data["abstractNote"] = ""
            note_key = key_of(20_000_000 + i)
            objects.append({"key": note_key, "version": 1, "data": {
                "key": note_key, "version": 1, "itemType": "note", "parentItem": key, "tags": [{"tag": "commentaire"}],
                "note": "<p>Un commentaire rédigé par le centre de documentation.</p>", "relations": {}}})
        objects.append({"key": key, "version": 1, "data": {k: v for k, v in data.items() if v != ""}})
    return objects, colls


def build(path: Path, n: int) -> float:
    sys.path.insert(0, str(ROOT / "src"))
    from zotcurate.store import Store

    objects, colls = synthetic(n)
    start = time.perf_counter()
    with Store(path) as store:
        lib = store.ensure_library("group:4242", "group", "4242")
        store.upsert_collections(lib, colls)
        for s in range(0, len(objects), 5000):
            store.upsert_items(lib, objects[s:s + 5000])
    return time.perf_counter() - start


def measure(path: str) -> None:
    """The measured run (in its own process); prints JSON."""
    from zotcurate.check.engine import run_check
    from zotcurate.check.profile import load_profile
    from zotcurate.store import Store

    start = time.perf_counter()
    with Store(path) as store:
        report = run_check(store, store.require_library("group:4242"), load_profile())
    seconds = time.perf_counter() - start
    # The main process only: its workers (forkserver grandchildren) are measured by the harness (PSS).
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    by_rule: dict[str, int] = {}
    for f in report.findings:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "checked": report.checked,
                      "findings": len(report.findings), "by_rule": by_rule}))


def duplicates_vs_pairwise(sample: int) -> tuple[float, float]:
    """Seconds for key grouping vs every-pair comparison on the same ``sample`` items."""
    sys.path.insert(0, str(ROOT / "src"))
    from zotcurate.check.duplicates import _title_match, dup_key, find_duplicates
    from zotcurate.model import Item

    objects, _ = synthetic(sample)
    keys = [dup_key(Item(o["key"], 1, o["data"]["itemType"], None, False, o)) for o in objects
            if o["data"]["itemType"] != "note"]
    start = time.perf_counter()
    find_duplicates(keys)
    grouped = time.perf_counter() - start
    start = time.perf_counter()
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if a.title == b.title or (a.doi and a.doi == b.doi):
                _title_match(a, b)
    pairwise = time.perf_counter() - start
    return grouped, pairwise


def tree_pss_mb(pid: int) -> float:
    """Summed PSS of a process and its descendants (Linux /proc), in MB; 0 if unreadable."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text(encoding="ascii").splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text(encoding="ascii").split()]
        except (OSError, ValueError):
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000, help="items for the pairwise comparison")
    parser.add_argument("--measure", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        built = build(path, args.items)
        proc = subprocess.Popen([sys.executable, __file__, "--measure", str(path)],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        peak_pss = 0.0
        while proc.poll() is None:  # the tree's proportional memory, so pages shared after fork count once
            peak_pss = max(peak_pss, tree_pss_mb(proc.pid))
            time.sleep(0.05)
        result = json.loads(proc.stdout.read())
        result["pss_mb"] = peak_pss
    grouped, pairwise = duplicates_vs_pairwise(args.sample)
    ok_time = "yes" if result["seconds"] < 10 else "NO"
    ok_mem = "yes" if result["pss_mb"] < 500 else "NO"
    print(f"store built in {built:.1f} s; findings by rule: {result['by_rule']}")
    print()
    print("| measure | value | target | ratio to target | met |")
    print("|---|---:|---:|---:|---|")
    print(f"| check, {result['checked']:,} items (+ notes), default profile | {result['seconds']:.2f} s | 10 s "
          f"| {result['seconds'] / 10:.2f} | {ok_time} |")
    print(f"| peak memory, check process and its workers (summed PSS, sampled every 50 ms) "
          f"| {result['pss_mb']:.0f} MB | 500 MB | {result['pss_mb'] / 500:.2f} | {ok_mem} |")
    print(f"| duplicates on {args.sample:,} items: key grouping vs pairwise | {grouped * 1000:.1f} ms vs "
          f"{pairwise * 1000:.0f} ms | | pairwise / grouped = {pairwise / grouped:.0f}× | |")
    print(f"\nfindings: {result['findings']:,}; python {platform.python_version()} on {platform.machine()}")


if __name__ == "__main__":
    main()
