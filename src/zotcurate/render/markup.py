"""User markup → document blocks: Zotero note HTML, and the manifest's Markdown.

Both readers produce the neutral blocks of :mod:`zotcurate.document` and never let
markup through as text: an unknown HTML tag is dropped (its text kept), script and
style contents are dropped, entities are decoded. Links keep only http(s) and mailto
targets. Manifest Markdown is CommonMark (markdown-it-py) plus one extension, the
citation ``[@KEY]`` (or ``[@KEY1; @KEY2]``), which the caller turns into footnotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from zotcurate.document import BODY, Block, Heading, Inline, ListBlock, Paragraph, Span, clean_text, link_target

_WS = re.compile(r"\s+")


def _format_of(s: Span) -> tuple[bool, bool, bool, bool, bool, str | None]:
    return s.italic, s.bold, s.smallcaps, s.superscript, s.subscript, s.url


def _same_format(a: Span, b: Span) -> bool:
    return _format_of(a) == _format_of(b)


class _Builder:
    """Collects inlines into paragraphs and list items, with a stack of formats."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.blocks: list[Block] = []
        self.current: list[Inline] = []
        self.italic = self.bold = self.sup = self.sub = 0
        self.links: list[str | None] = []
        self.list_stack: list[ListBlock] = []
        self.in_item = False

    def text(self, text: str) -> None:
        if not text:
            return
        url = next((u for u in reversed(self.links) if u), None)
        self.current.append(Span(text, italic=self.italic > 0, bold=self.bold > 0, superscript=self.sup > 0,
                                 subscript=self.sub > 0, url=url))

    def inline(self, item: Inline) -> None:
        self.current.append(item)

    def _tidy(self) -> list[Inline]:
        # HTML and Markdown collapse whitespace; do the same across span edges.
        out: list[Inline] = []
        prev_space = True
        for item in self.current:
            if not isinstance(item, Span):
                # A footnote call sits right after its word: "santé¹", not "santé ¹".
                if out and isinstance(out[-1], Span) and out[-1].text.endswith(" "):
                    last = out[-1]
                    out[-1] = Span(last.text.rstrip(" "), last.italic, last.bold, last.smallcaps,
                                   last.superscript, last.subscript, last.url)
                out.append(item)
                prev_space = False
                continue
            text = _WS.sub(" ", clean_text(item.text))
            if prev_space:
                text = text.lstrip(" ")
            if text:
                span = Span(text, item.italic, item.bold, item.smallcaps, item.superscript, item.subscript,
                            item.url)
                prev = out[-1] if out else None
                if isinstance(prev, Span) and _same_format(prev, span):
                    out[-1] = Span(prev.text + text, *_format_of(span))
                else:
                    out.append(span)
                prev_space = text.endswith(" ")
        while out and isinstance(out[-1], Span) and out[-1].text.endswith(" "):
            last = out[-1]
            stripped = last.text.rstrip(" ")
            out[-1:] = [Span(stripped, last.italic, last.bold, last.smallcaps, last.superscript, last.subscript,
                             last.url)] if stripped else []
        return out

    def flush(self) -> None:
        inlines = self._tidy()
        self.current = []
        if not inlines:
            return
        if self.list_stack and self.in_item:
            self.list_stack[-1].items.append(inlines)
        else:
            self.blocks.append(Paragraph(inlines, role=self.role))

    def heading(self, level: int) -> None:
        inlines = [i for i in self._tidy() if isinstance(i, Span)]
        self.current = []
        if inlines:
            self.blocks.append(Heading(level, inlines))

    def open_list(self, ordered: bool) -> None:
        self.flush()
        if not self.list_stack:
            block = ListBlock([], ordered=ordered, role=self.role)
            self.blocks.append(block)
            self.list_stack.append(block)
        else:  # nested lists are flattened into their parent: items keep their order
            self.list_stack.append(self.list_stack[-1])

    def close_list(self) -> None:
        self.flush()
        if self.list_stack:
            self.list_stack.pop()
        if not self.list_stack:
            self.blocks = [b for b in self.blocks if not (isinstance(b, ListBlock) and not b.items)]


# -- Zotero notes (HTML) ------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "blockquote", "pre", "tr", "table", "section", "article", "header", "footer",
               "figure", "figcaption", "dl", "dt", "dd", "address", "hr"}
_DROP_TAGS = {"script", "style", "head", "title", "template", "noscript", "svg", "math", "object", "iframe"}


class _NoteParser(HTMLParser):
    def __init__(self, role: str, heading_level: int | None) -> None:
        super().__init__(convert_charrefs=True)
        self.b = _Builder(role)
        self.heading_level = heading_level
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_TAGS:
            self.dropping += 1
        elif tag in _BLOCK_TAGS or tag in {"h1", "h2", "h3", "h4", "h5", "h6"} or tag == "br":
            self.b.flush()
        elif tag in ("ul", "ol"):
            self.b.open_list(tag == "ol")
        elif tag == "li":
            self.b.flush()
            self.b.in_item = bool(self.b.list_stack)
        elif tag in ("em", "i", "cite", "var", "dfn"):
            self.b.italic += 1
        elif tag in ("strong", "b"):
            self.b.bold += 1
        elif tag == "sup":
            self.b.sup += 1
        elif tag == "sub":
            self.b.sub += 1
        elif tag == "a":
            self.b.links.append(link_target(dict(attrs).get("href")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self.b.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_TAGS:
            self.dropping = max(0, self.dropping - 1)
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            if self.heading_level is None:
                self.b.flush()  # a note's headings read as ordinary paragraphs
            else:
                self.b.heading(self.heading_level + int(tag[1]) - 1)
        elif tag in _BLOCK_TAGS:
            self.b.flush()
        elif tag in ("ul", "ol"):
            self.b.close_list()
            self.b.in_item = bool(self.b.list_stack)
        elif tag == "li":
            self.b.flush()
        elif tag in ("em", "i", "cite", "var", "dfn"):
            self.b.italic = max(0, self.b.italic - 1)
        elif tag in ("strong", "b"):
            self.b.bold = max(0, self.b.bold - 1)
        elif tag == "sup":
            self.b.sup = max(0, self.b.sup - 1)
        elif tag == "sub":
            self.b.sub = max(0, self.b.sub - 1)
        elif tag == "a" and self.b.links:
            self.b.links.pop()

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.b.text(data)


def html_to_blocks(html: str, *, role: str = BODY, heading_level: int | None = None) -> list[Block]:
    """A Zotero note (or any HTML fragment) as paragraphs and lists, no tags left."""
    parser = _NoteParser(role, heading_level)
    parser.feed(html)
    parser.close()
    while parser.b.list_stack:
        parser.b.close_list()
    parser.b.flush()
    return parser.b.blocks


def text_to_blocks(text: str, *, role: str = BODY) -> list[Block]:
    """Plain text (an abstract): one paragraph per line, whitespace collapsed."""
    out: list[Block] = []
    for line in clean_text(text).split("\n"):
        line = _WS.sub(" ", line).strip()
        if line:
            out.append(Paragraph([Span(line)], role=role))
    return out


# -- manifest Markdown -----------------------------------------------------------------

# [@KEY] and [@KEY1; @KEY2] are footnote calls; [!@KEY] puts the citation and its link
# text in the running text (figure captions: "Source : [!@KEY]").
CITATION_RE = re.compile(r"\[\s*(!?)@([\w:.-]+)((?:\s*;\s*@[\w:.-]+)*)\s*\]")


def cited_keys(text: str) -> list[str]:
    """Every item key cited in manifest Markdown, in order."""
    keys: list[str] = []
    for m in CITATION_RE.finditer(text):
        keys.append(m.group(2))
        keys += re.findall(r"@([\w:.-]+)", m.group(3))
    return keys


def _cite_rule(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "[":
        return False
    m = CITATION_RE.match(state.src, state.pos)
    if not m:
        return False
    if not silent:
        token = state.push("zcite", "", 0)
        token.meta = {"keys": [m.group(2), *re.findall(r"@([\w:.-]+)", m.group(3))], "inline": bool(m.group(1))}
    state.pos = m.end()
    return True


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark")
    md.inline.ruler.before("link", "zcite", _cite_rule)
    return md


_MD = _markdown()


def markdown_to_blocks(text: str, *, cite: Callable[[str, bool], list[Inline]], role: str = BODY,
                       heading_level: int = 1) -> list[Block]:
    """Manifest Markdown as blocks; ``cite(key, inline)`` returns the inlines for one
    citation (a footnote call, or with ``inline`` the citation itself) and raises if the
    key is unknown. A "# heading" becomes a heading
    at ``heading_level``, "##" one level below, and so on."""
    b = _Builder(role)
    tokens = _MD.parse(clean_text(text))
    for tok in tokens:
        t = tok.type
        if t in ("bullet_list_open", "ordered_list_open"):
            b.open_list(t == "ordered_list_open")
        elif t in ("bullet_list_close", "ordered_list_close"):
            b.close_list()
            b.in_item = bool(b.list_stack)
        elif t == "list_item_open":
            b.flush()
            b.in_item = True
        elif t in ("paragraph_close", "list_item_close"):
            b.flush()
        elif t == "heading_close":
            b.heading(heading_level + int(tok.tag[1]) - 1)
        elif t == "inline":
            _inline_tokens(b, tok.children or [], cite)
        elif t in ("fence", "code_block"):
            b.text(tok.content)
            b.flush()
        elif t == "html_block":
            b.flush()
            b.blocks += html_to_blocks(tok.content, role=role)
    b.flush()
    return b.blocks


def _inline_tokens(b: _Builder, children: list[Token], cite: Callable[[str, bool], list[Inline]]) -> None:
    for tok in children:
        t = tok.type
        if t == "text" or t == "code_inline":
            b.text(tok.content)
        elif t in ("softbreak", "hardbreak"):
            b.text(" ")
        elif t == "em_open":
            b.italic += 1
        elif t == "em_close":
            b.italic = max(0, b.italic - 1)
        elif t == "strong_open":
            b.bold += 1
        elif t == "strong_close":
            b.bold = max(0, b.bold - 1)
        elif t == "link_open":
            b.links.append(link_target(str(tok.attrs.get("href", ""))))
        elif t == "link_close" and b.links:
            b.links.pop()
        elif t == "image":
            b.text(tok.content)
        elif t == "zcite":
            for key in tok.meta["keys"]:
                for item in cite(key, tok.meta["inline"]):
                    b.inline(item)
        # html_inline: raw tags are dropped, their text comes through as text tokens
