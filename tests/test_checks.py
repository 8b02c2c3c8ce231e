"""zotcurate check: field rules, format rules, duplicates, exceptions, reports, exit codes."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from zotcurate.check.duplicates import dup_key, find_duplicates
from zotcurate.check.engine import run_check
from zotcurate.check.profile import load_profile
from zotcurate.check.rules import FORMAT_RULES, TOKENS
from zotcurate.cli import main
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.fields import parse_date, url_problem
from zotcurate.model import Item
from zotcurate.store import Store

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "numerique-sante"
TODAY = date(2026, 6, 1)


# -- helpers ---------------------------------------------------------------------------

def obj(key: str, item_type: str = "report", **data):
    base = {"key": key, "version": 1, "itemType": item_type, "tags": [], "collections": [], "relations": {}}
    base.update(data)
    return {"key": key, "version": 1, "data": base}


def coll(key: str, name: str, parent: str | bool = False) -> dict:
    return {"key": key, "version": 1, "data": {"key": key, "name": name, "parentCollection": parent}}


def complete_report(key: str, **overrides):
    """A report the default profile finds nothing to say about."""
    data = {
        "title": f"Télésanté : enjeux et pratiques ({key})",  # one title per key: no duplicates
        "creators": [{"creatorType": "author", "lastName": "DUPONT", "firstName": "Jean"}],
        "institution": "HAS", "date": "2024-03", "pages": "46", "language": "fr",
        "url": "https://www.has-sante.fr/rapport.pdf", "accessDate": "2025-05-12",
        "abstractNote": "Ce rapport décrit les pratiques de télésanté en France.",
    }
    data.update(overrides)
    return obj(key, "report", **{k: v for k, v in data.items() if v is not None})


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store.sqlite") as s:
        yield s


def check(store: Store, objects, profile_path=None, collections=(), colls=()):
    lib = store.ensure_library("file:test", "file", "test")
    store.clear_library(lib)
    store.upsert_collections(lib, colls)
    store.upsert_items(lib, objects)
    return run_check(store, lib, load_profile(profile_path), collections=collections, today=TODAY)


def rules_of(report, key):
    return sorted(f.rule for f in report.findings if f.item_key == key)


def only(report, key, rule):
    return [f for f in report.findings if f.item_key == key and f.rule == rule]


# -- the example library: known gaps, nothing invented --------------------------------

def _example():
    return json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("ex") / "store.sqlite"
    assert main(["--store", str(path), "import", str(EXAMPLE), "--library", "file:numerique-sante"],
                env={}) == ExitCode.OK
    with Store(path) as s:
        lib = s.require_library("file:numerique-sante")
        return run_check(s, lib, load_profile(), today=TODAY)


def test_example_reports_its_known_gaps(example_report):
    by_rule = Counter(f.rule for f in example_report.findings if f.severity in ("error", "warning"))
    # The README's "Known gaps": 7 items without title, 12 without date, 15 without
    # commentary, 12 without page count or range; 21 lost URLs + 12 unknown access = 33.
    assert by_rule["required:title"] == 7
    assert by_rule["required:date"] == 12
    assert by_rule["required:commentary"] == 15
    assert by_rule["required:extent"] == 12
    assert by_rule["required:link"] == 33
    # 16 partial titles contain "[…]"; so do the 48 incomplete commentaries and 2 fragments
    gaps = Counter(f.field for f in example_report.findings if f.rule == "gap-marker")
    assert gaps == {"title": 16, "abstractNote": 50}
    assert example_report.checked == 99


def test_example_findings_are_all_true_of_the_data(example_report):
    items = {o["key"]: o["data"] for o in _example()}
    found = {}
    for f in example_report.findings:
        found.setdefault(f.rule, set()).add(f.item_key)

    def lacking(pred):
        return {k for k, d in items.items() if pred(d)}

    assert found["required:title"] == lacking(lambda d: not (d.get("title") or d.get("nameOfAct")))
    assert found["required:date"] == lacking(lambda d: not (d.get("date") or d.get("dateEnacted")))
    assert found["required:commentary"] == lacking(lambda d: not d.get("abstractNote"))
    assert found["required:link"] == lacking(
        lambda d: not d.get("url") and "bib-access: on-request" not in d["extra"])
    assert found["required:link"] == lacking(lambda d: "bib-access: online" not in d["extra"]
                                             and "bib-access: on-request" not in d["extra"]) | lacking(
        lambda d: "ocr:url-missing" in [t["tag"] for t in d["tags"]])
    assert found["required:extent"] == lacking(
        lambda d: d["itemType"] not in ("webpage", "podcast")
        and not (d.get("pages") or d.get("runningTime") or "number-of-pages:" in d["extra"]))
    # the 5 commentary fragments and the 3 citations that lost authors and publisher
    assert found["required:creator"] == lacking(
        lambda d: not d["creators"] and not (d.get("institution") or d.get("publisher") or d.get("publicationTitle")
                                             or d.get("websiteTitle") or d.get("studio"))
        and d["itemType"] != "statute") | lacking(lambda d: d["itemType"] == "journalArticle" and not d["creators"])
    assert len(found["required:creator"]) == 11
    every_gap = set().union(*(found[r] for r in found if r.startswith("required:")))
    assert all(items[k]["extra"] for k in every_gap)
    marked = {k for k, d in items.items() if "[…]" in d.get("title", "") + d.get("abstractNote", "")}
    assert found["gap-marker"] == marked
    incomplete = lacking(lambda d: "abstract incomplete" in d["extra"] or "only an annotation fragment" in d["extra"]
                         or "[…]" in d.get("title", ""))
    assert found["gap-marker"] == incomplete
    # The 21 URLs the OCR lost (README: printed "Accéder au document", URL lost): Extra says online.
    assert found["access-online-without-url"] == lacking(
        lambda d: "bib-access: online" in d["extra"] and not d.get("url") and not d.get("DOI"))
    assert found["access-online-without-url"] == lacking(lambda d: "ocr:url-missing" in [t["tag"] for t in d["tags"]])
    assert len(found["access-online-without-url"]) == 21
    # The data is clean otherwise: no other format rule, no duplicate fires.
    assert {f.rule for f in example_report.findings} <= {
        "required:title", "required:date", "required:commentary", "required:extent", "required:link",
        "required:creator", "required:publisher", "required:institution", "conditional:url->accessDate",
        "gap-marker", "access-online-without-url"}
    assert len(found["required:publisher"]) == 6 and all(items[k]["itemType"] == "document"
                                                         for k in found["required:publisher"])
    # 60 URLs, none with an access date: informative only
    infos = [f for f in example_report.findings if f.severity == "info"]
    assert len(infos) == 60 and {f.rule for f in infos} == {"conditional:url->accessDate"}


def test_example_summary_per_collection(example_report):
    rows = {s.path: s for s in example_report.summary}
    part2 = rows["Numérique et santé/2. Obstacles et freins"]
    assert part2.items == 20
    errors = example_report.keys_with("error")
    items = _example()
    in_part2 = [o["key"] for o in items if "RRNVE48S" in o["data"]["collections"]]
    assert part2.complete == sum(1 for k in in_part2 if k not in errors) == 10
    total = rows["(all checked items)"]
    assert (total.items, total.complete) == (99, 99 - len(errors))


# -- field rules -----------------------------------------------------------------------

def test_a_complete_report_has_no_finding(store):
    report = check(store, [complete_report("AAAAAAAA")])
    assert report.findings == []


def test_missing_fields_any_of_groups_and_conditionals(store):
    report = check(store, [
        complete_report("AAAAAAAA", title=None, institution=None, creators=[], accessDate=None),
        complete_report("BBBBBBBB", url=None, accessDate=None, extra="bib-access: on-request"),
        complete_report("CCCCCCCC", url=None, accessDate=None, pages=None, extra="number-of-pages: 12"),
        complete_report("DDDDDDDD", url=None, accessDate=None),
    ])
    assert rules_of(report, "AAAAAAAA") == ["conditional:url->accessDate", "required:creator",
                                            "required:institution", "required:title"]
    assert only(report, "AAAAAAAA", "required:creator")[0].message == "Missing a creator or institution."
    assert rules_of(report, "BBBBBBBB") == []  # "available on request" counts as a link
    assert rules_of(report, "CCCCCCCC") == ["required:link"]  # the Extra page count counts as extent
    assert only(report, "DDDDDDDD", "required:link")[0].severity == "warning"


def test_commentary_from_a_tagged_child_note(store):
    note = obj("NNNNNNNN", "note", parentItem="AAAAAAAA", note="<p>Un commentaire utile.</p>",
               tags=[{"tag": "commentaire"}])
    empty = obj("MMMMMMMM", "note", parentItem="BBBBBBBB", note="<p> </p>", tags=[{"tag": "commentaire"}])
    untagged = obj("LLLLLLLL", "note", parentItem="CCCCCCCC", note="<p>Une note de travail.</p>")
    report = check(store, [complete_report("AAAAAAAA", abstractNote=None), note,
                           complete_report("BBBBBBBB", abstractNote=None), empty,
                           complete_report("CCCCCCCC", abstractNote=None), untagged])
    assert rules_of(report, "AAAAAAAA") == []
    assert rules_of(report, "BBBBBBBB") == ["commentary-empty", "required:commentary"]
    assert rules_of(report, "CCCCCCCC") == ["required:commentary"]
    assert report.checked == 3  # notes are not items of the bibliography


def test_commentary_repeating_the_title(store):
    report = check(store, [complete_report("AAAAAAAA", abstractNote="TÉLÉSANTÉ - enjeux et pratiques (AAAAAAAA)."),
                           complete_report("BBBBBBBB", abstractNote="Télésanté : enjeux, pratiques et limites.")])
    assert rules_of(report, "AAAAAAAA") == ["commentary-repeats-title"]
    assert rules_of(report, "BBBBBBBB") == []


def test_orphan_child_note(store):
    report = check(store, [complete_report("AAAAAAAA"),
                           obj("NNNNNNNN", "note", parentItem="AAAAAAAA", note="ok"),
                           obj("OOOOOOOO", "note", parentItem="ZZZZZZZZ", note="<p>Perdue</p>")])
    assert [(f.item_key, f.rule) for f in report.findings] == [("OOOOOOOO", "orphan-note")]
    assert "ZZZZZZZZ" in report.findings[0].message


def test_collection_override_and_collection_filter(store, tmp_path):
    colls = [coll("PPPPPPPP", "Veille"),
             coll("QQQQQQQQ", "2025", "PPPPPPPP"),
             coll("RRRRRRRR", "Autre")]
    profile = tmp_path / "p.toml"
    profile.write_text('[[collections]]\npath = "Veille"\nrules = { "required:date" = "info" }\n', encoding="utf-8")
    objects = [complete_report("AAAAAAAA", date=None, collections=["QQQQQQQQ"]),
               complete_report("BBBBBBBB", date=None, collections=["RRRRRRRR"])]
    report = check(store, objects, profile_path=profile, colls=colls)
    assert only(report, "AAAAAAAA", "required:date")[0].severity == "info"  # sub-collection of Veille
    assert only(report, "BBBBBBBB", "required:date")[0].severity == "error"
    filtered = check(store, objects, profile_path=profile, colls=colls, collections=["Veille"])
    assert set(filtered.items) == {"AAAAAAAA"}
    assert [s.path for s in filtered.summary] == ["Veille", "Veille/2025", "(all checked items)"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[collections]]\npath = "Veile"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml:2: .*no collection 'Veile'. Did you mean 'Veille'"):
        check(store, objects, profile_path=bad, colls=colls)


# -- format rules ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "year", "iso"), [
    ("2020", 2020, True), ("2020-02", 2020, True), ("2020-02-29", 2020, True),
    ("2024-05-01T10:20:30Z", 2024, True), ("5 mars 2020", 2020, False), ("1er mars 2020", 2020, False),
    ("March 5, 2020", 2020, False), ("05/03/2020", 2020, False), ("2020/03/05", 2020, False),
    ("printemps 2019", 2019, False), ("2019-2020", 2019, False), ("2020-03-05 5 mars 2020", 2020, False),
    ("2020-3-5", 2020, False),
])
def test_dates_that_parse(text, year, iso):
    parsed = parse_date(text, today=TODAY)
    assert (parsed.year, parsed.iso) == (year, iso)


@pytest.mark.parametrize(("text", "problem"), [
    ("2021-02-29", "not a real calendar date"), ("2021-13", "not a real calendar date"),
    ("31/04/2020", "not a real calendar date"), ("30 février 2020", "not a real calendar date"),
    ("bientôt", "has no year"), ("2030", "in the future"), ("courant 2020", "not a date Zotero can read"),
])
def test_dates_that_do_not(text, problem):
    parsed = parse_date(text, today=TODAY)
    # The year is still read where there is one (import and render use it); check goes by the problem.
    assert not parsed.ok and problem in parsed.problem


def test_date_rules_on_items(store):
    report = check(store, [complete_report("AAAAAAAA", date="2021-02-30"),
                           complete_report("BBBBBBBB", date="5 mars 2021"),
                           complete_report("CCCCCCCC", date="n.d."),
                           complete_report("DDDDDDDD", accessDate="12/05/2025")])
    assert only(report, "AAAAAAAA", "date-format")[0].message.startswith("The date '2021-02-30' is not a real")
    assert rules_of(report, "BBBBBBBB") == ["date-not-iso"]
    assert only(report, "BBBBBBBB", "date-not-iso")[0].severity == "info"
    assert rules_of(report, "CCCCCCCC") == ["placeholder-value"]  # not also a date-format error
    assert rules_of(report, "DDDDDDDD") == ["date-format"]


@pytest.mark.parametrize(("field", "value", "rule", "fires"), [
    ("DOI", "10.1016/j.jbi.2020.103456", "doi-format", False),
    ("DOI", "https://doi.org/10.1016/j.jbi.2020.103456", "doi-format", True),
    ("DOI", "10.10/abc", "doi-format", True),
    ("DOI", "doi 10.1016", "doi-format", True),
    ("ISBN", "978-2-07-036822-8", "isbn-checksum", False),
    ("ISBN", "2-07-036822-X 978-2-07-036822-8", "isbn-checksum", False),
    ("ISBN", "2-07-036822-5 978-2-07-036822-8", "isbn-checksum", True),
    ("ISBN", "978-2-07-036822-9", "isbn-checksum", True),
    ("ISBN", "0-306-40615-2, 978-2-07-036822-8", "isbn-checksum", False),
    ("ISBN", "12345", "isbn-checksum", True),
    ("ISSN", "0317-8471", "issn-checksum", False),
    ("ISSN", "0317-8472", "issn-checksum", True),
    ("url", "https://www.has-sante.fr/jcms/p_3356/fr/a?x=1&y=2", "url-syntax", False),
    ("url", "http://localhost:8080/doc", "url-syntax", False),
    ("url", "mailto:https://www.has-sante.fr/doc.pdf", "url-syntax", True),
    ("url", "www.has-sante.fr/doc.pdf", "url-syntax", True),
    ("url", "https://www.has sante.fr/doc.pdf", "url-syntax", True),
    ("url", "https://intranet/doc", "url-syntax", True),
    ("language", "fr", "language-code", False),
    ("language", "fr-FR", "language-code", False),
    ("language", "Français", "language-code", True),
    ("title", "LA SANTÉ NUMÉRIQUE EN FRANCE", "title-all-caps", True),
    ("title", "Rapport HAS-ANS sur la e-santé", "title-all-caps", False),
    ("title", "ETUCARE", "title-all-caps", False),
    ("title", " Télésanté", "whitespace", True),
    ("title", "Télésanté  en France", "whitespace", True),
    ("title", "Télésanté : quels enjeux ? Quelles limites !", "whitespace", False),
    ("title", "Télésanté\u00a0: quels enjeux\u202f?", "whitespace", False),
    ("title", "Télésanté\u00a0en France", "whitespace", True),
    ("title", "Un rapport de 10\u00a0000 pages", "whitespace", False),
    ("title", "<i>Homo numericus</i> et santé", "html-in-field", False),
    ("abstractNote", "<p>Le rapport décrit la situation.</p>", "html-in-field", True),
    ("abstractNote", "Santé &amp; numérique en France.", "html-entity", True),
    ("title", "Qualité et sécurité du télésoin […]", "gap-marker", True),
    ("abstractNote", "Le rapport [...] conclut.", "gap-marker", True),
    ("abstractNote", "Le rapport (p. 12) conclut.", "gap-marker", False),
    ("institution", "N/A", "placeholder-value", True),
    ("institution", "Inconnu", "placeholder-value", True),
    ("place", "Paris", "placeholder-value", False),
])
def test_format_rules(store, field, value, rule, fires):
    item = (complete_report("AAAAAAAA", **{field: value}) if field != "ISSN"
            else obj("AAAAAAAA", "journalArticle", ISSN=value))
    if field == "DOI":
        item = complete_report("AAAAAAAA", DOI=value)
    report = check(store, [item])
    assert bool(only(report, "AAAAAAAA", rule)) is fires, [f.message for f in report.findings]


def test_url_problem_messages():
    # http(s) only, as links can only audit those (this assertion was `is None` before fields.py was shared).
    assert "scheme 'ftp'" in url_problem("ftp://ftp.example.org/a")
    assert "spaces" in url_problem("https://a.org/un fichier.pdf")
    assert "scheme 'mailto'" in url_problem("mailto:doc@creai-ors-occitanie.fr")


@pytest.mark.parametrize(("creator", "rule"), [
    ({"creatorType": "author", "name": ""}, "creator-empty-name"),
    ({"creatorType": "author", "lastName": "", "firstName": "Jean"}, "creator-empty-name"),
    ({"creatorType": "author", "lastName": "Haute Autorité de santé", "firstName": ""}, "creator-institution-split"),
    ({"creatorType": "author", "lastName": "Ministère de la Santé", "firstName": "Direction générale"},
     "creator-institution-split"),
    ({"creatorType": "author", "name": "DUPONT Jean"}, "creator-person-as-single"),
    ({"creatorType": "author", "name": "Dupont, Jean"}, "creator-person-as-single"),
    ({"creatorType": "author", "name": "Marie Durand-Lefèvre"}, None),
    ({"creatorType": "author", "name": "CREDOC Pôle société"}, None),
    ({"creatorType": "author", "name": "Agence régionale de santé Occitanie"}, None),
    ({"creatorType": "author", "name": "DREES"}, None),
    ({"creatorType": "author", "lastName": "EJ JARROUDI", "firstName": "Majid"}, None),
    ({"creatorType": "author", "lastName": "JAURY", "firstName": "Ph."}, None),
    ({"creatorType": "author", "lastName": "DUPONT ", "firstName": "Jean"}, "whitespace"),
])
def test_creator_rules(store, creator, rule):
    report = check(store, [complete_report("AAAAAAAA", creators=[creator])])
    creator_rules = [f.rule for f in report.findings if f.field == "creators"]
    assert creator_rules == ([rule] if rule else [])


# -- per-item exceptions ---------------------------------------------------------------

def test_exceptions_by_tag_and_extra_line(store):
    report = check(store, [
        complete_report("AAAAAAAA", date=None, title="LA SANTÉ NUMÉRIQUE EN 2024",
                        tags=[{"tag": "zotcurate:ignore:required:date"}]),
        complete_report("BBBBBBBB", date=None, title="LA SANTÉ NUMÉRIQUE EN 2025",
                        extra="bib-role: part1\nzotcurate-ignore: title-all-caps, required:*"),
        complete_report("CCCCCCCC", date=None, title="LA SANTÉ NUMÉRIQUE EN 2026", extra="zotcurate-ignore: *"),
    ])
    assert rules_of(report, "AAAAAAAA") == ["title-all-caps"]
    assert rules_of(report, "BBBBBBBB") == []
    assert rules_of(report, "CCCCCCCC") == []


# -- duplicates ------------------------------------------------------------------------

def person(last, first):
    return {"creatorType": "author", "lastName": last, "firstName": first}


def test_duplicates_the_way_zotero_judges_them(store):
    objects = [
        # same DOI, written differently
        complete_report("DOI1AAAA", title="Un", DOI="10.1000/ABC"),
        complete_report("DOI2AAAA", title="Deux", DOI="https://doi.org/10.1000/abc"),
        # same ISBN on two books (ISBN-10 and ISBN-13 of one number)
        obj("ISBN1AAA", "book", title="Livre A", ISBN="2-07-036822-X"),
        obj("ISBN2AAA", "book", title="Livre B", ISBN="978-2-07-036822-8"),
        # same title once normalised, years one apart, a shared author (last name + initial)
        complete_report("TIT1AAAA", title="L'e-santé en France : état des lieux", date="2023",
                        creators=[person("DUPONT", "Jean"), person("MARTIN", "Anne")]),
        complete_report("TIT2AAAA", title="L'E-SANTÉ EN FRANCE. État des lieux", date="2024-02",
                        creators=[person("Dupont", "J.")]),
        # same title but two years apart: not a duplicate
        complete_report("TIT3AAAA", title="L'e-santé en France : état des lieux", date="2026",
                        creators=[person("DUPONT", "Jean")]),
        # same title, different DOIs: not a duplicate
        complete_report("TDO1AAAA", title="Rapport annuel", DOI="10.1000/2023", creators=[]),
        complete_report("TDO2AAAA", title="Rapport annuel", DOI="10.1000/2024", creators=[]),
        # same title, no creators on either: Zotero matches them
        complete_report("NOC1AAAA", title="Guide du télésoin", creators=[]),
        complete_report("NOC2AAAA", title="Guide du télésoin", creators=[]),
        # same title, creators on one side only: no match
        complete_report("ONE1AAAA", title="Fiche pratique", creators=[]),
        complete_report("ONE2AAAA", title="Fiche pratique", creators=[person("DURAND", "Marc")]),
    ]
    report = check(store, objects)
    dups = {(f.item_key, f.rule) for f in report.findings if f.rule.startswith("duplicate-")}
    assert dups == {
        ("DOI1AAAA", "duplicate-doi"), ("DOI2AAAA", "duplicate-doi"),
        ("ISBN1AAA", "duplicate-isbn"), ("ISBN2AAA", "duplicate-isbn"),
        ("TIT1AAAA", "duplicate-title"), ("TIT2AAAA", "duplicate-title"),
        ("NOC1AAAA", "duplicate-title"), ("NOC2AAAA", "duplicate-title"),
    }
    assert "TIT2AAAA" in only(report, "TIT1AAAA", "duplicate-title")[0].message
    assert only(report, "DOI1AAAA", "duplicate-doi")[0].severity == "error"


def test_duplicate_sets_are_transitive_and_keys_group_linearly():
    def item(key, year, creators):
        return Item(key, 1, "report", None, False,
                    {"data": {"title": "Même titre", "date": year, "creators": creators}})

    a = item("A", "2020", [person("X", "Y")])
    b = item("B", "2021", [person("X", "Y"), person("Z", "W")])
    c = item("C", "2022", [person("Z", "W")])  # matches B only; A~B~C is one set
    d = item("D", "2020", [person("Q", "R")])  # same title, no shared creator: alone
    out = find_duplicates([dup_key(i) for i in (a, b, c, d)])["duplicate-title"]
    assert sorted(out) == ["A", "B", "C"] and sorted(out["A"]) == ["B", "C"]
    # 5,000 distinct titles make 5,000 groups of one: nothing is compared pairwise
    many = [dup_key(item(f"K{i}", "2020", [])) for i in range(5000)]
    many = [k.__class__(k.key, f"titre {i}", None, None, 2020, None) for i, k in enumerate(many)]
    assert find_duplicates(many) == {"duplicate-doi": {}, "duplicate-isbn": {}, "duplicate-title": {}}


def test_duplicates_outside_the_checked_collection_are_found(store):
    colls = [coll("PPPPPPPP", "Partie 1")]
    report = check(store, [complete_report("AAAAAAAA", DOI="10.1000/x", collections=["PPPPPPPP"]),
                           complete_report("BBBBBBBB", DOI="10.1000/X")], colls=colls, collections=["Partie 1"])
    assert [(f.item_key, f.rule) for f in report.findings] == [("AAAAAAAA", "duplicate-doi")]


# -- the command line ------------------------------------------------------------------

@pytest.fixture
def example_store(tmp_path):
    path = tmp_path / "store.sqlite"
    assert main(["--store", str(path), "import", str(EXAMPLE), "--library", "file:numerique-sante"],
                env={}) == ExitCode.OK
    return path


def run(capsys, *args):
    code = main(list(args), env={})
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_table_grouped_by_item_with_links_and_summary(example_store, capsys):
    code, out, err = run(capsys, "--store", str(example_store), "check", "-l", "file:numerique-sante",
                         "-c", "Numérique et santé/2. Obstacles et freins")
    assert code == ExitCode.FINDINGS  # errors found, --fail-on error by default
    assert "zotero://select/library/items/G6823GC4" in out  # a commentary fragment with no title
    assert "required:title" in out and "Completeness by collection" in out
    assert "Numérique et santé/2. Obstacles et freins" in out and "50 %" in out
    assert "20 items checked" in out
    assert err == ""


def test_check_json_csv_md(example_store, capsys):
    code, out, _ = run(capsys, "--store", str(example_store), "check", "-l", "file:numerique-sante",
                       "--format", "json")
    findings = json.loads(out)
    # errors, warnings, "[…]" warnings, lost URLs (access-online-without-url), infos
    assert code == ExitCode.FINDINGS and len(findings) == 51 + 48 + 66 + 21 + 60
    assert set(findings[0]) == {"item_key", "rule", "severity", "field", "message"}
    assert {"item_key": "G6823GC4", "rule": "required:title", "severity": "error", "field": "title",
            "message": "Missing title."} in findings
    code, out, _ = run(capsys, "--store", str(example_store), "check", "-l", "file:numerique-sante",
                       "--format", "csv", "--fail-on", "never")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == ExitCode.OK and len(rows) == 225 + 21  # + the lost URLs (access-online-without-url)
    assert rows[0]["link"].startswith("zotero://select/library/items/")
    code, out, _ = run(capsys, "--store", str(example_store), "check", "-l", "file:numerique-sante",
                       "--format", "md", "-c", "Numérique et santé/0. Introduction")
    assert code == ExitCode.OK  # the introduction's one reference is complete
    assert out.startswith("# Metadata check: file:numerique-sante")
    assert "| Numérique et santé/0. Introduction | 1 | 1 | 100 % | 0 | 1 |" in out  # one "[…]" warning
    assert "**warning** `gap-marker` (abstractNote)" in out
    assert "**info** `conditional:url->accessDate`" in out


def test_fail_on_levels(tmp_path, capsys):
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        lib = s.ensure_library("file:t", "file", "t")
        s.upsert_items(lib, [complete_report("AAAAAAAA", language=None)])  # one warning only
    base = ["--store", str(path), "check", "-l", "file:t", "--format", "json"]
    assert run(capsys, *base)[0] == ExitCode.OK
    assert run(capsys, *base, "--fail-on", "warning")[0] == ExitCode.FINDINGS
    assert run(capsys, *base, "--fail-on", "never")[0] == ExitCode.OK


def test_group_links_unknown_collection_and_broken_profile(tmp_path, capsys):
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        lib = s.ensure_library("group:5086442", "group", "5086442")
        s.upsert_items(lib, [complete_report("AAAAAAAA", title=None)])
    code, out, _ = run(capsys, "--store", str(path), "check", "-l", "group:5086442")
    assert code == ExitCode.FINDINGS and "zotero://select/groups/5086442/items/AAAAAAAA" in out
    code, _, err = run(capsys, "--store", str(path), "check", "-l", "group:5086442", "-c", "Nulle part")
    assert code == ExitCode.NOT_FOUND
    assert err.startswith("Error: The library group:5086442 has no collection 'Nulle part'")
    bad = tmp_path / "bad.toml"
    bad.write_text('[types.webpage]\nerror = ["websiteTitel"]\n', encoding="utf-8")
    code, _, err = run(capsys, "--store", str(path), "check", "-l", "group:5086442", "--profile", str(bad))
    assert code == ExitCode.CONFIG and f"{bad}:2:" in err and "did you mean 'websiteTitle'?" in err
    code, _, err = run(capsys, "--store", str(path), "check", "-l", "group:5086442", "--apply")
    assert code == ExitCode.USAGE and "--tag" in err


def test_an_item_type_newer_than_the_bundled_schema_is_still_checked(store):
    report = check(store, [obj("AAAAAAAA", "aiConversation", title="Échange avec un assistant", date="2025-13")])
    assert {"required:commentary", "date-format"} <= set(rules_of(report, "AAAAAAAA"))


def test_collection_override_applies_to_duplicate_rules(store, tmp_path):
    colls = [coll("PPPPPPPP", "Archives")]
    profile = tmp_path / "p.toml"
    profile.write_text('[[collections]]\npath = "Archives"\nrules = { duplicate-title = "off" }\n', encoding="utf-8")
    objects = [complete_report("AAAAAAAA", title="Rapport annuel 2024", collections=["PPPPPPPP"]),
               complete_report("BBBBBBBB", title="Rapport annuel 2024")]
    report = check(store, objects, profile_path=profile, colls=colls)
    assert [(f.item_key, f.rule) for f in report.findings] == [("BBBBBBBB", "duplicate-title")]


def test_a_large_title_group_gives_what_comparing_every_pair_gives():
    from zotcurate.check.duplicates import DupKey, _title_match

    keys = [DupKey(f"K{i:03d}", "editorial", None, None, None if i % 17 == 0 else 1990 + i % 30,
                   frozenset({(f"nom{i % 7}", "j")}) if i % 11 else None) for i in range(200)]
    found = find_duplicates(keys)["duplicate-title"]
    parent = {k.key: k.key for k in keys}

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if _title_match(a, b):
                parent[root(a.key)] = root(b.key)
    expected = {}
    for k in keys:
        expected.setdefault(root(k.key), []).append(k.key)
    expected_map = {m: sorted(x for x in ms if x != m) for ms in expected.values() if len(ms) > 1 for m in ms}
    assert {k: sorted(v) for k, v in found.items()} == expected_map
    assert len(found) > 100  # the data does make large sets


def test_two_process_check_gives_the_same_report_as_one(tmp_path):
    """Large libraries are split between two processes; the report must not change."""
    with Store(tmp_path / "s.sqlite") as s:
        lib = s.ensure_library("group:1", "group", "1")
        items = json.loads((Path(__file__).parents[1] / "examples/numerique-sante/items.json")
                           .read_text(encoding="utf-8"))
        s.upsert_items(lib, items)
        s.upsert_items(lib, [obj(f"DUP{i:05d}".replace("0", "2").replace("1", "3"), title="Rapport en double",
                                 date="2020", creators=[{"creatorType": "author", "name": "ANS"}])
                             for i in range(3)])
        profile = load_profile()
        serial = run_check(s, lib, profile, today=date(2026, 1, 1), parallel_threshold=10**9)
        parallel = run_check(s, lib, profile, today=date(2026, 1, 1), parallel_threshold=1)
    assert parallel.findings == serial.findings and len(serial.findings) > 100
    assert parallel.checked_keys == serial.checked_keys
    assert parallel.summary == serial.summary
    assert {f.rule for f in parallel.findings} >= {"duplicate-title", "gap-marker"}


# -- the rule registry (check/rules.py) --------------------------------------------------

# One item per format rule that the rule flags. A new rule in FORMAT_RULES fails this test
# until it has an example here, a severity in the default profile and a row in docs/check.md.
RULE_EXAMPLES = {
    "date-format": [complete_report("AAAAAAAA", date="2021-02-30")],
    "date-not-iso": [complete_report("AAAAAAAA", date="5 mars 2021")],
    "doi-format": [complete_report("AAAAAAAA", DOI="doi 10.1016")],
    "isbn-checksum": [obj("AAAAAAAA", "book", title="Un livre", ISBN="978-2-07-036822-9")],
    "issn-checksum": [obj("AAAAAAAA", "journalArticle", title="Un article", ISSN="0317-8472")],
    "url-syntax": [complete_report("AAAAAAAA", url="www.has-sante.fr/doc.pdf")],
    "access-online-without-url": [complete_report("AAAAAAAA", url="", extra="bib-access: online")],
    "language-code": [complete_report("AAAAAAAA", language="Français")],
    "creator-empty-name": [complete_report("AAAAAAAA", creators=[{"creatorType": "author", "name": ""}])],
    "creator-institution-split": [complete_report("AAAAAAAA", creators=[
        {"creatorType": "author", "lastName": "Haute Autorité de santé", "firstName": ""}])],
    "creator-person-as-single": [complete_report("AAAAAAAA", creators=[{"creatorType": "author",
                                                                         "name": "DUPONT Jean"}])],
    "title-all-caps": [complete_report("AAAAAAAA", title="LA SANTÉ NUMÉRIQUE EN FRANCE")],
    "whitespace": [complete_report("AAAAAAAA", title="Télésanté  en France")],
    "html-in-field": [complete_report("AAAAAAAA", abstractNote="<p>Le rapport décrit la situation.</p>")],
    "html-entity": [complete_report("AAAAAAAA", abstractNote="Santé &amp; numérique en France.")],
    "placeholder-value": [complete_report("AAAAAAAA", institution="N/A")],
    "gap-marker": [complete_report("AAAAAAAA", title="Qualité et sécurité du télésoin […]")],
    "commentary-empty": [complete_report("AAAAAAAA", abstractNote="   ")],
    "commentary-repeats-title": [complete_report("AAAAAAAA", title="La télésanté en France",
                                                 abstractNote="La télésanté en France.")],
    "orphan-note": [obj("AAAAAAAA", "note", parentItem="ZZZZZZZZ", note="<p>Perdue</p>")],
    "duplicate-doi": [complete_report("AAAAAAAA", DOI="10.1000/182"), complete_report("BBBBBBBB", DOI="10.1000/182")],
    "duplicate-isbn": [obj(k, "book", title=f"Livre {k}", ISBN="978-2-07-036822-8") for k in ("AAAAAAAA", "BBBBBBBB")],
    "duplicate-title": [complete_report(k, title="Télésanté") for k in ("AAAAAAAA", "BBBBBBBB")],
}


def test_every_format_rule_has_an_example_a_default_and_a_doc_row(store):
    assert set(RULE_EXAMPLES) == set(FORMAT_RULES)
    severities = load_profile().format_severities()
    doc = (REPO / "docs" / "check.md").read_text(encoding="utf-8")
    for rule, objects in RULE_EXAMPLES.items():
        report = check(store, objects)
        assert only(report, "AAAAAAAA", rule), (rule, [(f.rule, f.message) for f in report.findings])
        assert severities[rule] != "off", rule
        assert f"`{rule}`" in doc, f"docs/check.md has no row for {rule}"


def test_every_token_of_the_registry_reads_in_a_profile_and_names_its_field(store, tmp_path):
    examples = {"creator": "creator", "commentary": "commentary", "creator:": "creator:seriesEditor",
                "note:": "note:lu", "tag:": "tag:lu", "extra:": "extra:bib-access=on-request"}
    assert set(examples) == set(TOKENS)
    profile = tmp_path / "p.toml"
    profile.write_text('extends = "none"\n[types.report]\nerror = ['
                       + ", ".join(f'"{t}"' for t in examples.values()) + "]\n", encoding="utf-8")
    bare = obj("AAAAAAAA", "report", title="Un rapport")
    full = obj("BBBBBBBB", "report", title="Un autre", abstractNote="Un commentaire.", tags=[{"tag": "lu"}],
               creators=[{"creatorType": "seriesEditor", "lastName": "DUPONT", "firstName": "Jean"}],
               extra="bib-access: on-request")
    note = obj("NNNNNNNN", "note", parentItem="BBBBBBBB", note="<p>Lu.</p>", tags=[{"tag": "lu"}])
    report = check(store, [bare, full, note], profile_path=profile)
    got = {f.rule: (f.field, f.message) for f in report.findings if f.item_key == "AAAAAAAA"}
    assert got == {
        "required:creator": ("creators", "Missing a creator."),
        "required:commentary": ("abstractNote", "Missing a commentary (abstract or commentary note)."),
        "required:creator:seriesEditor": ("creators", "Missing a creator of type seriesEditor."),
        "required:note:lu": ("note", "Missing a child note tagged 'lu'."),
        "required:tag:lu": ("tags", "Missing tag 'lu'."),
        "required:extra:bib-access=on-request": ("extra", "Missing Extra 'bib-access: on-request'."),
    }
    assert rules_of(report, "BBBBBBBB") == []
    # A token that takes a name needs one; the profile says so with its line.
    profile.write_text('[types.report]\nerror = ["tag:"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="needs a name after the colon"):
        load_profile(profile)


def test_access_online_without_url_flags_a_lost_url_only(store):
    report = check(store, [
        complete_report("AAAA2222", url="", extra="bib-access: online"),  # the URL was lost
        complete_report("BBBB2222", url="", DOI="10.1000/abc", extra="bib-access: online"),  # the DOI links
        complete_report("CCCC2222", url="", extra="bib-access: online\nDOI: 10.1000/xyz"),
        complete_report("DDDD2222", url="", extra="bib-access: on-request"),
        complete_report("EEEE2222", extra="bib-access: online"),
    ])
    lost = only(report, "AAAA2222", "access-online-without-url")
    assert len(lost) == 1 and lost[0].severity == "warning" and lost[0].field == "url"
    assert "bib-access: on-request" in lost[0].message
    assert [f.item_key for f in report.findings if f.rule == "access-online-without-url"] == ["AAAA2222"]
