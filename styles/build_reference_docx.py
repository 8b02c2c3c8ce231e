"""Build styles/reference.docx: pandoc's default reference document plus zotcurate's
named paragraph styles (citation, link line, commentary, preamble, notice).

Run it again after changing ROLE_STYLES or the look below:

    .venv/bin/python styles/build_reference_docx.py

The result is committed, so rendering never needs this script. Users restyle their own
copy in Word and pass it with --template.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pypandoc
from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from zotcurate.document import CITATION, COMMENTARY, LINK, NOTICE, PREAMBLE
from zotcurate.writers.docx import ROLE_STYLES

OUT = Path(__file__).with_name("reference.docx")


def main() -> None:
    default = subprocess.run([pypandoc.get_pandoc_path(), "--print-default-data-file", "reference.docx"],
                             check=True, capture_output=True).stdout
    doc = Document(io.BytesIO(default))
    styles = doc.styles
    body = styles["Body Text"]

    def add(role: str) -> object:
        name = ROLE_STYLES[role]
        style = styles[name] if name in [s.name for s in styles] else styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = body
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

    # A4 with French-usual margins; page setup is taken from this document by pandoc.
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.5))
    # pandoc's default restarts footnotes "each section"; Word reads that as continuous
    # (one section) but LibreOffice restarts at every chapter. The document numbers its
    # footnotes through the whole text, so say so explicitly.
    for restart in section._sectPr.iter(qn("w:numRestart")):
        restart.set(qn("w:val"), "continuous")

    doc.save(OUT)
    print(f"Wrote {OUT}")


if __name__ == "__main__":
    main()
