"""Build styles/reference.docx: pandoc's default reference document plus zotcurate's
named paragraph styles (citation, link line, commentary, preamble, notice) and the page
furniture of a print-ready document: a title page, a footer with the document's title and
the page number on every page after it, the Sommaire and each part on a new page.

Run it again after changing ROLE_STYLES or the look below:

    .venv/bin/python styles/build_reference_docx.py

The result is committed, so rendering never needs this script. Users restyle their own
copy in Word and pass it with --template.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pypandoc
from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from zotcurate.document import CITATION, COMMENTARY, LINK, NOTICE, PREAMBLE
from zotcurate.writers.docx import ROLE_STYLES, TOC_STYLES

OUT = Path(__file__).with_name("reference.docx")
PAGE_WIDTH, MARGIN = Cm(21), Cm(2.5)
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN


def _field(paragraph: Any, instruction: str, placeholder: str) -> None:
    """A complex field (begin, instruction, separate, cached result, end) at the end of ``paragraph``.
    The cached result is what a reader shows before fields are updated; Word and LibreOffice
    recompute PAGE and TITLE when they lay the page out."""
    def run_with(child: Any) -> None:
        run = OxmlElement("w:r")
        run.append(child)
        paragraph._p.append(run)

    for kind, text in (("begin", None), (None, instruction), ("separate", None), (None, placeholder), ("end", None)):
        if kind:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run_with(char)
        elif text == instruction:
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {instruction} "
            run_with(instr)
        else:
            t = OxmlElement("w:t")
            t.set(qn("xml:space"), "preserve")
            t.text = text
            run_with(t)


def _top_border(style: Any) -> None:
    ppr = style.element.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for attr, value in (("w:val", "single"), ("w:sz", "4"), ("w:space", "4"), ("w:color", "808080")):
        top.set(qn(attr), value)
    borders.append(top)
    ppr.append(borders)


def main() -> None:
    default = subprocess.run([pypandoc.get_pandoc_path(), "--print-default-data-file", "reference.docx"],
                             check=True, capture_output=True).stdout
    doc = Document(io.BytesIO(default))
    styles = doc.styles
    body = styles["Body Text"]
    names = {s.name for s in styles}

    def paragraph_style(name: str, base: Any = body) -> Any:
        style = styles[name] if name in names else styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        if base is not None:
            style.base_style = base
        return style

    def add(role: str) -> Any:
        style = paragraph_style(ROLE_STYLES[role])
        style.quick_style = True  # shown in Word's style gallery
        return style

    citation = add(CITATION)
    citation.font.bold = True
    citation.paragraph_format.space_before = Pt(14)
    citation.paragraph_format.space_after = Pt(2)
    citation.paragraph_format.keep_with_next = True

    link = add(LINK)
    link.paragraph_format.space_before = Pt(0)
    link.paragraph_format.space_after = Pt(4)
    link.paragraph_format.keep_with_next = True

    commentary = add(COMMENTARY)
    commentary.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    commentary.paragraph_format.left_indent = Cm(0.6)
    commentary.paragraph_format.space_before = Pt(0)
    commentary.paragraph_format.space_after = Pt(6)

    preamble = add(PREAMBLE)
    preamble.font.italic = True
    preamble.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY

    notice = add(NOTICE)
    notice.font.italic = True

    # The title page: title, subtitle, authors and date centred in the upper half of page 1;
    # the Sommaire (or, without one, the first part) starts page 2.
    title = styles["Title"]
    title.paragraph_format.space_before = Cm(7)
    title.paragraph_format.space_after = Pt(18)
    title.font.size = Pt(30)
    # pandoc bases these on Title: each says its own spacing, or it would inherit Title's 7 cm.
    for name, before, after in (("Subtitle", 0, 48), ("Author", 0, 6), ("Date", 6, 0)):
        style = styles[name]
        style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
        style.paragraph_format.keep_with_next = True
        style.paragraph_format.space_before = Pt(before)
        style.paragraph_format.space_after = Pt(after)

    # The Sommaire and every part begin on a new page.
    styles["TOC Heading"].paragraph_format.page_break_before = True
    styles["Heading 1"].paragraph_format.page_break_before = True

    # The Sommaire's entries: "toc 1"… are Word's built-in names (LibreOffice reads them as
    # "Contents 1"…), with the page number at the right margin after a dotted leader.
    for level, name in enumerate(TOC_STYLES, start=1):
        style = paragraph_style(name, styles["Normal"])
        fmt = style.paragraph_format
        fmt.left_indent = Cm(0.6 * (level - 1))
        fmt.space_before = Pt(6 if level == 1 else 0)
        fmt.space_after = Pt(2)
        fmt.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)
        if level == 1:
            style.font.bold = True

    # The footer: the document's title (Word's TITLE field: pandoc sets the title property)
    # and the page number, under a thin rule; none on the title page.
    footer_style = paragraph_style("footer", styles["Normal"])
    footer_style.font.size = Pt(9)
    footer_style.font.color.rgb = RGBColor(0x59, 0x59, 0x59)
    footer_style.paragraph_format.space_after = Pt(0)
    footer_style.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    _top_border(footer_style)

    # A4 with French-usual margins; page setup is taken from this document by pandoc.
    section = doc.sections[0]
    section.page_width, section.page_height = PAGE_WIDTH, Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, MARGIN)
    section.footer_distance = Cm(1.2)
    section.different_first_page_header_footer = True
    section.first_page_footer.is_linked_to_previous = False  # an empty footer on the title page
    section.first_page_footer.paragraphs[0].style = styles["Normal"]  # not the footer's rule
    footer = section.footer
    footer.is_linked_to_previous = False
    para = footer.paragraphs[0]
    para.style = footer_style
    _field(para, "TITLE", "Titre du document")
    para.add_run("\t")
    _field(para, "PAGE", "1")
    # pandoc's default restarts footnotes "each section"; Word reads that as continuous
    # (one section) but LibreOffice restarts at every chapter. The document numbers its
    # footnotes through the whole text, so say so explicitly.
    for restart in section._sectPr.iter(qn("w:numRestart")):
        restart.set(qn("w:val"), "continuous")

    doc.save(OUT)
    print(f"Wrote {OUT}")


if __name__ == "__main__":
    main()
