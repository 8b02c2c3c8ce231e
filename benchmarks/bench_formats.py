"""BibTeX import benchmark: a 7,166-entry file, zotcurate's reader against bibtexparser alone.

Run on demand (never from pytest):

    .venv/bin/python benchmarks/bench_formats.py [--entries 7166] [--repeat 3]

Writes a synthetic .bib file of the shape real ones have (journal articles, books, chapters with a
crossref to their book, reports, theses, web pages; 1–6 authors with particles, suffixes and LaTeX
accents; titles with protected words, accents, \\emph and a little math; @string macros for journals;
DOIs, URLs, keywords, abstracts), then times, each in a fresh process:

- ``bibtexparser alone``: ``bibtexparser.loads`` with the options zotcurate used before (common strings,
  string interpolation) and ``convert_to_unicode`` on every entry — parsing and LaTeX only, no Zotero items;
- ``zotcurate read_bibtex``: the file to Zotero items (parsing, crossref, LaTeX → Unicode and rich text,
  names, the mapping to Zotero fields).

Target (issue 11): zotcurate within 1.5× of bibtexparser alone.

    .venv/bin/python benchmarks/bench_formats.py --csl-corpus /work/shared/data/csl-test-suite/processor-tests/humans

measures CSL-JSON fidelity instead: every item of the INPUT sections of the CSL test-suite's fixtures is
imported (``csl_to_zotero_objects``) and exported again (``zotero_to_csl``); the counts say how many files
were refused and how many variables did not come back equal.
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = ["M{\\\"u}ller", "Dupont", "de La Fontaine", "van der Berg", "O'Neil", "Gonz{\\'a}lez", "Nguyen",
            "Schr\\\"odinger", "Jaury", "{\\L}ukasiewicz", "Dvo\\v{r}{\\'a}k", "Smith", "Chu", "Ho", "Garc\\'\\i a"]
GIVENS = ["Jean", "Anne-Marie", "J.", "Fran\\c{c}ois", "Zo{\\'e}", "Li", "Peter", "H{\\'e}l{\\`e}ne", "K.-H."]
WORDS = ["numerical", "analysis", "of", "the", "{DNA}", "sant\\'e", "public", "r\\'eseaux", "$\\alpha$-helix",
         "\\emph{in vivo}", "systems", "{B}ayesian", "learning", "--", "models", "for", "{COVID-19}", "data",
         "H$_2$O", "\\textit{et al.}", "évaluation", "hospital", "care", "{\\'E}tude", "policy", "trial"]


def name(rng: random.Random) -> str:
    who = f"{rng.choice(FAMILIES)}, {rng.choice(GIVENS)}"
    return who + (", Jr." if rng.random() < 0.02 else "")


def title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize()


def synthetic_bib(n: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = ["% synthetic benchmark file", "@string{jbi = {Journal of Biomedical Informatics}}",
           "@string{lancet = {The {L}ancet}}", ""]
    books: list[str] = []
    for i in range(n):
        kind = rng.choices(["article", "book", "incollection", "techreport", "phdthesis", "online", "inproceedings"],
                           weights=[50, 8, 12, 10, 5, 8, 7])[0]
        key = f"entry{i}"
        authors = " and ".join(name(rng) for _ in range(rng.randint(1, 6)))
        fields = [f"  author = {{{authors}}}", f"  title = {{{title(rng)}}}", f"  year = {{{rng.randint(1980, 2025)}}}"]
        if kind == "article":
            journal = rng.choice(["jbi", "lancet", "{Revue d'{\\'e}pid{\\'e}miologie}", '"Nature"'])
            fields += [f"  journal = {journal}", f"  volume = {{{rng.randint(1, 90)}}}",
                       f"  number = {rng.randint(1, 12)}",
                       f"  pages = {{{rng.randint(1, 300)}--{rng.randint(301, 600)}}}",
                       f"  month = {rng.choice(['jan', 'mar', 'oct'])}"]
        elif kind == "book":
            fields += ["  publisher = {Presses de l'{EHESP}}", "  address = {Rennes}",
                       f"  isbn = {{978-2-07-0{i % 100000:05d}-1}}"]
            books.append(key)
        elif kind == "incollection" and books:
            fields += [f"  crossref = {{{rng.choice(books[-50:])}}}",
                       f"  pages = {{{rng.randint(1, 50)}--{rng.randint(51, 99)}}}"]
        elif kind == "techreport":
            fields += ["  institution = {{DREES}}", f"  number = {{{rng.randint(100, 999)}}}",
                       "  type = {{\\'E}tudes et r{\\'e}sultats}"]
        elif kind == "phdthesis":
            fields += ["  school = {Universit{\\'e} de Bordeaux}"]
        elif kind == "online":
            fields += [f"  url = {{https://example.org/{i}/page_{i}%20x}}", "  urldate = {2024-05-02}"]
        else:
            fields += ["  booktitle = {Proceedings of the {IEEE} Conference}", "  organization = {IEEE}"]
        if rng.random() < 0.6:
            fields.append(f"  doi = {{10.{1000 + i % 9000}/j.x.{i}}}")
        if rng.random() < 0.4:
            fields.append("  keywords = {sant{\\'e}, public health; {data, big}}")
        if rng.random() < 0.3:
            fields.append(f"  abstract = {{{title(rng)} {title(rng)} {title(rng)}}}")
        out.append(f"@{kind}{{{key},\n" + ",\n".join(fields) + "\n}\n")
    return "\n".join(out)


BIBTEXPARSER = """
import sys, time
import bibtexparser
from bibtexparser.bparser import BibTexParser
from bibtexparser.customization import convert_to_unicode
text = open(sys.argv[1], encoding="utf-8").read()
t = time.perf_counter()
parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False, interpolate_strings=True)
db = bibtexparser.loads(text, parser=parser)
entries = [convert_to_unicode(dict(e)) for e in db.entries]
print(time.perf_counter() - t, len(entries))
"""

ZOTCURATE = """
import sys, time
from pathlib import Path
from zotcurate.formats.bibtex import read_bibtex
t = time.perf_counter()
parsed = read_bibtex(Path(sys.argv[1]))
print(time.perf_counter() - t, len(parsed.items))
"""


def timed(code: str, path: Path) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True,
                         cwd=ROOT).stdout.split()
    return float(out[0]), int(out[1])


def _same(value: object) -> object:
    """A CSL value as citeproc reads it: date parts as numbers, names as their full family and given parts."""
    if isinstance(value, dict) and "date-parts" in value:
        parts = [[int(p) for p in ps if str(p).lstrip("-").isdigit()] for ps in value["date-parts"]]
        return {**value, "date-parts": parts}
    if isinstance(value, list) and value and all(isinstance(n, dict) for n in value):
        return [(" ".join(x for x in (n.get("non-dropping-particle"), n.get("family")) if x) or n.get("literal", ""),
                 " ".join(x for x in (n.get("given"), n.get("dropping-particle")) if x),
                 n.get("suffix", "")) for n in value]
    return str(value) if isinstance(value, int) else value


def csl_fidelity(folder: Path) -> None:
    import json
    from collections import Counter

    sys.path.insert(0, str(ROOT / "src"))
    from zotcurate.errors import InputFileError
    from zotcurate.formats.csljson import csl_to_zotero_objects, zotero_to_csl

    files = sorted(folder.glob("*.txt"))
    refused, items, exact, lost = 0, 0, 0, Counter()
    for path in files:
        text = path.read_text(encoding="utf-8")
        m = re.search(r">>=+ INPUT =+>>(.*?)<<=+ INPUT =+<<", text, re.DOTALL)
        if not m:
            continue
        try:
            entries = json.loads(m[1])
            objects = csl_to_zotero_objects(path, entries)
        except (InputFileError, json.JSONDecodeError):
            refused += 1
            continue
        for csl, obj in zip(entries, objects, strict=True):
            items += 1
            back = zotero_to_csl(obj["data"])
            differing = [v for v, value in csl.items()
                         if v not in ("id", "note") and _same(back.get(v)) != _same(value)]
            lost.update(differing)
            exact += not differing
    print(f"{len(files)} fixture files, {refused} refused, {items} items, {exact} with every variable back equal")
    print("variables that did not come back equal (count):", ", ".join(f"{v} {n}" for v, n in lost.most_common(25)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=7166)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--csl-corpus", type=Path, help="measure CSL-JSON fidelity on a folder of CSL test fixtures")
    args = ap.parse_args()
    if args.csl_corpus:
        csl_fidelity(args.csl_corpus)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.bib"
        path.write_text(synthetic_bib(args.entries), encoding="utf-8")
        runs: dict[str, list[float]] = {"bibtexparser alone": [], "zotcurate read_bibtex": []}
        counts: dict[str, int] = {}
        for _ in range(args.repeat):
            for label, code in (("bibtexparser alone", BIBTEXPARSER), ("zotcurate read_bibtex", ZOTCURATE)):
                seconds, count = timed(code, path)
                runs[label].append(seconds)
                counts[label] = count
        size = path.stat().st_size
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, "
          f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
          f"Python {platform.python_version()}; {args.entries} entries, {size / 1e6:.1f} MB; median of {args.repeat}")
    print("| reader | seconds (median) | all runs | entries |")
    print("|---|---:|---|---:|")
    for label, values in runs.items():
        every = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {label} | {statistics.median(values):.2f} | {every} | {counts[label]} |")
    ratio = statistics.median(runs["zotcurate read_bibtex"]) / statistics.median(runs["bibtexparser alone"])
    print(f"\nratio zotcurate / bibtexparser alone: {ratio:.2f} (target ≤ 1.5)")


if __name__ == "__main__":
    main()
