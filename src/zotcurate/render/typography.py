"""French typography and footnote-call spacing: transforms of a whole Document, applied by
render before any writer, so that every format prints the same characters.

French rules (Imprimerie nationale, *Lexique des règles typographiques*): a non-breaking
space before ``: ; ! ?`` and inside ``« »``; between a number and what it counts or
abbreviates (``46 p.``, ``n° 28``, ``vol. 36``, ``4 min``, ``10 000``); no line break inside
a date (``3 mai 2025``) or a number range (``pp. 18-24``, ``2023-2027``: the hyphen becomes
the non-breaking hyphen U+2011, a character that pandoc, Typst, HTML and Markdown all pass
through unchanged, unlike a no-break rule that each writer would have to express its own way).

The pass only touches text whose language is French: a paragraph that belongs to an item
takes the item's ``language`` field, everything else (titles, headings, introductions)
the document's. It never changes a hyperlink's text, a URL, a DOI, an e-mail address or an
ISBN/ISSN written in the text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from zotcurate.document import Block, Document, FootnoteRef, Heading, Inline, ListBlock, Paragraph, Span

NBSP = "\u00a0"  # no-break space
NNBSP = "\u202f"  # narrow no-break space
NBHY = "\u2011"  # non-breaking hyphen

# The manifest's ``french_spaces``: which no-break space goes where, or "off" for no pass.
SPACE_MODES = ("mixed", "narrow", "nbsp", "off")


@dataclass(frozen=True)
class Spacing:
    colon: str  # before ":"
    tight: str  # before "; ! ?"
    quote: str  # after "«" and before "»"
    word: str  # number and unit, abbreviation and number, inside a date


_SPACING_TABLE = {
    # The rule as the Lexique gives it: a word space before ":" and inside « », a fine one before ; ! ?
    "mixed": Spacing(colon=NBSP, tight=NNBSP, quote=NBSP, word=NBSP),
    "narrow": Spacing(colon=NNBSP, tight=NNBSP, quote=NNBSP, word=NBSP),
    "nbsp": Spacing(colon=NBSP, tight=NBSP, quote=NBSP, word=NBSP),
}

SPACINGS: Mapping[str, Spacing] = MappingProxyType(_SPACING_TABLE)

_FRENCH = {"fr", "fra", "fre", "french", "français", "francais"}


def is_french(lang: str | None) -> bool:
    """``fr``, ``fr-FR``, ``fr_CA``, ``fra``, ``French``, ``Français``…"""
    if not lang:
        return False
    head = re.split(r"[-_\s]", lang.strip().casefold(), maxsplit=1)[0]
    return head in _FRENCH


# Text that is an address or an identifier: never touched.
_PROTECTED = re.compile(
    r"(?:https?|ftp)://\S+|www\.\S+|mailto:\S+|\bdoi:\s?\S+|\b10\.\d{4,9}/\S+"
    r"|[\w.+-]+@[\w-]+\.[\w.-]+|\b(?:ISBN|ISSN)(?:-1[03])?[\s:]*[\dXx][\dXx\- ]*[\dXx]",
    re.IGNORECASE,
)
_MAYBE_PROTECTED = re.compile(r"//|www\.|@|10\.|doi|isbn|issn", re.IGNORECASE)  # a cheap first look
_MONTHS = (r"(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre"
           r"|décembre|decembre)")
_ANY_SPACE = r"[ \u00a0\u202f\u2009]"
_UNITS = r"(?:pp?\.|%|‰|€|\$|£|min\b|sec\b|s\b|h\b|km\b|kg\b|cm\b|mm\b|ko\b|Mo\b|Go\b|°C)"
_ABBREVIATIONS = r"(?:[nN]°|[vV]ol\.|pp?\.|t\.|chap\.|art\.|fig\.|éd\.|tome|numéro)"

_DIGITS = frozenset("0123456789")

# (pattern, which space it puts, characters the text must contain for the rule to apply: a
# cheap test that spares most texts most of the patterns). Each rule names the text it
# replaces (possibly empty: an insertion) as the group "sp".
Rule = tuple[re.Pattern[str], Callable[[Spacing], str], frozenset[str]]
_RULES: tuple[Rule, ...] = (
    (re.compile(rf"(?P<sp>{_ANY_SPACE}+)(?=[;!?])"), lambda s: s.tight, frozenset(";!?")),
    # (insertions: the lookahead comes first, it fails fastest)
    (re.compile(r"(?P<sp>)(?=[;!?](?:\s|$|[»)\].,;:!?]))(?<=[^\W_]|[»)\]])"), lambda s: s.tight, frozenset(";!?")),
    (re.compile(rf"(?P<sp>{_ANY_SPACE}+)(?=:)"), lambda s: s.colon, frozenset(":")),
    (re.compile(r"(?P<sp>)(?=:(?:\s|$))(?<=[^\W\d_]|[»)\]])"), lambda s: s.colon, frozenset(":")),
    (re.compile(rf"(?<=«)(?P<sp>{_ANY_SPACE}*)"), lambda s: s.quote, frozenset("«")),
    (re.compile(rf"(?<!{_ANY_SPACE})(?P<sp>{_ANY_SPACE}*)(?=»)"), lambda s: s.quote, frozenset("»")),
    (re.compile(rf"(?<=\d)(?P<sp>{_ANY_SPACE}+)(?={_UNITS})"), lambda s: s.word, _DIGITS),
    (re.compile(rf"(?<!\w){_ABBREVIATIONS}(?P<sp>{_ANY_SPACE}+)(?=\d)"), lambda s: s.word, _DIGITS),
    (re.compile(r"(?<=min)(?P<sp> )(?=\d)"), lambda s: s.word, _DIGITS),  # "4 min 20 sec"
    (re.compile(r"(?<![\d,.])\d{1,3}(?P<sp> )(?=\d{3}(?!\d))"), lambda s: s.word, _DIGITS),  # 10 000
    (re.compile(r"(?<=\d{3})(?P<sp> )(?=\d{3}(?!\d))"), lambda s: s.word, _DIGITS),  # 1 000 000
    (re.compile(rf"(?<!\w)(?:\d{{1,2}}|1er)(?P<sp>{_ANY_SPACE}+)(?={_MONTHS}\b)", re.IGNORECASE), lambda s: s.word,
     _DIGITS),
    (re.compile(rf"(?<!\w){_MONTHS}(?P<sp>{_ANY_SPACE}+)(?=\d{{4}}(?!\d))", re.IGNORECASE), lambda s: s.word,
     _DIGITS),
    (re.compile(r"(?<=\d)(?P<sp>-)(?=\d)"), lambda s: NBHY, frozenset("-")),
)


Edit = tuple[int, int, str]  # replace text[start:end] by the string (start == end: an insertion)

# A text without any of these has nothing for the rules to do (most short texts: names, numbers).
_TRIGGERS = re.compile(r"[ :;!?«»\-\u00a0\u202f]")


def french_edits(text: str, spacing: Spacing, locked: bytearray | None = None) -> list[Edit]:
    """The edits French typography makes to ``text``, sorted and non-overlapping.

    ``locked[i]`` marks characters that must not change, nor get a space inserted next to them
    (a hyperlink's text); URLs, DOIs, e-mail addresses and ISBN/ISSN in the text are locked too.
    All rules read the original text: each rewrites different characters."""
    if not _TRIGGERS.search(text):
        return []
    lock = bytearray(locked) if locked is not None else bytearray(len(text))
    if _MAYBE_PROTECTED.search(text):
        for m in _PROTECTED.finditer(text):
            lock[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    edits: list[Edit] = []
    present = frozenset(text)
    for pattern, pick, needs in _RULES:
        if present.isdisjoint(needs):
            continue
        new = pick(spacing)
        for m in pattern.finditer(text):
            start, end = m.span("sp")
            if start == end:  # an insertion: both neighbours must be free
                if (start > 0 and lock[start - 1]) or (start < len(text) and lock[start]):
                    continue
            elif any(lock[start:end]):
                continue
            if text[start:end] != new:
                edits.append((start, end, new))
    edits.sort()
    out: list[Edit] = []
    for edit in edits:
        if out and (edit[0] < out[-1][1] or edit[0] == out[-1][0]):
            continue  # two rules on the same characters: the first one stands
        out.append(edit)
    return out


def french_text(text: str, spacing: Spacing) -> str:
    """``text`` with French typography (see the module's docstring)."""
    pieces, pos = [], 0
    for start, end, new in french_edits(text, spacing):
        pieces += [text[pos:start], new]
        pos = end
    return "".join(pieces) + text[pos:]


def _french_spans(spans: list[Span], spacing: Spacing) -> list[Span]:
    """One run of spans (no footnote call inside) treated as one text, so that a rule sees
    "« " in one span and the italic title in the next; each character stays in its span, an
    inserted space goes to the span of the character before it."""
    if not spans:
        return spans
    text = "".join(s.text for s in spans)
    locked = bytearray()
    bounds = [0]
    for span in spans:
        locked += (b"\x01" if span.url is not None else b"\x00") * len(span.text)  # a link's text is the link's
        bounds.append(bounds[-1] + len(span.text))
    edits = french_edits(text, spacing, locked)
    if not edits:
        return spans
    pieces: list[list[str]] = [[] for _ in spans]
    pos = 0

    def copy_to(upto: int) -> None:  # the unchanged text[pos:upto], each part into its own span
        nonlocal pos
        while pos < upto:
            i = bisect_right(bounds, pos) - 1
            stop = min(upto, bounds[i + 1])
            pieces[i].append(text[pos:stop])
            pos = stop

    for start, end, new in edits:
        copy_to(start)
        at = start - 1 if start == end and start > 0 else start
        pieces[min(bisect_right(bounds, at) - 1, len(spans) - 1)].append(new)
        pos = end
    copy_to(len(text))
    out = []
    for span, parts in zip(spans, pieces, strict=True):
        piece = "".join(parts)
        if piece:
            out.append(span if piece == span.text else replace(span, text=piece))
    return out


def _french_inlines(items: list[Inline], spacing: Spacing) -> list[Inline]:
    out: list[Inline] = []
    run: list[Span] = []
    for item in items:
        if isinstance(item, Span):
            run.append(item)
            continue
        out += _french_spans(run, spacing)
        run = []
        out.append(item)
    return out + _french_spans(run, spacing)


def _plain(text: str, spacing: Spacing) -> str:
    return french_text(text, spacing) if text else text


def apply_french_typography(doc: Document, mode: str, *, item_languages: Mapping[str, str] | None = None,
                            note_keys: Mapping[int, str] | None = None) -> Document:
    """A copy of ``doc`` with French typography wherever the text is French.

    ``item_languages``: item key → its ``language`` field (a paragraph with a key follows its
    item's language when the item has one, the document's otherwise). ``note_keys``: footnote
    number → the item it cites, so that a note follows that item's language too."""
    if mode == "off":
        return doc
    if mode not in SPACINGS:
        raise ValueError(f"unknown French spacing mode {mode!r}; use one of {', '.join(SPACE_MODES)}")
    spacing = SPACINGS[mode]
    languages = item_languages or {}
    doc_french = is_french(doc.lang)

    def french(key: str | None) -> bool:
        lang = languages.get(key or "", "").strip()
        return is_french(lang) if lang else doc_french

    blocks: list[Block] = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            blocks.append(replace(block, spans=_french_spans(list(block.spans), spacing)) if doc_french else block)
        elif not french(block.key):
            blocks.append(block)
        elif isinstance(block, ListBlock):
            blocks.append(replace(block, items=[_french_inlines(list(i), spacing) for i in block.items]))
        else:
            blocks.append(replace(block, spans=_french_inlines(list(block.spans), spacing)))
    keys = note_keys or {}
    footnotes = {n: (_french_spans(list(spans), spacing) if french(keys.get(n)) else spans)
                 for n, spans in doc.footnotes.items()}
    if not doc_french:
        return replace(doc, blocks=blocks, footnotes=footnotes)
    return replace(doc, title=_plain(doc.title, spacing), subtitle=_plain(doc.subtitle, spacing),
                   authors=[_plain(a, spacing) for a in doc.authors], date=_plain(doc.date, spacing),
                   date_text=_plain(doc.date_text, spacing),
                   toc_title=_plain(doc.toc_title, spacing), blocks=blocks, footnotes=footnotes)


# -- footnote calls ---------------------------------------------------------------------

# Between two calls that follow each other: a superscript comma and a narrow no-break space,
# "¹⁵, ¹⁶" as French typesetting prints them (never "¹⁵¹⁶", which reads as note 1516).
CALL_SEPARATOR = Span("," + NNBSP, superscript=True)


def _blank(item: Inline) -> bool:
    return isinstance(item, Span) and item.url is None and not item.text.strip()


def _separate(items: list[Inline]) -> list[Inline]:
    out: list[Inline] = []
    i = 0
    while i < len(items):
        out.append(items[i])
        if isinstance(items[i], FootnoteRef):
            j = i + 1
            while j < len(items) and _blank(items[j]):
                j += 1
            if j < len(items) and isinstance(items[j], FootnoteRef):
                out.append(CALL_SEPARATOR)  # the blank text between the calls gives way to it
                i = j
                continue
        i += 1
    return out


def separate_footnote_calls(doc: Document) -> Document:
    """A copy of ``doc`` in which calls that follow each other (with at most blank text
    between them) are separated by :data:`CALL_SEPARATOR`."""
    def fix(block: Block) -> Block:
        runs = block.items if isinstance(block, ListBlock) else [block.spans]
        if not any(sum(isinstance(s, FootnoteRef) for s in run) > 1 for run in runs):
            return block  # most blocks: no two calls to separate
        if isinstance(block, Paragraph):
            return replace(block, spans=_separate(list(block.spans)))
        if isinstance(block, ListBlock):
            return replace(block, items=[_separate(list(i)) for i in block.items])
        return block
    return replace(doc, blocks=[fix(b) for b in doc.blocks])


__all__ = ["CALL_SEPARATOR", "NBHY", "NBSP", "NNBSP", "SPACE_MODES", "SPACINGS", "Spacing",
           "apply_french_typography", "french_edits", "french_text", "is_french", "separate_footnote_calls"]
