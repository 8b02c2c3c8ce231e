"""Terms and year-suffix letters, shared by every patched element (a module of its own so the
element modules do not import one another)."""

from __future__ import annotations

from typing import Any

from citeproc import model

from zotcurate.render.citations.base import Cite
from zotcurate.render.citations.blobs import Blob


def term_text(element: Any, name: str, form: str | None = None, plural: bool = False) -> str:
    """A term's text through the locale chain, falling back from form to form as CSL says
    (verb-short → verb → long, symbol → short → long), cached per style."""
    root = element.get_root()
    if isinstance(root, model.Locale):  # a locale's own date parts: look terms up through the style
        root = root.style
    cache = root.__dict__.setdefault("_term_text", {})
    key = (name, form, plural)
    if key in cache:
        return cache[key]
    fallbacks = {"verb-short": ["verb-short", "verb", None], "symbol": ["symbol", "short", None],
                 "short": ["short", None], "verb": ["verb", None]}
    text = ""
    for candidate in fallbacks.get(form or "", [None]):
        term = root.get_term(name, candidate)
        if term is not None:
            text = str(term.multiple if plural else term.single)
            break
    cache[key] = text
    return text


def year_suffix_blob(cite: Cite) -> Blob | None:
    if cite.year_suffix is None or cite.suppress_year_suffix:
        return None
    cite.year_suffix_done = True
    return Blob(suffix_letters(cite.year_suffix), num=cite.year_suffix)


def suffix_letters(number: int) -> str:
    """1 → a, 26 → z, 27 → aa (citeproc-js's Suffixator)."""
    letters = ""
    number -= 1
    while True:
        letters = chr(ord("a") + number % 26) + letters
        number = number // 26 - 1
        if number < 0:
            return letters


__all__ = ["suffix_letters", "term_text", "year_suffix_blob"]
