"""Benchmark: render 2,000 synthetic entries to all four formats (.docx, .md, .pdf, .html)
with the custom style, next to bare citeproc-py rendering the same items with the same
style, in the same run.

    .venv/bin/python benchmarks/bench_render.py [--entries 2000] [--repeat 3]

Reports entries/second and peak Python memory (tracemalloc, measured in a separate pass so
it does not slow the timed one) for: bare citeproc-py; zotcurate's store → Document
(which includes citation formatting through the adapter); each writer: Markdown, Word
(pandoc), PDF (Typst, with the bundled template), HTML. Targets: issue 3, .docx + .md for
2,000 entries in under 6 s and the writers' own cost no more than citeproc-py's; issue 9,
the PDF alone under 3 s and all four formats under 8 s, end to end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citeproc import CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON

from zotcurate.formats.csljson import zotero_to_csl
from zotcurate.render.build import build_document
from zotcurate.render.manifest import Manifest, Source
from zotcurate.store import Store
from zotcurate.writers.docx import write_docx
from zotcurate.writers.html import to_html
from zotcurate.writers.markdown import to_markdown
from zotcurate.writers.pdf import write_pdf

STYLE = Path(__file__).resolve().parents[1] / "styles" / "bibliographie-commentee.csl"
WORDS = ["santé", "numérique", "télémédecine", "données", "patients", "prévention", "usages", "inégalités",
         "territoires", "intelligence", "artificielle", "éthique", "parcours", "soins", "professionnels",
         "accompagnement", "littératie", "e-santé", "dispositif", "évaluation", "recommandations",
         "pratiques", "hôpital", "médico-social"]
NAMES = [("DUPONT", "Jean"), ("MARTIN", "Élodie"), ("BERNARD", "Ph."), ("PETIT", "Anaïs"), ("NDUMBE-EYOH", "Paul"),
         ("AL DAHDAH", "Marine"), ("LEROY", "Chloé"), ("MOREAU", "Loïc")]
COLLS = ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC", "DDDDDDDD"]


def synthetic_items(n: int, seed: int = 42) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        kind = rnd.choice(["report"] * 5 + ["journalArticle"] * 3 + ["webpage"] * 2 + ["videoRecording", "bookSection"])
        title = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 12))).capitalize()
        data: dict[str, Any] = {"key": f"K{i:07d}", "version": 1, "itemType": kind, "title": title,
                                "collections": [rnd.choice(COLLS)], "tags": [], "relations": {}}
        if rnd.random() < 0.2:
            data["creators"] = [{"creatorType": "author", "name": "Agence du numérique en santé"}]
        else:
            data["creators"] = [{"creatorType": "author", "lastName": ln, "firstName": fn}
                                for ln, fn in rnd.sample(NAMES, rnd.randint(1, 4))]
        data["date"] = rnd.choice([f"{rnd.randint(2010, 2025)}", f"{rnd.randint(2010, 2025)}-{rnd.randint(1, 12):02d}"])
        if kind == "report":
            data.update(institution="ministère des Solidarités et de la Santé", pages=str(rnd.randint(4, 300)))
        elif kind == "journalArticle":
            data.update(publicationTitle="Santé publique", volume=str(rnd.randint(1, 40)),
                        issue=str(rnd.randint(1, 12)), pages=f"{(p := rnd.randint(1, 200))}-{p + rnd.randint(2, 30)}")
        elif kind == "webpage":
            data.update(websiteTitle="Inserm")
        elif kind == "videoRecording":
            data.update(studio="Agence du Numérique en santé",
                        runningTime=f"{rnd.randint(1, 9)} min {rnd.randint(0, 59):02d} sec")
        else:
            data.update(bookTitle="La e-santé en question(s)", publisher="Presses de l'EHESP",
                        pages=f"{(p := rnd.randint(1, 200))}-{p + 10}")
        if rnd.random() < 0.75:
            data["url"] = f"https://example.org/doc/{i}"
        data["abstractNote"] = " ".join(
            "Ce document " + " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(10, 25))) + "."
            for _ in range(rnd.randint(1, 3)))
        out.append({"key": data["key"], "version": 1, "data": data})
    return out


def cpu_seconds() -> float:
    """CPU time of this process (all threads: Typst's too) and of its finished children (pandoc)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# CPU seconds per step, median of the repeats: on a shared machine wall time swings with the
# load, CPU time much less; both are reported.
CPU: dict[str, float] = {}


def timed(fn: Callable[[], Any], repeat: int, label: str = "") -> tuple[float, Any]:
    times, cpus, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), cpu_seconds()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    CPU[label] = statistics.median(cpus)
    return statistics.median(times), result


def peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.entries
    load_start = os.getloadavg()[0]
    objects = synthetic_items(n)
    csl_items = [zotero_to_csl(o["data"]) for o in objects]

    def bare_citeproc() -> int:
        style = CitationStylesStyle(str(STYLE), locale="fr-FR", validate=False)
        bib = CitationStylesBibliography(style, CiteProcJSON(csl_items), formatter.plain)
        from citeproc import Citation, CitationItem
        for item in csl_items:
            bib.register(Citation([CitationItem(item["id"])]))
        return len([str(e) for e in bib.bibliography()])

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = Store(tmp / "bench.sqlite")
        lib = store.ensure_library("file:bench", "file", "bench")
        store.upsert_collections(lib, [{"key": k, "version": 1, "data": {"key": k, "name": f"Partie {k[0]}",
                                                                          "parentCollection": False}} for k in COLLS])
        store.upsert_items(lib, objects)
        manifest = Manifest(title="Banc d'essai", source=Source(library="file:bench"), toc=True)
        manifest.parts = []
        colls = [f"Partie {k[0]}" for k in COLLS]

        def build() -> Any:
            return build_document(store, lib, manifest, collections=colls)

        t_cite, count = timed(bare_citeproc, args.repeat, "cite")
        t_build, result = timed(build, args.repeat, "build")
        doc = result.document
        t_md, md = timed(lambda: to_markdown(doc), args.repeat, "md")
        t_docx, _ = timed(lambda: write_docx(doc, tmp / "bench.docx"), args.repeat, "docx")
        t_pdf, _ = timed(lambda: write_pdf(doc, tmp / "bench.pdf"), args.repeat, "pdf")
        t_html, page = timed(lambda: to_html(doc), args.repeat, "html")
        m_cite = peak_mib(bare_citeproc)
        m_build = peak_mib(build)
        m_md = peak_mib(lambda: to_markdown(doc))
        m_docx = peak_mib(lambda: write_docx(doc, tmp / "bench2.docx"))
        m_pdf = peak_mib(lambda: write_pdf(doc, tmp / "bench2.pdf"))
        m_html = peak_mib(lambda: to_html(doc))
        size_docx = (tmp / "bench.docx").stat().st_size
        size_pdf = (tmp / "bench.pdf").stat().st_size
        pdf_pages = (tmp / "bench.pdf").read_bytes().count(b"/Type/Page") - 1  # minus the /Pages tree
        store.close()

    assert count == n and result.entries == n and not result.problems, (count, result.entries, result.problems[:3])
    both = t_build + t_md + t_docx
    total = both + t_pdf + t_html
    cpu = CPU
    rows = [
        ("bare citeproc-py (same style, plain text)", t_cite, cpu["cite"], m_cite),
        ("zotcurate store → Document (incl. citations)", t_build, cpu["build"], m_build),
        ("Markdown writer", t_md, cpu["md"], m_md),
        ("Word writer (pandoc, incl. process start)", t_docx, cpu["docx"], m_docx),
        ("PDF writer (Typst, bundled template)", t_pdf, cpu["pdf"], m_pdf),
        ("HTML writer", t_html, cpu["html"], m_html),
        (".docx + .md, end to end", both, cpu["build"] + cpu["md"] + cpu["docx"], max(m_build, m_md, m_docx)),
        (".pdf alone, end to end", t_build + t_pdf, cpu["build"] + cpu["pdf"], max(m_build, m_pdf)),
        ("all four formats, end to end", total, sum(v for k, v in cpu.items() if k != "cite"),
         max(m_build, m_md, m_docx, m_pdf, m_html)),
    ]
    # The machine is shared: the load average says how much the absolute times can be trusted.
    print(f"{n} entries, median of {args.repeat}; .md {len(md) / 1024:.0f} KiB, .docx {size_docx / 1024:.0f} KiB, "
          f".pdf {size_pdf / 1024:.0f} KiB ({pdf_pages} pages), .html {len(page.encode()) / 1024:.0f} KiB; "
          f"load average at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print("| step | seconds | CPU seconds | entries/s | peak MiB (tracemalloc) |\n|---|---|---|---|---|")
    for label, t, c, m in rows:
        print(f"| {label} | {t:.2f} | {c:.2f} | {n / t:.0f} | {m:.1f} |")
    print(f"\nwriters' own cost (.md + .docx) / bare citeproc-py = {(t_md + t_docx) / t_cite:.2f} (target ≤ 1); "
          f".docx + .md {both:.2f} s (target < 6 s); .pdf alone {t_build + t_pdf:.2f} s, its writer {t_pdf:.2f} s "
          f"(target < 3 s); "
          f"all four {total:.2f} s (target < 8 s)")


if __name__ == "__main__":
    main()
