"""The neutral document model that rendering builds and the writers walk.

One model, small writers (as pybtex does with its backends): ``render`` turns the store
into a :class:`Document`; the writers (:mod:`zotcurate.writers`) each turn a Document
into their own format and know nothing of the store, the manifest or citeproc.

A Document is a title block plus a flat list of blocks. Paragraphs carry a *role* (what
the paragraph is: a citation, a commentary, a link line…) which each writer maps to its
own styling, so a Word user can restyle every commentary at once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

# Paragraph roles. Writers map them to styles; unknown roles fall back to BODY.
BODY = "body"
PREAMBLE = "preamble"
CITATION = "citation"
LINK = "link"
COMMENTARY = "commentaire"
NOTICE = "notice"  # the link-check sentence and similar editorial statements

ROLES = (BODY, PREAMBLE, CITATION, LINK, COMMENTARY, NOTICE)

COVER_POSITIONS = ("left",)


@dataclass(frozen=True)
class Span:
    """A run of text with its formatting. ``url`` makes the run a hyperlink."""

    text: str
    italic: bool = False
    bold: bool = False
    smallcaps: bool = False
    superscript: bool = False
    subscript: bool = False
    url: str | None = None


@dataclass(frozen=True)
class Picture:
    """An image file that a writer embeds or copies (a cover thumbnail); ``url`` makes it a link.

    ``path`` is a file on disk (JPEG or PNG), ``width``/``height`` its size in pixels, ``alt``
    the text that stands for it (the item's title), ``name`` a file name for writers that copy
    it next to the document (unique within the document)."""

    path: str
    width: int
    height: int
    alt: str = ""
    url: str | None = None
    mime: str = "image/jpeg"
    name: str = "cover.jpg"


@dataclass(frozen=True)
class CoverLayout:
    """Entries printed with a cover thumbnail beside them: every entry gets the cover column
    (an entry without a cover keeps it empty, so all stay aligned)."""

    width_mm: float = 30.0
    position: str = "left"


def plain(spans: list[Span]) -> str:
    """The text of spans without formatting."""
    return "".join(s.text for s in spans)


@dataclass(frozen=True)
class FootnoteRef:
    """A footnote call inside a paragraph; ``number`` indexes ``Document.footnotes``."""

    number: int


Inline = Span | FootnoteRef


@dataclass
class Heading:
    level: int  # 1 = a part; the document title sits above level 1
    spans: list[Span]
    anchor: str | None = None


@dataclass
class Paragraph:
    spans: list[Inline]
    role: str = BODY
    key: str | None = None  # the Zotero item this paragraph belongs to, if any
    image: Picture | None = None  # a citation's cover thumbnail (with Document.covers set)


@dataclass
class ListBlock:
    """A bulleted or numbered list; each item is one run of inlines."""

    items: list[list[Inline]]
    ordered: bool = False
    role: str = BODY
    key: str | None = None


Block = Heading | Paragraph | ListBlock


@dataclass
class Document:
    title: str = ""
    subtitle: str = ""
    authors: list[str] = field(default_factory=list)
    date: str = ""  # as the manifest gives it, e.g. "2025-07"
    date_text: str = ""  # the same date in words for a title page, e.g. "juillet 2025" ("" = print ``date``)
    organisation: str = ""  # who publishes it, under the authors on a title page
    short_title: str = ""  # the running title of page footers ("" = the title)
    lang: str = "fr-FR"
    toc: bool = False
    toc_title: str = "Sommaire"
    blocks: list[Block] = field(default_factory=list)
    footnotes: dict[int, list[Span]] = field(default_factory=dict)
    covers: CoverLayout | None = None  # None: entries have no cover column

    def add_footnote(self, spans: list[Span]) -> FootnoteRef:
        """Register a footnote; numbers run through the whole document in call order."""
        number = len(self.footnotes) + 1
        self.footnotes[number] = spans
        return FootnoteRef(number)


# C0/C1 control characters (but tab and newline), lone surrogates and non-characters
# cannot go into XML and make no sense in Markdown: they are dropped, never passed on.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """User text made safe for any writer: NFC, no control characters, tabs as spaces."""
    text = unicodedata.normalize("NFC", text)
    return _BAD_CHARS.sub("", text).replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n")


# The only schemes any writer turns into a live link: item URLs are text any group member can
# edit, and a javascript:, data: or file: link in a .docx, .md or web page is an attack.
LINK_SCHEMES = ("http://", "https://", "mailto:")


def link_target(url: str | None) -> str | None:
    """The address a writer may make a live link of: an http(s) or mailto URL (a ``doi:`` URI
    becomes its https://doi.org/ address); None for anything else, which writers print as text."""
    if not url:
        return None
    url = clean_text(url).strip().replace("\n", "")
    if url[:4].lower() == "doi:":
        url = "https://doi.org/" + url[4:].strip()
    return url if url.lower().startswith(LINK_SCHEMES) else None


def link_groups(items: Sequence[Inline], target: Callable[[str | None], str | None] = link_target,
                ) -> Iterator[FootnoteRef | tuple[str | None, list[Span]]]:
    """Inline content as a writer lays it out: each footnote call alone, and spans as
    ``(link, spans)``: neighbouring spans with the same URL make one link; a span whose URL may
    not become one (``target`` says None) stands alone, as text."""
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, FootnoteRef):
            yield item
            i += 1
            continue
        url = target(item.url)
        j = i + 1
        if url is not None:
            while j < len(items) and isinstance(items[j], Span) and items[j].url == item.url:  # type: ignore[union-attr]
                j += 1
        yield url, [s for s in items[i:j] if isinstance(s, Span)]
        i = j


def clean_spans(spans: list[Span]) -> list[Span]:
    """Spans with clean text; empty spans are dropped."""
    out = []
    for s in spans:
        text = clean_text(s.text)
        if text:
            out.append(s if text == s.text else replace(s, text=text))
    return out
