"""Document → Markdown: CommonMark with pandoc-compatible footnotes (``[^1]``).

Every piece of user text is escaped so that it renders as written in any CommonMark
viewer and in pandoc: a title with ``*``, ``_``, ``[``, ``<``, ``#`` or ``|`` stays a
title, and a commentary that starts with "1." or "-" does not become a list.
Formatting CommonMark lacks (small caps, superscript, subscript) is written as inline
HTML, which CommonMark and pandoc both accept.

Cover thumbnails (``Document.covers``) are image files copied into a folder next to the
document (``name-covers/KEY.jpg``) and linked relatively, each as a linked image
(``[![title](name-covers/KEY.jpg)](url)``) on the line before its entry's citation:
Markdown has no columns, so the cover stands above the entry rather than beside it.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import unicodedata
from pathlib import Path
from urllib.parse import quote

from zotcurate.document import (
    CITATION,
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
    link_target,
)
from zotcurate.fileio import atomic_output, remove_stale_temporaries_of, write_text_atomic
from zotcurate.writers.base import WriteOptions

# Characters that mean something somewhere in CommonMark, GFM or pandoc's Markdown
# (pandoc: ^ superscript, ~ subscript, $ math, @ citations). Backslash-escaping any
# ASCII punctuation is valid CommonMark, so over-escaping is harmless.
_ESCAPE = re.compile(r"([\\`*_\[\]<>#|~^$@])")
# "&amp;" would be read as an entity: escape & only where it would start one.
_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")
# Line starts that open a block: lists (incl. pandoc's "a." / "iv)" fancy lists),
# quotes, thematic breaks, setext underlines, pandoc definition lists and divs.
_LINE_START_NUM = re.compile(r"^(\d{1,9}|[A-Za-z]|[ivxlcdmIVXLCDM]+)([.)])(?=\s|$)")
_LINE_START_MARK = re.compile(r"^([-+=>:])")
# ASCII whitespace only: the no-break spaces of French typography (U+00A0, U+202F) are text.
_WS = " \t\n\r\f\v"
_SPACES = re.compile(f"[{_WS}]+")


def escape(text: str) -> str:
    """Inline text escaped for CommonMark and pandoc; newlines become spaces."""
    text = clean_text(text).replace("\n", " ")
    text = _ESCAPE.sub(r"\\\1", text)
    return _ENTITY.sub(r"\\&", text)


def _escape_line_start(line: str) -> str:
    line = line.lstrip(_WS)  # four leading spaces would make a code block
    m = _LINE_START_NUM.match(line)
    if m:
        return f"{m.group(1)}\\{m.group(2)}{line[m.end():]}"
    if _LINE_START_MARK.match(line):
        return "\\" + line
    return line


def _url(url: str) -> str:
    """A link destination in <…> form: safe for spaces and parentheses."""
    url = clean_text(url).strip().replace("\n", "")
    return quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")


def _is_punct(ch: str) -> bool:
    return bool(ch) and unicodedata.category(ch)[0] in "PS"


def _delimiters_work(prev: str, inner: str, nxt: str) -> bool:
    """Whether ``*inner*`` is emphasis per CommonMark's flanking rules in this context."""
    if not inner or inner[0].isspace() or inner[-1].isspace() or "*" in (prev, nxt):
        return False
    open_ok = not _is_punct(inner[0]) or not prev or prev.isspace() or _is_punct(prev)
    close_ok = not _is_punct(inner[-1]) or not nxt or nxt.isspace() or _is_punct(nxt)
    return open_ok and close_ok


def _format_span(span: Span, prev: str, nxt: str) -> str:
    text = escape(span.text)
    # Whitespace at the edges stays outside the markup, or the delimiters would not work.
    core = text.strip(_WS)
    lead = " " if text[:1] and text[:1] in _WS else ""
    trail = " " if text[-1:] and text[-1:] in _WS and core else ""
    if not core:
        return " " if text else ""
    out = core
    if span.superscript:
        out = f"<sup>{out}</sup>"
    if span.subscript:
        out = f"<sub>{out}</sub>"
    if span.smallcaps:
        out = f'<span style="font-variant:small-caps">{out}</span>'
    before, after = (" " if lead else prev), (" " if trail else nxt)
    if span.italic:
        out = f"*{out}*" if _delimiters_work(before, out, after) else f"<em>{out}</em>"
    if span.bold:
        out = f"**{out}**" if _delimiters_work(before, out, after) else f"<strong>{out}</strong>"
    if (target := link_target(span.url)) is not None:
        out = f"[{out}](<{_url(target)}>)"
    return lead + out + trail


def inlines(items: list[Inline]) -> str:
    """Spans and footnote calls as one line of Markdown."""
    # Merge neighbours with identical formatting so "*a**b*" never happens.
    merged: list[Inline] = []
    for item in items:
        last = merged[-1] if merged else None
        if (isinstance(item, Span) and isinstance(last, Span)
                and (item.italic, item.bold, item.smallcaps, item.superscript, item.subscript, item.url)
                == (last.italic, last.bold, last.smallcaps, last.superscript, last.subscript, last.url)):
            merged[-1] = Span(last.text + item.text, last.italic, last.bold, last.smallcaps,
                              last.superscript, last.subscript, last.url)
        else:
            merged.append(item)
    parts: list[str] = []
    for i, item in enumerate(merged):
        if isinstance(item, FootnoteRef):
            parts.append(f"[^{item.number}]")
            continue
        prev = parts[-1][-1:] if parts else ""
        nxt_item = merged[i + 1] if i + 1 < len(merged) else None
        if nxt_item is None:
            nxt = ""
        elif isinstance(nxt_item, FootnoteRef):
            nxt = "["
        elif nxt_item.italic or nxt_item.bold:
            nxt = "*"
        else:
            nxt = escape(nxt_item.text)[:1]
        parts.append(_format_span(item, prev, nxt))
    return _SPACES.sub(" ", "".join(parts)).strip(_WS)


def _block(block: Block, heading_offset: int) -> str:
    if isinstance(block, Heading):
        level = min(block.level + heading_offset, 6)
        return "#" * level + " " + inlines(list(block.spans))
    if isinstance(block, ListBlock):
        lines = []
        for n, item in enumerate(block.items, start=1):
            marker = f"{n}." if block.ordered else "-"
            lines.append(f"{marker} {_escape_line_start(inlines(item))}")
        return "\n".join(lines)
    assert isinstance(block, Paragraph)
    return _escape_line_start(inlines(block.spans))


def _cover(picture: Picture, folder: str) -> str:
    """A linked image: the thumbnail (a relative path) that links to the document."""
    image = f"![{escape(picture.alt)}](<{_url(folder + '/' + picture.name)}>)"
    target = link_target(picture.url)
    return f"[{image}](<{_url(target)}>)" if target is not None else image


def covers_folder(path: Path) -> Path:
    """Where the Markdown document at ``path`` keeps its cover images."""
    return path.with_name(f"{path.stem}-covers")


def to_markdown(doc: Document, covers: str | None = None) -> str:
    """The whole document as Markdown text (UTF-8, ``\\n`` line ends, final newline). ``covers``: the
    folder, relative to the document, where the cover images are (None: no covers printed)."""
    out: list[str] = []
    offset = 0
    if doc.title:
        out.append("# " + inlines([Span(doc.title)]))
        offset = 1  # parts become ## when the title takes #
    if doc.subtitle:
        out.append(_escape_line_start(inlines([Span(doc.subtitle, bold=True)])))
    byline = ", ".join(a for a in doc.authors if a.strip())
    when = doc.date_text or doc.date
    if when:
        byline = f"{byline}, {when}" if byline else when
    if byline:
        out.append(_escape_line_start(inlines([Span(byline)])))
    previous: Block | None = None
    for block in doc.blocks:
        text = _block(block, offset)
        if not text.strip():
            continue
        if isinstance(block, ListBlock) and isinstance(previous, ListBlock):
            out.append("<!-- -->")  # two lists in a row would otherwise merge into one
        if (covers is not None and doc.covers is not None and isinstance(block, Paragraph)
                and block.role == CITATION and block.image is not None):
            out.append(_cover(block.image, covers))
        out.append(text)
        previous = block
    for number, spans in doc.footnotes.items():
        out.append(f"[^{number}]: {_escape_line_start(inlines(list(spans))) or '—'}")
    return "\n\n".join(out) + "\n"


class MarkdownWriter:
    """The ``md`` format: :func:`to_markdown` written to a file."""

    name = "md"
    suffix = ".md"
    template_suffix = None  # Markdown has no page to style

    def check(self, options: WriteOptions) -> None:
        """Markdown takes no options that could be wrong (a Word template is not its concern)."""

    def write(self, doc: Document, path: Path, options: WriteOptions) -> Path:
        folder = covers_folder(path)
        pictures = [b.image for b in doc.blocks if isinstance(b, Paragraph) and b.image is not None]
        if doc.covers is not None and pictures:
            folder.mkdir(parents=True, exist_ok=True)
            unique = {p.name: p for p in pictures}
            remove_stale_temporaries_of(folder, unique)
            for picture in unique.values():
                dest = folder / picture.name
                if dest.is_file() and filecmp.cmp(picture.path, dest, shallow=False):
                    continue  # written by an earlier render, the same bytes
                with atomic_output(dest, clean_stale=False) as tmp:
                    shutil.copyfile(picture.path, tmp)
        write_text_atomic(path, to_markdown(doc, folder.name if pictures else None))
        return path


WRITER = MarkdownWriter()

__all__ = ["WRITER", "MarkdownWriter", "covers_folder", "escape", "inlines", "to_markdown"]
