"""Benchmark: cover thumbnails for 2,000 entries, cold and cached, and the four-format render
with covers next to the same render without (issue 14).

    .venv/bin/python benchmarks/bench_covers.py [--entries 2000] [--repeat 3]

Each entry has one PDF attachment (an A4 page with a coloured band, shapes and text, made here
with Pillow), recorded in the store's attachment-file table as 'sync --files' would leave it.
Targets: thumbnails for 2,000 entries < 10 s cold, < 1 s cached; the four-format render with
covers < 2 × the render without.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_render import COLLS, synthetic_items
from zotcurate.render.build import build_document, cover_pixels, finish_document
from zotcurate.render.covers import CoverJob, make_thumbnails
from zotcurate.render.manifest import Manifest, Source
from zotcurate.store import Store, now_iso
from zotcurate.writers import WRITERS
from zotcurate.writers.base import WriteOptions


def cover_pdf(i: int, rnd: random.Random) -> bytes:
    im = Image.new("RGB", (595, 842), (245, 245, 240))
    draw = ImageDraw.Draw(im)
    colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
    draw.rectangle((0, 0, 595, 300), fill=colour)
    for _ in range(6):
        x, y = rnd.randrange(500), rnd.randrange(300, 800)
        draw.ellipse((x, y, x + 80, y + 40), fill=(rnd.randrange(256), 90, 120))
    draw.text((40, 330), f"Rapport {i} — numérique et santé", fill="black")
    buf = io.BytesIO()
    im.save(buf, "PDF", resolution=72)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.entries
    rnd = random.Random(7)
    load_start = os.getloadavg()[0]
    objects = synthetic_items(n)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = Store(tmp / "bench.sqlite")
        lib = store.ensure_library("group:1", "group", "1")
        store.upsert_collections(lib, [{"key": k, "version": 1, "data": {"key": k, "name": f"Partie {k[0]}",
                                                                          "parentCollection": False}} for k in COLLS])
        folder = store.files_dir
        assert folder is not None
        attachments = []
        jobs = []
        for i, obj in enumerate(objects):
            data = cover_pdf(i, rnd)
            md5 = hashlib.md5(data).hexdigest()
            rel = f"{md5[:2]}/{md5}.pdf"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
            key = f"A{i:07d}"
            attachments.append({"key": key, "version": 1, "data": {
                "key": key, "version": 1, "itemType": "attachment", "parentItem": obj["key"],
                "linkMode": "imported_file", "contentType": "application/pdf", "filename": f"r{i}.pdf",
                "md5": md5, "tags": [], "relations": {}}})
            store.record_attachment_file(lib, {"item_key": key, "parent_key": obj["key"], "md5": md5,
                                               "content_md5": md5, "size": len(data),
                                               "content_type": "application/pdf", "filename": f"r{i}.pdf",
                                               "path": rel, "status": "stored", "fetched_at": now_iso()})
            jobs.append(CoverJob(obj["key"], folder / rel, "application/pdf", md5))
        store.upsert_items(lib, objects + attachments)
        width = cover_pixels(30)

        # Thumbnails alone: cold (empty cache) and cached, each with a fresh cache folder per cold run.
        cold, cached = [], []
        for r in range(args.repeat):
            cache = tmp / f"cache{r}"
            t0 = time.perf_counter()
            done, failed = make_thumbnails(jobs, cache, width)
            cold.append(time.perf_counter() - t0)
            assert len(done) == n and not failed, failed
            t0 = time.perf_counter()
            again, _ = make_thumbnails(jobs, cache, width)
            cached.append(time.perf_counter() - t0)
            assert len(again) == n

        manifest = Manifest(title="Banc d'essai", source=Source(library="group:1"), toc=True)
        colls = [f"Partie {k[0]}" for k in COLLS]
        warm = tmp / "cache0"

        steps: dict[tuple[bool, str], list[float]] = {}

        def render(covers: bool) -> float:
            t0 = time.perf_counter()
            result = build_document(store, lib, manifest, collections=colls, covers=covers, cover_cache=warm)
            assert result.entries == n and not result.cover_warnings
            doc = finish_document(result, manifest)
            steps.setdefault((covers, "store → Document"), []).append(time.perf_counter() - t0)
            out = tmp / ("with" if covers else "without")
            out.mkdir(exist_ok=True)
            for writer in WRITERS.values():
                t1 = time.perf_counter()
                writer.write(doc, out / f"bench{writer.suffix}", WriteOptions())
                steps.setdefault((covers, writer.name), []).append(time.perf_counter() - t1)
            return time.perf_counter() - t0

        without = [render(False) for _ in range(args.repeat)]
        with_covers = [render(True) for _ in range(args.repeat)]
        sizes = {s: ((tmp / "with" / f"bench{s}").stat().st_size, (tmp / "without" / f"bench{s}").stat().st_size)
                 for s in (".docx", ".pdf", ".html", ".md")}
        store.close()

    med = statistics.median
    print(f"{n} entries, one PDF each, thumbnails {width} px wide; median of {args.repeat}; "
          f"{os.cpu_count()} CPUs; load average at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print("| measure | seconds (runs) | target | met |\n|---|---|---|---|")
    print(f"| thumbnails, cold | {med(cold):.2f} ({', '.join(f'{t:.2f}' for t in cold)}) | < 10 s | "
          f"{'yes' if med(cold) < 10 else 'no'} |")
    print(f"| thumbnails, cached | {med(cached):.3f} ({', '.join(f'{t:.3f}' for t in cached)}) | < 1 s | "
          f"{'yes' if med(cached) < 1 else 'no'} |")
    print(f"| four formats, without covers | {med(without):.2f} ({', '.join(f'{t:.2f}' for t in without)}) | | |")
    ratio = med(with_covers) / med(without)
    print(f"| four formats, with covers (thumbnails cached) | {med(with_covers):.2f} "
          f"({', '.join(f'{t:.2f}' for t in with_covers)}) | < 2 × without | ratio {ratio:.2f}: "
          f"{'yes' if ratio < 2 else 'no'} |")
    print("\n| step | without covers | with covers |\n|---|---|---|")
    for step in ["store → Document", *WRITERS]:
        print(f"| {step} | {med(steps[(False, step)]):.2f} s | {med(steps[(True, step)]):.2f} s |")
    print("\n| file | with covers | without |\n|---|---|---|")
    for suffix, (w, wo) in sizes.items():
        print(f"| {suffix} | {w / 1024:.0f} KiB | {wo / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
