"""The PDF edition (Typst) and the web edition (HTML5), read back as a reader gets them: the
PDF's text and links with pypdfium2 (the same engine as Chrome's viewer), the HTML with
html5lib in strict mode (any parse error fails)."""

from __future__ import annotations

import ctypes
import itertools
import re
import shutil
from pathlib import Path
from typing import Any

import html5lib
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.footnote import footnote_plugin

from zotcurate.cli import main
from zotcurate.document import (
    CITATION,
    COMMENTARY,
    LINK,
    NOTICE,
    PREAMBLE,
    Document,
    FootnoteRef,
    Heading,
    ListBlock,
    Paragraph,
    Span,
    plain,
)
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.formats.files import import_files
from zotcurate.model import LibraryRef
from zotcurate.render.build import build_document, date_in_words
from zotcurate.render.manifest import load_manifest
from zotcurate.store import Store
from zotcurate.writers import WRITERS, options_for, writers_for
from zotcurate.writers.base import Entry, with_entries
from zotcurate.writers.html import to_html
from zotcurate.writers.pdf import check_template, default_template, to_typst, write_pdf

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "numerique-sante"
ON_LINK_LINE = ("Accéder au document", "Disponible sur demande")
SHORT_TITLE = "Numérique et santé. Bibliographie commentée"


def run(argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[int, str, str]:
    code = main(argv, env={"ZOTCURATE_CONFIG": str(tmp_path / "none.toml")})
    out = capsys.readouterr()
    return code, out.out, out.err


# -- reading a PDF back ----------------------------------------------------------------------

def pdf_pages(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def pdf_uris(path: Path) -> list[tuple[int, str | None]]:
    """Every link annotation as (page index, URI); None for a link inside the document."""
    pdf = pdfium.PdfDocument(str(path))
    out: list[tuple[int, str | None]] = []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            pos, link = ctypes.c_int(0), pdfium_raw.FPDF_LINK()
            while pdfium_raw.FPDFLink_Enumerate(page.raw, ctypes.byref(pos), ctypes.byref(link)):
                action = pdfium_raw.FPDFLink_GetAction(link)
                if action and pdfium_raw.FPDFAction_GetType(action) == pdfium_raw.PDFACTION_URI:
                    size = pdfium_raw.FPDFAction_GetURIPath(pdf.raw, action, None, 0)
                    buf = ctypes.create_string_buffer(size)
                    pdfium_raw.FPDFAction_GetURIPath(pdf.raw, action, buf, size)
                    out.append((i, buf.value.decode("utf-8")))
                else:
                    out.append((i, None))
    finally:
        pdf.close()
    return out


def flat(text: str) -> str:
    """Page text as one line: pdfium ends lines with CRLF (after the space that was there) and
    marks a hyphen at a line end as U+FFFE, for a hyphenation point and a real hyphen alike."""
    text = text.replace("\r\n", "").replace("\u00a0", " ").replace("\u202f", " ").replace("\u2011", "-")
    return re.sub(r"[ \t]+", " ", text)


def pattern(text: str) -> re.Pattern[str]:
    """``text`` as it may come out of a PDF page: a line may end hyphenated anywhere (U+FFFE),
    and a hyphen at a line end reads as U+FFFE."""
    # French typography puts no-break spaces and hyphens (U+2011) in; they read back as plain ones
    norm = re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2011", "-")).strip()
    return re.compile("\ufffe?".join("[-\ufffe]" if c == "-" else re.escape(c) for c in norm))


def in_pdf(text: str, page_text: str) -> bool:
    return pattern(text).search(flat(page_text)) is not None


def page_of(text: str, pages: list[str]) -> int | None:
    found = [i for i, p in enumerate(pages) if in_pdf(text, p)]
    return found[0] if found else None


# -- reading the Markdown the same run wrote ------------------------------------------------

def _inline_text(token: Any) -> str:
    return "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline", "html_inline"))


def md_citations(md: str) -> list[str]:
    """The citations of the .md: each paragraph followed by a link-line paragraph."""
    tokens = MarkdownIt("commonmark").use(footnote_plugin).parse(md)
    paras = [tokens[i + 1] for i, t in enumerate(tokens) if t.type == "paragraph_open" and t.level == 0]
    out = []
    for para, nxt in itertools.pairwise(paras):
        kids = [c for c in nxt.children or [] if c.type != "softbreak"]
        if [c.type for c in kids] == ["link_open", "text", "link_close"] and kids[1].content in ON_LINK_LINE:
            out.append(_inline_text(para))
    return out


@pytest.fixture(scope="module")
def example_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example rendered to pdf, html and md as a user types it (no store exists)."""
    tmp = tmp_path_factory.mktemp("example")
    out = tmp / "out"
    code = main(["--store", str(tmp / "none.sqlite"), "render", str(EXAMPLE / "bibliography.toml"),
                 "--format", "pdf,html,md", "--output", str(out)], env={"ZOTCURATE_CONFIG": str(tmp / "none.toml")})
    assert code == ExitCode.OK
    assert not (tmp / "none.sqlite").exists()
    return out


@pytest.fixture(scope="module")
def example_doc() -> Document:
    spec = load_manifest(EXAMPLE / "bibliography.toml")
    with Store(":memory:") as store:
        import_files(store, LibraryRef.parse("file:numerique-sante"), spec.source.files)
        return build_document(store, store.require_library("file:numerique-sante"), spec).document


# -- the PDF of the example -----------------------------------------------------------------

def test_the_user_command_writes_all_four_formats(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(["--store", str(tmp_path / "s.sqlite"), "render", str(EXAMPLE / "bibliography.toml"),
                                "--format", "pdf,html,docx,md", "--output", str(out)], capsys, tmp_path)
    assert code == ExitCode.OK, stderr
    names = ["numerique-sante.docx", "numerique-sante.md", "numerique-sante.pdf", "numerique-sante.html"]
    assert stdout == f"Wrote 80 entries to {', '.join(str(out / n) for n in names)}.\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert (out / "numerique-sante.pdf").read_bytes().startswith(b"%PDF-")


def test_pdf_title_page_then_a_sommaire_with_page_numbers_and_each_part_on_its_page(example_out: Path) -> None:
    pages = pdf_pages(example_out / "numerique-sante.pdf")
    assert len(pages) > 15
    title = flat(pages[0])
    for text in ("« Numérique et santé »", "Bibliographie commentée", "BEC Emilie",
                 "CREAI-ORS Occitanie, DRAPPS Occitanie", "juillet 2025"):
        assert text in title, text
    assert "2025-07" not in title and SHORT_TITLE not in title  # no raw date, no footer on the title page

    lines = [ln.strip() for ln in pages[1].split("\r\n")]
    assert lines[0] == "Sommaire"
    toc = [(m.group(1), int(m.group(2))) for ln in lines if (m := re.fullmatch(r"(.+?) (?:\. ?)+(\d+)", ln))]
    assert [t for t, _ in toc] == ["Préambule", "Introduction", "Données de cadrage", "Obstacles et freins",
                                   "Recommandations et bonnes pratiques", "Outils et exemples inspirants"]
    numbers = [n for _, n in toc]
    assert numbers == sorted(numbers) and numbers[0] == 3 and len(set(numbers)) == len(numbers)
    for heading, number in toc:
        # The number is right, and the part opens its page: its heading is what the page starts with.
        assert flat(pages[number - 1]).startswith(heading), (heading, number)


def test_pdf_every_page_after_the_title_page_has_the_footer_and_its_number(example_out: Path) -> None:
    pages = pdf_pages(example_out / "numerique-sante.pdf")
    for n, text in enumerate(pages[1:], start=2):
        footer = text.strip().split("\r\n")[-1]
        assert footer == f"{SHORT_TITLE} Retour au sommaire {n}", (n, footer)
    # "Retour au sommaire" is a live link on each of those pages, to the Sommaire (inside the document).
    internal = {page for page, uri in pdf_uris(example_out / "numerique-sante.pdf") if uri is None}
    assert internal >= set(range(1, len(pages)))


def test_pdf_has_every_citation_of_the_md_identically(example_out: Path) -> None:
    cites = md_citations((example_out / "numerique-sante.md").read_text(encoding="utf-8"))
    assert len(cites) == 80
    whole = "".join(pdf_pages(example_out / "numerique-sante.pdf"))
    missing = [c for c in cites if not in_pdf(c, whole)]
    assert not missing


def test_pdf_entries_are_never_split_from_their_citation(example_out: Path, example_doc: Document) -> None:
    pages = pdf_pages(example_out / "numerique-sante.pdf")
    entries = [e for e in with_entries(example_doc.blocks) if isinstance(e, Entry)]
    assert len(entries) == 80
    checked = 0
    for entry in entries:
        if not entry.commentary or not isinstance(entry.commentary[0], Paragraph):
            continue
        # The commentary's first words find the entry (a footnote may repeat the citation elsewhere):
        # the citation, the link line and the commentary's last words are all on that page.
        citation = plain(entry.citation.spans)  # type: ignore[arg-type]
        head = plain(entry.commentary[0].spans).strip()[:120]  # type: ignore[arg-type]
        tail = plain(entry.commentary[-1].spans).strip()[-60:]  # type: ignore[arg-type,union-attr]
        found = [i for i, page in enumerate(pages) if in_pdf(head, page)]
        assert found, head
        for i in found:
            text = pattern(citation).pattern + ".{0,40}" + pattern(ON_LINK_LINE[0]).pattern
            together = re.search(text, flat(pages[i])) or in_pdf(citation, pages[i])
            assert together and in_pdf(tail, pages[i]), (citation, i + 1)
        checked += 1
    assert checked > 60


def test_pdf_footnotes_are_real_footnotes_on_the_page_of_their_call(example_out: Path,
                                                                   example_doc: Document) -> None:
    pages = pdf_pages(example_out / "numerique-sante.pdf")
    assert len(example_doc.footnotes) == 19
    seen = 0
    for block in example_doc.blocks:
        if not isinstance(block, Paragraph):
            continue
        call_page, last = None, 0
        for n, item in enumerate(block.spans):
            if not isinstance(item, FootnoteRef):
                continue
            # The words between the previous call and this one, then the call's number, find its
            # page (a call right after another is on the same page); the note is on that page.
            before = plain([s for s in block.spans[last:n] if isinstance(s, Span)]).split()
            last = n + 1
            for words in (before[-4:], before[-1:]) if any(w.isalnum() for w in before) else ():
                if (found := page_of(" ".join(words) + str(item.number), pages)) is not None:
                    call_page = found
                    break
            note = plain(example_doc.footnotes[item.number])[:50]
            assert call_page is not None and in_pdf(note, pages[call_page]), (item.number, before, note)
            seen += 1
    assert seen == 19


def test_pdf_links_are_live_and_the_text_is_hyphenated_in_french(example_out: Path) -> None:
    path = example_out / "numerique-sante.pdf"
    uris = [u for _, u in pdf_uris(path) if u]
    md = (example_out / "numerique-sante.md").read_text(encoding="utf-8")
    md_links = re.findall(r"\]\(<([^>]+)>\)", md)
    assert len(md_links) >= 99 and set(md_links) <= set(uris)
    assert "mailto:e.bec@creaiors-occitanie.fr" in uris
    assert b"/Lang(fr-FR)" in path.read_bytes()
    # Hyphenation: words broken at a line end (U+FFFE) that the text writes without a hyphen.
    words = set(re.findall(r"\w+", md))
    broken = {a + b for page in pdf_pages(path) for a, b in re.findall(r"(\w+)\ufffe(\w+)", flat(page))}
    assert len(broken & words) >= 5


# -- the PDF template ----------------------------------------------------------------------

def test_a_centre_template_and_a_word_template_are_each_given_to_their_format(tmp_path: Path, capsys) -> None:
    typ = tmp_path / "maison.typ"
    text = default_template().read_text(encoding="utf-8")
    assert "[Retour au sommaire]" in text
    # A centre's own footer wording, and its logo on the title page, found next to the template.
    assert "  page(footer: none, {\n" in text
    typ.write_text(text.replace("[Retour au sommaire]", "[Haut de page]").replace(
        "  page(footer: none, {\n", '  page(footer: none, {\n    image("logo.svg", width: 3cm)\n'), encoding="utf-8")
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40">'
                                       '<rect width="100" height="40" fill="#1d4e89"/></svg>', encoding="utf-8")
    ref = tmp_path / "maison.docx"
    shutil.copy(ROOT / "styles" / "reference.docx", ref)
    out = tmp_path / "out"
    code, _, stderr = run(["--store", str(tmp_path / "s.sqlite"), "render", str(EXAMPLE / "bibliography.toml"),
                           "--format", "pdf,docx", "--template", str(typ), "--template", str(ref),
                           "--output", str(out)], capsys, tmp_path)
    assert code == ExitCode.OK, stderr
    pages = pdf_pages(out / "numerique-sante.pdf")
    assert pages[3].strip().split("\r\n")[-1] == f"{SHORT_TITLE} Haut de page 4"
    assert "Retour au sommaire" not in "".join(pages)
    title_page = pdfium.PdfDocument(str(out / "numerique-sante.pdf"))[0]
    assert any(obj.type == pdfium_raw.FPDF_PAGEOBJ_PATH for obj in title_page.get_objects())  # the logo
    assert (out / "numerique-sante.docx").stat().st_size > 10_000


def test_the_manifest_names_templates_relative_to_itself(tmp_path: Path, capsys) -> None:
    (tmp_path / "look").mkdir()
    text = default_template().read_text(encoding="utf-8")
    (tmp_path / "look" / "maison.typ").write_text(text.replace('"Libertinus Serif"', '"DejaVu Sans Mono"'),
                                                  encoding="utf-8")
    manifest = (EXAMPLE / "bibliography.toml").read_text(encoding="utf-8").replace(
        'import = ["."]', f"import = [{str(EXAMPLE)!r}]").replace(
        'toc = true', 'toc = true\ntemplate = ["look/maison.typ"]').replace(
        'formats = ["pdf", "docx", "html", "md"]', 'formats = ["pdf"]')
    assert "look/maison.typ" in manifest and repr(str(EXAMPLE)) in manifest
    (tmp_path / "bib.toml").write_text(manifest, encoding="utf-8")
    code, _, stderr = run(["render", str(tmp_path / "bib.toml"), "--output", str(tmp_path / "out")], capsys, tmp_path)
    assert code == ExitCode.OK, stderr
    data = (tmp_path / "out" / "numerique-sante.pdf").read_bytes()
    assert b"DejaVuSansMono" in data and b"LibertinusSerif" not in data


@pytest.mark.parametrize(("files", "message"), [
    (["maison.odt"], "is not a kind zotcurate uses; give a .docx (docx), .typ (pdf) file"),
    (["a.typ", "b.typ"], "Two .typ templates were given"),
    (["broken.typ"], "does not work with Typst"),
    (["absent.typ"], "does not exist"),
])
def test_a_template_that_cannot_work_stops_the_render_before_any_work(tmp_path: Path, capsys, files: list[str],
                                                                        message: str) -> None:
    good = default_template().read_text(encoding="utf-8")
    for name in ("a.typ", "b.typ"):
        (tmp_path / name).write_text(good, encoding="utf-8")
    (tmp_path / "maison.odt").write_bytes(b"PK")
    (tmp_path / "broken.typ").write_text(good.replace("#let zc-entry(", "#let zc-entree("), encoding="utf-8")
    argv = ["--store", str(tmp_path / "s.sqlite"), "render", str(EXAMPLE / "bibliography.toml"),
            "--format", "pdf,md", "--output", str(tmp_path / "out")]
    for name in files:
        argv += ["--template", str(tmp_path / name)]
    code, stdout, stderr = run(argv, capsys, tmp_path)
    assert code == ExitCode.CONFIG
    assert message in stderr and "Traceback" not in stderr and stdout == ""
    assert not (tmp_path / "out").exists()


def test_template_routing_by_suffix() -> None:
    chosen = writers_for(["docx", "md", "pdf", "html"])
    opts = options_for(chosen, [Path("x.typ"), Path("y.DOCX")])
    assert opts["pdf"].template == Path("x.typ") and opts["docx"].template == Path("y.DOCX")
    assert opts["md"].template is None and opts["html"].template is None
    # A template for a format that is not written is left unused, as a Word one always was with md.
    assert options_for(writers_for(["md"]), [Path("x.typ")])["md"].template is None
    with pytest.raises(ConfigError, match="is not a kind"):
        options_for(chosen, [Path("x.odt")])
    assert check_template(default_template()) == default_template()


# -- Typst injection is impossible ------------------------------------------------------------

HOSTILE_TYPST = [
    '#panic("boum")',
    '"); #panic("évasion',
    '\\"); #panic("barre',
    "] #panic(\"crochet\") [",
    "*gras* _italique_ `brut` $x^2$ <etiquette> @etiquette",
    "// pas un commentaire /* ni un bloc */",
    '#read("/etc/passwd") #import "x.typ": * #include "y.typ"',
    "\\u{41} \\n \\\\ fin",
    "= pas un titre",
    "- pas une liste + ni ceci / terme: non",
    "~ tilde --- tiret ... 'apostrophes' \"guillemets\"",
    "#{ let x = 1 } #set text(red) #show: none",
]


def hostile_document() -> Document:
    doc = Document(title=HOSTILE_TYPST[0], subtitle=HOSTILE_TYPST[1], authors=[HOSTILE_TYPST[2]],
                   organisation=HOSTILE_TYPST[3], date=HOSTILE_TYPST[4], short_title=HOSTILE_TYPST[6], toc=True,
                   toc_title=HOSTILE_TYPST[5])
    note = doc.add_footnote([Span(HOSTILE_TYPST[7]), Span(" lien", url='https://example.org/a?q=")#panic("x")')])
    doc.blocks.append(Heading(1, [Span(HOSTILE_TYPST[8])]))
    doc.blocks.append(Paragraph([Span(t + " ") for t in HOSTILE_TYPST[9:]] + [note]))
    for n, text in enumerate(HOSTILE_TYPST):
        doc.blocks += [
            Paragraph([Span(text, italic=n % 2 == 0, bold=n % 3 == 0, smallcaps=n == 4)], role=CITATION, key=f"K{n}"),
            Paragraph([Span(text, url="javascript:alert(1)")], role=LINK, key=f"K{n}"),
            Paragraph([Span(text)], role=COMMENTARY, key=f"K{n}"),
        ]
    return doc


def test_user_text_cannot_become_typst_markup_or_code(tmp_path: Path) -> None:
    out = write_pdf(hostile_document(), tmp_path / "x.pdf")
    pages = pdf_pages(out)
    whole = "".join(pages)
    for text in HOSTILE_TYPST:
        assert len(pattern(text).findall(flat(whole))) >= 3, text  # printed as written, every time
    # Only the safe URL is a link; javascript: prints as text.
    uris = [u for _, u in pdf_uris(out) if u]
    assert uris == ['https://example.org/a?q=")#panic("x")']
    assert "zc-" not in whole  # no trace of the code that made the page


def test_an_entry_longer_than_a_page_still_prints_whole(tmp_path: Path) -> None:
    words = [f"mot{n}" for n in range(1800)]
    doc = Document(title="Long")
    doc.blocks += [Paragraph([Span("Citation longue, 2025.")], role=CITATION, key="LONG0001"),
                   Paragraph([Span("Accéder au document", url="https://example.org/")], role=LINK, key="LONG0001"),
                   Paragraph([Span(" ".join(words) + " FINAL.")], role=COMMENTARY, key="LONG0001"),
                   ListBlock([[Span("point un")], [Span("point deux")]], role=COMMENTARY, key="LONG0001"),
                   # Few characters, many lines: taller than a page all the same.
                   Paragraph([Span("Liste longue, 2025.")], role=CITATION, key="LONG0002"),
                   ListBlock([[Span(f"item{n}")] for n in range(120)], role=COMMENTARY, key="LONG0002")]
    pages = pdf_pages(write_pdf(doc, tmp_path / "long.pdf"))
    assert len(pages) >= 5
    bodies = [page.strip().rsplit("\r\n", 1)[0] + " " for page in pages[1:]]  # without the footers
    text = re.sub(r"\s+", " ", flat("".join(bodies)).replace("\ufffe", ""))
    assert " ".join(words) + " FINAL." in text and "point un" in text and "point deux" in text
    assert re.findall(r"item(\d+)", text) == [str(n) for n in range(120)]


def test_roles_map_to_template_functions() -> None:
    doc = Document(title="T", blocks=[Paragraph([Span("p")], role=PREAMBLE), Paragraph([Span("n")], role=NOTICE),
                                      Paragraph([Span("c")], role=COMMENTARY), Paragraph([Span("b")], role="inconnu")])
    src = to_typst(doc)
    assert '#zc-preamble("p")' in src and '#zc-notice("n")' in src and '#zc-commentary("c")' in src
    assert '#zc-body("b")' in src


# -- the web edition ---------------------------------------------------------------------------

def parse_strict(text: str) -> Any:
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def all_text(el: Any) -> str:
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def test_html_is_valid_html5_with_ids_a_working_toc_and_two_way_footnotes(example_out: Path,
                                                                         example_doc: Document) -> None:
    text = (example_out / "numerique-sante.html").read_text(encoding="utf-8")
    tree = parse_strict(text)  # raises on any HTML5 parse error
    assert text.startswith("<!DOCTYPE html>") and tree.get("lang", "").startswith("fr")
    ids = [el.get("id") for el in tree.iter() if el.get("id")]
    assert len(ids) == len(set(ids))
    entries = tree.findall(".//article")
    # An entry's id is its Zotero item key (a colleague links to page.html#KEY); an item listed in
    # two parts gets KEY-2 the second time.
    keys = [e.key for e in with_entries(example_doc.blocks) if isinstance(e, Entry)]
    expected = [k if k not in keys[:n] else f"{k}-{keys[:n].count(k) + 1}" for n, k in enumerate(keys)]
    assert len(entries) == 80 and [e.get("id") for e in entries] == expected
    # Each entry: the citation first, then the link line, then the commentary.
    for e in entries:
        classes = [c.get("class") for c in e]
        assert classes[0] == "citation" and classes[1] == "lien" and set(classes[2:]) <= {"commentaire"}
    # The Sommaire's links all land on headings of the page.
    nav = tree.find(".//nav")
    targets = [a.get("href") for a in nav.iter("a")]
    assert [all_text(a) for a in nav.iter("a")] == [
        "Préambule", "Introduction", "Données de cadrage", "Obstacles et freins",
        "Recommandations et bonnes pratiques", "Outils et exemples inspirants"]
    by_id = {el.get("id"): el for el in tree.iter() if el.get("id")}
    assert all(t.startswith("#") and by_id[t[1:]].tag in ("h2", "h3") for t in targets)
    # Footnotes: each call links to its note, and each note links back to its call.
    calls = [a for a in tree.iter("a") if a.get("role") == "doc-noteref"]
    backs = [a for a in tree.iter("a") if a.get("role") == "doc-backlink"]
    assert len(calls) == len(backs) == 19
    for call in calls:
        note = by_id[call.get("href")[1:]]
        assert note.tag == "li" and any(b.get("href") == f"#{call.get('id')}" for b in note.iter("a"))
    # Every internal link resolves.
    for a in tree.iter("a"):
        href = a.get("href")
        assert href.startswith(("#", "http://", "https://", "mailto:")), href
        if href.startswith("#"):
            assert href[1:] in by_id, href


def test_html_is_self_contained(example_out: Path) -> None:
    text = (example_out / "numerique-sante.html").read_text(encoding="utf-8")
    tree = parse_strict(text)
    assert not tree.findall(".//script") and not tree.findall(".//img") and not tree.findall(".//link")
    assert not [el for el in tree.iter() if el.get("src")]
    style = "".join(s.text or "" for s in tree.iter("style"))
    assert "@media print" in style and "max-width" in style
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    assert tree.find(".//meta[@name='viewport']") is not None


def test_html_has_every_citation_of_the_md_identically(example_out: Path) -> None:
    cites = md_citations((example_out / "numerique-sante.md").read_text(encoding="utf-8"))
    tree = parse_strict((example_out / "numerique-sante.html").read_text(encoding="utf-8"))
    shown = [all_text(p) for p in tree.iter("p") if p.get("class") == "citation"]
    assert shown == [re.sub(r"\s+", " ", c).strip() for c in cites]


HOSTILE_HTML = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "&amp; &lt;b&gt; &#233; </p></article></main>",
    "<!-- commentaire --> ]]> <![CDATA[ x ]]>",
]


def test_user_text_cannot_become_html_and_only_web_and_mail_links_are_links() -> None:
    doc = Document(title=HOSTILE_HTML[0], subtitle=HOSTILE_HTML[1], authors=[HOSTILE_HTML[2]], toc=True,
                   date="2025-07", date_text="juillet 2025")
    note = doc.add_footnote([Span(HOSTILE_HTML[3], url="https://example.org/n?a=1&b=\"><script>")])
    doc.blocks.append(Heading(1, [Span(HOSTILE_HTML[0])]))
    urls = ["javascript:alert(1)", "file:///etc/passwd", "mailto:a@b.fr", "data:text/html,x"]
    for n, (text, url) in enumerate(zip(HOSTILE_HTML, urls, strict=True)):
        doc.blocks += [Paragraph([Span(text, italic=True), note] if n == 0 else [Span(text)], role=CITATION,
                                 key="SAMEKEY1"),
                       Paragraph([Span(text, url=url)], role=LINK, key="SAMEKEY1"),
                       Paragraph([Span(text)], role=COMMENTARY, key="SAMEKEY1")]
    tree = parse_strict(to_html(doc))
    assert not tree.findall(".//script") and not tree.findall(".//img")
    assert all_text(tree.find(".//h1")) == HOSTILE_HTML[0]
    cites = [all_text(p) for p in tree.iter("p") if p.get("class") == "citation"]
    assert cites[0].startswith(HOSTILE_HTML[0]) and cites[1:] == HOSTILE_HTML[1:]
    hrefs = [a.get("href") for a in tree.iter("a") if not a.get("href").startswith("#")]
    assert hrefs == ["mailto:a@b.fr", 'https://example.org/n?a=1&b="><script>']
    # The same item twice still gives unique ids.
    ids = [a.get("id") for a in tree.findall(".//article")]
    assert ids == ["SAMEKEY1", "SAMEKEY1-2", "SAMEKEY1-3", "SAMEKEY1-4"]


def test_html_and_pdf_title_date_in_words() -> None:
    assert date_in_words("2025-07", "fr-FR") == "juillet 2025"
    assert date_in_words("2025-05-01", "fr-FR") == "1er mai 2025"
    assert date_in_words("2025", "fr-FR") == "2025"
    assert date_in_words("2025-07", "en-US") == "2025-07"
    assert date_in_words("2025-13", "fr-FR") == "2025-13" and date_in_words("juillet 2025", "fr") == "juillet 2025"
    doc = Document(title="T", date="2025-07", date_text="juillet 2025")
    assert '<time datetime="2025-07">juillet 2025</time>' in to_html(doc)
    assert 'date: "juillet 2025"' in to_typst(doc)


def test_both_writers_are_in_the_table() -> None:
    assert WRITERS["pdf"].suffix == ".pdf" and WRITERS["pdf"].template_suffix == ".typ"
    assert WRITERS["html"].suffix == ".html" and WRITERS["html"].template_suffix is None
