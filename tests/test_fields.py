"""One meaning per Zotero field: one table of tricky values, fed to every layer that reads them.

Each row says, by hand, what the value means (the bare DOI it holds, whether the URL can be
followed, the date parts it gives …). The same rows then go through

- ``check``  — the format rules on an item holding the value;
- ``links``  — ``links_of_items`` (the verdict ``invalid`` or the address to request);
- import     — a CSL-JSON file and a BibTeX file with one entry per row;
- export     — ``zotero_to_csl`` (what citeproc receives) and the BibTeX writer;
- ``render`` — the citation line and the access-link line of a bibliography;
- duplicates — the DOI, ISBN and year Zotero's duplicate rule compares;

and every layer must give the row's meaning. ISBN and ISSN are not read by links or render.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from zotcurate.check.duplicates import dup_key
from zotcurate.check.engine import run_check
from zotcurate.check.profile import load_profile
from zotcurate.document import CITATION, LINK, Paragraph, Span, plain
from zotcurate.fields import (
    doi_url,
    isbn13_of,
    isbn_problems,
    issn_problems,
    parse_date,
    parse_extra,
    read_doi,
    url_problem,
)
from zotcurate.formats.bibtex import data_to_fields, read_bibtex
from zotcurate.formats.csljson import csl_to_zotero_objects, key_for, zotero_to_csl
from zotcurate.links.extract import links_of_items
from zotcurate.model import Item
from zotcurate.render.build import build_document
from zotcurate.render.manifest import parse_manifest
from zotcurate.store import Store

TODAY = date(2026, 6, 1)  # "2099" is in the future, "2026" is not
MONTH_MACROS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


@dataclass(frozen=True)
class Row:
    kind: str  # doi | extra-doi | url | isbn | issn | date
    value: str
    doi: str | None = None  # doi rows: the bare DOI the value holds
    ok: bool = True  # check accepts the value as it is (a DOI: bare, with nothing to remove)
    parts: tuple[int, ...] = ()  # date rows: (year, month, day) as far as they are real
    iso: bool = False  # date rows: written YYYY[-MM[-DD]]
    isbn13: str | None = None  # isbn rows: the number duplicates compare


def doi(value: str, bare: str | None, ok: bool = True) -> Row:
    return Row("doi", value, doi=bare, ok=ok and bare is not None)


def day(value: str, parts: tuple[int, ...], *, ok: bool = True, iso: bool = False) -> Row:
    return Row("date", value, ok=ok, parts=parts, iso=iso)


ROWS = [
    doi("10.1016/j.jbi.2020.103456", "10.1016/j.jbi.2020.103456"),
    doi("doi:10.1000/182", "10.1000/182", ok=False),
    doi("DOI: 10.1000/182", "10.1000/182", ok=False),
    doi("https://doi.org/10.1000/182", "10.1000/182", ok=False),
    doi("http://dx.doi.org/10.1000/182", "10.1000/182", ok=False),  # http resolver, old dx host
    doi("HTTPS://DOI.ORG/10.1000/182", "10.1000/182", ok=False),
    doi("10.1000.10/abc", "10.1000.10/abc"),  # a registrant code with a sub-part (DOI Handbook)
    doi("{10.1016/j.x.2020.01.002}", "10.1016/j.x.2020.01.002", ok=False),  # BibTeX braces (Web of Science)
    doi("10.1000/182.", "10.1000/182", ok=False),  # copied with the sentence's full stop
    doi("10.1000/182,", "10.1000/182", ok=False),
    doi(" 10.1000/182 ", "10.1000/182"),  # outer spaces: every layer trims, as Zotero does
    doi("10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0", "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0"),
    doi("10.1000/ 182", None),  # a space inside
    doi("10.1000 /182", None),
    doi("10.10/abc", None),  # registrant code too short
    doi("1000/182", None),
    doi("https://doi.org/", None),
    doi("doi 10.1016", None),  # no suffix
    Row("extra-doi", "10.1000/182", doi="10.1000/182"),
    Row("extra-doi", "https://doi.org/10.1000.10/abc", doi="10.1000.10/abc"),
    Row("extra-doi", "not-a-doi", doi=None),
    Row("url", "https://www.has-sante.fr/jcms/p_3356/fr/a?x=1&y=2"),
    Row("url", "http://localhost:8080/doc"),
    Row("url", "https://example.org:8443/rapport"),  # a port
    Row("url", "https://bücher.example/katalog"),  # an IDN host
    Row("url", "https://xn--bcher-kva.example/katalog"),  # the same, in punycode
    Row("url", "ftp://ftp.example.org/rapport.pdf", ok=False),  # no reader's browser follows ftp any more
    Row("url", "javascript:alert(1)", ok=False),
    Row("url", "mailto:doc@example.org", ok=False),
    Row("url", "www.example.org/rapport", ok=False),  # no scheme
    Row("url", "https:///rapport.pdf", ok=False),  # no host
    Row("url", "http://", ok=False),
    Row("url", "https://intranet/doc", ok=False),  # not a public host name
    Row("url", "https://example.org/un rapport.pdf", ok=False),  # spaces
    Row("url", "https://example.org:99999/x", ok=False),  # port out of range
    Row("url", "https://example.org:http/x", ok=False),
    Row("isbn", "978-2-07-036822-8", isbn13="9782070368228"),
    Row("isbn", "9782070368228", isbn13="9782070368228"),
    Row("isbn", "2-07-036822-X", isbn13="9782070368228"),  # the same book's ISBN-10
    Row("isbn", "978 2 07 036822 8", isbn13="9782070368228"),  # one number written with spaces
    Row("isbn", "0-306-40615-2", isbn13="9780306406157"),
    Row("isbn", "978-2-07-036822-9", ok=False),  # wrong check digit
    Row("isbn", "2-07-036822-5", ok=False),
    Row("isbn", "12345", ok=False),
    Row("issn", "0317-8471"),
    Row("issn", "03178471"),
    Row("issn", "1050-124X"),
    Row("issn", "0317-8472", ok=False),
    Row("issn", "0317-847", ok=False),
    day("2020", (2020,), iso=True),
    day("2020-03", (2020, 3), iso=True),
    day("2020-03-05", (2020, 3, 5), iso=True),
    day("2020-02-29", (2020, 2, 29), iso=True),
    day("mars 2020", (2020, 3)),
    day("5 mars 2020", (2020, 3, 5)),
    day("1er mars 2020", (2020, 3, 1)),
    day("March 5, 2020", (2020, 3, 5)),
    day("05/03/2020", (2020, 3, 5)),  # day first, as Zotero reads it in French
    day("printemps 2019", (2019,)),
    day("2020-03-05 5 mars 2020", (2020, 3, 5)),  # Zotero's stored "SQL date + as typed" form
    day("2020-02-30", (2020, 2), ok=False, iso=True),  # no such day: it is not printed
    day("2021-02-29", (2021, 2), ok=False, iso=True),
    day("30 février 2020", (2020, 2), ok=False),
    day("2099", (2099,), ok=False, iso=True),  # in the future: check says so, the year is still read
    day("courant 2020", (2020,), ok=False),  # words Zotero cannot read: check says so
    day("s.d.", (), ok=False),
    day("bientôt", (), ok=False),
]
KEYS = [key_for(f"row-{i}") for i in range(len(ROWS))]
KINDS = {"doi": "report", "extra-doi": "report", "url": "report", "date": "report", "isbn": "book",
         "issn": "journalArticle"}
ZOTERO_FIELD = {"doi": "DOI", "url": "url", "isbn": "ISBN", "issn": "ISSN", "date": "date"}
CSL_VARIABLE = {"doi": "DOI", "url": "URL", "isbn": "ISBN", "issn": "ISSN"}
CSL_TYPES = {"report": "report", "book": "book", "journalArticle": "article-journal"}
BIB_TYPES = {"report": "techreport", "book": "book", "journalArticle": "article"}
COLLECTION = {"key": "CCCCCCCC", "version": 1, "data": {"key": "CCCCCCCC", "version": 1, "name": "Tout",
                                                        "parentCollection": False}}
MANIFEST = 'name = "champs"\ntitle = "Champs"\n[source]\nlibrary = "file:fields"\ncollection = "Tout"\n'


def title(i: int) -> str:
    return f"Rapport {i}"


def zotero_data(i: int, row: Row) -> dict[str, Any]:
    data: dict[str, Any] = {"key": KEYS[i], "version": 1, "itemType": KINDS[row.kind], "title": title(i),
                            "collections": ["CCCCCCCC"], "tags": [], "relations": {}}
    if row.kind == "extra-doi":
        data["extra"] = f"DOI: {row.value}"
    else:
        data[ZOTERO_FIELD[row.kind]] = row.value
    return data


def csl_entry(i: int, row: Row) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": KEYS[i], "type": CSL_TYPES[KINDS[row.kind]], "title": title(i)}
    if row.kind == "date":
        entry["issued"] = {"raw": row.value}
    elif row.kind == "extra-doi":
        entry["note"] = f"DOI: {row.value}"
    else:
        entry[CSL_VARIABLE[row.kind]] = row.value
    return entry


def bib_entry(i: int, row: Row) -> str:
    field = {"doi": "doi", "url": "url", "isbn": "isbn", "issn": "issn", "date": "date", "extra-doi": "note"}[row.kind]
    value = f"DOI: {row.value}" if row.kind == "extra-doi" else row.value
    return f"@{BIB_TYPES[KINDS[row.kind]]}{{{KEYS[i]},\n  title = {{{title(i)}}},\n  {field} = {{{value}}},\n}}\n"


@dataclass
class Layers:
    findings: dict[str, dict[str, list[str]]]  # key → rule → messages
    links: dict[str, dict[str, Any]]  # key → kind → Link
    citation: dict[str, str]  # key → the citation line
    access: dict[str, str | None]  # key → the access line's address (None: "available on request")
    order: list[str]  # keys in document order
    from_csl: dict[str, dict[str, Any]]  # key → item data imported from CSL-JSON
    from_bib: dict[str, dict[str, Any]]  # key → item data imported from BibTeX
    items: dict[str, Item]


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> Layers:
    tmp = tmp_path_factory.mktemp("fields")
    objects = [{"key": KEYS[i], "version": 1, "data": zotero_data(i, row)} for i, row in enumerate(ROWS)]
    with Store(tmp / "store.sqlite") as store:
        lib = store.ensure_library("file:fields", "file", "fields")
        store.upsert_collections(lib, [COLLECTION])
        store.upsert_items(lib, objects)
        report = run_check(store, lib, load_profile(None), today=TODAY)
        result = build_document(store, lib, parse_manifest(MANIFEST, tmp / "bib.toml"))
        items = {i.key: i for i in store.items(lib)}
    assert not result.problems
    findings: dict[str, dict[str, list[str]]] = {}
    for f in report.findings:
        findings.setdefault(f.item_key, {}).setdefault(f.rule, []).append(f.message)
    links: dict[str, dict[str, Any]] = {}
    for link in links_of_items(items.values()):
        links.setdefault(link.item_key, {})[link.kind] = link
    citation, access, order = {}, {}, []
    for block in result.document.blocks:
        spans = [s for s in block.spans if isinstance(s, Span)] if isinstance(block, Paragraph) else []
        if isinstance(block, Paragraph) and block.role == CITATION:
            citation[str(block.key)] = plain(spans)
            order.append(str(block.key))
        elif isinstance(block, Paragraph) and block.role == LINK:
            access[str(block.key)] = spans[0].url if spans[0].text == "Accéder au document" else None

    csl_path = tmp / "rows.json"
    entries = [csl_entry(i, row) for i, row in enumerate(ROWS)]
    csl_path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    from_csl = {o["key"]: o["data"] for o in csl_to_zotero_objects(csl_path, entries)}
    bib_path = tmp / "rows.bib"
    bib_path.write_text("\n".join(bib_entry(i, row) for i, row in enumerate(ROWS)), encoding="utf-8")
    from_bib = {o["key"]: o["data"] for o in read_bibtex(bib_path).items}
    return Layers(findings, links, citation, access, order, from_csl, from_bib, items)


def rows_of(*kinds: str) -> list[Any]:
    return [pytest.param(i, row, id=f"{row.kind}:{row.value}") for i, row in enumerate(ROWS) if row.kind in kinds]


def test_the_table_is_what_fields_reads() -> None:
    """The hand-written meanings are the module's: every layer below is held to the same rows."""
    for row in ROWS:
        if row.kind in ("doi", "extra-doi"):
            reading = read_doi(row.value)
            assert reading.doi == row.doi, row
            if row.kind == "doi":
                assert (reading.doi is not None and not reading.removed) == row.ok, row
        elif row.kind == "url":
            assert (url_problem(row.value) is None) == row.ok, row
        elif row.kind == "isbn":
            assert (not isbn_problems(row.value), isbn13_of(row.value)) == (row.ok, row.isbn13), row
        elif row.kind == "issn":
            assert (not issn_problems(row.value)) == row.ok, row
        elif row.kind == "date":
            parsed = parse_date(row.value, today=TODAY)
            assert (parsed.parts, parsed.ok, parsed.iso and parsed.ok) == (row.parts, row.ok, row.iso and row.ok), row


@pytest.mark.parametrize(("i", "row"), rows_of("doi"))
def test_a_doi_means_the_same_in_every_layer(layers: Layers, i: int, row: Row) -> None:
    key = KEYS[i]
    # check: doi-format fires unless the value is a bare DOI; it names the DOI to store
    messages = layers.findings.get(key, {}).get("doi-format", [])
    assert bool(messages) is not row.ok, messages
    if row.doi and messages:
        assert messages == [f"Remove {read_doi(row.value).removed}: store the DOI as '{row.doi}'."]
    # links: the DOI is requested at the resolver, or the value is invalid
    link = layers.links[key]["doi"]
    assert (link.invalid is None) is (row.doi is not None)
    assert link.url == (doi_url(row.doi) if row.doi else row.value.strip())
    # import: both importers store the bare DOI when there is one, the text otherwise
    assert layers.from_csl[key]["DOI"] == (row.doi or row.value)
    assert layers.from_bib[key]["DOI"] == (row.doi or row.value.strip())
    # render: the access line links to the DOI's address, or says "on request"
    assert layers.access[key] == (doi_url(row.doi) if row.doi else None)
    # duplicates compare the bare DOI, case-folded
    assert dup_key(layers.items[key]).doi == (row.doi.upper() if row.doi else None)


@pytest.mark.parametrize(("i", "row"), rows_of("extra-doi"))
def test_a_doi_in_extra_means_the_same_in_every_layer(layers: Layers, i: int, row: Row) -> None:
    key = KEYS[i]
    link = layers.links[key]["doi"]
    assert (link.invalid is None) is (row.doi is not None)
    assert layers.access[key] == (doi_url(row.doi) if row.doi else None)
    assert dup_key(layers.items[key]).doi == (row.doi.upper() if row.doi else None)
    # CSL-JSON's note and BibTeX's note both land in Extra, read by the same Extra parser
    for imported in (layers.from_csl[key], layers.from_bib[key]):
        assert [(x.key, x.value) for x in parse_extra(imported["extra"])] == [("DOI", row.value)]
        assert read_doi(zotero_to_csl(imported)["DOI"]).doi == row.doi


@pytest.mark.parametrize(("i", "row"), rows_of("url"))
def test_a_url_means_the_same_in_every_layer(layers: Layers, i: int, row: Row) -> None:
    key = KEYS[i]
    assert bool(layers.findings.get(key, {}).get("url-syntax")) is not row.ok
    link = layers.links[key]["url"]
    assert (link.invalid is None) is row.ok, link.invalid
    assert link.url == row.value
    # importers keep the address as written, so check and links judge it the same after import
    assert layers.from_csl[key]["url"] == row.value
    assert layers.from_bib[key]["url"] == row.value
    # render offers a link only to an address links could follow
    assert layers.access[key] == (row.value if row.ok else None)


@pytest.mark.parametrize(("i", "row"), rows_of("isbn", "issn"))
def test_an_isbn_or_issn_means_the_same_in_every_layer(layers: Layers, i: int, row: Row) -> None:
    key = KEYS[i]
    rule, field = ("isbn-checksum", "ISBN") if row.kind == "isbn" else ("issn-checksum", "ISSN")
    assert bool(layers.findings.get(key, {}).get(rule)) is not row.ok
    assert layers.from_csl[key][field] == row.value
    assert layers.from_bib[key][field] == row.value
    if row.kind == "isbn":  # duplicates compare the ISBN-13 of a valid number, however it is written
        assert dup_key(layers.items[key]).isbn == row.isbn13


def printed(row: Row) -> str:
    """How the bundled style prints the row's date: its real parts, or the text when it has no year."""
    if not row.parts:
        return row.value
    return "-".join(f"{p:02d}" if n else str(p) for n, p in enumerate(row.parts))


@pytest.mark.parametrize(("i", "row"), rows_of("date"))
def test_a_date_means_the_same_in_every_layer(layers: Layers, i: int, row: Row) -> None:
    key = KEYS[i]
    found = layers.findings.get(key, {})
    # ("s.d." is rejected as a placeholder, which stands in for date-format)
    assert bool(found.get("date-format") or found.get("placeholder-value")) is not row.ok, found
    assert bool(found.get("date-not-iso")) is (row.ok and not row.iso), found
    # import stores the date as written; what citeproc then receives has the row's parts
    for imported in (layers.from_csl[key], layers.from_bib[key], layers.items[key].data):
        assert imported["date"] == row.value
        issued = zotero_to_csl(imported)["issued"]
        assert issued.get("date-parts", [[]])[0] == list(row.parts)
        if not row.parts:
            assert issued == {"literal": row.value}
        # the BibTeX writer splits the same parts into year, month and day
        _, fields = data_to_fields(imported)
        expected = {"year": str(row.parts[0]) if row.parts else row.value}
        if len(row.parts) > 1:
            expected["month"] = MONTH_MACROS[row.parts[1] - 1]
        if len(row.parts) > 2:
            expected["day"] = str(row.parts[2])
        assert {k: v for k, v in fields.items() if k in ("year", "month", "day")} == expected
    # render prints those parts (an impossible day is not printed) …
    end = "" if printed(row).endswith(".") else "."
    assert layers.citation[key] == f"{title(i)}, {printed(row)}{end}"
    # … and duplicates compare the same year
    assert dup_key(layers.items[key]).year == (row.parts[0] if row.parts else None)


def test_render_sorts_dates_by_the_same_parts(layers: Layers) -> None:
    """Newest first, a year alone after the months of that year, undated last."""
    dated = {KEYS[i]: row.parts for i, row in enumerate(ROWS) if row.kind == "date"}
    shown = [dated[k] for k in layers.order if dated.get(k)]
    assert shown == sorted(shown, key=lambda p: p + (0,) * (3 - len(p)), reverse=True)
    undated_at = [layers.order.index(k) for k, parts in dated.items() if not parts]
    assert min(undated_at) > max(layers.order.index(k) for k, parts in dated.items() if parts)
