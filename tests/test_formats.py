"""Files in and out: Zotero API JSON, CSL-JSON and BibTeX (import into file: libraries, export).

    zotcurate import examples/numerique-sante --library file:ns
    zotcurate export --library file:ns --format csl-json -o refs.json
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import bibtexparser
import bibtexparser.bparser
import pytest

from zotcurate.cli import main
from zotcurate.errors import ExitCode, InputFileError
from zotcurate.formats.bibtex import citation_key, read_bibtex, write_bibtex
from zotcurate.formats.csljson import (
    KEY_ALPHABET,
    creator_to_csl,
    csl_date,
    csl_item_to_zotero,
    csl_to_zotero_objects,
    key_for,
    zotero_to_csl,
)
from zotcurate.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "numerique-sante"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"


@pytest.fixture(scope="module")
def example_items() -> list[dict]:
    return json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run the CLI against a store in tmp_path; returns (exit code, stdout, stderr)."""
    env = {"ZOTCURATE_STORE": str(tmp_path / "store.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv), env=env)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _bib_entries(text: str) -> list[dict]:
    """Parse BibTeX as any reader would (BibLaTeX types such as @online included)."""
    parser = bibtexparser.bparser.BibTexParser(ignore_nonstandard_types=False)
    return bibtexparser.loads(text, parser=parser).entries


def _by_key(example_items: list[dict], key: str) -> dict:
    return next(o["data"] for o in example_items if o["key"] == key)


def _item_count(tmp_path: Path, library: str) -> int:
    with Store(tmp_path / "store.sqlite") as store:
        return store.counts(store.require_library(library))["items"]


# --------------------------------------------------------------------------------------------
# Zotero → CSL-JSON, the way Zotero's itemToCSLJSON does it
# --------------------------------------------------------------------------------------------

def test_every_example_item_becomes_a_csl_item(example_items: list[dict]) -> None:
    csl = [zotero_to_csl(o["data"]) for o in example_items]
    assert [c["id"] for c in csl] == [o["key"] for o in example_items]
    types = {o["data"]["itemType"]: c["type"] for o, c in zip(example_items, csl, strict=True)}
    assert types == {
        "report": "report", "statute": "legislation", "document": "document", "videoRecording": "motion_picture",
        "webpage": "webpage", "journalArticle": "article-journal", "podcast": "broadcast",
        "magazineArticle": "article-magazine", "bookSection": "chapter",
    }
    # Extra's number-of-pages lines become the CSL variable and leave the note, on every item.
    with_pages = [c for c in csl if "number-of-pages" in c]
    assert len(with_pages) == sum("number-of-pages:" in (o["data"].get("extra") or "") for o in example_items) > 0
    assert not any("number-of-pages" in c.get("note", "") for c in csl)


def test_report_institution_and_pages_as_zotero_maps_them(example_items: list[dict]) -> None:
    csl = zotero_to_csl(_by_key(example_items, "SKJ3FVUF"))
    assert csl["type"] == "report"
    assert csl["publisher"] == "Délégation ministérielle au numérique en santé"  # institution → publisher
    assert csl["author"] == [{"literal": "Délégation ministérielle au numérique en santé"}]
    # report.pages has no base field, so Zotero maps it to `page` (not number-of-pages).
    assert csl["page"] == "46" and "number-of-pages" not in csl
    assert csl["issued"] == {"date-parts": [[2023]]}
    assert csl["language"] == "fr"
    # Lines that are not CSL variables stay in the note, in order.
    assert csl["note"].splitlines()[:3] == ["bib-role: introduction footnote 1", "bib-role: part1 entry 11",
                                            "bib-access: online"]


def test_statute_uses_name_of_act_code_and_code_number(example_items: list[dict]) -> None:
    data = _by_key(example_items, "RAJUC9HQ")
    csl = zotero_to_csl(data)
    assert csl["type"] == "legislation"
    assert csl["title"] == data["nameOfAct"]
    assert (csl["container-title"], csl["volume"]) == (data["code"], data["codeNumber"])
    assert csl["number"] == data["publicLawNumber"]
    assert csl["issued"] == {"date-parts": [[2009, 7]]}  # dateEnacted, through its base field date


def test_type_specific_fields_go_through_their_base_field(example_items: list[dict]) -> None:
    video = zotero_to_csl(_by_key(example_items, "C2I37ZHZ"))
    assert video["publisher"] == "ministère de la Santé et de la Prévention"  # studio
    assert video["dimensions"] == "4 min 20 sec"  # runningTime
    web = zotero_to_csl(_by_key(example_items, "GQ9BTJWG"))
    assert web["container-title"] == "Agence du numérique en santé"  # websiteTitle
    chapter = zotero_to_csl(_by_key(example_items, "AGL9CG8G"))
    assert chapter["container-title"] == "La e-santé en question(s)"  # bookTitle
    assert chapter["author"][1] == {"family": "ISNARD BAGNIS", "given": "Corinne"}
    document = zotero_to_csl(_by_key(example_items, "MHF5U7A9"))
    assert document["number-of-pages"] == "1"


def test_extra_lines_follow_zotero_and_citeproc() -> None:
    data = {
        "key": "ABCD2345", "itemType": "book", "title": "Titre", "publisher": "Éditeur", "date": "2019",
        "creators": [{"creatorType": "author", "lastName": "Martin", "firstName": "Anne"}],
        "extra": "Original Date: 1990\ntype: report\nissued: 2020-03\nbib-role: part1 entry 2\n"
                 "publisher: Autre éditeur\ntranslator: Doe || John\nnumber-of-pages: 36\nPlace: Lyon",
    }
    csl = zotero_to_csl(data)
    assert csl["type"] == "report"  # type: overrides the item type
    assert csl["original-date"] == {"date-parts": [[1990]]}  # "Original Date" normalised as extraToCSL does
    assert csl["issued"] == {"date-parts": [[2020, 3]]}  # dates in Extra override the date field
    assert csl["publisher"] == "Éditeur"  # text variables only fill empty ones…
    assert csl["translator"] == [{"family": "Doe", "given": "John"}]
    assert csl["number-of-pages"] == "36"
    assert csl["publisher-place"] == "Lyon"  # a Zotero field name is mapped to its CSL variable
    # … so that line, and lines that are not CSL variables, stay in the note.
    assert csl["note"] == "bib-role: part1 entry 2\npublisher: Autre éditeur"
    assert csl["author"] == [{"family": "Martin", "given": "Anne"}]


@pytest.mark.parametrize(("text", "expected"), [
    ("2020", {"date-parts": [[2020]]}),
    ("2020-03", {"date-parts": [[2020, 3]]}),
    ("2021-10-25", {"date-parts": [[2021, 10, 25]]}),
    ("March 2020", {"date-parts": [[2020, 3]]}),
    ("15 mars 2020", {"date-parts": [[2020, 3, 15]]}),
    ("2020-03-15T10:22:00Z", {"date-parts": [[2020, 3, 15]]}),
    ("15/03/2020", {"date-parts": [[2020, 3, 15]]}),
    ("Spring 2020", {"date-parts": [[2020]], "season": "Spring"}),
    ("s.d.", {"literal": "s.d."}),
])
def test_zotero_date_strings(text: str, expected: dict) -> None:
    assert csl_date(text) == expected


def test_access_date_and_names() -> None:
    csl = zotero_to_csl({"key": "K", "itemType": "webpage", "title": "T", "accessDate": "2025-05-20T08:00:00Z",
                         "creators": [{"creatorType": "contributor", "name": "ANS"},
                                      {"creatorType": "author", "lastName": "de La Fontaine", "firstName": "Jean"}]})
    assert csl["accessed"] == {"date-parts": [[2025, 5, 20]]}
    assert csl["contributor"] == [{"literal": "ANS"}]
    assert csl["author"] == [{"family": "La Fontaine", "given": "Jean", "non-dropping-particle": "de"}]
    assert creator_to_csl({"lastName": "Beethoven", "firstName": "Ludwig van"}) == {
        "family": "Beethoven", "given": "Ludwig", "dropping-particle": "van"}
    assert creator_to_csl({"lastName": "King", "firstName": "Martin Luther, Jr."})["suffix"] == "Jr."
    assert creator_to_csl({"lastName": '"de Gaulle"', "firstName": "Charles"}) == {"family": "de Gaulle",
                                                                                   "given": "Charles"}


# --------------------------------------------------------------------------------------------
# CSL-JSON → Zotero
# --------------------------------------------------------------------------------------------

def test_csl_json_import_maps_types_fields_names_and_keys() -> None:
    path = FIXTURES / "sample.csl.json"
    objects = csl_to_zotero_objects(path, json.loads(path.read_text(encoding="utf-8")))
    report, article, video, web = (o["data"] for o in objects)
    assert [o["key"] for o in objects] == [report["key"], "ABCD2345", video["key"], web["key"]]
    for key in (report["key"], video["key"], web["key"]):
        assert len(key) == 8 and set(key) <= set(KEY_ALPHABET)
    assert key_for("drees2023") == report["key"]  # deterministic: the same id gives the same key
    assert report["itemType"] == "report"
    assert (report["institution"], report["place"], report["reportNumber"], report["reportType"]) == (
        "DREES", "Paris", "112", "Études et résultats")
    assert report["creators"] == [
        {"creatorType": "author", "name": "Direction de la recherche, des études, de l'évaluation et des statistiques"},
        {"creatorType": "author", "firstName": "Jean", "lastName": "de La Fontaine"}]
    assert (report["date"], report["accessDate"]) == ("2023-03", "2024-05-02")
    assert report["extra"] == "bib-access: online\nnumber-of-pages: 36"  # no numPages field in a report
    assert report["tags"] == [{"tag": "hôpital"}, {"tag": "statistiques"}]
    assert report["citationKey"] == "drees2023"
    assert (article["itemType"], article["publicationTitle"], article["pages"], article["date"]) == (
        "journalArticle", "JDSAM", "17-21", "2019-03")
    # motion_picture with a series is a videoRecording (Zotero's own special case).
    assert (video["itemType"], video["studio"], video["runningTime"], video["date"]) == (
        "videoRecording", "Inserm", "3 min 27", "printemps 2018")
    assert (web["itemType"], web["websiteTitle"], web["citationKey"]) == (
        "webpage", "Agence du numérique en santé", "42")
    # And back: the page count kept in Extra is a CSL variable again.
    assert zotero_to_csl(report)["number-of-pages"] == "36"


def test_csl_round_trip_of_the_example_library(example_items: list[dict]) -> None:
    tops = [o["data"] for o in example_items]
    changed = set()
    for data in tops:
        csl = zotero_to_csl(data)
        back = csl_item_to_zotero(csl)
        assert back["key"] == data["key"]
        if back["itemType"] != data["itemType"]:
            changed.add((data["itemType"], back["itemType"]))
        for field in ("title", "nameOfAct", "date", "url", "abstractNote", "institution", "websiteTitle", "volume",
                      "issue", "pages", "publicationTitle"):
            if data.get(field):
                assert back.get(field) == data[field], (data["key"], field)
        assert len(back["creators"]) == len(data["creators"])
    # CSL types are coarser than Zotero's; like Zotero, a video without series data reads back as a film
    # and a podcast with a publisher as a TV broadcast. Every other type comes back unchanged.
    assert changed <= {("videoRecording", "film"), ("podcast", "tvBroadcast")}


def test_malformed_csl_entries_name_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    with pytest.raises(InputFileError, match=r"x\.json: entry 2 has no CSL 'type'"):
        csl_to_zotero_objects(path, [{"id": "a", "type": "book"}, {"id": "b"}])
    with pytest.raises(InputFileError, match=r"entry 1 is not a JSON object"):
        csl_to_zotero_objects(path, ["oops"])
    with pytest.raises(InputFileError, match=r"'author' should be a list"):
        csl_to_zotero_objects(path, [{"id": "a", "type": "book", "author": "Smith"}])
    with pytest.raises(InputFileError, match=r"entries 1 and 2 have the same id 'a'"):
        csl_to_zotero_objects(path, [{"id": "a", "type": "book"}, {"id": "a", "type": "book"}])


# --------------------------------------------------------------------------------------------
# BibTeX
# --------------------------------------------------------------------------------------------

def test_better_bibtex_export_is_read_as_zotero_items() -> None:
    parsed = read_bibtex(FIXTURES / "bbt-export.bib")
    report, web, chapter, article, misc, has = (o["data"] for o in parsed.items)
    assert report["itemType"] == "report"
    assert report["title"] == 'Les établissements de santé : panorama <span class="nocase">DREES</span> 2023'
    assert report["creators"][0] == {
        "creatorType": "author", "name": "Direction de la recherche, des études, de l'évaluation et des statistiques"}
    assert report["creators"][1] == {"creatorType": "author", "firstName": "Jean-Pierre", "lastName": "Dupont"}
    assert (report["institution"], report["place"], report["date"], report["reportNumber"]) == (
        "DREES", "Paris", "2023-03", "112")
    assert (report["pages"], report["language"], report["accessDate"]) == ("36", "fr", "2024-05-02")
    assert report["tags"] == [{"tag": "hôpital"}, {"tag": "statistiques"}, {"tag": "santé publique"}]
    assert report["abstractNote"] == "Un panorama des établissements & des services."
    assert report["citationKey"] == "drees2023PanoramaEtablissements"
    assert (web["itemType"], web["websiteTitle"], web["date"]) == (
        "webpage", "Agence du numérique en santé", "2025-02-14")
    assert chapter["itemType"] == "bookSection" and chapter["bookTitle"] == "La e-santé en question(s)"
    assert chapter["pages"] == "21-33" and chapter["DOI"] == "10.3917/ehesp.babin.2020.01.0021"
    assert chapter["extra"] == "Chapitre introductif"
    assert [c["creatorType"] for c in chapter["creators"]] == ["author", "author", "author", "editor"]
    assert chapter["creators"][2]["lastName"] == "de La Fontaine"
    assert chapter["creators"][3]["lastName"] == "Müller"
    assert article["title"] == "L'espace numérique de santé : une création de la loi <span class=\"nocase\">OTSS</span>"
    assert (article["publicationTitle"], article["issue"], article["volume"]) == (
        "Journal de Droit de la Santé et de l'Assurance Maladie", "1", "24")
    assert misc["title"] == '<span class="nocase">Protected Capitals</span> and Über ça'
    assert misc["url"] == "https://example.org/x_y"
    # A BibLaTeX @report with a @string macro for the institution and a page count.
    assert (has["itemType"], has["institution"], has["reportType"], has["pages"], has["date"]) == (
        "report", "Haute Autorité de santé", "Fiche", "8", "2022-04")
    assert has["title"] == "Qualité et sécurité du télésoin : critères d'éligibilité"
    assert len({o["key"] for o in parsed.items}) == 6


def test_bibtex_written_then_read_gives_the_same_items(tmp_path: Path) -> None:
    items = [o["data"] for o in read_bibtex(FIXTURES / "bbt-export.bib").items]
    text = write_bibtex(items)
    assert "@techreport{drees2023PanoramaEtablissements," in text
    assert "pages = {21--33}" in text and "month = mar," in text
    assert r"\& des services" in text and "{DREES}" in text
    out = tmp_path / "again.bib"
    out.write_text(text, encoding="utf-8")
    again = [o["data"] for o in read_bibtex(out).items]
    for before, after in zip(items, again, strict=True):
        before = {k: v for k, v in before.items() if k != "extra"}  # note is not written back
        assert {k: v for k, v in after.items() if k != "extra"} == before


def test_citation_keys_are_better_bibtex_like_and_unique(example_items: list[dict]) -> None:
    data = {"itemType": "journalArticle", "title": "L'espace numérique de santé : une création",
            "date": "2019-03", "creators": [{"creatorType": "author", "lastName": "MORLET-HAIDARA", "firstName": "L."}]}
    assert citation_key(data) == "morlethaidaraEspaceNumeriqueSante2019"
    text = write_bibtex([data, data, data])
    keys = [e["ID"] for e in _bib_entries(text)]
    assert keys == ["morlethaidaraEspaceNumeriqueSante2019", "morlethaidaraEspaceNumeriqueSante2019a",
                    "morlethaidaraEspaceNumeriqueSante2019b"]
    tops = [o["data"] for o in example_items]
    entries = _bib_entries(write_bibtex(tops))
    assert len(entries) == len(tops) == len({e["ID"] for e in entries})


def test_bibtex_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    # strict: an unreadable entry refuses the file (by default it is skipped with this warning: test_bibtex_files)
    with pytest.raises(InputFileError, match=r"broken\.bib: line 6: the entry '@article\{broken2021,'"):
        read_bibtex(FIXTURES / "broken.bib", strict=True)
    notbib = tmp_path / "notes.bib"
    notbib.write_text("Just some notes, no entries.\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"notes\.bib has no BibTeX entries"):
        read_bibtex(notbib)
    dup = tmp_path / "dup.bib"
    dup.write_text("@book{a,\n title = {A}\n}\n\n@book{a,\n title = {B}\n}\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"the citation key 'a' is used twice"):
        read_bibtex(dup, strict=True)


# --------------------------------------------------------------------------------------------
# Through the CLI
# --------------------------------------------------------------------------------------------

def test_zotero_json_round_trips_exactly(run, tmp_path: Path) -> None:
    code, out, _ = run("import", str(EXAMPLE), "--library", "file:ns")
    assert code == ExitCode.OK and "Imported 99 items and 6 collections into file:ns." in out
    code, out, _ = run("export", "--library", "file:ns", "-o", str(tmp_path / "folder"))
    assert code == ExitCode.OK and "Wrote 99 items" in out
    for name in ("items.json", "collections.json"):
        original = json.loads((EXAMPLE / name).read_text(encoding="utf-8"))
        exported = json.loads((tmp_path / "folder" / name).read_text(encoding="utf-8"))
        # Same objects, byte for byte once parsed; the store returns them sorted by key.
        assert {o["key"]: o for o in exported} == {o["key"]: o for o in original}
        assert len(exported) == len(original)
    # One-file export, then import of that file into a second library, then export again.
    assert run("export", "-l", "file:ns", "-o", str(tmp_path / "all.json"))[0] == ExitCode.OK
    assert run("import", str(tmp_path / "all.json"), "-l", "file:copy")[0] == ExitCode.OK
    assert run("export", "-l", "file:copy", "-o", str(tmp_path / "copy"))[0] == ExitCode.OK
    assert (tmp_path / "copy" / "items.json").read_text(encoding="utf-8") == (
        tmp_path / "folder" / "items.json").read_text(encoding="utf-8")


def test_csl_json_and_bibtex_export_of_a_collection(run, tmp_path: Path) -> None:
    assert run("import", str(EXAMPLE), "--library", "file:ns")[0] == ExitCode.OK
    coll = "Numérique et santé/4. Outils et exemples inspirants"
    code, out, _ = run("export", "-l", "file:ns", "-c", coll, "--format", "csl-json", "-o", str(tmp_path / "p4.json"))
    assert code == ExitCode.OK and "Wrote 14 items" in out
    csl = json.loads((tmp_path / "p4.json").read_text(encoding="utf-8"))
    assert len(csl) == 14 and all(c["type"] and c["id"] for c in csl)
    code, out, _ = run("export", "-l", "file:ns", "-c", coll, "--format", "bibtex", "-o", str(tmp_path / "p4.bib"))
    assert code == ExitCode.OK
    entries = _bib_entries((tmp_path / "p4.bib").read_text(encoding="utf-8"))
    assert len(entries) == 14 and len({e["ID"] for e in entries}) == 14
    # The CSL-JSON file imports back into a library with the same keys.
    code, out, _ = run("import", str(tmp_path / "p4.json"), "-l", "file:p4")
    assert code == ExitCode.OK and "Imported 14 items" in out
    with Store(tmp_path / "store.sqlite") as store:
        keys = {i.key for i in store.items(store.require_library("file:p4"))}
    assert keys == {c["id"] for c in csl}


def test_csl_json_and_bibtex_files_import(run, tmp_path: Path) -> None:
    code, out, _ = run("import", str(FIXTURES / "sample.csl.json"), str(FIXTURES / "bbt-export.bib"), "-l", "file:mix")
    assert code == ExitCode.OK and "Imported 10 items and 0 collections into file:mix." in out
    assert _item_count(tmp_path, "file:mix") == 10


@pytest.mark.parametrize(("name", "content", "message"), [
    ("items.json", '[{"key": "AAAA2222", "data": {"key": "AAAA2222", "itemType": "book"}},\n {"key": }]',
     r"items\.json is not valid JSON: .* at line 2, column"),
    ("bad-entry.csl.json", None, r"bad-entry\.csl\.json: entry 2 has no CSL 'type'"),
    ("bad-syntax.json", None, r"bad-syntax\.json is not valid JSON: .* at line 3"),
    ("broken.bib", None, r"broken\.bib: line 6"),  # with --strict (without it, the entry is skipped)
])
def test_malformed_file_exits_7_and_leaves_the_store_untouched(
    run, tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    assert run("import", str(EXAMPLE), "--library", "file:ns")[0] == ExitCode.OK
    if content is None:
        target = tmp_path / name
        shutil.copy(FIXTURES / name, target)
    else:
        target = tmp_path / "folder"
        target.mkdir()
        (target / name).write_text(content, encoding="utf-8")
    strict = ["--strict"] if name.endswith(".bib") else []
    code, _, err = run("import", str(target), "--library", "file:ns", *strict)
    assert code == ExitCode.INPUT
    assert err.startswith("Error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert _item_count(tmp_path, "file:ns") == 99  # the previous content is still there


def test_rich_titles_and_latex_specials_survive_a_bibtex_round_trip(tmp_path: Path) -> None:
    title = ('Le <i>Lancet</i> & l\'<span class="nocase">iPhone</span> : 50 % de CO<sub>2</sub>, '
             'a_b ~ <span style="font-variant:small-caps;">Sc</span> #1 $5')
    data = {"key": "ABCD2345", "itemType": "journalArticle", "title": title, "publicationTitle": "Santé & Co",
            "creators": [{"creatorType": "author", "lastName": "Ducros", "firstName": "Émile"}],
            "date": "2024-06", "pages": "3–7"}
    text = write_bibtex([data])
    assert r"\emph{Lancet} \& l'{iPhone} : 50 \% de CO\textsubscript{2}" in text
    assert "pages = {3--7}" in text and "journal = {Santé \\& Co}" in text
    path = tmp_path / "rich.bib"
    path.write_text(text, encoding="utf-8")
    back = read_bibtex(path).items[0]["data"]
    assert back["title"] == title
    assert (back["publicationTitle"], back["pages"], back["date"]) == ("Santé & Co", "3-7", "2024-06")
    assert back["creators"] == data["creators"]


@pytest.mark.parametrize(("latex", "text"), [
    (r"sant\'e : cr\'eation", "santé : création"),
    (r"\'{E}cole \`a na\"ive", "École à naïve"),
    (r"{\'e}t{\'e} \c{c}a \^{\i}le", "été ça île"),
    (r"\textit{Revue} \textbf{X}", "<i>Revue</i> <b>X</b>"),
    (r"50\% \& co~1", "50% & co\u00a01"),
    (r"a \{b\} \$5 \#1 x\_y", "a {b} $5 #1 x_y"),
])
def test_latex_becomes_unicode(tmp_path: Path, latex: str, text: str) -> None:
    path = tmp_path / "one.bib"
    path.write_text(f"@book{{k1,\n  title = {{{latex}}},\n  year = {{2020}}\n}}\n", encoding="utf-8")
    assert read_bibtex(path).items[0]["data"]["title"] == text


def test_misc_howpublished_and_et_al(tmp_path: Path) -> None:
    path = tmp_path / "misc.bib"
    path.write_text("@misc{a,\n author = {Smith, J. and others},\n title = {X},\n howpublished = {Agence \\& Co}\n}\n"
                    "@misc{b,\n title = {Y},\n howpublished = {\\url{https://x.org/a_b}}\n}\n", encoding="utf-8")
    a, b = (o["data"] for o in read_bibtex(path).items)
    assert a["creators"] == [{"creatorType": "author", "firstName": "J.", "lastName": "Smith"}]
    assert a["publisher"] == "Agence & Co"
    assert b["url"] == "https://x.org/a_b" and "publisher" not in b


# --------------------------------------------------------------------------------------------
# Zotero API JSON as the API answers it; CSL-JSON with every variable
# --------------------------------------------------------------------------------------------

def test_a_single_zotero_object_and_a_collection_list_import(run, tmp_path: Path, example_items: list[dict]) -> None:
    one = tmp_path / "item.json"  # GET /items/KEY
    one.write_text(json.dumps(example_items[0]), encoding="utf-8")
    code, out, _ = run("import", str(one), "-l", "file:one")
    assert code == ExitCode.OK and "Imported 1 item and 0 collections" in out
    colls = json.loads((EXAMPLE / "collections.json").read_text(encoding="utf-8"))
    listing = tmp_path / "collections.json"  # GET /collections: collections, not items
    listing.write_text(json.dumps(colls), encoding="utf-8")
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(example_items[:3] + colls), encoding="utf-8")
    code, out, _ = run("import", str(listing), str(mixed), "-l", "file:c")
    assert code == ExitCode.OK and f"Imported 3 items and {2 * len(colls)} collections" in out


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_byte_order_mark_is_accepted_everywhere(run, tmp_path: Path, encoding: str) -> None:
    csl = tmp_path / "refs.json"
    csl.write_bytes((FIXTURES / "sample.csl.json").read_text(encoding="utf-8").encode(encoding))
    code, out, _ = run("import", str(csl), "-l", "file:bom")
    assert code == ExitCode.OK and "Imported 4 items" in out
    zotero = tmp_path / "folder"
    zotero.mkdir()
    for name in ("items.json", "collections.json"):
        (zotero / name).write_bytes((EXAMPLE / name).read_text(encoding="utf-8").encode(encoding))
    code, out, _ = run("import", str(zotero), "-l", "file:bom")
    assert code == ExitCode.OK and "Imported 99 items" in out


def test_csl_variables_zotero_has_no_field_for_survive_in_extra() -> None:
    csl = {"id": "x1", "type": "report", "title": "Rapport", "container-title-short": "Rapp.",
           "event": "Journées", "event-title": "Journées de la santé", "volume-title": "Tome 2",
           "available-date": {"date-parts": [[2020, 5, 1]]}, "event-date": {"date-parts": [[2020, 3, 5], [2020, 3, 7]]},
           "issued": {"date-parts": [[-44]]}, "ISBN": "978-2-07-036822-8 ; 2-07-036822-X",
           "director": [{"family": "Varda", "given": "Agnès"}], "custom": {"a": 1}}
    data = csl_item_to_zotero(csl)
    lines = data["extra"].splitlines()
    for expected in ("container-title-short: Rapp.", "event-title: Journées de la santé", "volume-title: Tome 2",
                     "available-date: 2020-05-01", "event-date: 2020-03-05/2020-03-07", "director: Varda || Agnès"):
        assert expected in lines, lines
    assert data["creators"] == []  # a report has no director: kept in Extra, not made an author
    assert data["date"] == "-0044"
    back = zotero_to_csl(data)
    for variable in ("container-title-short", "event", "event-title", "volume-title", "available-date", "event-date",
                     "director", "ISBN", "issued", "title"):
        assert back[variable] == csl[variable], variable
    assert back["note"] == 'custom: {"a":1}'  # not a CSL variable citeproc reads: left in the note


def test_the_format_table_is_the_one_place_formats_are_named() -> None:
    """Adding a format is one module of formats/ with a FORMAT, and its line in FORMAT_TABLE: detection,
    import and the export choices all come from the table."""
    import importlib
    import pkgutil

    import zotcurate.formats
    from zotcurate.formats.base import Format
    from zotcurate.formats.files import FORMAT_TABLE, FORMATS

    defined = []
    for info in pkgutil.iter_modules(zotcurate.formats.__path__):
        module = importlib.import_module(f"zotcurate.formats.{info.name}")
        if isinstance(getattr(module, "FORMAT", None), Format):
            defined.append(module.FORMAT)
    assert sorted(f.name for f in defined) == sorted(f.name for f in FORMAT_TABLE)
    assert tuple(f.name for f in FORMAT_TABLE if f.dump is not None) == FORMATS
    assert {s for f in FORMAT_TABLE for s in f.suffixes} >= {".json", ".bib", ".bibtex", ".biblatex"}


def test_a_key_with_parentheses_in_braces_is_read(tmp_path: Path) -> None:
    # Better BibTeX writes such keys (its fixture "citekeys with parentheses #2366" has one)
    bib = tmp_path / "keys.bib"
    bib.write_text("@online{Agilent(2022)Modifications,\n  title = {Some Modifications},\n  date = {2022},\n}\n"
                   "@misc(plain2021, title = {Plain})\n", encoding="utf-8")
    parsed = read_bibtex(bib)
    assert sorted(o["data"]["title"] for o in parsed.items) == ["Plain", "Some Modifications"]
    assert parsed.warnings == []
