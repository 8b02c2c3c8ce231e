"""Document → Word (.docx), through pandoc (the binary inside the pypandoc-binary wheel).

Why pandoc rather than python-docx: python-docx has no API for hyperlinks or footnotes,
and writing them by hand means maintaining raw OOXML (relationships, footnotes.xml,
separator notes, content types, TOC fields) that Word and LibreOffice are strict about.
pandoc's docx writer produces all of it, takes styles, headers/footers and page setup
from any ``--reference-doc`` (so ``--template FILE.docx`` is one option away), and maps
``custom-style`` attributes to named Word styles. We hand pandoc its JSON AST built
straight from the Document — not Markdown — so no text is ever re-parsed: what the
user typed cannot turn into markup on the way.

This is the only module that imports pypandoc.
"""

from __future__ import annotations

import json
import re
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import docx as docx_files
import pypandoc
from docx.image.image import Image as DocxImage
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.shape import CT_Inline
from docx.parts.image import ImagePart
from docx.shared import Emu, Mm

from zotcurate.document import (
    CITATION,
    COMMENTARY,
    LINK,
    NOTICE,
    PREAMBLE,
    Block,
    Document,
    FootnoteRef,
    Heading,
    Inline,
    ListBlock,
    Paragraph,
    Picture,
    Span,
    clean_text,
    link_groups,
    link_target,
)
from zotcurate.errors import ConfigError, RenderError
from zotcurate.fileio import atomic_output
from zotcurate.writers.base import Entry, WriteOptions, with_entries

# Paragraph role → Word style name. Restyle one of these in Word and every entry
# follows. BODY keeps pandoc's own "First Paragraph"/"Body Text".
ROLE_STYLES: dict[str, str] = {
    CITATION: "Citation bibliographique",
    LINK: "Lien vers le document",
    COMMENTARY: "Commentaire",
    PREAMBLE: "Préambule",
    NOTICE: "Mention",
}

# The Sommaire's entry styles, by heading level (Word's built-in names; LibreOffice: "Contents 1"…).
TOC_STYLES: tuple[str, ...] = ("toc 1", "toc 2", "toc 3")

_NO_ATTR: list[Any] = ["", [], []]


def default_reference_doc() -> Path | None:
    """The bundled ``styles/reference.docx`` (pandoc's defaults plus our named styles)."""
    ref = resources.files("zotcurate.styles").joinpath("reference.docx")
    path = Path(str(ref))
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _api_version() -> list[int]:
    # The JSON AST must carry the API version of the pandoc that reads it; ask pandoc.
    try:
        out = pypandoc.convert_text("", "json", format="markdown")
    except (OSError, RuntimeError) as exc:
        raise RenderError(f"pandoc cannot be run ({exc}); reinstall zotcurate (it needs pypandoc-binary).") from exc
    return list(json.loads(out)["pandoc-api-version"])


def _words(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, word in enumerate(clean_text(text).replace("\n", " ").split(" ")):
        if n and (not out or out[-1]["t"] != "Space"):
            out.append({"t": "Space"})
        if word:
            out.append({"t": "Str", "c": word})
    return out


def _span(span: Span) -> list[dict[str, Any]]:
    node = _words(span.text)
    if not node:
        return []
    for flag, tag in ((span.superscript, "Superscript"), (span.subscript, "Subscript"),
                      (span.smallcaps, "SmallCaps"), (span.italic, "Emph"), (span.bold, "Strong")):
        if flag:
            node = [{"t": tag, "c": node}]
    return node


def _inlines(items: list[Inline], doc: Document) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in link_groups(items):
        if isinstance(part, FootnoteRef):
            note = [{"t": "Para", "c": _inlines(list(doc.footnotes.get(part.number, [])), doc)}]
            out.append({"t": "Note", "c": note})
            continue
        url, spans = part
        text = [node for span in spans for node in _span(span)]
        out += text if url is None else [{"t": "Link", "c": [_NO_ATTR, text, [url, ""]]}]
    return out


def _styled(blocks: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    style = ROLE_STYLES.get(role)
    if style is None:
        return blocks
    return [{"t": "Div", "c": [["", [], [["custom-style", style]]], blocks]}]


def _bookmark(ident: str) -> str:
    """A heading identifier as Word accepts a bookmark name: letters, digits and "_", starting
    with a letter (a Zotero key such as 37C8FNMU does not), at most 40 characters."""
    name = re.sub(r"\W", "_", ident, flags=re.ASCII)
    if not name[:1].isascii() or not name[:1].isalpha():
        name = "zc_" + name
    return name[:40]


def _block(block: Block, doc: Document, ident: str = "") -> list[dict[str, Any]]:
    if isinstance(block, Heading):
        attr = [_bookmark(block.anchor or ident), [], []]
        return [{"t": "Header", "c": [max(1, min(block.level, 9)), attr, _inlines(list(block.spans), doc)]}]
    if isinstance(block, ListBlock):
        items = [[{"t": "Para", "c": _inlines(item, doc)}] for item in block.items]
        node = ({"t": "OrderedList", "c": [[1, {"t": "Decimal"}, {"t": "Period"}], items]}
                if block.ordered else {"t": "BulletList", "c": items})
        return _styled([node], block.role)
    assert isinstance(block, Paragraph)
    content = _inlines(block.spans, doc)
    if not content:
        return []
    return _styled([{"t": "Para", "c": content}], block.role)


def _meta_inlines(text: str) -> dict[str, Any]:
    return {"t": "MetaInlines", "c": _words(text)}


def to_pandoc_ast(doc: Document) -> dict[str, Any]:
    """The Document as pandoc's JSON AST (a dict ready for ``json.dumps``)."""
    meta: dict[str, Any] = {"lang": {"t": "MetaString", "c": doc.lang}}
    if doc.title:
        meta["title"] = _meta_inlines(doc.title)
    if doc.subtitle:
        meta["subtitle"] = _meta_inlines(doc.subtitle)
    authors = [a for a in doc.authors if a.strip()]
    if authors:
        meta["author"] = {"t": "MetaList", "c": [_meta_inlines(a) for a in authors]}
    if doc.date_text or doc.date:
        meta["date"] = _meta_inlines(doc.date_text or doc.date)
    if doc.toc:
        meta["toc-title"] = _meta_inlines(doc.toc_title)
    blocks: list[dict[str, Any]] = []
    if doc.covers is None:
        for n, block in enumerate(doc.blocks):
            # Every heading gets an identifier, so pandoc gives it a bookmark the Sommaire can point at.
            blocks += _block(block, doc, f"zc_h{n}")
    else:
        rows: list[Entry] = []
        numbering: dict[int, int] = {}  # citation paragraph → its cover's index in covers_of(doc)
        for n, part in enumerate(with_entries(list(doc.blocks))):
            if isinstance(part, Entry):
                rows.append(part)
                continue
            if rows:
                blocks.append(_cover_table(rows, doc, numbering))
                rows = []
            blocks += _block(part, doc, f"zc_h{n}")
        if rows:
            blocks.append(_cover_table(rows, doc, numbering))
    return {"pandoc-api-version": _api_version(), "meta": meta, "blocks": blocks}


# A reference document is styles and page setup: a few MB at most once inflated. pandoc inflates
# every part, so a zip bomb (4 MB inflating to GBs) would take all memory; refuse it first.
MAX_TEMPLATE_INFLATED = 256 * 1024 * 1024
MAX_TEMPLATE_RATIO = 100  # XML deflates 5-20 times; 1000 times is a bomb, not a document
_RATIO_FROM = 1024 * 1024  # small parts (an empty header) may compress better than that


def check_inflated_size(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse a template whose parts inflate past the limits: first by what the zip directory
    declares, then by inflating each part with a bound (a directory can lie; zipfile stops at
    the declared size and fails its CRC check on more)."""
    parts = zf.infolist()
    total = sum(info.file_size for info in parts)
    bomb = next((info for info in parts if info.file_size > _RATIO_FROM
                 and info.file_size > MAX_TEMPLATE_RATIO * max(info.compress_size, 1)), None)
    if total > MAX_TEMPLATE_INFLATED or bomb is not None:
        what = (f"its part {bomb.filename} inflates {bomb.file_size // max(bomb.compress_size, 1)} times"
                if bomb is not None else f"its parts inflate to {total // (1024 * 1024)} MB")
        raise ConfigError(f"The Word template {path} is not a usable .docx: {what} (a document's styles take a few "
                          "MB at most); save a template from Word with styles and page setup only.")
    for info in parts:
        with zf.open(info) as part:
            while part.read(1024 * 1024):
                pass


# The cover column's share of the text width is set from the cover's width on an A4 page with
# 2.5 cm margins (16 cm of text); fill_cover_tables then fixes the widths exactly.
_TEXT_WIDTH_MM = 160.0
COVER_GUTTER_MM = 5.0


def _cell(blocks: list[dict[str, Any]]) -> list[Any]:
    return [_NO_ATTR, {"t": "AlignDefault"}, 1, 1, blocks or [{"t": "Plain", "c": []}]]


COVER_MARK = "zc-cover-"  # the placeholder text of a cover cell, replaced by the picture after pandoc


def _cover_cell(index: int | None) -> list[Any]:
    """A cover cell: empty for an entry without a cover (every text then still starts at one
    place), else a placeholder that :func:`fix_cover_tables` replaces by the linked picture.
    (pandoc could embed the pictures itself, but takes about 7 ms for each one; python-docx
    places them in well under one.)"""
    if index is None:
        return _cell([])
    return _cell([{"t": "Plain", "c": [{"t": "Str", "c": f"{COVER_MARK}{index}"}]}])


def covers_of(doc: Document) -> list[Picture]:
    """The document's cover pictures, in the order of their placeholders."""
    return [b.image for b in doc.blocks if isinstance(b, Paragraph) and b.role == CITATION and b.image is not None]


def _cover_table(entries: list[Entry], doc: Document, numbering: dict[int, int]) -> dict[str, Any]:
    """A run of entries as a borderless two-column table: the cover on the left, the citation,
    link line and commentary on the right (Word and LibreOffice both keep a table's layout, where
    floating pictures move about). :func:`fix_cover_tables` removes pandoc's borders afterwards."""
    assert doc.covers is not None
    cover = doc.covers.width_mm
    share = min(0.45, (cover + COVER_GUTTER_MM) / _TEXT_WIDTH_MM)
    rows = []
    for entry in entries:
        text: list[dict[str, Any]] = []
        for block in [entry.citation, *([entry.link] if entry.link else []), *entry.commentary]:
            text += _block(block, doc)
        index = None
        if entry.cover is not None:
            index = numbering.setdefault(id(entry.citation), len(numbering))
        rows.append([_NO_ATTR, [_cover_cell(index), _cell(text)]])
    colspecs = [[{"t": "AlignDefault"}, {"t": "ColWidth", "c": share}],
                [{"t": "AlignDefault"}, {"t": "ColWidth", "c": 1 - share}]]
    return {"t": "Table", "c": [_NO_ATTR, [None, []], colspecs, [_NO_ATTR, []],
                                [[_NO_ATTR, 0, [], rows]], [_NO_ATTR, []]]}


def check_template(path: Path) -> Path:
    """A usable reference document, or a ConfigError saying what is wrong with it."""
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "does not exist"
        raise ConfigError(f"The Word template {path} {what}; give the path of a .docx file.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            check_inflated_size(zf, path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"The Word template {path} is not a .docx file ({exc}); save it from Word as .docx.") from exc
    if "word/document.xml" not in names or "word/styles.xml" not in names:
        raise ConfigError(f"The Word template {path} has no document or styles part; save it from Word as .docx.")
    return path


def write_docx(doc: Document, path: Path, *, template: Path | None = None) -> Path:
    """Write ``doc`` to ``path`` atomically: a failure never leaves a partial file."""
    reference = check_template(template) if template else default_reference_doc()
    args = ["--toc", f"--toc-depth={TOC_DEPTH}"] if doc.toc else []
    if reference:
        args.append(f"--reference-doc={reference}")
    try:
        with atomic_output(path) as tmp:
            source = json.dumps(to_pandoc_ast(doc), ensure_ascii=False)
            pypandoc.convert_text(source, "docx", format="json", outputfile=str(tmp), extra_args=args)
            if doc.toc or doc.covers is not None:
                package = docx_files.Document(str(tmp))
                if doc.toc:
                    fill_sommaire(package)
                if doc.covers is not None:
                    fix_cover_tables(package, covers_of(doc), doc.covers.width_mm)
                package.save(str(tmp))
    except OSError as exc:
        raise RenderError(f"{path} cannot be written ({exc.strerror or exc}); choose another folder.") from exc
    except RuntimeError as exc:
        raise RenderError(f"pandoc could not write {path} ({str(exc).strip()[:300]}); "
                          "check the template and that the folder is writable.") from exc
    return path


TOC_DEPTH = 3  # heading levels listed in the Sommaire


def _run(*children: Any) -> Any:
    run = OxmlElement("w:r")
    for child in children:
        run.append(child)
    return run


def _text_run(text: str) -> Any:
    t = OxmlElement("w:t")
    t.set(qn("xml:space"), "preserve")
    t.text = text
    return _run(t)


def _pageref_runs(bookmark: str) -> list[Any]:
    """A PAGEREF field (begin, instruction, separate, empty result, end), marked dirty so that
    Word recomputes it on open; LibreOffice computes it whenever it lays the pages out."""
    begin, sep, end = OxmlElement("w:fldChar"), OxmlElement("w:fldChar"), OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    begin.set(qn("w:dirty"), "true")
    sep.set(qn("w:fldCharType"), "separate")
    end.set(qn("w:fldCharType"), "end")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" PAGEREF {bookmark} \\h "
    return [_run(begin), _run(instr), _run(sep), _text_run(""), _run(end)]


def _style_ids(package: Any) -> tuple[dict[str, int], dict[int, str]]:
    """Heading style id → level, and Sommaire level → "toc N" style id, read from the styles
    part (a user's template may name its style ids differently)."""
    headings: dict[str, int] = {}
    tocs: dict[int, str] = {}
    for style in package.styles.element.iterchildren(qn("w:style")):
        name_el = style.find(qn("w:name"))
        name = str(name_el.get(qn("w:val")) if name_el is not None else "").casefold()
        sid = str(style.get(qn("w:styleId")))
        if name.startswith("heading ") and name[8:].isdigit():
            headings[sid] = int(name[8:])
        elif name.startswith("toc ") and name[4:].isdigit():
            tocs[int(name[4:])] = sid
    return headings, tocs


def _heading_entries(body: Any, headings: dict[str, int], depth: int) -> list[tuple[int, str, str]]:
    """(level, text, bookmark) of every heading down to ``depth``, in order; a heading without a
    bookmark gets one."""
    entries: list[tuple[int, str, str]] = []
    pending: str | None = None  # pandoc puts a heading's bookmarkStart just before its paragraph
    for el in body.iterchildren():
        if el.tag == qn("w:bookmarkStart"):
            pending = el.get(qn("w:name"))
            continue
        if el.tag != qn("w:p"):
            if el.tag != qn("w:bookmarkEnd"):
                pending = None
            continue
        ppr = el.find(qn("w:pPr"))
        pstyle = ppr.find(qn("w:pStyle")) if ppr is not None else None
        level = headings.get(str(pstyle.get(qn("w:val")))) if pstyle is not None else None
        inner = el.find(qn("w:bookmarkStart"))
        name = pending or (inner.get(qn("w:name")) if inner is not None else None)
        pending = None
        if level is None or level > depth:
            continue
        text = "".join(t.text or "" for r in el.iter(qn("w:r")) if r.find(qn("w:footnoteReference")) is None
                       for t in r.iterchildren(qn("w:t"))).strip()
        if not text:
            continue
        if name is None:
            name = f"_Toc_zc{len(entries)}"
            start, end = OxmlElement("w:bookmarkStart"), OxmlElement("w:bookmarkEnd")
            start.set(qn("w:id"), str(900000 + len(entries)))
            start.set(qn("w:name"), name)
            end.set(qn("w:id"), str(900000 + len(entries)))
            el.insert(0 if ppr is None else 1, start)
            el.append(end)
        entries.append((level, text, name))
    return entries


def fill_sommaire(package: Any, depth: int = TOC_DEPTH) -> int:
    """Replace pandoc's empty TOC field by the Sommaire's entries; return how many.

    pandoc writes a TOC field that only Word fills (after asking, on open): LibreOffice and
    other readers show an empty Sommaire, and LibreOffice never recomputes what sits inside a
    TOC field. So the Sommaire is written out: one "toc N" paragraph per heading, a link to
    the heading's bookmark, and a PAGEREF field for its page number, which LibreOffice
    computes as it lays out the pages and Word updates on open (the fields are marked dirty)."""
    body = package.element.body
    # Plain element walks (iter/find), not xpath: python-docx gives its namespace map only to
    # the element classes it knows, and w:sdt is not one of them.
    sdt = next((el for el in body.iterchildren(qn("w:sdt"))
                if any(g.get(qn("w:val")) == "Table of Contents" for g in el.iter(qn("w:docPartGallery")))), None)
    field = None if sdt is None else next(
        (p for p in sdt.iter(qn("w:p")) if any(c.get(qn("w:fldCharType")) == "begin" for c in p.iter(qn("w:fldChar")))),
        None)
    if field is None:
        return 0
    headings, tocs = _style_ids(package)
    entries = _heading_entries(body, headings, depth)
    for level, text, bookmark in entries:
        para = OxmlElement("w:p")
        ppr = OxmlElement("w:pPr")
        if level in tocs:
            pstyle = OxmlElement("w:pStyle")
            pstyle.set(qn("w:val"), tocs[level])
            ppr.append(pstyle)
        para.append(ppr)
        link = OxmlElement("w:hyperlink")
        link.set(qn("w:anchor"), bookmark)
        link.set(qn("w:history"), "1")
        for run in [_text_run(text), _run(OxmlElement("w:tab")), *_pageref_runs(bookmark)]:
            link.append(run)
        para.append(link)
        field.addprevious(para)
    field.getparent().remove(field)
    return len(entries)


class _CoverParts:
    """The cover pictures' image parts and relationships, added straight to the document part.

    python-docx's own ``add_picture`` looks for a free shape id, part name and relationship id
    by walking everything already there, which grows with the square of the picture count
    (2,000 covers took half a minute); the names here are made up once, unique by construction."""

    def __init__(self, package: Any) -> None:
        self.part = package.part
        self.images: dict[str, tuple[str, Any]] = {}  # picture file → (relationship id, image)
        self.links = 0

    def image(self, path: str) -> tuple[str, Any]:
        if path not in self.images:
            image = DocxImage.from_file(path)
            n = len(self.images) + 1
            target = ImagePart.from_image(image, PackURI(f"/word/media/zc-cover-{n}.{image.ext}"))
            r_id = f"rIdZcCover{n}"
            self.part.rels.add_relationship(RT.IMAGE, target, r_id)
            self.images[path] = (r_id, image)
        return self.images[path]

    def link(self, url: str) -> str:
        self.links += 1
        r_id = f"rIdZcLink{self.links}"
        self.part.rels.add_relationship(RT.HYPERLINK, url, r_id, is_external=True)
        return r_id


def _place_cover(parts: _CoverParts, para: Any, picture: Picture, width_mm: float, shape_id: int) -> None:
    """Put the picture (a hyperlink to the document) in place of the cover cell's placeholder."""
    r_id, image = parts.image(picture.path)
    cx = Mm(width_mm)
    cy = Emu(int(cx * image.px_height / max(image.px_width, 1)))
    inline = CT_Inline.new_pic_inline(shape_id, r_id, Path(picture.path).name, cx, cy)
    doc_pr = inline.find(qn("wp:docPr"))
    if doc_pr is not None:
        doc_pr.set("descr", picture.alt)  # what a screen reader says
    for old in list(para.iterchildren(qn("w:r"))):
        para.remove(old)
    run = OxmlElement("w:r")
    drawing = OxmlElement("w:drawing")
    drawing.append(inline)
    run.append(drawing)
    url = link_target(picture.url)
    if url is not None:
        link = OxmlElement("w:hyperlink")
        link.set(qn("r:id"), parts.link(url))
        link.append(run)
        para.append(link)
    else:
        para.append(run)


def fix_cover_tables(package: Any, pictures: list[Picture] | None = None, width_mm: float = 30.0) -> int:
    """Make the entries' tables (the only tables zotcurate writes) invisible furniture: no borders
    or shading, no cell padding on the outer edges, the cover cell's content at the top, and a
    row (an entry) never split across two pages; put each cover picture in its cell."""
    count = 0
    pictures = pictures or []
    parts = _CoverParts(package)
    for tbl in package.element.body.iter(qn("w:tbl")):
        tbl_pr = tbl.find(qn("w:tblPr"))
        if tbl_pr is None:
            continue
        for old in tbl_pr.findall(qn("w:tblBorders")) + tbl_pr.findall(qn("w:tblCellMar")):
            tbl_pr.remove(old)
        borders = OxmlElement("w:tblBorders")
        for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
            edge = OxmlElement(f"w:{side}")
            edge.set(qn("w:val"), "nil")
            borders.append(edge)
        margins = OxmlElement("w:tblCellMar")
        for side, twips in (("top", 0), ("left", 0), ("bottom", 0), ("right", 170)):  # 170 twips = 3 mm
            mar = OxmlElement(f"w:{side}")
            mar.set(qn("w:w"), str(twips))
            mar.set(qn("w:type"), "dxa")
            margins.append(mar)
        look = tbl_pr.find(qn("w:tblLook"))
        if look is not None:
            look.addprevious(borders)
            look.addprevious(margins)
        else:
            tbl_pr.append(borders)
            tbl_pr.append(margins)
        for row in tbl.iterchildren(qn("w:tr")):
            tr_pr = row.find(qn("w:trPr"))
            if tr_pr is None:
                tr_pr = OxmlElement("w:trPr")
                row.insert(0, tr_pr)
            if tr_pr.find(qn("w:cantSplit")) is None:
                tr_pr.append(OxmlElement("w:cantSplit"))
            for n, cell in enumerate(row.iterchildren(qn("w:tc"))):
                para = cell.find(qn("w:p"))
                mark = "".join(t.text or "" for t in para.iter(qn("w:t"))) if n == 0 and para is not None else ""
                if mark.startswith(COVER_MARK) and mark[len(COVER_MARK):].isdigit():
                    index = int(mark[len(COVER_MARK):])
                    if index < len(pictures):
                        _place_cover(parts, para, pictures[index], width_mm, 800_000 + index)
                tc_pr = cell.find(qn("w:tcPr"))
                if tc_pr is None:
                    tc_pr = OxmlElement("w:tcPr")
                    cell.insert(0, tc_pr)
                if tc_pr.find(qn("w:vAlign")) is None:
                    valign = OxmlElement("w:vAlign")
                    valign.set(qn("w:val"), "top")
                    tc_pr.append(valign)
        count += 1
    return count


class DocxWriter:
    """The ``docx`` format: Word through pandoc, styled by ``options.template`` or the bundled reference."""

    name = "docx"
    suffix = ".docx"
    template_suffix = ".docx"  # a Word reference document

    def check(self, options: WriteOptions) -> None:
        if options.template is not None:
            check_template(options.template)

    def write(self, doc: Document, path: Path, options: WriteOptions) -> Path:
        return write_docx(doc, path, template=options.template)


WRITER = DocxWriter()

__all__ = ["ROLE_STYLES", "WRITER", "DocxWriter", "check_template", "default_reference_doc", "to_pandoc_ast",
           "write_docx"]
