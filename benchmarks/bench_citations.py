"""Benchmark: format 2,000 bibliography entries with the centre's style.

Run on demand (never from pytest):

    .venv/bin/python benchmarks/bench_citations.py [--items 2000] [--repeat 3] [--style bibliographie-commentee]

Corpus: the example library (examples/numerique-sante, 99 items of 9 types), mapped with
zotero_to_csl and repeated to N items. Measured, median of --repeat runs:

* ``adapter``: CitationFormatter(...) built once, then format_entries(2,000 items) → Spans;
* ``adapter + md``: the same plus the Markdown inline writer on every entry;
* ``citeproc-py alone``: what the adapter wraps, used directly as its documentation shows
  (CiteProcJSON source, register, bibliography() with the html formatter) on the same items.

The target (render issue) is 2,000 entries, citeproc plus writers, in under 6 s on the 2-core
machine; the ratio printed is time / 6 s (below 1 is within budget).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

from zotcurate.formats.csljson import zotero_to_csl
from zotcurate.render.citations import CitationFormatter

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 6.0


def corpus(n: int) -> list[dict]:
    items = json.loads((REPO / "examples" / "numerique-sante" / "items.json").read_text(encoding="utf-8"))
    csl = [zotero_to_csl(item["data"]) for item in items]
    out = []
    for i in range(n):
        item = dict(csl[i % len(csl)])
        item["id"] = f"{item['id']}-{i}"
        out.append(item)
    return out


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _for_citeproc_py(item: dict, key: str) -> dict:
    """The item as citeproc-py's own CiteProcJSON reader accepts it (its variables only)."""
    import citeproc

    known = set(citeproc.VARIABLES)
    out = {"id": key, "type": item["type"]}
    for name, value in item.items():
        if name.replace("-", "_") in known and value not in (None, "", []):
            out[name] = value
    return out


def upstream(style: str, items: list[dict]) -> None:
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
    from citeproc.formatter import html
    from citeproc.source.json import CiteProcJSON

    # Same style file; citeproc-py's own parser and classes, no validation, like its README.
    path = str(REPO / "styles" / f"{style}.csl") if (REPO / "styles" / f"{style}.csl").exists() else style
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = CitationStylesStyle(path, locale="fr-FR", validate=False)
    prepared = [_for_citeproc_py(item, f"i{n}") for n, item in enumerate(items)]
    source = CiteProcJSON(prepared)
    bibliography = CitationStylesBibliography(parsed, source, html)
    for n in range(len(items)):
        bibliography.register(Citation([CitationItem(f"i{n}")]))
    bibliography.bibliography()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--style", default="bibliographie-commentee")
    args = parser.parse_args()

    items = corpus(args.items)
    start = time.perf_counter()
    fmt = CitationFormatter(style=args.style, locale="fr-FR")
    load_s = time.perf_counter() - start

    adapter_s = median_time(lambda: fmt.format_entries(items), args.repeat)

    try:
        from zotcurate.writers.markdown import inlines
    except ImportError:  # the writer lands separately
        inlines = None

    def with_markdown() -> None:
        for entry in fmt.format_entries(items):
            if entry.spans:
                inlines(entry.spans)

    md_s = median_time(with_markdown, args.repeat) if inlines else float("nan")
    upstream_s = median_time(lambda: upstream(args.style, items), args.repeat)

    print(f"style {args.style}, {args.items} items, median of {args.repeat}")
    print(f"  style load + validation    {load_s:7.3f} s")
    print(f"  adapter (Spans)            {adapter_s:7.3f} s  ({args.items / adapter_s:6.0f} items/s)")
    print(f"  adapter + Markdown inlines {md_s:7.3f} s")
    print(f"  citeproc-py alone (html)   {upstream_s:7.3f} s  ({args.items / upstream_s:6.0f} items/s)")
    print(f"  adapter / citeproc-py alone = {adapter_s / upstream_s:.2f}")
    print(f"  (adapter + md) / 6 s target = {md_s / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
