"""The Markdown and Word writers, read back: Markdown with a CommonMark parser (plus the
footnote plugin), .docx with python-docx and by unzipping its XML."""

from __future__ import annotations

import html
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import docx
import pytest
from docx.shared import Cm
from markdown_it import MarkdownIt
from mdit_py_plugins.footnote import footnote_plugin

from zotcurate.document import CITATION, COMMENTARY, LINK, Document, Heading, ListBlock, Paragraph, Span, clean_text
from zotcurate.errors import ConfigError, RenderError
from zotcurate.render.manifest import FORMATS, Manifest
from zotcurate.writers import DEFAULT_FORMATS, WRITERS, WriteOptions, format_names, writers_for
from zotcurate.writers.docx import ROLE_STYLES, check_template, write_docx
from zotcurate.writers.markdown import escape, to_markdown

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

HOSTILE = [
    "*pas gras* et **pas gras non plus**",
    "_souligné_ et __double__",
    "[pas un lien](http://example.org) et [^1] et ![image](x.png)",
    "<script>alert('x')</script> <b>balise</b> &amp; &copy; &#233;",
    "# pas un titre",
    "| a | b |",
    "`code` et ``double``",
    "1. pas une liste",
    "2) non plus",
    "- ni ceci",
    "+ ni cela",
    "> pas une citation",
    "---",
    "===",
    ": pas une définition",
    "A. Martin a écrit",
    "    quatre espaces",
    "\\ barre oblique \\* inverse",
    "~~barré~~ et ^exposant^ et $x$ et @clef",
    "Titre : C# et F# ###",
    "<http://autolien.org> et <mail@example.org>",
]


def md_parser() -> MarkdownIt:
    return MarkdownIt("commonmark").use(footnote_plugin)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(fragment: str) -> str:
    p = _Text()
    p.feed(fragment)
    return re.sub(r"\s+", " ", "".join(p.parts)).strip()


def paragraphs_html(markdown: str) -> list[str]:
    """Each top-level block of the rendered HTML, in order."""
    rendered = md_parser().render(markdown)
    return re.findall(r"<(p|h\d|ul|ol|blockquote|pre|hr|table)[ >].*?</\1>|<hr />", rendered, re.S)


def render_blocks(markdown: str) -> list[tuple[str, str]]:
    """(tag, text) for every block the parser sees."""
    tokens = md_parser().parse(markdown)
    out = []
    for i, tok in enumerate(tokens):
        if tok.type.endswith("_open") and tok.level == 0 and tok.type != "footnote_block_open":
            inline = next((t for t in tokens[i + 1:] if t.type == "inline"), None)
            out.append((tok.tag, inline.content if inline else ""))
        if tok.type == "footnote_block_open":
            break
    return out


# -- Markdown -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_escapes_user_text_so_it_renders_as_written(text: str) -> None:
    doc = Document(title=text)
    doc.blocks += [
        Heading(1, [Span(text)]),
        Paragraph([Span(text)], role=CITATION),
        Paragraph([Span("avant "), Span(text, italic=True), Span(" après")], role=COMMENTARY),
        ListBlock([[Span(text)], [Span(text, bold=True)]]),
    ]
    md = to_markdown(doc)
    rendered = md_parser().render(md)
    expected = re.sub(r"\s+", " ", text).strip()
    # Title, heading, paragraphs: exactly one element each, with the text as typed.
    assert re.findall(r"<h1>(.*?)</h1>", rendered, re.S) and html_text(re.findall(r"<h1>(.*?)</h1>", rendered, re.S)[0]) == expected
    assert html_text(re.findall(r"<h2>(.*?)</h2>", rendered, re.S)[0]) == expected
    paras = re.findall(r"<p>(.*?)</p>", rendered, re.S)
    assert [html_text(p) for p in paras] == [expected, f"avant {expected} après"]
    # The only markup is the one we asked for: an <em> around the whole hostile text.
    assert re.findall(r"<(?!/)(\w+)", paras[0]) == []
    assert re.findall(r"<(?!/)(\w+)", paras[1]) == ["em"]
    assert html_text(re.search(r"<em>(.*)</em>", paras[1], re.S).group(1)) == expected
    items = re.findall(r"<li>(.*?)</li>", rendered, re.S)
    assert [html_text(i) for i in items] == [expected, expected]
    assert "<script" not in rendered and "<b>" not in rendered
    assert re.findall(r"<(?!/)(\w+)", items[1]) == ["strong"]


def test_markdown_formats_links_footnotes_and_lists() -> None:
    doc = Document(title="Bibliographie", subtitle="Sous-titre", authors=["BEC Emilie"], date="2025-07")
    note = doc.add_footnote([Span("DUPONT Jean, "), Span("Revue", italic=True), Span(", 2020. "),
                             Span("Accéder au document", url="https://example.org/a b(1)")])
    doc.blocks += [
        Heading(1, [Span("Partie")]),
        Paragraph([Span("Un texte"), note, Span(".")]),
        Paragraph([Span("MARTIN Paul, "), Span("Santé publique.", italic=True), Span("suite")], role=CITATION),
        Paragraph([Span("Accéder au document", url="https://doi.org/10.1000/x<y>")], role=LINK),
        ListBlock([[Span("un")], [Span("deux")]], ordered=True),
        ListBlock([[Span("trois")]]),
    ]
    md = to_markdown(doc)
    rendered = md_parser().render(md)
    assert md.startswith("# Bibliographie\n\n**Sous-titre**\n\nBEC Emilie, 2025-07\n\n## Partie\n")
    # A real footnote: the call links to the note, whose text is the citation and its link.
    assert 'class="footnote-ref"' in rendered and 'class="footnotes"' in rendered
    foot = re.search(r'<section class="footnotes">(.*)</section>', rendered, re.S).group(1)
    assert "DUPONT Jean, <em>Revue</em>, 2020." in foot
    assert '<a href="https://example.org/a%20b(1)">Accéder au document</a>' in foot
    # Emphasis that CommonMark's flanking rules would refuse falls back to inline HTML.
    assert "<em>Santé publique.</em>suite" in rendered
    assert '<a href="https://doi.org/10.1000/x%3Cy%3E">' in rendered
    assert "<ol>" in rendered and "<ul>" in rendered and rendered.count("<li>") == 3
    assert md.endswith("[^1]: DUPONT Jean, *Revue*, 2020. [Accéder au document](<https://example.org/a%20b(1)>)\n")


def test_markdown_drops_control_characters_and_keeps_non_latin_scripts() -> None:
    text = "Δοκιμή \x00\x07\x1b[31m 日本語のタイトル عنوان عربي \u202e\ufeff"
    doc = Document(title="t")
    doc.blocks.append(Paragraph([Span(text)]))
    md = to_markdown(doc)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", md)
    assert "Δοκιμή" in md and "日本語のタイトル" in md and "عنوان عربي" in md
    assert clean_text("a\x00b\x7fc") == "abc"


# -- Word -----------------------------------------------------------------------------------

def sample_document(toc: bool = False) -> Document:
    doc = Document(title="Numérique et santé", subtitle="Bibliographie commentée", authors=["BEC Emilie"],
                   date="2025-07", toc=toc)
    n1 = doc.add_footnote([Span("WILLIATTE Lina, Le numérique en santé, JDSAM, 2023, pp. 18-24. "),
                           Span("Accéder au document", url="https://example.org/williatte")])
    n2 = doc.add_footnote([Span("Disponible sur demande", url="mailto:doc@example.org")])
    doc.blocks += [
        Heading(1, [Span("Introduction")]),
        Paragraph([Span("Le numérique"), n1, Span(" et la santé"), n2, Span(".")]),
        Heading(1, [Span("Données de cadrage")]),
        Heading(2, [Span("Ressources pour comprendre")]),
        Paragraph([Span("AL DAHDAH Marine, "), Span("Santé numérique", italic=True), Span(", 2024, 18 p.")],
                  role=CITATION),
        Paragraph([Span("Accéder au document", url="https://example.org/aldahdah?a=1&b=2")], role=LINK),
        Paragraph([Span("Cet article "), Span("analyse", bold=True), Span(" <b>les</b> usages \x07.")],
                  role=COMMENTARY),
        ListBlock([[Span("premier point")], [Span("second point")]], role=COMMENTARY),
    ]
    return doc


def docx_parts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n).decode("utf-8") for n in zf.namelist() if n.endswith((".xml", ".rels"))}


def test_docx_has_headings_named_styles_hyperlinks_and_real_footnotes(tmp_path: Path) -> None:
    out = write_docx(sample_document(), tmp_path / "bib.docx")
    d = docx.Document(str(out))
    styles = [(p.style.name, p.text) for p in d.paragraphs]
    assert ("Title", "Numérique et santé") in styles
    assert ("Heading 1", "Données de cadrage") in styles
    assert ("Heading 2", "Ressources pour comprendre") in styles
    assert (ROLE_STYLES[CITATION], "AL DAHDAH Marine, Santé numérique, 2024, 18 p.") in styles
    assert (ROLE_STYLES[LINK], "Accéder au document") in styles
    assert (ROLE_STYLES[COMMENTARY], "Cet article analyse <b>les</b> usages .") in styles
    assert [s for s, t in styles if t in ("premier point", "second point")] == [ROLE_STYLES[COMMENTARY]] * 2
    # Italic and bold are run properties, not characters.
    cit = next(p for p in d.paragraphs if p.style.name == ROLE_STYLES[CITATION])
    assert [r.text for r in cit.runs if r.italic] == ["Santé numérique"]

    parts = docx_parts(out)
    body = parts["word/document.xml"]
    rels = parts["word/_rels/document.xml.rels"]
    # Real hyperlinks: <w:hyperlink r:id> pointing to an external relationship.
    ids = re.findall(r'<w:hyperlink r:id="(\w+)"', body)
    targets = dict(re.findall(r'Id="(\w+)"[^>]*Target="([^"]+)"', rels))
    assert [html.unescape(targets[i]) for i in ids] == ["https://example.org/aldahdah?a=1&b=2"]
    assert 'TargetMode="External"' in rels
    # Real footnotes: two references in the text, two notes in footnotes.xml, in order.
    assert len(re.findall(r"<w:footnoteReference w:id=", body)) == 2
    notes = parts["word/footnotes.xml"]
    assert "WILLIATTE Lina" in notes and notes.index("WILLIATTE") < notes.index("Disponible sur demande")
    foot_targets = dict(re.findall(r'Id="(\w+)"[^>]*Target="([^"]+)"', parts["word/_rels/footnotes.xml.rels"]))
    assert sorted(foot_targets[i] for i in re.findall(r'<w:hyperlink r:id="(\w+)"', notes)) == [
        "https://example.org/williatte", "mailto:doc@example.org"]
    # Control characters never reach the XML.
    assert "\x07" not in body


def test_docx_named_styles_come_from_the_bundled_reference_document(tmp_path: Path) -> None:
    out = write_docx(sample_document(), tmp_path / "bib.docx")
    d = docx.Document(str(out))
    citation = d.styles[ROLE_STYLES[CITATION]]
    assert citation.font.bold is True and citation.paragraph_format.keep_with_next is True
    assert d.styles[ROLE_STYLES[COMMENTARY]].base_style.name == "Body Text"
    # Footnotes run through the whole document (LibreOffice would otherwise restart per chapter).
    assert 'w:numRestart w:val="continuous"' in docx_parts(out)["word/document.xml"]


def test_docx_table_of_contents_is_optional(tmp_path: Path) -> None:
    without = docx_parts(write_docx(sample_document(), tmp_path / "a.docx"))["word/document.xml"]
    with_toc = docx_parts(write_docx(sample_document(toc=True), tmp_path / "b.docx"))["word/document.xml"]
    assert "PAGEREF" not in without and "Sommaire" not in without
    # The Sommaire is written out under our title: one entry per heading, a link to the heading's
    # bookmark and a PAGEREF field for its page, marked dirty so that Word updates it on opening
    # (a TOC field would stay empty in LibreOffice, which never fills one).
    assert "Sommaire" in with_toc and 'w:fldCharType="begin" w:dirty="true"' in with_toc
    anchors = re.findall(r'<w:hyperlink w:anchor="([^"]+)"', with_toc)
    assert len(anchors) == 3 and all(f"PAGEREF {a} \\h" in with_toc for a in anchors)
    assert all(re.search(f'<w:bookmarkStart [^>]*w:name="{a}"', with_toc) for a in anchors)


def test_docx_template_gives_styles_and_page_setup(tmp_path: Path) -> None:
    template = tmp_path / "maison.docx"
    t = docx.Document()
    section = t.sections[0]
    section.page_width, section.page_height = Cm(14.8), Cm(21)  # A5
    section.left_margin = Cm(1.5)
    style = t.styles.add_style(ROLE_STYLES[COMMENTARY], 1)
    style.font.name = "Garamond"
    style.font.italic = True
    t.save(str(template))

    out = write_docx(sample_document(), tmp_path / "bib.docx", template=template)
    d = docx.Document(str(out))
    # Lengths go through twips (1/1440 in), hence the rounding.
    assert round(d.sections[0].page_width.cm, 1) == 14.8 and round(d.sections[0].left_margin.cm, 1) == 1.5
    comm = d.styles[ROLE_STYLES[COMMENTARY]]
    assert comm.font.name == "Garamond" and comm.font.italic is True
    # A style the template lacks is still created, so the document stays restylable.
    assert ROLE_STYLES[CITATION] in [s.name for s in d.styles]


def test_a_bad_template_is_a_clear_error_and_no_file_is_left(tmp_path: Path) -> None:
    not_docx = tmp_path / "notes.docx"
    not_docx.write_text("pas un document Word", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not a \.docx file"):
        check_template(not_docx)
    with pytest.raises(ConfigError, match="does not exist"):
        write_docx(sample_document(), tmp_path / "x.docx", template=tmp_path / "absent.docx")

    # A zip that looks like a .docx but is not: pandoc fails, nothing partial is left behind.
    fake = tmp_path / "fake.docx"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("word/document.xml", "<not-xml")
        zf.writestr("word/styles.xml", "<not-xml")
    with pytest.raises(RenderError):
        write_docx(sample_document(), tmp_path / "out" / "bib.docx", template=fake)
    assert list((tmp_path / "out").iterdir()) == []


def test_docx_replaces_an_existing_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "bib.docx"
    target.write_bytes(b"old")
    write_docx(sample_document(), target)
    assert zipfile.is_zipfile(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bib.docx"]


def test_pandoc_reads_the_markdown_as_written_too() -> None:
    import pypandoc

    doc = Document(title="t")
    doc.blocks += [Paragraph([Span(text)]) for text in HOSTILE]
    note = doc.add_footnote([Span("Une note *pas* en gras.")])
    doc.blocks.append(Paragraph([Span("Appel"), note]))
    rendered = pypandoc.convert_text(to_markdown(doc), "html", format="markdown-smart", extra_args=["--wrap=none"])
    paras = [html_text(p) for p in re.findall(r"<p>(.*?)</p>", rendered, re.S)]
    assert paras[:len(HOSTILE)] == [re.sub(r"\s+", " ", t).strip() for t in HOSTILE]
    assert rendered.count('class="footnote-ref"') == 1 and "Une note *pas* en gras." in rendered


# -- one interface, one table -----------------------------------------------------------

def test_every_registered_writer_writes_its_suffix_atomically_and_lists_itself_everywhere(tmp_path: Path) -> None:
    """The table in zotcurate.writers is the one list of formats: the manifest, --format and
    render take it from there, and every writer in it keeps the same contract."""
    assert format_names() == tuple(WRITERS) == FORMATS
    assert set(DEFAULT_FORMATS) <= set(WRITERS) and Manifest().formats == list(DEFAULT_FORMATS)
    suffixes = [w.suffix for w in WRITERS.values()]
    assert len(set(suffixes)) == len(suffixes) and all(s.startswith(".") for s in suffixes)
    for name, writer in WRITERS.items():
        assert writer.name == name
        target = tmp_path / name / f"bib{writer.suffix}"
        target.parent.mkdir()
        target.write_bytes(b"old")
        writer.check(WriteOptions())
        assert writer.write(sample_document(), target, WriteOptions()) == target
        assert target.read_bytes() != b"old" and target.stat().st_size > 100
        assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left


def test_the_markdown_writer_writes_what_to_markdown_returns(tmp_path: Path) -> None:
    doc = sample_document()
    out = WRITERS["md"].write(doc, tmp_path / "bib.md", WriteOptions())
    assert out.read_bytes() == to_markdown(doc).encode("utf-8")
    assert escape("*a* [b]") == "\\*a\\* \\[b\\]"  # check reports import it from here


def test_writers_check_their_own_options_before_any_work(tmp_path: Path) -> None:
    not_docx = tmp_path / "maison.docx"
    not_docx.write_text("pas un document Word", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not a \.docx file"):
        WRITERS["docx"].check(WriteOptions(template=not_docx))
    WRITERS["md"].check(WriteOptions(template=not_docx))  # a Word template is not Markdown's concern


def test_formats_are_picked_in_table_order_and_an_unknown_one_is_named() -> None:
    assert [w.name for w in writers_for(["md", "docx", "md"])] == ["docx", "md"]
    with pytest.raises(ConfigError, match="Unknown format 'odt'; use docx, md, pdf, html"):
        writers_for(["md", "odt"])
    with pytest.raises(ConfigError, match="No output format given"):
        writers_for([])


# -- print-ready Word, and what every writer prints ---------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "numerique-sante"
REFERENCE = Path(__file__).resolve().parents[1] / "styles" / "reference.docx"


def finished_example() -> Document:
    """The bundled example as render hands it to the writers (typography, separated calls)."""
    from zotcurate.formats.files import import_files
    from zotcurate.model import LibraryRef
    from zotcurate.render.build import build_document, finish_document
    from zotcurate.render.manifest import load_manifest
    from zotcurate.store import Store

    spec = load_manifest(EXAMPLE / "bibliography.toml")
    with Store(":memory:") as store:
        import_files(store, LibraryRef.parse("file:x"), spec.source.files)
        result = build_document(store, store.require_library("file:x"), spec)
    return finish_document(result, spec)


_ASCII_WS = re.compile(r"[ \t\r\n]+")  # not \s: the no-break spaces are what is being tested


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paras: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("p", "h1", "h2", "h3", "li"):
            self.inside = True
            self.paras.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "h1", "h2", "h3", "li"):
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.paras[-1] += data


def md_paragraph_texts(path: Path) -> list[str]:
    parser = _Paragraphs()
    parser.feed(md_parser().render(path.read_text(encoding="utf-8")))
    return [_ASCII_WS.sub(" ", p).strip(" ") for p in parser.paras]


def docx_paragraph_texts(path: Path) -> list[str]:
    d = docx.Document(str(path))
    texts = [p.text for p in d.paragraphs]
    notes = docx_parts(path)["word/footnotes.xml"]
    for note in re.findall(r"<w:footnote [^>]*>(.*?)</w:footnote>", notes, re.S):
        texts.append(html.unescape("".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", note))).strip(" "))
    return texts


def html_paragraph_texts(path: Path) -> list[str]:
    """The text of every paragraph and heading of the web page, as a browser shows it."""
    import html5lib

    tree = html5lib.parse(path.read_text(encoding="utf-8"), namespaceHTMLElements=False)
    return [_ASCII_WS.sub(" ", "".join(el.itertext())).strip(" ")
            for el in tree.iter() if el.tag in ("p", "h1", "h2", "h3", "h4", "li")]


# Each format's text, paragraph by paragraph, as a reader gets it. A new writer adds its reader here.
# The PDF has no paragraphs to read back (only lines on pages): tests/test_writers_pdf_html.py finds
# every citation of the .md in its page text instead.
TEXT_OF = {"md": md_paragraph_texts, "docx": docx_paragraph_texts, "html": html_paragraph_texts}


@pytest.mark.parametrize("fmt", format_names())
def test_every_writer_prints_the_citations_with_french_typography(fmt: str, tmp_path: Path) -> None:
    if fmt == "pdf":
        pytest.skip("the PDF has lines, not paragraphs: tests/test_writers_pdf_html.py checks its citations")
    assert fmt in TEXT_OF, f"add a text reader for the new {fmt} format to TEXT_OF"
    doc = finished_example()
    path = WRITERS[fmt].write(doc, tmp_path / f"bib{WRITERS[fmt].suffix}", WriteOptions())
    texts = TEXT_OF[fmt](path)
    joined = "\n".join(texts)
    cited = [_ASCII_WS.sub(" ", "".join(s.text for s in b.spans if isinstance(s, Span))).strip(" ")
             for b in doc.blocks if isinstance(b, Paragraph) and b.role == CITATION]
    assert len(cited) == 80
    missing = [c for c in cited if c not in texts]
    assert missing == [], f"{fmt}: {len(missing)} citations not printed as in the document, e.g. {missing[:1]}"
    # No ordinary space before : ; ! ? » or after «, anywhere in this all-French document.
    without_urls = re.sub(r"(?:https?|ftp)://\S+|\S+@\S+", "", joined)
    assert not re.findall(r".{0,20}(?: [:;!?»]|« ).{0,20}", without_urls)
    assert "«\u00a0Numérique et santé\u00a0»" in texts and "pp.\u00a018\u201124" in joined
    # Footnote calls that follow each other are separated: "¹⁵, ¹⁶".
    if fmt == "md":
        assert re.search(r"\[\^\d+\]<sup>,\u202f</sup>\[\^\d+\]", path.read_text(encoding="utf-8"))
    elif fmt == "html":
        assert re.search(r"</a></sup><sup>,\u202f</sup><sup class=\"appel\">", path.read_text(encoding="utf-8"))
    else:
        body = docx_parts(path)["word/document.xml"]
        assert re.search(r'<w:footnoteReference w:id="\d+" ?/></w:r><w:r><w:rPr><w:vertAlign w:val="superscript" ?/>'
                         r'</w:rPr><w:t xml:space="preserve">,\u202f</w:t></w:r><w:r><w:rPr><w:rStyle '
                         r'w:val="FootnoteReference" ?/></w:rPr><w:footnoteReference', body)


def test_bundled_reference_gives_a_title_page_a_footer_with_page_numbers_and_parts_on_new_pages(
        tmp_path: Path) -> None:
    ref = docx.Document(str(REFERENCE))
    assert ref.styles["Heading 1"].paragraph_format.page_break_before is True
    assert ref.styles["TOC Heading"].paragraph_format.page_break_before is True  # the Sommaire after the title page
    assert not ref.styles["Heading 2"].paragraph_format.page_break_before
    for level in (1, 2, 3):
        assert f"toc {level}" in [s.name for s in ref.styles]
    out = write_docx(sample_document(toc=True), tmp_path / "bib.docx")
    parts = docx_parts(out)
    body = parts["word/document.xml"]
    sect = re.search(r"<w:sectPr>.*?</w:sectPr>", body, re.S).group(0)
    assert re.search(r"<w:titlePg ?/>", sect)  # the title page has its own, empty footer
    refs = dict((kind, rid) for rid, kind in re.findall(r'<w:footerReference r:id="(\w+)" w:type="(\w+)"', sect))
    targets = dict(re.findall(r'Id="(\w+)"[^>]*Target="([^"]+)"', parts["word/_rels/document.xml.rels"]))
    default, first = parts["word/" + targets[refs["default"]]], parts["word/" + targets[refs["first"]]]
    assert " PAGE " in default and " TITLE " in default  # page number and the document's title
    assert "PAGE" not in first
    assert '<dc:title>Numérique et santé</dc:title>' in parts["docProps/core.xml"]  # what TITLE shows


def test_a_template_without_sommaire_styles_still_gets_a_sommaire(tmp_path: Path) -> None:
    template = tmp_path / "nu.docx"
    docx.Document().save(str(template))  # python-docx's default: no "toc N" styles, other style ids
    out = write_docx(sample_document(toc=True), tmp_path / "bib.docx", template=template)
    body = docx_parts(out)["word/document.xml"]
    assert len(re.findall(r'<w:hyperlink w:anchor="', body)) == 3 and body.count("PAGEREF ") == 3


def _soffice() -> str | None:
    import shutil

    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(_soffice() is None, reason="LibreOffice (soffice) is not installed: the .docx cannot be "
                                                "laid out as a reader sees it (apt-get install libreoffice-writer)")
@pytest.mark.timeout(300)
def test_the_example_docx_laid_out_by_libreoffice_has_its_sommaire_footer_and_title_page(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the PDF LibreOffice makes cannot be read")
    doc = finished_example()
    out = write_docx(doc, tmp_path / "bib.docx")
    profile = (tmp_path / "lo-profile").as_uri()  # a throw-away profile: no clash with a running LibreOffice
    subprocess.run([str(_soffice()), f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(out)], check=True, capture_output=True, timeout=240)
    pdf = tmp_path / "bib.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True, encoding="utf-8").stdout
    pages = [_ASCII_WS.sub(" ", p.replace("\u00a0", " ").replace("\u202f", " ")).strip() for p in text.split("\f")]
    pages = [p for p in pages if p]
    assert len(pages) > 20
    # Page 1, the title page: title, subtitle, author, the date in words, and no footer.
    assert pages[0] == "« Numérique et santé » Bibliographie commentée BEC Emilie juillet 2025"
    # Page 2, the Sommaire: every part with the page it starts on, as LibreOffice counted it.
    assert pages[1].startswith("Sommaire ")
    sommaire = re.findall(r"([A-ZÉ][\w ,'’-]+?)\s*\.{3,}\s*(\d+)", pages[1].removeprefix("Sommaire "))
    parts = [(h, n) for h, n in sommaire if h != "Ressources pour comprendre"]
    assert [h for h, _ in parts] == ["Préambule", "Introduction", "Données de cadrage", "Obstacles et freins",
                                     "Recommandations et bonnes pratiques", "Outils et exemples inspirants"]
    assert len(sommaire) == len(parts) + 4  # and each part's "Ressources pour comprendre"
    for heading, number in sommaire:
        page = pages[int(number) - 1]
        if heading in dict(parts):
            assert page.startswith(heading + " "), (heading, number, page[:60])  # a part starts its page
        else:
            assert heading in page, (heading, number)
    # Every page after the title page ends with the footer: the document's title and the page number.
    for n, page in enumerate(pages[1:], start=2):
        assert page.endswith(f"« Numérique et santé » {n}"), (n, page[-60:])


def test_a_folder_of_outputs_is_cleaned_of_stale_temporaries_in_one_pass(tmp_path: Path) -> None:
    import os
    import time

    from zotcurate.fileio import remove_stale_temporaries_of

    old, young, other = (tmp_path / ".KEY1.abcdefgh.jpg", tmp_path / ".KEY2.abcdefgh.jpg",
                         tmp_path / ".NOTOURS.abcdefgh.jpg")
    for f in (old, young, other):
        f.write_bytes(b"half a picture")
    two_hours_ago = time.time() - 7200
    for f in (old, other):
        os.utime(f, (two_hours_ago, two_hours_ago))
    assert remove_stale_temporaries_of(tmp_path, ["KEY1.jpg", "KEY2.jpg"]) == [old]
    assert not old.exists() and young.exists() and other.exists()  # young: maybe a run still writing


def test_no_writer_makes_a_live_link_of_a_hostile_item_url(tmp_path: Path) -> None:
    # Item URLs are text any group member can edit: only http(s) and mailto become links, in every writer.
    from zotcurate.writers.html import to_html
    from zotcurate.writers.pdf import to_typst

    hostile = ["javascript:alert(1)", "JavaScript:alert(2)", "vbscript:msgbox", "data:text/html,x", "file:///etc/passwd"]
    spans = [Span(f"lien{i}", url=u) for i, u in enumerate(hostile)]
    spans += [Span(" ok", url="https://example.org/a"), Span(" doi", url="doi:10.1000/182")]
    doc = Document(title="T", blocks=[Paragraph(spans, role=CITATION)])
    md = to_markdown(doc)
    rels = docx_parts(write_docx(doc, tmp_path / "x.docx"))["word/_rels/document.xml.rels"]
    outputs = {"md": md, "docx": rels, "html": to_html(doc), "pdf": to_typst(doc)}
    assert set(outputs) == set(format_names())  # a new writer joins this test
    for fmt, text in outputs.items():
        for url in hostile:
            assert url.split(":")[0].lower() + ":" not in text.lower(), (fmt, url)
        assert "https://example.org/a" in text and "https://doi.org/10.1000/182" in text, fmt
    assert "lien0" in md and "[lien0]" not in md  # the text stays, as text
