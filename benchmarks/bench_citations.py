"""Benchmark: format 2,000 bibliography entries, zotcurate against citeproc-py and citeproc-js.

Run on demand (never from pytest):

    .venv/bin/python benchmarks/bench_citations.py [--items 2000] [--repeat 3]
        [--style bibliographie-commentee] [--style apa ...] [--corpus varied|repeated]
        [--citeproc-js /tmp/cjs/node_modules]

Corpus: the example library (examples/numerique-sante, 99 items of 9 types), mapped with
zotero_to_csl, to N items. ``repeated`` (the render issue's corpus) repeats the 99 items as
they are; ``varied`` (default) numbers each copy's title and moves its year back, so there
are no identical duplicates and author-date disambiguation sees what a real library gives.
Measured, median of --repeat runs, for each style:

* ``adapter``: CitationFormatter(...) built once, then format_entries(items) → Spans, in the
  order given (what ``zotcurate render`` calls);
* ``processor``: CslProcessor(style, items).bibliography() → HTML: register, sort,
  disambiguate and render the whole bibliography, the work citeproc-js does below;
* ``citeproc-py alone``: citeproc-py used directly as its documentation shows (CiteProcJSON,
  register, bibliography() with its html formatter);
* ``citeproc-js`` (with --citeproc-js, the node_modules folder holding npm ``citeproc``, a
  development tool): CSL.Engine, updateItems(all), makeBibliography() in node, timed inside
  node after the style and locales are read (style parse included).

The target (render issue) is 2,000 entries, citeproc plus writers, in under 6 s on the
2-core machine; issue 10 asks zotcurate to be at least as fast as citeproc-js on
chicago-author-date in the same run, and the centre's style to stay above 1,000 items/s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from zotcurate.formats.csljson import zotero_to_csl
from zotcurate.render.citations import CitationFormatter, CslProcessor
from zotcurate.render.citations.styles import _style_source

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 6.0

# The node driver for citeproc-js (written to a temporary file at run time).
_NODE_DRIVER = r"""
const path = require("path"), fs = require("fs");
const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const CSL = require(path.join(job.modules, "citeproc"));
const byId = {}; for (const it of job.items) byId[it.id] = it;
const locales = {};
const sys = {
  retrieveLocale: (lang) => {
    if (!(lang in locales)) {
      try { locales[lang] = fs.readFileSync(path.join(job.locales, "locales-" + lang + ".xml"), "utf8"); }
      catch (e) { locales[lang] = false; }
    }
    return locales[lang];
  },
  retrieveItem: (id) => byId[id],
};
const times = [];
let count = 0;
for (let r = 0; r < job.repeat; r++) {
  const start = process.hrtime.bigint();
  const engine = new CSL.Engine(sys, job.style, job.lang, true);
  engine.updateItems(job.items.map(i => i.id));
  const bib = engine.makeBibliography();
  count = bib[1].length;
  times.push(Number(process.hrtime.bigint() - start) / 1e9);
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({median: times[Math.floor(times.length / 2)], entries: count}));
"""


def corpus(n: int, kind: str = "varied") -> list[dict]:
    items = json.loads((REPO / "examples" / "numerique-sante" / "items.json").read_text(encoding="utf-8"))
    csl = [zotero_to_csl(item["data"]) for item in items]
    out = []
    for i in range(n):
        item = json.loads(json.dumps(csl[i % len(csl)]))
        copy = i // len(csl)
        item["id"] = f"{item['id']}-{i}"
        if kind == "varied" and copy:
            if item.get("title"):
                item["title"] = f"{item['title']} ({copy + 1})"
            issued = item.get("issued", {}).get("date-parts")
            if issued and issued[0] and str(issued[0][0]).isdigit():
                issued[0][0] = int(issued[0][0]) - copy % 12
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


def upstream(style: str, items: list[dict], locale: str) -> None:
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
    from citeproc.formatter import html
    from citeproc.source.json import CiteProcJSON

    data, _, _ = _style_source(style)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import io

        parsed = CitationStylesStyle(io.BytesIO(data), locale=locale, validate=False)
        prepared = [_for_citeproc_py(item, f"i{n}") for n, item in enumerate(items)]
        source = CiteProcJSON(prepared)
    bibliography = CitationStylesBibliography(parsed, source, html)
    for n in range(len(items)):
        bibliography.register(Citation([CitationItem(f"i{n}")]))
    bibliography.sort()
    bibliography.bibliography()


def citeproc_js(modules: Path, style: str, items: list[dict], locale: str, repeat: int) -> float | None:
    node = shutil.which("node")
    if node is None or not (modules / "citeproc").is_dir():
        return None
    import citeproc

    data, _, _ = _style_source(style)
    with tempfile.TemporaryDirectory() as folder:
        driver = Path(folder) / "driver.js"
        driver.write_text(_NODE_DRIVER, encoding="utf-8")
        job = Path(folder) / "job.json"
        job.write_text(json.dumps({"modules": str(modules), "locales": citeproc.LOCALES_PATH,
                                   "style": data.decode("utf-8"), "items": items, "lang": locale,
                                   "repeat": repeat}), encoding="utf-8")
        run = subprocess.run([node, str(driver), str(job)], capture_output=True, text=True, encoding="utf-8",
                             timeout=1800, check=False)
    if run.returncode != 0:
        raise SystemExit(f"citeproc-js failed: {run.stderr[-500:]}")
    return float(json.loads(run.stdout)["median"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--style", action="append", help="repeatable (default: bibliographie-commentee)")
    parser.add_argument("--locale", default="fr-FR")
    parser.add_argument("--corpus", choices=("varied", "repeated"), default="varied")
    parser.add_argument("--citeproc-js", type=Path, help="node_modules folder with npm citeproc")
    parser.add_argument("--no-citeproc-py", action="store_true", help="skip citeproc-py alone (slow on big styles)")
    args = parser.parse_args()

    items = corpus(args.items, args.corpus)
    for style in args.style or ["bibliographie-commentee"]:
        start = time.perf_counter()
        fmt = CitationFormatter(style=style, locale=args.locale)
        load_s = time.perf_counter() - start
        adapter_s = median_time(lambda fmt=fmt: fmt.format_entries(items), args.repeat)

        def processor(style: str = style) -> None:
            for entry in CslProcessor(style, items, args.locale).bibliography():
                entry.html()

        processor_s = median_time(processor, args.repeat)
        upstream_s = float("nan") if args.no_citeproc_py else median_time(
            lambda style=style: upstream(style, items, args.locale), args.repeat)
        js_s = citeproc_js(args.citeproc_js, style, items, args.locale, args.repeat) if args.citeproc_js else None

        n = args.items
        print(f"style {style}, {n} items ({args.corpus}), locale {args.locale}, median of {args.repeat}")
        print(f"  style load + validation       {load_s:7.3f} s")
        print(f"  adapter (Spans, given order)  {adapter_s:7.3f} s  ({n / adapter_s:6.0f} items/s)")
        print(f"  processor (sorted, HTML)      {processor_s:7.3f} s  ({n / processor_s:6.0f} items/s)")
        print(f"  citeproc-py alone (html)      {upstream_s:7.3f} s  ({n / upstream_s:6.0f} items/s)")
        if js_s is not None:
            print(f"  citeproc-js {'':17} {js_s:7.3f} s  ({n / js_s:6.0f} items/s)")
            print(f"  processor / citeproc-js = {processor_s / js_s:.2f} (below 1: zotcurate faster)")
        print(f"  adapter / 6 s target = {adapter_s / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
