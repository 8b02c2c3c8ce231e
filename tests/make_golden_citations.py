"""Write the golden files of tests/test_citation_golden.py: bibliographies from citeproc-js.

A development tool, run by hand (never by pytest, never at runtime). It needs node and npm
``citeproc`` installed outside the repository, e.g. ``npm install --prefix /tmp/cjs citeproc``:

    .venv/bin/python tests/make_golden_citations.py /tmp/cjs/node_modules

Items: the example library (examples/numerique-sante) plus varied items made here (seed
fixed: types, 1–25 authors, institutions, particles, accents, English/French/German titles
with markup and quotes, dates from a year to full ranges, pages, volumes, editions, DOIs…).
For each style and locale of STYLES, citeproc-js renders the bibliography of all items; the
file keeps each entry's HTML by item id, and the ids zotcurate renders identically today
(the test keeps those identical and reports the rest).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "fixtures" / "citations_golden"
STYLES = [
    ("apa", "fr-FR"), ("apa", "en-US"), ("chicago-author-date", "fr-FR"), ("chicago-author-date", "en-US"),
    ("chicago-notes-bibliography", "fr-FR"), ("modern-language-association", "fr-FR"),
    ("modern-language-association", "en-US"), ("ieee", "fr-FR"), ("ieee", "en-US"),
    ("harvard-cite-them-right", "fr-FR"), ("nature", "fr-FR"), ("american-medical-association", "fr-FR"),
    ("iso690-author-date-fr", "fr-FR"), ("iso690-numeric-fr", "fr-FR"), ("elsevier-harvard", "fr-FR"),
    ("springer-basic-author-date", "fr-FR"), ("american-sociological-association", "fr-FR"),
]

_NODE = r"""
const path = require("path"), fs = require("fs");
const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const CSL = require(path.join(job.modules, "citeproc"));
const byId = {}; for (const it of job.items) byId[it.id] = Object.assign({system_id: it.id}, it);
const sys = {
  retrieveLocale: (lang) => {
    try { return fs.readFileSync(path.join(job.locales, "locales-" + lang + ".xml"), "utf8"); }
    catch (e) { return false; } },
  retrieveItem: (id) => byId[id],
  // citeproc-js calls this after each entry it prints: it names the entry's item.
  embedBibliographyEntry: (id) => "<!--item:" + id + "-->",
};
const engine = new CSL.Engine(sys, job.style, job.lang, true);
engine.updateItems(job.items.map(i => i.id));
const bib = engine.makeBibliography();
const out = {}, order = [];
for (const html of bib[1]) {
  const m = html.match(/^\s*<div class="csl-entry">([\s\S]*)<\/div>\n<!--item:(.*)-->\n$/);
  if (!m) throw new Error("unexpected entry: " + html);
  out[m[2]] = m[1]; order.push(m[2]);
}
process.stdout.write(JSON.stringify({entries: out, order: order}));
"""

FAMILIES = ["Martin", "Bernard", "Dubois", "Smith", "Johnson", "Müller", "García", "van der Berg", "O'Connor",
            "Nguyen", "Lefèvre", "Schmidt", "Rossi", "Kowalski", "de La Fontaine", "Brown", "Élise-Durand", "Ng"]
GIVENS = ["Marie", "Jean-Pierre", "Anne", "John", "Emily", "Hans", "Lucía", "Pieter", "Seán", "Minh", "Chloé",
          "Karl", "Giulia", "Piotr", "Jean", "Sarah", "J. R. R.", "Wei"]
INSTITUTIONS = ["World Health Organization", "Haute Autorité de santé", "Ministère des Solidarités et de la Santé",
                "Institut national de la santé et de la recherche médicale", "OECD",
                "Deutsche Gesellschaft für Soziologie"]
TITLES = [
    ("en", "The digital transformation of health care: a review"),
    ("en", "Why \"open data\" matters for public health"),
    ("en", "Machine learning in <i>Escherichia coli</i> genomics"),
    ("en", "A study of the 'patient voice' in online forums"),
    ("en", "Telemedicine: opportunities and challenges"), ("en", "On the use of mobile apps by older adults"),
    ("fr", "La santé numérique : enjeux éthiques et juridiques"),
    ("fr", "L'intelligence artificielle au service du soin"),
    ("fr", "Les inégalités d'accès aux soins en France"),
    ("fr", "Pourquoi « l'e-santé » change-t-elle la relation ?"),
    ("fr", "Numérique et santé mentale des étudiants"), ("de", "Digitale Gesundheit in Deutschland: eine Übersicht"),
    ("en", "Health informatics, 2nd edition"), ("en", "COVID-19 and the rise of remote consultations"),
]
CONTAINERS = ["Journal of Medical Internet Research", "Santé publique", "The Lancet Digital Health",
              "Revue d'épidémiologie et de santé publique", "BMJ", "Gesundheitswesen"]
PUBLISHERS = [("Presses de l'EHESP", "Rennes"), ("Springer", "Cham"), ("Oxford University Press", "Oxford"),
              ("La Documentation française", "Paris"), ("Elsevier", "Amsterdam")]


def _person(rng: random.Random) -> dict:
    family = rng.choice(FAMILIES)
    name = {"family": family, "given": rng.choice(GIVENS)}
    if family.startswith("van der "):
        name = {"family": "Berg", "non-dropping-particle": "van der", "given": name["given"]}
    if family.startswith("de La "):
        name = {"family": "La Fontaine", "non-dropping-particle": "de", "given": name["given"]}
    return name


def made_items(count: int = 160, seed: int = 10) -> list[dict]:
    rng = random.Random(seed)
    types = ["article-journal", "book", "chapter", "report", "webpage", "thesis", "paper-conference",
             "article-newspaper", "article-magazine"]
    items = []
    for n in range(count):
        kind = types[n % len(types)]
        lang, title = TITLES[rng.randrange(len(TITLES))]
        item: dict = {"id": f"made-{n:03d}", "type": kind, "title": title,
                      "language": lang if rng.random() < 0.7 else ""}
        if not item["language"]:
            del item["language"]
        authors = rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 8, 25])
        if rng.random() < 0.15:
            item["author"] = [{"literal": rng.choice(INSTITUTIONS)}]
        elif rng.random() > 0.05:
            item["author"] = [_person(rng) for _ in range(authors)]
        year = rng.randint(1995, 2025)
        parts = [year]
        if rng.random() < 0.5:
            parts.append(rng.randint(1, 12))
            if rng.random() < 0.5:
                parts.append(rng.randint(1, 28))
        if rng.random() > 0.05:
            item["issued"] = {"date-parts": [parts]}
        if kind in ("article-journal", "article-magazine", "article-newspaper"):
            item["container-title"] = rng.choice(CONTAINERS)
            item["volume"] = str(rng.randint(1, 60))
            if rng.random() < 0.7:
                item["issue"] = str(rng.randint(1, 12))
            start = rng.randint(1, 900)
            item["page"] = f"{start}-{start + rng.randint(1, 30)}"
            if rng.random() < 0.6:
                item["DOI"] = f"10.{rng.randint(1000, 9999)}/{rng.randint(10000, 99999)}"
        elif kind in ("book", "report", "thesis"):
            publisher, place = rng.choice(PUBLISHERS)
            item["publisher"] = publisher
            item["publisher-place"] = place
            if rng.random() < 0.3:
                item["edition"] = str(rng.randint(2, 5))
            if rng.random() < 0.5:
                item["number-of-pages"] = str(rng.randint(40, 600))
            if kind == "thesis":
                item["genre"] = "Thèse de doctorat" if lang == "fr" else "PhD thesis"
        elif kind in ("chapter", "paper-conference"):
            item["container-title"] = rng.choice(["Handbook of digital health", "Actes du colloque e-santé",
                                                  "Proceedings of the health informatics conference"])
            item["editor"] = [_person(rng) for _ in range(rng.choice([1, 2]))]
            publisher, place = rng.choice(PUBLISHERS)
            item["publisher"] = publisher
            item["publisher-place"] = place
            start = rng.randint(1, 400)
            item["page"] = f"{start}-{start + rng.randint(5, 40)}"
        elif kind == "webpage":
            item["container-title"] = rng.choice(["Inserm", "Santé.fr", "WHO website"])
            item["URL"] = f"https://example.org/page/{n}"
            item["accessed"] = {"date-parts": [[2025, rng.randint(1, 12), rng.randint(1, 28)]]}
        if rng.random() < 0.1 and item.get("author"):
            item["translator"] = [_person(rng)]
        items.append(item)
    return items


def example_items() -> list[dict]:
    from zotcurate.formats.csljson import zotero_to_csl

    data = json.loads((REPO / "examples" / "numerique-sante" / "items.json").read_text(encoding="utf-8"))
    return [zotero_to_csl(item["data"]) for item in data]


def citeproc_js(modules: Path, style: str, locale: str, items: list[dict]) -> dict:
    import citeproc

    from zotcurate.render.citations.styles import _style_source

    data, _, _ = _style_source(style)
    with tempfile.TemporaryDirectory() as folder:
        driver = Path(folder) / "golden.js"
        driver.write_text(_NODE, encoding="utf-8")
        job = Path(folder) / "job.json"
        job.write_text(json.dumps({"modules": str(modules), "locales": citeproc.LOCALES_PATH, "lang": locale,
                                   "style": data.decode("utf-8"), "items": items}), encoding="utf-8")
        run = subprocess.run([shutil.which("node") or "node", str(driver), str(job)], capture_output=True,
                             text=True, encoding="utf-8", check=False, timeout=600)
    if run.returncode:
        raise SystemExit(f"citeproc-js failed on {style} {locale}: {run.stderr[-800:]}")
    return json.loads(run.stdout)


def zotcurate_entries(style: str, locale: str, items: list[dict]) -> dict[str, str]:
    from zotcurate.render.citations import CslProcessor

    return {entry.item_id: entry.html() for entry in CslProcessor(style, items, locale).bibliography()}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    modules = Path(sys.argv[1])
    GOLDEN.mkdir(parents=True, exist_ok=True)
    items = example_items() + made_items()
    (GOLDEN / "items.json").write_text(json.dumps(items, ensure_ascii=False, indent=0), encoding="utf-8")
    version = json.loads((modules / "citeproc" / "package.json").read_text(encoding="utf-8"))["version"]
    for style, locale in STYLES:
        expected = citeproc_js(modules, style, locale, items)
        ours = zotcurate_entries(style, locale, items)
        identical = sorted(i for i, html in expected["entries"].items() if ours.get(i) == html)
        record = {"style": style, "locale": locale, "citeproc-js": version, "order": expected["order"],
                  "entries": expected["entries"], "identical": identical}
        (GOLDEN / f"{style}.{locale}.json").write_text(json.dumps(record, ensure_ascii=False, indent=0),
                                                       encoding="utf-8")
        print(f"{style} {locale}: {len(identical)}/{len(expected['entries'])} identical")


if __name__ == "__main__":
    main()
