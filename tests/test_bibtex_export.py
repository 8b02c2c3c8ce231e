"""BibTeX export writes what import reads back: round trips, flavours, one key scheme, roles and types."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zotcurate.cli import main
from zotcurate.errors import ExitCode
from zotcurate.formats.bibtex import BIBTEX_TYPES, citation_key, read_bibtex, write_bibtex
from zotcurate.formats.bibtex_syntax import parse_bibtex

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"
EXAMPLE = ROOT / "examples" / "numerique-sante"
CLASSIC_TYPES = {"article", "book", "booklet", "inbook", "incollection", "inproceedings", "manual", "mastersthesis",
                 "misc", "phdthesis", "proceedings", "techreport", "unpublished"}


def items_of(path: Path) -> list[dict]:
    return [o["data"] for o in read_bibtex(path).items]


def again(tmp_path: Path, items: list[dict], flavour: str) -> list[dict]:
    out = tmp_path / f"again-{flavour}.bib"
    out.write_text(write_bibtex(items, flavour=flavour), encoding="utf-8")
    parsed = read_bibtex(out, strict=True)  # what we write is valid: not one warning
    return [o["data"] for o in parsed.items]


def entries(text: str) -> list:
    problems: list[str] = []
    found = parse_bibtex(text, lambda problem, consequence: problems.append(problem))
    assert problems == []
    return found


@pytest.mark.parametrize(("fixture", "flavour"), [
    ("roundtrip.biblatex", "biblatex"), ("crossref.biblatex", "biblatex"), ("latex-damage.bib", "biblatex"),
    ("latex-damage.bib", "bibtex"), ("bbt-export.bib", "bibtex"), ("bbt-export.bib", "biblatex"),
    ("jabref-cp1252.bib", "bibtex"),
])
def test_bibtex_to_store_to_bibtex_to_store_is_identical(tmp_path: Path, fixture: str, flavour: str) -> None:
    path = tmp_path / fixture
    path.write_bytes((FIXTURES / fixture).read_bytes())
    first = items_of(path)
    second = again(tmp_path, first, flavour)
    assert len(second) == len(first)
    for before, after in zip(first, second, strict=True):
        assert after == before, before.get("citationKey")
    # and a third trip writes the same text
    assert write_bibtex(second, flavour=flavour) == write_bibtex(first, flavour=flavour)


def test_roundtrip_fixture_keeps_types_roles_dates_and_tags(tmp_path: Path) -> None:
    by_key = {d["citationKey"]: d for d in items_of(FIXTURES / "roundtrip.biblatex")}
    assert {k: d["itemType"] for k, d in by_key.items()} == {
        "film2019": "film", "video2020": "videoRecording", "loi2009": "statute", "case2015": "case",
        "letter1890": "letter", "mag2021": "magazineArticle", "book2018": "book", "chap2020": "bookSection",
        "report2023": "report", "web2025": "webpage", "these2017": "thesis", "nothing": "document"}
    assert [(c["creatorType"], c["lastName"]) for c in by_key["film2019"]["creators"]] == [
        ("director", "Varda"), ("producer", "Doe")]
    assert [(c["creatorType"], c["lastName"]) for c in by_key["book2018"]["creators"]] == [
        ("author", "de La Fontaine"), ("editor", "Martin"), ("translator", "Smith"), ("seriesEditor", "Durand")]
    assert [c["creatorType"] for c in by_key["chap2020"]["creators"]] == ["author", "bookAuthor"]
    assert by_key["mag2021"]["creators"][0] == {"creatorType": "author", "firstName": "Martin Luther, Jr.",
                                               "lastName": "King"}
    assert [t["tag"] for t in by_key["mag2021"]["tags"]] == ["santé", "tags, with commas", "a;b"]
    assert (by_key["mag2021"]["date"], by_key["book2018"]["date"]) == ("2021-03/2021-05", "2018/2019")
    assert by_key["web2025"]["accessDate"] == "15 mars 2025"
    assert by_key["video2020"]["accessDate"] == "2024-05-02T08:30:00Z"
    assert by_key["book2018"]["ISBN"] == "978-2-07-036822-8 ; 2-07-036822-X"
    assert by_key["book2018"]["extra"] == "original-date: 1668"
    assert by_key["report2023"]["extra"] == "tex.annote: Une annotation"


def test_zotero_items_keep_suffixes_tags_roles_types_and_ranges(tmp_path: Path) -> None:
    items = [
        {"key": "AAAA2222", "itemType": "film", "title": "Cléo de 5 à 7", "date": "1962-04-11",
         "creators": [{"creatorType": "director", "lastName": "Varda", "firstName": "Agnès"},
                      {"creatorType": "castMember", "lastName": "Marchand", "firstName": "Corinne"},
                      {"creatorType": "contributor", "lastName": "Legrand", "firstName": "Michel"}],
         "tags": [{"tag": "cinéma, français"}, {"tag": "nouvelle vague"}]},
        {"key": "BBBB3333", "itemType": "journalArticle", "title": "Suffixes", "date": "2019–2020",
         "creators": [{"creatorType": "author", "lastName": "Frank", "firstName": "Frank G., Jr."}]},
        {"key": "CCCC4444", "itemType": "statute", "nameOfAct": "Loi santé", "dateEnacted": "2019-07-24"},
        {"key": "DDDD5555", "itemType": "letter", "title": "Lettre", "date": "mars 1890",
         "creators": [{"creatorType": "author", "lastName": "Gogh", "firstName": "Vincent van"},
                      {"creatorType": "recipient", "lastName": "Gogh", "firstName": "Théo van"}]},
        {"key": "EEEE6666", "itemType": "case", "caseName": "Arrêt", "court": "Conseil d'État", "dateDecided": "2015"},
        {"key": "FFFF7777", "itemType": "webpage", "title": "Page", "url": "https://example.org/p",
         "accessDate": "le 15 mars 2025 à 10 h"},
        {"key": "GGGG8888", "itemType": "document"},  # nothing BibTeX could carry
    ]
    back = {d["key"]: d for d in again(tmp_path, items, "biblatex")}
    keys = list(back)
    film = back[keys[0]]
    assert film["itemType"] == "film"
    assert [(c["creatorType"], c["lastName"]) for c in film["creators"]] == [
        ("director", "Varda"), ("castMember", "Marchand"), ("contributor", "Legrand")]
    assert [t["tag"] for t in film["tags"]] == ["cinéma, français", "nouvelle vague"]
    assert back[keys[1]]["creators"][0]["firstName"] == "Frank G., Jr."
    assert back[keys[1]]["date"] == "2019/2020"
    assert [back[k]["itemType"] for k in keys[2:]] == ["statute", "letter", "case", "webpage", "document"]
    assert back[keys[2]]["nameOfAct"] == "Loi santé" and back[keys[2]]["dateEnacted"] == "2019-07-24"
    assert [c["creatorType"] for c in back[keys[3]]["creators"]] == ["author", "recipient"]
    assert back[keys[5]]["accessDate"] == "le 15 mars 2025 à 10 h"  # not cut to 10 characters
    # classic BibTeX: the same items, only classic entry types, and the suffix and the range still in place
    text = write_bibtex(items, flavour="bibtex")
    assert {e.type for e in entries(text)} <= CLASSIC_TYPES
    assert "author = {Frank, Jr., Frank G.}" in text and "year = {2019--2020}" in text
    classic = {d["key"]: d for d in again(tmp_path, items, "bibtex")}
    assert [d["itemType"] for d in classic.values()] == [i["itemType"] for i in items]
    assert list(classic.values())[1]["date"] == "2019/2020"


def test_every_example_item_is_valid_bibtex_in_both_flavours(tmp_path: Path) -> None:
    objects = json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))
    tops = [o["data"] for o in objects if not o["data"].get("parentItem")
            and o["data"]["itemType"] not in ("note", "attachment")]
    for flavour in ("bibtex", "biblatex"):
        text = write_bibtex(tops, flavour=flavour)
        found = entries(text)
        assert len(found) == len(tops)
        if flavour == "bibtex":
            assert {e.type for e in found} <= CLASSIC_TYPES
            assert not any(f in e.fields for e in found for f in ("langid", "date", "journaltitle", "location"))
        back = again(tmp_path, tops, flavour)
        for before, after in zip(tops, back, strict=True):
            assert after["itemType"] == before["itemType"]
            assert len(after["creators"]) == len(before["creators"])
            for field in ("title", "nameOfAct", "url", "DOI", "pages", "volume", "institution", "publicationTitle"):
                if before.get(field):
                    assert after.get(field) == before[field], (before["key"], field)


def test_one_key_scheme(tmp_path: Path) -> None:
    """Better BibTeX's auth.lower + shorttitle(3,3) + year for every item without a pinned key, in both flavours."""
    objects = json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))
    tops = [o["data"] for o in objects if o["data"]["itemType"] not in ("note", "attachment")]
    for flavour in ("bibtex", "biblatex"):
        keys = [e.key for e in entries(write_bibtex(tops, flavour=flavour))]
        for data, key in zip(tops, keys, strict=True):
            assert re.fullmatch(re.escape(citation_key(data)) + "[a-z]*", key), (key, citation_key(data))
        assert len(set(keys)) == len(keys)
    pinned = {"itemType": "book", "title": "T", "citationKey": "doe2020"}
    extra_pin = {"itemType": "book", "title": "T", "extra": "Citation Key: smith2021"}
    assert [e.key for e in entries(write_bibtex([pinned, extra_pin]))] == ["doe2020", "smith2021"]


def test_export_cli_flavour_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ZOTCURATE_STORE": str(tmp_path / "store.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}
    assert main(["import", str(FIXTURES / "roundtrip.biblatex"), "-l", "file:rt"], env=env) == ExitCode.OK
    for flavour in ("bibtex", "biblatex"):
        out = tmp_path / f"{flavour}.bib"
        code = main(["export", "-l", "file:rt", "--format", "bibtex", "--bibtex-flavour", flavour, "-o", str(out)],
                    env=env)
        assert code == ExitCode.OK
        types = {e.type for e in entries(out.read_text(encoding="utf-8"))}
        if flavour == "bibtex":
            assert types <= CLASSIC_TYPES
        else:
            assert {"movie", "online", "legislation", "jurisdiction", "letter"} <= types
    capsys.readouterr()
    code = main(["export", "-l", "file:rt", "--format", "bibtex", "--bibtex-flavour", "bibtexx", "-o",
                 str(tmp_path / "x.bib")], env=env)
    assert code == ExitCode.USAGE
    assert set(BIBTEX_TYPES.values()) <= CLASSIC_TYPES


NASTY = ["a } b {", "50 % \\ back # hash ~ tilde ^ caret $ dollar _ under & amp", "{balanced} and {{double}}",
         'quote " and @ at', "Tom and Jerry, Inc.", "line\nbreak", "\u00a0no-break", "x \\emph{not markup}"]


@pytest.mark.parametrize("flavour", ["bibtex", "biblatex"])
def test_any_text_gives_valid_bibtex_that_reads_back(tmp_path: Path, flavour: str) -> None:
    items = []
    for i, text in enumerate(NASTY):
        items.append({"key": f"NAST{i:04d}", "itemType": "book", "title": text, "publisher": text, "place": text,
                      "abstractNote": text, "tags": [{"tag": text}],
                      "creators": [{"creatorType": "author", "lastName": text, "firstName": text},
                                   {"creatorType": "editor", "name": text}],
                      "extra": f"free text: {text}\ntex.custom: {text}"})
    back = again(tmp_path, items, flavour)  # strict: no warning at all
    assert len(back) == len(items)
    for before, after in zip(items, back, strict=True):
        expected = " ".join(before["title"].split())  # BibTeX values are one line
        if "<" not in expected:
            assert after["title"] == expected
        assert after["publisher"] == after["place"] == after["abstractNote"] == expected
        assert [t["tag"] for t in after["tags"]] == [expected]
        assert after["creators"][1] == {"creatorType": "editor", "name": expected}
