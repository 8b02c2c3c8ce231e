"""``zotcurate render``: a manifest (or --collection) → an annotated bibliography in .docx
and .md. The user's command first, then what they see and what is on disk; then the
library functions (selection, sort, commentary, access links, footnotes)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.footnote import footnote_plugin

from zotcurate.cli import main
from zotcurate.document import (
    BODY,
    CITATION,
    COMMENTARY,
    LINK,
    NOTICE,
    FootnoteRef,
    Heading,
    ListBlock,
    Paragraph,
    Span,
    plain,
)
from zotcurate.errors import ConfigError, ExitCode, NotFoundError, StoreError
from zotcurate.formats.files import import_files
from zotcurate.model import LibraryRef
from zotcurate.render.build import build_document, date_in_words, french_date, render_bibliography
from zotcurate.render.manifest import load_manifest, parse_manifest
from zotcurate.store import MIGRATIONS, Store, _split_sql
from zotcurate.writers.docx import ROLE_STYLES
from zotcurate.writers.markdown import to_markdown

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "numerique-sante"


def run(argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[int, str, str]:
    env = {"ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}
    code = main(argv, env=env)
    out = capsys.readouterr()
    return code, out.out, out.err


def md_html(text: str) -> str:
    return MarkdownIt("commonmark").use(footnote_plugin).render(text)


# -- a small synthetic library, written as a Zotero export next to its manifest ----------

def item(key: str, title: str | None = None, *, date: str = "", colls: tuple[str, ...] = ("AAAAAAAA",),
         item_type: str = "report", **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"key": key, "version": 1, "itemType": item_type, "collections": list(colls),
                            "tags": [], "relations": {}}
    if title is not None:
        data["title"] = title
    if date:
        data["date"] = date
    data.update(fields)
    return {"key": key, "version": 1, "data": data}


def collection(key: str, name: str, parent: str | bool = False) -> dict[str, Any]:
    return {"key": key, "version": 1, "data": {"key": key, "version": 1, "name": name, "parentCollection": parent}}


COLLECTIONS = [
    collection("RRRRRRRR", "Thème"),
    collection("AAAAAAAA", "Alpha", "RRRRRRRR"),
    collection("BBBBBBBB", "Bêta", "RRRRRRRR"),
    collection("CCCCCCCC", "Sous-bêta", "BBBBBBBB"),
]


def make_bib(tmp_path: Path, items: list[dict[str, Any]], manifest: str = "", *,
             collections: list[dict[str, Any]] | None = None) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "items.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    (data / "collections.json").write_text(json.dumps(collections or COLLECTIONS, ensure_ascii=False),
                                           encoding="utf-8")
    path = tmp_path / "bib.toml"
    head = ('name = "essai"\ntitle = "Essai"\n'
            if not manifest.lstrip().startswith(("name", "title")) else "")
    source = '\n[source]\nlibrary = "file:essai"\nimport = ["data"]\ncollection = "Thème"\n'
    if "[source]" in manifest:
        source = ""
    path.write_text(head + manifest + source, encoding="utf-8")
    return path


def open_store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.sqlite")


def build(tmp_path: Path, items: list[dict[str, Any]], manifest: str = "", **kw: Any):
    path = make_bib(tmp_path, items, manifest, collections=kw.pop("collections", None))
    spec = load_manifest(path)
    store = open_store(tmp_path)
    import_files(store, LibraryRef.parse("file:essai"), spec.source.files)
    lib = store.require_library("file:essai")
    return store, lib, spec, build_document(store, lib, spec, **kw)


def citations(doc) -> list[str]:
    return [plain(b.spans) for b in doc.blocks if isinstance(b, Paragraph) and b.role == CITATION]


# -- the README's first command ------------------------------------------------------------

def test_readme_first_command_writes_the_example_bibliography(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(["--store", str(tmp_path / "example.sqlite"), "render",
                                str(EXAMPLE / "bibliography.toml"), "--output", str(out)], capsys, tmp_path)
    assert code == ExitCode.OK, stderr
    names = ["numerique-sante.docx", "numerique-sante.md", "numerique-sante.pdf", "numerique-sante.html"]
    assert stdout == f"Wrote 80 entries to {', '.join(str(out / n) for n in names)}.\n"  # the writers' table order
    assert sorted(p.name for p in out.iterdir()) == sorted(names)

    md = (out / "numerique-sante.md").read_text(encoding="utf-8")
    headings = re.findall(r"^(#+) (.*)$", md, re.M)
    # French typography: no-break spaces inside « » (render.typography), in every format.
    assert headings[:4] == [("#", "«\u00a0Numérique et santé\u00a0»"), ("##", "Préambule"), ("##", "Introduction"),
                            ("##", "Données de cadrage")]
    assert [h for level, h in headings if level == "##"] == [
        "Préambule", "Introduction", "Données de cadrage", "Obstacles et freins",
        "Recommandations et bonnes pratiques", "Outils et exemples inspirants"]
    assert [h for level, h in headings if level == "###"] == ["Ressources pour comprendre"] * 4
    # Footnotes run through the document: 1 in the introduction, 2-4 in part 1, …
    assert "patients[^1]." in md and "droit français[^2]." in md and "pertinente[^4]." in md
    assert len(re.findall(r"^\[\^\d+\]: ", md, re.M)) == 19
    assert md.count("[^5]: PON Dominique, COURY Annelore, Accélérer le virage numérique") == 1
    # The CESE report is cited twice in part 3: two notes with the same text.
    cese = [n for n, t in re.findall(r"^\[\^(\d+)\]: (.*)$", md, re.M) if t.startswith("EJ JARROUDI")]
    assert len(cese) == 2
    # An entry: citation, link line, commentary — newest first.
    # (a no-break space in "330 p.", a non-breaking hyphen in the date: render.typography)
    assert ("CREDOC Pôle société, Baromètre du numérique, CREDOC, 2025\u201103, 330\u00a0p.\n\n"
            "[Accéder au document](<https://www.credoc.fr/publications/barometre-du-numerique-edition-2025>)\n\n"
            "Ce baromètre du numérique dresse") in md
    assert "[Disponible sur demande](<mailto:e.bec@creaiors-occitanie.fr>)" in md
    assert "Tous les liens hypertextes" not in md  # no link audit has run on this store
    assert 'class="footnotes"' in md_html(md)

    d = docx.Document(str(out / "numerique-sante.docx"))
    counts: dict[str, int] = {}
    for p in d.paragraphs:
        counts[p.style.name] = counts.get(p.style.name, 0) + 1
    assert counts[ROLE_STYLES[CITATION]] == 80 and counts[ROLE_STYLES[LINK]] == 80
    assert counts["Heading 1"] == 6 and counts["Heading 2"] == 4
    with zipfile.ZipFile(out / "numerique-sante.docx") as zf:
        assert zf.read("word/footnotes.xml").decode("utf-8").count("<w:footnote w:id") >= 19
        # The manifest asks for a Sommaire: its entries are written out (links to the headings and
        # PAGEREF page numbers), not left to a TOC field only Word fills.
        body = zf.read("word/document.xml").decode("utf-8")
        assert body.count("PAGEREF ") == 10 and 'w:anchor="' in body and "Sommaire" in body


def test_part_entries_are_sorted_newest_first_as_printed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert run(["--store", str(tmp_path / "s.sqlite"), "render", str(EXAMPLE / "bibliography.toml"),
                "--output", str(out), "--format", "md"], capsys, tmp_path)[0] == 0
    md = (out / "numerique-sante.md").read_text(encoding="utf-8")
    part4 = md.split("## Outils et exemples inspirants")[1].split("[^1]:")[0]
    dates = [d.replace("\u2011", "-")  # the date's hyphen is a non-breaking one (render.typography)
             for d in re.findall(r", (\d{4}(?:[-\u2011]\d\d)?), [^\n]*\n\n\[(?:Accéder|Disponible)", part4)]
    # STYLE.md §2: "part 4 runs 2025-04, 2025-04, 2025-03, 2025, 2025, 2024-12".
    assert dates[:6] == ["2025-04", "2025-04", "2025-03", "2025", "2025", "2024-12"]
    assert not (out / "numerique-sante.docx").exists()  # --format md only


# -- selection -----------------------------------------------------------------------------

def test_parts_follow_the_manifest_nested_and_an_item_in_two_parts_appears_in_both(tmp_path: Path) -> None:
    items = [
        item("ITEM0001", "Dans Alpha et Bêta", date="2020", colls=("AAAAAAAA", "BBBBBBBB")),
        item("ITEM0002", "Seulement Sous-bêta", date="2021", colls=("CCCCCCCC",)),
        item("ITEM0003", "À la corbeille", date="2022", colls=("AAAAAAAA",), deleted=1),
    ]
    manifest = ('[[parts]]\ncollection = "Bêta"\nheading = "Deuxième"\n'
                '[[parts.parts]]\ncollection = "Sous-bêta"\nheading = "Détail"\n'
                '[[parts]]\ncollection = "Alpha"\n')
    *_, result = build(tmp_path, items, manifest)
    outline = [(b.level, plain(b.spans)) if isinstance(b, Heading) else plain(b.spans)
               for b in result.document.blocks if isinstance(b, Heading) or b.role == CITATION]
    assert outline == [
        (1, "Deuxième"), (2, "Ressources pour comprendre"), "Dans Alpha et Bêta, 2020.",
        (2, "Détail"), (3, "Ressources pour comprendre"), "Seulement Sous-bêta, 2021.",
        (1, "Alpha"), (2, "Ressources pour comprendre"), "Dans Alpha et Bêta, 2020.",
    ]
    assert result.entries == 3 and result.problems == []  # the trashed item never appears


def test_without_parts_sub_collections_become_parts_by_name(tmp_path: Path) -> None:
    items = [item("ITEM0001", "Un", date="2020", colls=("AAAAAAAA",)),
             item("ITEM0002", "Deux", date="2021", colls=("CCCCCCCC",))]
    *_, result = build(tmp_path, items, '[labels]\nentries = ""\n')
    headings = [(b.level, plain(b.spans)) for b in result.document.blocks if isinstance(b, Heading)]
    assert headings == [(1, "Alpha"), (1, "Bêta"), (2, "Sous-bêta")]


def test_entry_tags_filter_what_is_listed(tmp_path: Path) -> None:
    items = [item("ITEM0001", "Retenu", date="2020", tags=[{"tag": "bib:entry"}]),
             item("ITEM0002", "Note seulement", date="2021", tags=[{"tag": "bib:footnote"}]),
             item("ITEM0003", "Fragment", date="2022", tags=[{"tag": "bib:entry"}, {"tag": "ocr:fragment"}])]
    *_, result = build(tmp_path, items, '[entries]\ntags = ["bib:entry"]\nexclude_tags = ["ocr:fragment"]\n')
    assert citations(result.document) == ["Retenu, 2020."]


def test_sort_newest_first_year_only_after_its_months_undated_last(tmp_path: Path) -> None:
    items = [item(f"ITEM000{n}", f"T{n}", date=d) for n, d in
             enumerate(["2024", "2025", "", "2025-03", "2025-04-02", "2025-04", "mai 2023"], start=1)]
    store, lib, spec, result = build(tmp_path, items)
    assert citations(result.document) == [
        "T5, 2025-04-02.", "T6, 2025-04.", "T4, 2025-03.", "T2, 2025.", "T1, 2024.", "T7, 2023-05.", "T3."]
    oldest = build_document(store, lib, spec, sort="date-asc")
    assert citations(oldest.document)[:2] == ["T7, 2023-05.", "T1, 2024."]
    assert citations(oldest.document)[-1] == "T3."  # undated stays last
    by_title = build_document(store, lib, spec, sort="title")
    assert citations(by_title.document)[0].startswith("T1")
    with pytest.raises(ConfigError, match="Unknown sort"):
        build_document(store, lib, spec, sort="random")


def test_unknown_collection_in_manifest_is_a_clear_not_found_error(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, [item("ITEM0001", "Un", date="2020")], '[[parts]]\ncollection = "Gamma"\n')
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "-o", str(tmp_path / "o")],
                         capsys, tmp_path)
    assert code == ExitCode.NOT_FOUND
    assert err.startswith("Error: The library file:essai has no collection ")
    assert "part's collection" in err and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_render_by_collection_without_a_manifest(tmp_path: Path, capsys) -> None:
    make_bib(tmp_path, [item("ITEM0001", "Un", date="2020", colls=("CCCCCCCC",))])
    store_path = str(tmp_path / "s.sqlite")
    assert run(["--store", store_path, "import", str(tmp_path / "data"), "--library", "file:essai"],
               capsys, tmp_path)[0] == 0
    code, out, err = run(["--store", store_path, "--library", "file:essai", "render", "--collection",
                          "Thème/Bêta", "--format", "md", "-o", str(tmp_path / "o"), "--sort", "title"],
                         capsys, tmp_path)
    assert code == ExitCode.OK, err
    md = (tmp_path / "o" / "Bêta.md").read_text(encoding="utf-8")
    assert md.startswith("# Bêta\n\n## Sous-bêta\n\n### Ressources pour comprendre\n\nUn, 2020.\n")


def test_render_without_manifest_or_collection_is_a_usage_error(tmp_path: Path, capsys) -> None:
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render"], capsys, tmp_path)
    assert code == ExitCode.USAGE and "Give a manifest file, or at least one --collection" in err


# -- entries: access link and commentary ------------------------------------------------

def test_access_link_url_then_doi_then_on_request_contact(tmp_path: Path) -> None:
    items = [item("ITEM0001", "Avec URL", date="2023", url="https://example.org/a", DOI="10.1/x"),
             item("ITEM0002", "Avec DOI", date="2022", item_type="journalArticle", DOI="doi:10.1000/xyz"),
             item("ITEM0003", "Sans rien", date="2021")]
    manifest = '[access]\non_request = "Sur demande"\ncontact = "doc@example.org"\n'
    *_, result = build(tmp_path, items, manifest)
    links = [b.spans[0] for b in result.document.blocks if isinstance(b, Paragraph) and b.role == LINK]
    assert [(s.text, s.url) for s in links] == [
        ("Accéder au document", "https://example.org/a"),
        ("Accéder au document", "https://doi.org/10.1000/xyz"),
        ("Sur demande", "mailto:doc@example.org"),
    ]


def test_commentary_from_a_tagged_child_note_converts_html_without_leaking_tags(tmp_path: Path) -> None:
    note_html = ('<div data-schema-version="9"><p>Ce rapport <em>analyse</em> les <strong>usages</strong>, '
                 'voir <a href="https://example.org/n">la source</a> &amp; <a href="javascript:alert(1)">ceci</a>.'
                 '</p><ul><li>premier</li><li>second<ul><li>imbriqué</li></ul></li></ul>'
                 '<script>alert("x")</script><p>Fin<br/>de note.</p></div>')
    items = [
        item("ITEM0001", "Avec note", date="2023", abstractNote="Le résumé, pas utilisé."),
        item("NOTE0001", colls=(), item_type="note", parentItem="ITEM0001", note=note_html,
             tags=[{"tag": "Commentaire"}]),
        item("NOTE0002", colls=(), item_type="note", parentItem="ITEM0001", note="<p>Note de travail</p>"),
        item("ITEM0002", "Sans note", date="2022", abstractNote="Premier paragraphe.\n\nSecond paragraphe."),
    ]
    *_, result = build(tmp_path, items, '[commentary]\nsource = "note-or-abstract"\nnote_tag = "commentaire"\n')
    blocks = [b for b in result.document.blocks if getattr(b, "role", None) == COMMENTARY]
    assert [b.key for b in blocks] == ["ITEM0001"] * 4 + ["ITEM0002"] * 2
    first = blocks[0]
    assert isinstance(first, Paragraph)
    assert [(s.text, s.italic, s.bold, s.url) for s in first.spans] == [
        ("Ce rapport ", False, False, None), ("analyse", True, False, None), (" les ", False, False, None),
        ("usages", False, True, None), (", voir ", False, False, None),
        ("la source", False, False, "https://example.org/n"), (" & ceci.", False, False, None)]
    assert isinstance(blocks[1], ListBlock) and [plain(i) for i in blocks[1].items] == ["premier", "second", "imbriqué"]
    assert [plain(b.spans) for b in blocks[2:]] == ["Fin", "de note.", "Premier paragraphe.", "Second paragraphe."]
    everything = " ".join(plain(b.spans) for b in blocks if isinstance(b, Paragraph))
    assert "<" not in everything and "alert" not in everything and "Note de travail" not in everything


# -- footnotes and the link-check sentence ------------------------------------------------

def test_intro_citations_become_footnotes_numbered_through_the_document(tmp_path: Path) -> None:
    items = [item("ITEM0001", "Cité", date="2020", url="https://example.org/c"),
             item("ITEM0002", "Hors parties", date="2019", colls=())]
    manifest = ('introduction = "Texte [@ITEM0002] et *aussi* [@ITEM0001; @ITEM0002]."\n'
                '[[parts]]\ncollection = "Alpha"\nintro = "Encore [@ITEM0001]."\n')
    *_, result = build(tmp_path, items, manifest)
    doc = result.document
    assert {n: plain(s) for n, s in doc.footnotes.items()} == {
        1: "Hors parties, 2019. Disponible sur demande", 2: "Cité, 2020. Accéder au document",
        3: "Hors parties, 2019. Disponible sur demande", 4: "Cité, 2020. Accéder au document"}
    assert doc.footnotes[2][-1].url == "https://example.org/c"
    from zotcurate.writers.markdown import to_markdown
    md = to_markdown(doc)
    assert "Texte[^1] et *aussi*[^2][^3]." in md and "Encore[^4]." in md


def test_a_citation_of_a_missing_key_is_a_clear_error(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, [item("ITEM0001", "Un", date="2020")], 'introduction = "Voir [@ZZZZ9999]."\n')
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "-o", str(tmp_path / "o")],
                         capsys, tmp_path)
    assert code == ExitCode.NOT_FOUND and "cites [@ZZZZ9999]" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_link_check_sentence_comes_from_the_link_audit_history(tmp_path: Path) -> None:
    items = [item("ITEM0001", "Un", date="2020", url="https://example.org/1")]
    store, lib, spec, result = build(tmp_path, items, 'introduction = "Intro."\n')
    assert not [b for b in result.document.blocks if getattr(b, "role", None) == NOTICE]
    store.add_link_checks(lib, [{"item_key": "ITEM0001", "kind": "url", "url": "https://example.org/1",
                                 "checked_at": "2025-05-03T10:00:00Z", "verdict": "ok", "status": 200}])
    again = build_document(store, lib, spec)
    notices = [plain(b.spans) for b in again.document.blocks if getattr(b, "role", None) == NOTICE]
    assert notices == ["Tous les liens hypertextes mentionnés ont été vérifiés pour la dernière fois le 3 mai 2025."]
    assert french_date("2025-06-01") == "1er juin 2025" and french_date("2024-12-31T23:00:00+00:00") == "31 décembre 2024"


# -- the user's store is only read -----------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_render_from_files_leaves_the_store_byte_identical_and_reads_its_link_history(
        tmp_path: Path, capsys) -> None:
    items = [item("ITEM0001", "Un", date="2020", url="https://example.org/1"), item("ITEM0002", "Deux", date="2021")]
    path = make_bib(tmp_path, items, 'introduction = "Intro."\n')
    store_path = tmp_path / "store.sqlite"
    # The documentalist imported these files once and audited their links.
    assert run(["--store", str(store_path), "import", str(tmp_path / "data"), "--library", "file:essai"],
               capsys, tmp_path)[0] == ExitCode.OK
    with Store(store_path) as store:
        store.add_link_checks(store.require_library("file:essai"), [
            {"item_key": "ITEM0001", "kind": "url", "url": "https://example.org/1",
             "checked_at": "2025-05-03T10:00:00Z", "verdict": "ok", "status": 200}])
    # Since then the files changed: render shows the files, and leaves the store's copy alone.
    items[1]["data"]["title"] = "Deux, revu"
    items.append(item("ITEM0003", "Trois", date="2022"))
    make_bib(tmp_path, items, 'introduction = "Intro."\n')
    before = sha256(store_path)

    code, out, err = run(["--store", str(store_path), "render", str(path), "-o", str(tmp_path / "o")],
                         capsys, tmp_path)
    assert code == ExitCode.OK, err
    assert sha256(store_path) == before
    md = (tmp_path / "o" / "essai.md").read_text(encoding="utf-8")
    assert "Tous les liens hypertextes mentionnés ont été vérifiés pour la dernière fois le 3\u00a0mai\u00a02025." in md
    assert "Deux, revu, 2021." in md and "Trois, 2022." in md
    with Store(store_path) as store:  # nothing waiting in the write-ahead log either
        lib = store.require_library("file:essai")
        assert [(i.key, i.data["title"]) for i in store.items(lib)] == [("ITEM0001", "Un"), ("ITEM0002", "Deux")]


def test_render_from_files_needs_no_store_and_creates_none(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, [item("ITEM0001", "Un", date="2020", url="https://example.org/1")],
                    'introduction = "Intro."\n')
    store_path = tmp_path / "nulle-part" / "store.sqlite"
    code, out, err = run(["--store", str(store_path), "render", str(path), "--format", "md", "-o",
                          str(tmp_path / "o")], capsys, tmp_path)
    assert code == ExitCode.OK, err
    assert out == f"Wrote 1 entry to {tmp_path / 'o' / 'essai.md'}.\n"
    assert not store_path.parent.exists()
    assert "Tous les liens" not in (tmp_path / "o" / "essai.md").read_text(encoding="utf-8")  # no audit anywhere


def test_render_of_a_library_without_a_store_is_not_found_and_creates_none(tmp_path: Path, capsys) -> None:
    store_path = tmp_path / "absent.sqlite"
    code, out, err = run(["--store", str(store_path), "--library", "group:1", "render", "--collection", "Thème",
                          "-o", str(tmp_path / "o")], capsys, tmp_path)
    assert code == ExitCode.NOT_FOUND
    assert err == (f"Error: The store {store_path} does not exist, so it has no library to render; run "
                   "'zotcurate sync' (or 'zotcurate import') first, or point --store at your store.\n")
    assert not store_path.exists() and not (tmp_path / "o").exists()


def test_the_store_render_reads_is_read_only_and_an_old_one_says_how_to_upgrade(tmp_path: Path, capsys) -> None:
    store_path = tmp_path / "s.sqlite"
    with Store(store_path) as store:
        lib = store.ensure_library("file:essai", "file", "essai")
    with Store(store_path, read_only=True) as store, pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.add_link_checks(lib, [{"item_key": "ITEM0001", "kind": "url", "url": "https://example.org/1",
                                     "checked_at": "2025-05-03T10:00:00Z", "verdict": "ok"}])

    old = tmp_path / "old.sqlite"  # schema 2: before the link audit existed
    with sqlite3.connect(old) as db:
        for script in MIGRATIONS[:2]:
            for statement in _split_sql(script):
                db.execute(statement)
        db.execute("PRAGMA user_version = 2")
    db.close()
    before = sha256(old)
    with pytest.raises(StoreError, match=r"older zotcurate \(schema 2\).*run 'zotcurate status' once"):
        Store(old, read_only=True)
    argv = ["--store", str(old), "--library", "group:1", "render", "--collection", "Thème", "-o", str(tmp_path / "o")]
    code, out, err = run(argv, capsys, tmp_path)
    assert code == ExitCode.STORE and "zotcurate status" in err and sha256(old) == before
    assert run(["--store", str(old), "status"], capsys, tmp_path)[0] == ExitCode.OK
    code, out, err = run(argv, capsys, tmp_path)  # upgraded: now the library is simply unknown
    assert code == ExitCode.NOT_FOUND and "has no library 'group:1'" in err


# -- hostile input --------------------------------------------------------------------------

def test_hostile_items_give_a_document_or_a_reported_skip(tmp_path: Path, capsys) -> None:
    long_abstract = ("Un commentaire très long. " * 400)[:10_000]
    items = [
        item("ITEM0001", "Titre <b>gras</b> & <script>x</script> *étoiles* [crochets] | # _", date="2024",
             abstractNote=long_abstract),
        item("ITEM0002", "Contrôle\x00\x07\x1b[31m rouge\x0b", date="2023", abstractNote="Bip\x07 fin\x00."),
        item("ITEM0003", "日本語の報告書：デジタル健康", date="2022", abstractNote="هذا تعليق باللغة العربية."),
        item("ITEM0004", date="", item_type="document"),  # every optional field missing
        item("ITEM0005", "Μελέτη για την υγεία", date="2021",
             creators=[{"creatorType": "author", "lastName": "Παπαδόπουλος", "firstName": "Γιώργος"}]),
    ]
    path = make_bib(tmp_path, items)
    out = tmp_path / "o"
    code, stdout, stderr = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "-o", str(out)],
                               capsys, tmp_path)
    assert code == ExitCode.FINDINGS  # documents written, one item reported and skipped
    assert "Warning: Item ITEM0004 (untitled) was skipped:" in stderr and "Traceback" not in stderr
    assert stdout.startswith("Wrote 4 entries to ")
    md = (out / "essai.md").read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", md)
    html = md_html(md)
    # Zotero's rich-text tags in a title (<b>, <i>, <sup>…) are formatting, as in Zotero;
    # anything else is text, shown as typed.
    assert "<script>" not in html and "<b>" not in html
    assert "Titre <strong>gras</strong> &amp; &lt;script&gt;x&lt;/script&gt; *étoiles* [crochets] | # _" in html
    assert long_abstract.strip() in md and "日本語の報告書" in md and "ΠΑΠΑΔΌΠΟΥΛΟΣ" in md.upper()
    d = docx.Document(str(out / "essai.docx"))
    texts = [p.text for p in d.paragraphs]
    assert any(t.startswith("Titre gras & <script>x</script> *étoiles*") for t in texts)
    assert long_abstract.strip() in texts and "هذا تعليق باللغة العربية." in texts


def test_one_bad_item_is_skipped_in_a_300_entry_bibliography(tmp_path: Path) -> None:
    items = [item(f"IT{n:06d}", f"Rapport numéro {n}", date=f"{2000 + n % 25}-{n % 12 + 1:02d}",
                  institution="Institut", pages=str(n), abstractNote=f"Commentaire {n}.") for n in range(300)]
    items.insert(150, item("BAD00001", item_type="document"))
    path = make_bib(tmp_path, items)
    store = open_store(tmp_path)
    spec = load_manifest(path)
    outcome = render_bibliography(store, spec, output_dir=tmp_path / "o")
    assert outcome.entries == 300
    assert len(outcome.problems) == 1 and outcome.problems[0].startswith("Item BAD00001 (untitled) was skipped")
    md = (tmp_path / "o" / "essai.md").read_text(encoding="utf-8")
    assert md.count("Accéder au document") + md.count("Disponible sur demande") == 300
    assert len(docx.Document(str(tmp_path / "o" / "essai.docx")).paragraphs) > 900


def test_an_invalid_style_is_a_clear_error_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, [item("ITEM0001", "Un", date="2020")])
    bad = tmp_path / "cassé.csl"
    bad.write_text("<style>pas du CSL", encoding="utf-8")
    for style in ("style-inexistant", str(bad)):
        code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "--style", style,
                              "-o", str(tmp_path / "o")], capsys, tmp_path)
        assert code == ExitCode.CONFIG and err.startswith("Error: ") and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_another_csl_style_by_name_works(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, [item("ITEM0001", "Un rapport", date="2020", institution="Institut")])
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "--style", "apa",
                          "--format", "md", "-o", str(tmp_path / "o")], capsys, tmp_path)
    assert code == ExitCode.OK, err
    assert "Un rapport" in (tmp_path / "o" / "essai.md").read_text(encoding="utf-8")


# -- the manifest ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('titel = "x"', "'titel' is not a manifest setting; did you mean 'title'?"),
    ('sort = "random"', "'sort' is 'random'; use one of date, date-asc, author, title."),
    ('toc = "oui"', "'toc' must be true or false."),
    ('formats = ["odt"]', "'formats' contains 'odt'; use docx, md, pdf, html."),
    ('[access]\ncontact = "personne"', "'access.contact' is 'personne'; give an e-mail address"),
    ('[[parts]]\nheading = "Sans collection"', "'parts[1].collection' is missing"),
    ('[source]\nimport = ["absent"]', "'source.import' names "),
    ('title = "non fermé', "is not valid TOML"),
    ('french_spaces = "fine"', "'french_spaces' is 'fine'; use one of mixed, narrow, nbsp, off."),
    ('[access]\nlink_line = "parfois"', "'access.link_line' is 'parfois'; use one of auto, always, never."),
])
def test_manifest_errors_name_the_file_the_key_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bib.toml"
    with pytest.raises(ConfigError) as err:
        parse_manifest(text, path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_missing_manifest_file_is_a_config_error(tmp_path: Path, capsys) -> None:
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(tmp_path / "absent.toml")],
                         capsys, tmp_path)
    assert code == ExitCode.CONFIG and "does not exist" in err


def test_example_manifest_reads_as_documented() -> None:
    spec = load_manifest(EXAMPLE / "bibliography.toml")
    assert spec.output_name == "numerique-sante" and spec.style == "bibliographie-commentee"
    assert [p.heading for p in spec.parts] == ["Données de cadrage", "Obstacles et freins",
                                               "Recommandations et bonnes pratiques", "Outils et exemples inspirants"]
    assert spec.access.contact == "mailto:e.bec@creaiors-occitanie.fr"
    assert spec.source.files == [EXAMPLE / "."]
    with pytest.raises(NotFoundError), Store(":memory:") as store:
        import_files(store, LibraryRef.parse("file:x"), spec.source.files)
        lib = store.require_library("file:x")
        spec.parts[0].collection = "Absente"
        build_document(store, lib, spec)


def test_an_output_folder_that_is_a_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, [item("ITEM0001", "Un", date="2020")])
    (tmp_path / "o").write_text("un fichier", encoding="utf-8")
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "-o", str(tmp_path / "o")],
                         capsys, tmp_path)
    assert code == ExitCode.CONFIG and "cannot be written" in err and "Traceback" not in err


def test_an_unknown_format_fails_before_any_work(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, [item("ITEM0001", "Un", date="2020")])
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "--format", "odt",
                          "-o", str(tmp_path / "o")], capsys, tmp_path)
    assert code == ExitCode.CONFIG and "Unknown format 'odt'" in err
    assert not (tmp_path / "o").exists()


def test_footnotes_use_the_note_form_of_a_note_style(tmp_path: Path) -> None:
    """Chicago notes writes a note ("Given Family, Title") unlike its bibliography entry
    ("Family, Given. Title"): footnotes must take the note form."""
    with Store(tmp_path / "s.sqlite") as store:
        import_files(store, LibraryRef.parse("file:example"), [EXAMPLE])
        lib = store.require_library("file:example")
        manifest = parse_manifest(
            'title = "T"\nintroduction = "Voir [@SKJ3FVUF]."\n[[parts]]\ncollection = "Numérique et santé/0. Introduction"\n',
            "m.toml")
        doc = build_document(store, lib, manifest, style="chicago-notes-bibliography").document
    note = plain(doc.footnotes[1])
    entry = next(b for b in doc.blocks if isinstance(b, Paragraph) and b.role == CITATION)
    assert plain(entry.spans).startswith("Délégation ministérielle au numérique en santé. ")
    assert note.startswith("Délégation ministérielle au numérique en santé, ")


def test_figure_caption_cites_inline_not_in_a_footnote(tmp_path: Path) -> None:
    """ "Source : [!@KEY]" puts the citation and its link text in the running text,
    as the centre prints illustration captions (STYLE.md §4.10)."""
    with Store(tmp_path / "s.sqlite") as store:
        import_files(store, LibraryRef.parse("file:example"), [EXAMPLE])
        lib = store.require_library("file:example")
        manifest = parse_manifest(
            'title = "T"\n[[parts]]\ncollection = "Numérique et santé/4. Outils et exemples inspirants"\n'
            'intro = "Texte [@SKJ3FVUF].\\n\\nSource : [!@PSWV4P4T]"\n', "m.toml")
        doc = build_document(store, lib, manifest).document
        caption = next(b for b in doc.blocks if isinstance(b, Paragraph)
                       and isinstance(b.spans[0], Span) and b.spans[0].text.startswith("Source"))
        assert plain(caption.spans) == (
            "Source : SIZARET Anne, VASSIEUX Laétitia, COUSIN Laure, Agir sur les fractures numériques en santé "
            "auprès des populations vulnérables, FNES, 2023-04, 20 p. Accéder au document")
        assert caption.spans[-1].url and caption.spans[-1].text == "Accéder au document"
        assert len(doc.footnotes) == 1  # only [@SKJ3FVUF]
        bad = parse_manifest('title = "T"\nintroduction = "Source : [!@ZZZZ2222]"\n[[parts]]\n'
                             'collection = "Numérique et santé/4. Outils et exemples inspirants"\n', "m.toml")
        with pytest.raises(NotFoundError, match=r"ZZZZ2222"):
            build_document(store, lib, bad)


# -- the link-check sentence is only ever true ------------------------------------------------

SENTENCE = "Tous les liens hypertextes mentionnés ont été vérifiés pour la dernière fois le "


def check_row(key: str, url: str, when: str, verdict: str) -> dict[str, Any]:
    return {"item_key": key, "kind": "url", "url": url, "checked_at": when, "verdict": verdict,
            "status": 200 if verdict == "ok" else 404}


LINKED = [item("ITEM0001", "Un", date="2021", url="https://example.org/1"),
          item("ITEM0002", "Deux", date="2020", url="https://example.org/2"),
          item("ITEM0003", "Trois, sur demande", date="2019")]


def audited_render(tmp_path: Path, capsys, checks: list[dict[str, Any]],
                   items: list[dict[str, Any]] | None = None) -> tuple[int, str, str]:
    """The documentalist imported the files, audited their links (``checks``), and renders."""
    path = make_bib(tmp_path, items or LINKED, 'introduction = "Intro."\n')
    store_path = tmp_path / "store.sqlite"
    assert run(["--store", str(store_path), "import", str(tmp_path / "data"), "--library", "file:essai"],
               capsys, tmp_path)[0] == ExitCode.OK
    with Store(store_path) as store:
        store.add_link_checks(store.require_library("file:essai"), checks)
    return run(["--store", str(store_path), "render", str(path), "--format", "md", "-o", str(tmp_path / "o")],
               capsys, tmp_path)


def test_link_check_sentence_is_dated_by_the_oldest_of_the_latest_checks(tmp_path: Path, capsys) -> None:
    checks = [check_row("ITEM0001", "https://example.org/1", "2025-04-01T09:00:00Z", "broken"),
              check_row("ITEM0001", "https://example.org/1", "2025-05-03T10:00:00Z", "ok"),  # fixed since
              check_row("ITEM0002", "https://example.org/2", "2025-05-10T10:00:00Z", "ok"),
              check_row("ITEM0002", "https://example.org/2", "2025-05-12T10:00:00Z", "ok")]
    code, out, err = audited_render(tmp_path, capsys, checks)
    assert code == ExitCode.OK, err
    md = (tmp_path / "o" / "essai.md").read_text(encoding="utf-8")
    # Every link was checked on 3 May or after (MAX(checked_at) would say 12 May: false for link 1).
    assert SENTENCE + "3\u00a0mai\u00a02025." in md
    assert "link-check sentence" not in err


@pytest.mark.parametrize("checks, why, listed", [
    # one of the two links broken at its latest check, though it was fine before
    ([check_row("ITEM0001", "https://example.org/1", "2025-05-01T10:00:00Z", "ok"),
      check_row("ITEM0001", "https://example.org/1", "2025-05-03T10:00:00Z", "broken"),
      check_row("ITEM0002", "https://example.org/2", "2025-05-03T10:00:00Z", "ok")],
     "1 of the 2 links printed failed their latest check",
     ["ITEM0001 https://example.org/1 (broken, 2025-05-03)"]),
    # the audit in which every link was broken: the latest audit date says nothing true
    ([check_row("ITEM0001", "https://example.org/1", "2025-05-03T10:00:00Z", "broken"),
      check_row("ITEM0002", "https://example.org/2", "2025-05-03T10:00:00Z", "broken")],
     "2 of the 2 links printed failed their latest check",
     ["ITEM0001 https://example.org/1 (broken, 2025-05-03)", "ITEM0002 https://example.org/2 (broken, 2025-05-03)"]),
    # one link never checked (its item's URL changed after the audit: the old address was checked)
    ([check_row("ITEM0001", "https://example.org/1", "2025-05-03T10:00:00Z", "ok"),
      check_row("ITEM0002", "https://example.org/ancienne", "2025-05-03T10:00:00Z", "ok")],
     "1 of the 2 links printed have never been checked",
     ["ITEM0002 https://example.org/2"]),
])
def test_link_check_sentence_is_left_out_when_a_link_is_broken_or_unchecked(
        tmp_path: Path, capsys, checks: list[dict[str, Any]], why: str, listed: list[str]) -> None:
    code, out, err = audited_render(tmp_path, capsys, checks)
    assert code == ExitCode.FINDINGS
    md = (tmp_path / "o" / "essai.md").read_text(encoding="utf-8")
    assert "Tous les liens" not in md and "Un, 2021." in md  # the document is written all the same
    assert f"Warning: the link-check sentence is left out: {why}" in err
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if "link-check sentence" in line)
    assert [line.strip() for line in lines[start + 1:start + 1 + len(listed)]] == listed


def test_link_check_sentence_without_any_audit_is_left_out_with_a_note_only(tmp_path: Path, capsys) -> None:
    path = make_bib(tmp_path, LINKED, 'introduction = "Intro."\n')
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "--format", "md",
                          "-o", str(tmp_path / "o")], capsys, tmp_path)
    assert code == ExitCode.OK  # nothing is claimed, nothing is wrong
    assert "Note: the link-check sentence is left out: no link audit has been recorded" in err
    assert "Tous les liens" not in (tmp_path / "o" / "essai.md").read_text(encoding="utf-8")


# -- honest access lines -------------------------------------------------------------------

def test_online_without_url_is_warned_and_on_request_entries_are_listed(tmp_path: Path, capsys) -> None:
    items = [item("ITEM0001", "En ligne", date="2022", url="https://example.org/1"),
             item("ITEM0002", "URL perdue", date="2021", extra="bib-access: online\nocr-gap: URL lost"),
             item("ITEM0003", "Sur demande", date="2020", extra="bib-access: on-request"),
             item("ITEM0004", "Par DOI", date="2019", item_type="journalArticle", DOI="10.1000/abc",
                  extra="bib-access: online")]
    path = make_bib(tmp_path, items, 'introduction = "Voir [@ITEM0003]."\n')
    code, out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(path), "--format", "md",
                          "-o", str(tmp_path / "o")], capsys, tmp_path)
    assert code == ExitCode.OK  # a warning: the item is printed, the data wants fixing
    assert ('Warning: 1 item(s) are printed "Disponible sur demande" although their Extra says bib-access: '
            "online: their URL is missing.") in err
    assert "\n  ITEM0002 (URL perdue)\n" in err
    assert ('2 item(s) printed "Disponible sur demande" (2 entries):\n  ITEM0003 (Sur demande)\n'
            "  ITEM0002 (URL perdue)\n") in err  # in the order they are printed: the note first
    assert "ITEM0004" not in err  # its DOI gives the link
    *_, spec, result = build(tmp_path, items, 'introduction = "Voir [@ITEM0003]."\n')
    assert [(o.key, o.says_online, o.entry) for o in result.on_request] == [
        ("ITEM0003", False, True), ("ITEM0002", True, True)]
    assert len(result.warnings) == 1 and "ITEM0002" in result.warnings[0] and spec.access.link_line == "auto"


def link_lines(doc) -> list[str]:
    return [plain(b.spans) for b in doc.blocks if isinstance(b, Paragraph) and b.role == LINK]


def test_link_line_auto_leaves_it_out_when_the_style_prints_the_url(tmp_path: Path) -> None:
    items = [item("ITEM0001", "Un rapport", date="2021", institution="Institut", url="https://example.org/r"),
             item("ITEM0002", "Un autre", date="2020", institution="Institut")]
    store, lib, spec, centre = build(tmp_path, items, 'introduction = "Voir [@ITEM0001]."\n')
    # The centre's style prints no URL: "Accéder au document" carries it.
    assert link_lines(centre.document) == ["Accéder au document", "Disponible sur demande"]
    apa = build_document(store, lib, spec, style="apa").document
    assert "https://example.org/r" in citations(apa)[0]
    assert link_lines(apa) == ["Disponible sur demande"]  # APA prints the URL itself
    assert "Accéder au document" not in plain(apa.footnotes[1]) and "https://example.org/r" in plain(apa.footnotes[1])
    spec.access.link_line = "always"
    assert link_lines(build_document(store, lib, spec, style="apa").document) == [
        "Accéder au document", "Disponible sur demande"]
    spec.access.link_line = "never"
    never = build_document(store, lib, spec).document
    assert link_lines(never) == [] and plain(never.footnotes[1]) == "Un rapport, Institut, 2021."


def test_a_style_that_prints_the_abstract_does_not_get_the_commentary_twice(tmp_path: Path) -> None:
    abstract = "Ce rapport analyse les usages du numérique en santé dans les territoires ruraux."
    items = [item("ITEM0001", "Un rapport", date="2021", institution="Institut", abstractNote=abstract)]
    store, lib, spec, centre = build(tmp_path, items)
    commentary = [plain(b.spans) for b in centre.document.blocks if getattr(b, "role", None) == COMMENTARY]
    assert commentary == [abstract]
    iso = build_document(store, lib, spec, style="iso690-author-date-fr").document
    assert abstract in citations(iso)[0]  # ISO 690 prints the abstract inside the citation
    assert not [b for b in iso.blocks if getattr(b, "role", None) == COMMENTARY]


def test_the_example_with_apa_and_iso690_prints_each_url_and_commentary_once(tmp_path: Path) -> None:
    spec = load_manifest(EXAMPLE / "bibliography.toml")
    with Store(":memory:") as store:
        import_files(store, LibraryRef.parse("file:x"), spec.source.files)
        lib = store.require_library("file:x")
        for style in ("apa", "iso690-author-date-fr"):
            doc = build_document(store, lib, spec, style=style).document
            blocks = doc.blocks
            for n, block in enumerate(blocks):
                if not (isinstance(block, Paragraph) and block.role == CITATION):
                    continue
                text = plain(block.spans)
                nxt = blocks[n + 1]
                if isinstance(nxt, Paragraph) and nxt.role == LINK:
                    assert nxt.spans[0].url not in text, (style, text)  # a link line only if not printed
                commentary = [plain(b.spans) for b in blocks[n + 1:n + 3]
                              if isinstance(b, Paragraph) and b.role == COMMENTARY]
                assert not any(c[:60] in text for c in commentary), (style, text)
            assert sum(1 for b in blocks if isinstance(b, Paragraph) and b.role == CITATION) == 80


# -- what every writer gets: typography and footnote calls ------------------------------

def finished_example() -> Any:
    from zotcurate.render.build import finish_document

    spec = load_manifest(EXAMPLE / "bibliography.toml")
    with Store(":memory:") as store:
        import_files(store, LibraryRef.parse("file:x"), spec.source.files)
        result = build_document(store, store.require_library("file:x"), spec)
    return result, finish_document(result, spec)


def french_texts(doc) -> list[str]:
    """Every text of the document outside hyperlinks, block by block (the example is all French)."""
    out = [doc.title, doc.subtitle, doc.date, *doc.authors]
    for block in doc.blocks:
        runs = block.items if isinstance(block, ListBlock) else [block.spans]
        out += ["".join(s.text for s in run if isinstance(s, Span) and not s.url) for run in runs]
    out += ["".join(s.text for s in spans if not s.url) for spans in doc.footnotes.values()]
    return out


URLISH = re.compile(r"(?:https?|ftp)://\S+|www\.\S+|\S+@\S+")


def test_french_typography_reaches_every_text_of_the_example_and_no_url() -> None:
    raw, doc = finished_example()
    bad = [t for t in french_texts(doc) if re.search(r" [:;!?»]|« ", URLISH.sub("", t))]
    assert bad == []
    before = [t for t in french_texts(raw.document) if re.search(r" [:;!?»]|« ", URLISH.sub("", t))]
    assert len(before) > 50  # the data has ordinary spaces there: the pass did the work
    text = "\n".join(french_texts(doc))
    assert doc.title == "«\u00a0Numérique et santé\u00a0»" and doc.date_text == "juillet\u00a02025"
    assert "pp.\u00a018\u201124" in text and "n°\u00a01" in text and "vol.\u00a036" in text.casefold()
    assert "4\u00a0min\u00a020\u00a0sec" in text
    assert "face à la déshumanisation des services publics\u202f?" in text
    # Hyperlinks (their text and target) and addresses in the text are untouched.
    links = [s for b in doc.blocks if isinstance(b, Paragraph) for s in b.spans if isinstance(s, Span) and s.url]
    raw_links = [s for b in raw.document.blocks if isinstance(b, Paragraph) for s in b.spans
                 if isinstance(s, Span) and s.url]
    assert links == raw_links


def test_typography_follows_the_item_language_and_the_manifest_setting(tmp_path: Path) -> None:
    from zotcurate.render.build import finish_document

    items = [item("ITEM0001", "Santé : enjeux", date="2021", language="fr", abstractNote="Quoi ? « Tout »."),
             item("ITEM0002", "Health: a review", date="2020", language="en", abstractNote="Why? All."),
             item("ITEM0003", "Sans langue : ici", date="2019")]
    *_, spec, result = build(tmp_path, items, 'title = "Le « titre »"\n')

    def texts(doc) -> list[str]:
        return [plain(b.spans) for b in doc.blocks if isinstance(b, Paragraph) and b.role in (CITATION, COMMENTARY)]

    assert texts(finish_document(result, spec)) == [
        "Santé\u00a0: enjeux, 2021.", "Quoi\u202f? «\u00a0Tout\u00a0».",
        "Health: a review, 2020.", "Why? All.",  # an English item keeps its punctuation
        "Sans langue\u00a0: ici, 2019."]  # no language: the document's (fr-FR)
    spec.french_spaces = "narrow"
    narrow = finish_document(result, spec)
    assert texts(narrow)[:2] == ["Santé\u202f: enjeux, 2021.", "Quoi\u202f? «\u202fTout\u202f»."]
    assert narrow.title == "Le «\u202ftitre\u202f»"
    spec.french_spaces = "nbsp"
    assert texts(finish_document(result, spec))[1] == "Quoi\u00a0? «\u00a0Tout\u00a0»."
    spec.french_spaces = "off"
    assert texts(finish_document(result, spec)) == texts(result.document)


def test_footnote_calls_that_follow_each_other_are_separated(tmp_path: Path) -> None:
    from zotcurate.render.build import finish_document
    from zotcurate.render.typography import CALL_SEPARATOR

    items = [item("ITEM0001", "Un", date="2021", url="https://example.org/1"),
             item("ITEM0002", "Deux", date="2020")]
    manifest = 'introduction = "Texte [@ITEM0001] [@ITEM0002] puis [@ITEM0001; @ITEM0002] et [@ITEM0001]."\n'
    *_, spec, result = build(tmp_path, items, manifest)
    doc = finish_document(result, spec)
    intro = next(b for b in doc.blocks if isinstance(b, Paragraph) and b.role == BODY)
    kinds = ["ref" if isinstance(s, FootnoteRef) else ("sep" if s == CALL_SEPARATOR else "text") for s in intro.spans]
    assert kinds == ["text", "ref", "sep", "ref", "text", "ref", "sep", "ref", "text", "ref", "text"]
    md = to_markdown(doc)
    assert "Texte[^1]<sup>,\u202f</sup>[^2] puis[^3]<sup>,\u202f</sup>[^4] et[^5]." in md
    # Rendered, the calls read "¹, ²": a separate superscript comma between two note links.
    assert re.search(r'footnote-ref"><a [^>]*>\[1\]</a></sup><sup>,\u202f</sup><sup class="footnote-ref">',
                     md_html(md))


def test_title_page_date_is_written_in_words() -> None:
    assert date_in_words("2025-07", "fr-FR") == "juillet 2025"
    assert date_in_words("2025-05-03", "fr") == "3 mai 2025" and date_in_words("2025-06-01", "fr") == "1er juin 2025"
    assert date_in_words("2025", "fr-FR") == "2025" and date_in_words("printemps 2025", "fr-FR") == "printemps 2025"
    assert date_in_words("2025-07", "en-US") == "2025-07" and date_in_words("2025-13", "fr-FR") == "2025-13"


@pytest.mark.parametrize("text, expected", [
    ("Titre : sous-titre", "Titre\u00a0: sous-titre"),
    ("Quoi ? Oui ! Non ; fin", "Quoi\u202f? Oui\u202f! Non\u202f; fin"),
    ("Vraiment? Oui!", "Vraiment\u202f? Oui\u202f!"),  # the missing space is added
    ("des « 5P » et «dispositif»", "des «\u00a05P\u00a0» et «\u00a0dispositif\u00a0»"),
    ("«  deux  espaces  »", "«\u00a0deux  espaces\u00a0»"),
    ("46 p., pp. 18-24, n° 28, vol. 36, Vol. 5",
     "46\u00a0p., pp.\u00a018\u201124, n°\u00a028, vol.\u00a036, Vol.\u00a05"),
    ("4 min 20 sec, 10 000 personnes, 1 000 000 €",
     "4\u00a0min\u00a020\u00a0sec, 10\u00a0000 personnes, 1\u00a0000\u00a0000\u00a0€"),
    ("le 3 mai 2025, en juillet 2025, le 1er juin", "le 3\u00a0mai\u00a02025, en juillet\u00a02025, le 1er\u00a0juin"),
    ("Feuille de route 2023-2027", "Feuille de route 2023\u20112027"),
    ("Covid-19 et e-santé", "Covid-19 et e-santé"),  # a word's hyphen is not a range
    # Addresses and identifiers are never touched.
    ("Voir : https://example.org/a?b=1;c:d-2 !", "Voir\u00a0: https://example.org/a?b=1;c:d-2\u202f!"),
    ("doi:10.1000/x-1 et 10.1234/ab:c-9", "doi:10.1000/x-1 et 10.1234/ab:c-9"),
    ("écrire à doc@example.org: merci", "écrire à doc@example.org: merci"),
    ("ISBN 978-2-1234-5680-3", "ISBN 978-2-1234-5680-3"),
    ("10:30 et 3:2", "10:30 et 3:2"),  # a time, a ratio: no space
    ("déjà\u00a0: bon", "déjà\u00a0: bon"),
])
def test_french_typography_rules(text: str, expected: str) -> None:
    from zotcurate.render.typography import SPACINGS, french_text

    assert french_text(text, SPACINGS["mixed"]) == expected
