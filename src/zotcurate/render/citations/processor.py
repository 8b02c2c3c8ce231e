"""The CSL processor: citations in document order and a sorted bibliography.

citeproc-py renders each cite on its own and leaves out what needs the whole document:
the cite order given in the text (it sorted every citation by bibliography order:
affix_WithCommas), positions with note numbers (ibid, subsequent, near-note,
first-reference-note-number), disambiguation (add names, add given names, year
suffixes, ``disambiguate="true"``), cite collapsing, second-field-align and
subsequent-author-substitute. This module keeps the registry of items and cites that
those need and drives the patched elements for one cite at a time.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citeproc.source import VariableError

from zotcurate.render.citations.base import Cite
from zotcurate.render.citations.blobs import (
    STARTS_ROMANESQUE,
    TERMINAL_PUNCTUATION,
    Blob,
    Run,
    adjust,
    parse_markup,
    strip_markup,
    to_html,
    to_runs,
)
from zotcurate.render.citations.disambiguation import Disambiguator
from zotcurate.render.citations.items import DateValue, Name, Reference, prepare
from zotcurate.render.citations.styles import CSL_NS, Style, load_style
from zotcurate.render.citations.terms import suffix_letters, term_text

_POSITIONS = {0: "first", 1: "subsequent", 2: "ibid", 3: "ibid-with-locator"}
_MISSING = object()


@dataclass(frozen=True)
class CiteRef:
    """One cite in a citation: the item's id plus what the citing text adds. ``position``
    forces a CSL position (0 first, 1 subsequent, 2 ibid, 3 ibid-with-locator)."""

    id: str
    locator: str | None = None
    label: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    position: int | None = None
    near_note: bool | None = None


@dataclass
class CitationInput:
    """A citation of the document: its cites and, for note styles, its note number."""

    cites: list[CiteRef]
    note_index: int = 0


@dataclass
class Rendered:
    """A rendered citation or entry, as the tree the writers and the test-suite read."""

    blob: Blob | None
    processor: CslProcessor = field(repr=False)
    item_id: str | None = None  # the item's CSL-JSON id (bibliography entries)

    def html(self) -> str:
        return to_html(self.blob, self.processor.style.quote_terms) if self.blob is not None else ""

    def runs(self) -> list[Run]:
        return to_runs(self.blob, self.processor.style.quote_terms) if self.blob is not None else []

    def text(self) -> str:
        return "".join(run.text for run in self.runs())


def _collation_key(text: str) -> str:
    """Sort text as citeproc-js compares it (localeCompare, sensitivity "base",
    ignorePunctuation, numeric, words joined by "|"): case, accents, punctuation and no-break
    spaces do not count, a word boundary sorts before any letter, numbers by value
    (sort_Quotes, sort_LeadingApostropheOnNameParticle, "De l’autre…" before "de La Fontaine")."""
    text = re.sub(r"^[\[\]'\"]+", "", strip_markup(text))
    out = []
    for char in unicodedata.normalize("NFD", text.casefold()):
        if unicodedata.combining(char) or char in "\u00a0\u202f\u2009":
            continue
        if char.isspace() or char in "\x01\x02":
            out.append("\x01")
        elif not unicodedata.category(char).startswith("P"):
            out.append(char)
    return re.sub(r"\d+", lambda m: m.group(0).zfill(12), "".join(out))


def _sortable(value: Any) -> Any:
    """A sort value made comparable once (not at every comparison)."""
    if value is None or isinstance(value, int):
        return value
    return _collation_key(str(value))


def _compare_values(left: Any, right: Any) -> int:
    if isinstance(left, int) != isinstance(right, int):
        left = _collation_key(str(left)) if isinstance(left, int) else left
        right = _collation_key(str(right)) if isinstance(right, int) else right
    return (left > right) - (left < right)


class CslProcessor:
    """Citations and bibliography of a set of items with one style (the CSL processor model).

    ``citations()`` renders the citations of a document in order (positions such as ibid.
    follow from that order when ``track_positions``); ``bibliography()`` renders the cited
    items (all items when nothing was cited), sorted as the style says.
    """

    def __init__(self, style: str | Path | bytes | Style, items: Iterable[Mapping[str, Any]],
                 locale: str | None = None, *, strict: bool = False, et_al_flag: str | None = None) -> None:
        self.style = style if isinstance(style, Style) else load_style(style, locale, strict=strict,
                                                                        bibliography=False)
        root = self.style.root
        self.root = root
        self.note_style = root.get("class") == "note"
        self.citation_element = root.find(f"{{{CSL_NS}}}citation")
        self.bibliography_element = root.find(f"{{{CSL_NS}}}bibliography")
        self.references: list[Reference] = []
        self.errors: dict[int, str] = {}
        self.keys: dict[str, str] = {}
        for index, item in enumerate(items):
            key = f"i{index}"
            try:
                reference = prepare(item, key)
            except Exception as exc:
                self.errors[index] = str(exc)
                continue
            self.references.append(reference)
            item_id = str(item.get("id")) if isinstance(item, Mapping) else key
            self.keys.setdefault(item_id, key)
        self.by_key = {r.key: r for r in self.references}
        self.ids = {key: item_id for item_id, key in self.keys.items()}
        self.lang = self.style.locale.split("-")[0].lower()

    # --- helpers ------------------------------------------------------------------------

    def _lang(self, reference: Reference) -> str:
        language = reference.get("language")
        if isinstance(language, str) and language.strip():
            return language.strip().lower()
        return self.lang

    def make_cite(self, reference: Reference, area: str, ref: CiteRef | None = None, number: int = 0) -> Cite:
        language = reference.get("language")
        cite = Cite(reference=reference, key=reference.key, number=number, area=area,
                    terms=self.style.quote_terms, lang=self._lang(reference),
                    item_lang=language.strip().lower() if isinstance(language, str) else "", output_lang=self.lang)
        if ref is not None:
            cite.locator = ref.locator
            cite.label = ref.label
            cite.prefix = ref.prefix
            cite.suffix = ref.suffix
        return cite

    def _layout(self, area: str) -> Any:
        parent = self.citation_element if area == "citation" else self.bibliography_element
        return None if parent is None else parent.find(f"{{{CSL_NS}}}layout")

    def render_layout(self, cite: Cite, area: str, predecessor: bool = False) -> Blob | None:
        layout = self._layout(area)
        if layout is None:
            return None
        cite.reset()
        cite.area = area
        cite.term_predecessor = predecessor
        cite.capitalize_terms = area == "bibliography" or self.root.get("class") != "in-text"
        return layout.render_entry(cite)

    # --- sorting ------------------------------------------------------------------------

    def _sort_value(self, key: Any, cite: Cite, area: str) -> Any:
        variable = key.get("variable")
        if variable:
            if variable == "citation-number":
                return cite.number
            value = cite.reference.get(variable)
            if value is None:
                return None
            if isinstance(value, DateValue):
                return value.sort_key() or None
            if isinstance(value, list):
                tie = "\u00a0" if cite.terms.smart and cite.output_lang in ("fr", "ru", "cs") else " "
                return "\x02".join(_name_sort_text(n, self.root, tie) for n in value if isinstance(n, Name)) or None
            text = str(value)
            if text.isdigit():
                return int(text)
            return strip_markup(text) or None
        macro = key.get("macro")
        if not macro:
            return None
        options: dict[str, Any] = {"name-as-sort-order": "all"}
        for attribute, option in (("names-min", "et-al-min"), ("names-use-first", "et-al-use-first"),
                                  ("names-use-last", "et-al-use-last")):
            if key.get(attribute) is not None:
                options[option] = key.get(attribute)
        sort_cite = Cite(reference=cite.reference, key=cite.key, number=cite.number, area="sort",
                         terms=cite.terms, lang=cite.lang, item_lang=cite.item_lang, sort_options=options,
                         output_lang=cite.output_lang,
                         year_suffix=None, sort_area=area)
        try:
            element = key.get_macro(macro)
        except VariableError:
            return None
        try:
            blob = element.render(sort_cite, context=element, sort_options=options)
        except VariableError:
            return None
        if blob is None:
            return None
        text = blob.text()
        if not text:
            return None
        return int(text) if text.isdigit() and len(text) < 16 else text

    def sort_cites(self, cites: list[Cite], sort_element: Any) -> list[Cite]:
        if sort_element is None:
            return cites
        keys = sort_element.findall(f"{{{CSL_NS}}}key")
        if not keys:
            return cites
        area = "citation" if sort_element.getparent().tag.endswith("citation") else "bibliography"
        descending = [k.get("sort", "ascending") == "descending" for k in keys]
        # Keys are computed when a comparison needs them: most ties break on the first key,
        # and a macro key renders part of the entry.
        values: dict[tuple[int, int], Any] = {}

        def value(cite: Cite, index: int) -> Any:
            found = values.get((id(cite), index), _MISSING)
            if found is _MISSING:
                found = values[(id(cite), index)] = _sortable(self._sort_value(keys[index], cite, area))
            return found

        def compare(a: Cite, b: Cite) -> int:
            for index, desc in enumerate(descending):
                left, right = value(a, index), value(b, index)
                if left is None and right is None:
                    continue
                if left is None:
                    return 1
                if right is None:
                    return -1
                result = _compare_values(left, right)
                if result:
                    return -result if desc else result
            return 0

        return sorted(cites, key=functools.cmp_to_key(compare))

    # --- the registry of cited items -----------------------------------------------------

    def registry(self, citations: list[CitationInput] | None) -> list[Reference]:
        """The items of the bibliography, in citation order (all items if nothing is cited)."""
        if citations is None:
            return list(self.references)
        seen: dict[str, Reference] = {}
        for citation in citations:
            for ref in citation.cites:
                key = self.keys.get(ref.id)
                if key is not None and key not in seen:
                    seen[key] = self.by_key[key]
        return list(seen.values())

    def numbered(self, references: list[Reference]) -> list[Cite]:
        """Bibliography cites sorted as the style says, with their citation numbers."""
        cites = [self.make_cite(r, "bibliography", number=n) for n, r in enumerate(references, 1)]
        if self.bibliography_element is None:
            return cites
        sort = self.bibliography_element.find(f"{{{CSL_NS}}}sort")
        ordered = self.sort_cites(cites, sort)
        first_key = sort.find(f"{{{CSL_NS}}}key") if sort is not None else None
        by_number = first_key is not None and (first_key.get("variable") == "citation-number")
        if not by_number:
            for number, cite in enumerate(ordered, 1):
                cite.number = number
        return ordered

    # --- disambiguation -----------------------------------------------------------------

    def ambiguity_key(self, cite: Cite) -> str:
        """How a cite of the item prints on its own as a first citation, without year suffix
        (citeproc-js's getAmbiguousCite): cites that print alike are ambiguous."""
        probe = Cite(reference=cite.reference, key=cite.key, number=cite.number, area="citation",
                     position="first", terms=cite.terms, lang=cite.lang, item_lang=cite.item_lang,
                     output_lang=cite.output_lang,
                     names_min=cite.names_min, givens=cite.givens, disambiguate=cite.disambiguate,
                     just_looking=True)
        blob = self.render_layout(probe, "citation")
        cite.names_counts = probe.names_counts
        cite.rendered_names = probe.rendered_names
        return to_html(blob, self.style.quote_terms) if blob is not None else ""

    def disambiguation(self, references: list[Reference], ordered: list[Cite] | None = None) -> dict[str, Cite]:
        """Disambiguation settings per item key, over every registered item (``ordered``: the
        registry already sorted, to sort it once)."""
        cites = self.numbered(references) if ordered is None else [
            self.make_cite(c.reference, "bibliography", number=c.number) for c in ordered]
        element = self.citation_element
        if element is None or self._layout("citation") is None:
            return {c.key: c for c in cites}
        options = {name: element.get(name) for name in ("disambiguate-add-names", "disambiguate-add-givenname",
                                                         "givenname-disambiguation-rule",
                                                         "disambiguate-add-year-suffix")}
        has_condition = bool(element.xpath(".//cs:*[@disambiguate]", namespaces={"cs": CSL_NS})) or bool(
            self.root.xpath("//cs:macro//cs:*[@disambiguate]", namespaces={"cs": CSL_NS}))
        if any(v == "true" for v in options.values()) or has_condition:
            Disambiguator(options, self.ambiguity_key, has_condition).run(cites)
        return {c.key: c for c in cites}

    def disambiguate_batch(self, cites: list[Cite]) -> None:
        """Year suffixes among a batch of entries formatted one by one (CitationFormatter)."""
        if len(cites) < 2 or self.citation_element is None:
            return
        settings = self.disambiguation([c.reference for c in cites])
        for cite in cites:
            found = settings.get(cite.key)
            if found is not None:
                cite.year_suffix = found.year_suffix

    @staticmethod
    def _apply(cite: Cite, settings: Cite | None, citation: bool) -> Cite:
        """Disambiguation settings of the item on one of its cites; the bibliography takes
        the year suffix and the names and given names added (citeproc-js, MLA and
        elsevier-harvard), not the disambiguate="true" branch."""
        if settings is not None:
            cite.year_suffix = settings.year_suffix
            cite.names_min = dict(settings.names_min)
            cite.givens = dict(settings.givens)
            if citation:
                cite.disambiguate = settings.disambiguate
        return cite

    # --- rendering ----------------------------------------------------------------------

    def bibliography(self, citations: list[CitationInput] | None = None) -> list[Rendered]:
        registry = self.registry(citations)
        entries = []
        numeric = self._numeric_bibliography()
        ordered = self.numbered(registry)
        settings = self.disambiguation(registry, ordered)
        previous: list[str] | None = None
        for cite in ordered:
            self._apply(cite, settings.get(cite.key), citation=False)
            blob, previous = self._entry_with_substitute(cite, previous)
            if blob is None:
                if not numeric:
                    continue  # an entry with nothing to print is left out (sort_OmittedBibRefNonNumericStyle)
                blob = Blob(f"{cite.number}. [CSL STYLE ERROR: reference with no printed form.]")
            entries.append(Rendered(blob, self, self.ids.get(cite.key)))
        return entries

    def _numeric_bibliography(self) -> bool:
        element = self.bibliography_element
        return element is not None and bool(element.xpath(".//cs:text[@variable='citation-number']",
                                                          namespaces={"cs": CSL_NS}))

    def _entry_with_substitute(self, cite: Cite, previous: list[str] | None) -> tuple[Blob | None, list[str] | None]:
        """An entry, its leading names replaced by subsequent-author-substitute ("———") when they
        repeat the previous entry's (complete-all, complete-each, partial-each, partial-first)."""
        substitute = self.bibliography_element.get("subsequent-author-substitute") \
            if self.bibliography_element is not None else None
        if substitute is None:
            return self.render_entry(cite), previous

        def replace(content: Blob) -> None:
            info = cite.author_substitute
            if info is None or previous is None:
                return
            rule = self.bibliography_element.get("subsequent-author-substitute-rule", "complete-all")
            ids = info["ids"]
            if rule in ("partial-each", "partial-first"):
                for position, identity in enumerate(ids):
                    if position >= len(previous) or identity != previous[position]:
                        break
                    _substitute(info["names"][position], substitute)
                    if rule == "partial-first":
                        break
            elif ids == previous:
                if rule == "complete-each":
                    for name in info["names"]:
                        _substitute(name, substitute)
                else:
                    info["list"].blobs = [Blob(substitute)] if substitute else []
                    info["list"].delimiter = ""

        blob = self.render_entry(cite, replace)
        if cite.author_substitute is not None:
            previous = cite.author_substitute["ids"]
        return blob, previous

    def render_entry(self, cite: Cite, before_adjust: Any = None) -> Blob | None:
        layout = self._layout("bibliography")
        if layout is None:
            return None
        content = self.render_layout(cite, "bibliography")
        if content is None or not content.nonempty():
            return None
        if before_adjust is not None:
            before_adjust(content)
        body = Blob(content.blobs if isinstance(content.blobs, list) else [content])
        second_field = self.bibliography_element.get("second-field-align")
        if second_field and isinstance(body.blobs, list) and body.blobs:
            first, rest = body.blobs[0], body.blobs[1:]
            first.decorations.append(("@display", "left-margin"))
            body = Blob([first, Blob(rest, decorations=[("@display", "right-inline")])] if rest else [first])
        prefix = layout.get("prefix", "")
        if prefix and isinstance(body.blobs, list) and body.blobs:
            body.blobs[0].prefix = prefix + body.blobs[0].prefix
        suffix = layout.get("suffix", "")
        uses_display = any(d[0] == "@display" for b in body.blobs if isinstance(body.blobs, list)
                           for d in b.decorations)  # type: ignore[union-attr]
        if suffix:
            if uses_display and isinstance(body.blobs, list):
                body.blobs[-1].suffix = suffix
            else:
                body.suffix = suffix
        entry = Blob([body])
        layout_element = layout
        layout_element.format(entry)
        adjust(entry, self.style.quote_terms.punctuation_in_quote)
        return entry

    def citations(self, citations: list[CitationInput], track_positions: bool = True,
                  bibliography_order: bool = False) -> list[Rendered]:
        """Each citation rendered, in document order. ``track_positions``: positions (ibid,
        subsequent…) follow from the order and only cited items are registered; otherwise
        every item is, and each citation stands alone (a cite's own ``position`` still
        applies). ``bibliography_order``: cites first take the bibliography's order."""
        registry = self.registry(citations) if track_positions else list(self.references)
        ordered = self.numbered(registry)
        numbers = {c.key: c.number for c in ordered}
        rank = {c.key: n for n, c in enumerate(ordered)}
        settings = self.disambiguation(registry, ordered)
        history: list[tuple[int, list[Cite]]] = []  # (note index, cites) of the citations so far
        first_notes: dict[str, int] = {}
        out = []
        for index, citation in enumerate(citations):
            cites = []
            for ref in citation.cites:
                key = self.keys.get(ref.id)
                if key is None:
                    continue
                cite = self.make_cite(self.by_key[key], "citation", ref, numbers.get(key, 0))
                self._apply(cite, settings.get(key), citation=True)
                cite.note_index = citation.note_index
                cites.append(cite)
            if bibliography_order:
                cites.sort(key=lambda c: rank.get(c.key, 0))
            if self.citation_element is not None:
                cites = self.sort_cites(cites, self.citation_element.find(f"{{{CSL_NS}}}sort"))
            for position, cite in enumerate(cites):
                cite.number_in_citation = position
            for position, cite in enumerate(cites):
                given = next((r for r in citation.cites if self.keys.get(r.id) == cite.key), None)
                if given is not None and given.position is not None:
                    cite.position = _POSITIONS.get(given.position, "first")
                    cite.near_note = bool(given.near_note)
                elif track_positions:
                    self._position(cite, cites[:position], history, citation.note_index)
                else:
                    cite.position = "first"
                if track_positions and cite.key in first_notes:
                    cite.first_reference_note_number = first_notes[cite.key]
            for cite in cites:
                first_notes.setdefault(cite.key, citation.note_index)
            history.append((citation.note_index, cites))
            out.append(Rendered(self.render_citation(cites, index), self))
        return out

    def _position(self, cite: Cite, before: list[Cite], history: list[tuple[int, list[Cite]]], note: int) -> None:
        previous: Cite | None = None
        if before:
            previous = before[-1]
        elif history:
            last_note, last_cites = history[-1]
            if len(last_cites) == 1 and (not self.note_style or not note or not last_note or note - last_note <= 1):
                previous = last_cites[0]
            elif last_cites and self.note_style and last_note == note:
                previous = None
        cited_before = any(c.key == cite.key for _, cs in history for c in cs) or any(
            c.key == cite.key for c in before)
        if not cited_before:
            cite.position = "first"
            return
        if previous is not None and previous.key == cite.key:
            if (cite.locator is None and previous.locator is None) or (
                    cite.locator is not None and cite.locator == previous.locator and cite.label == previous.label):
                cite.position = "ibid"
            elif cite.locator is not None:
                cite.position = "ibid-with-locator"
            else:
                cite.position = "subsequent"
        else:
            cite.position = "subsequent"
        distance = int(self.citation_element.get("near-note-distance", "5")) if self.citation_element is not None \
            else 5
        for last_note, cites in reversed(history):
            if any(c.key == cite.key for c in cites):
                cite.near_note = note - last_note <= distance if note and last_note else True
                break
        else:
            cite.near_note = any(c.key == cite.key for c in before)

    def render_citation(self, cites: list[Cite], index: int = 0) -> Blob | None:
        """One citation: its cites joined with the layout's delimiter, cite grouping and
        collapsing (collapse="citation-number", "year", "year-suffix", "year-suffix-ranged",
        cite-group-delimiter, after-collapse-delimiter) as citeproc-js does them."""
        layout = self._layout("citation")
        if layout is None or not cites:
            return None
        citation = self.citation_element
        collapse = citation.get("collapse") or ""
        group_delimiter = citation.get("cite-group-delimiter")
        delimiter = layout.get("delimiter", "")
        units = self._cite_units(cites, collapse, group_delimiter)
        if collapse == "citation-number":
            units = self._number_ranges(units, delimiter)
        printed = [u for u in units if u.piece.nonempty()]
        if not printed:
            return None
        # The layout's affixes go on the first and last cites that print something (a cite
        # collapsed to nothing at the end kept the closing bracket: collapse_AuthorCollapseNoDateSorted).
        printed[0].piece.prefix = layout.get("prefix", "") + printed[0].piece.prefix
        printed[-1].piece.suffix = printed[-1].piece.suffix + layout.get("suffix", "")
        for unit in units:
            adjust(unit.piece, self.style.quote_terms.punctuation_in_quote)
        after_collapse = citation.get("after-collapse-delimiter")
        in_text = self.root.get("class") == "in-text"
        joined: list[Blob] = []
        previous: _Unit | None = None
        for unit in units:
            if not unit.piece.nonempty():
                continue
            if previous is not None:
                glue = unit.glue
                if glue is None:
                    if after_collapse is not None:
                        if previous.cite.locator is not None or (previous.collapsed and not unit.collapsed) or (
                                not previous.collapsed and not unit.collapsed and collapse != "year-suffix"):
                            glue = after_collapse
                        else:
                            glue = delimiter
                    elif unit.grouped and group_delimiter:
                        glue = group_delimiter
                    elif unit.collapsed and in_text and collapse != "citation-number":
                        glue = ", "  # citeproc-js's splice delimiter; numeric ranges keep the layout's
                    else:
                        glue = delimiter
                previous_suffix = previous.cite.suffix or ""
                prefix = unit.cite.prefix or ""
                if (previous_suffix and previous_suffix[-1:] in (";", ".", ",")) or (
                        not previous_suffix and prefix[:1] in (";", ".", ",")):
                    space = glue.find(" ")
                    glue = glue[space:] if space > -1 and previous_suffix else ""
                joined.append(Blob(glue))
            joined.append(unit.piece)
            previous = unit
        blob = Blob(joined)
        layout.format(blob)
        return blob

    def _cite_units(self, cites: list[Cite], collapse: str, group_delimiter: str | None) -> list[_Unit]:
        grouping = collapse.startswith("year") or bool(group_delimiter)
        rendered = [(cite, self._render_cite(cite, False)) for cite in cites]
        in_text = self.root.get("class") == "in-text"
        if (in_text and collapse.startswith("year")) or group_delimiter:
            # Cites by the same names are brought together, in the order of their first cite.
            keys = [cite.first_names_text or "" for cite, _ in rendered]
            first: dict[str, int] = {}
            for position, key in enumerate(keys):
                if key:
                    first.setdefault(key, position)
            order = sorted(range(len(rendered)), key=lambda i: (first[keys[i]] if keys[i] else i, i))
            rendered = [rendered[i] for i in order]
        units: list[_Unit] = []
        previous: Cite | None = None
        suffix_delimiter = self.citation_element.get("year-suffix-delimiter")
        layout_delimiter = self._layout("citation").get("delimiter", "")
        # The names as first rendered (re-rendering a collapsed cite without them clears them).
        names_of = {id(cite): cite.first_names_text for cite, _ in rendered}
        for cite, content in rendered:
            unit = _Unit(cite, self._piece(cite, content))
            same_names = previous is not None and bool(names_of[id(cite)]) and \
                names_of[id(cite)] == names_of[id(previous)]
            if same_names and grouping:
                unit.grouped = True
            if same_names and collapse.startswith("year") and not cite.prefix and previous is not None:
                unit.collapsed = True
                suffix_only = (collapse.startswith("year-suffix") and previous.year_suffix is not None
                               and _year(cite) == _year(previous) and cite.locator is None and not cite.suffix)
                if suffix_only and cite.year_suffix is not None:
                    unit.piece = Blob([Blob(suffix_letters(cite.year_suffix), num=cite.year_suffix)])
                    unit.suffix_only = True
                    unit.glue = group_delimiter or suffix_delimiter or layout_delimiter
                else:
                    unit.piece = self._piece(cite, self._render_cite(cite, True))
            units.append(unit)
            previous = cite
        if collapse == "year-suffix-ranged":
            units = self._suffix_ranges(units)
        return units

    def _render_cite(self, cite: Cite, skip_names: bool) -> Blob | None:
        cite.skip_first_names = skip_names
        try:
            return self.render_layout(cite, "citation", self._predecessor(cite))
        finally:
            cite.skip_first_names = False

    @staticmethod
    def _predecessor(cite: Cite) -> bool:
        if not cite.prefix:
            return cite.number_in_citation > 0
        test = re.sub("[\"'\u201d\u2019\u00bb\u202f\u00a0 ]+$", "", re.sub(r"<[^>]+>", "", cite.prefix))
        return not (test[-1:] in (":", ".", ";", "!", "?") and " " in cite.prefix.strip())

    @staticmethod
    def _piece(cite: Cite, content: Blob | None) -> Blob:
        children: list[Blob] = []
        if cite.prefix:
            children.append(_affix_blob(_prefix_space(cite.prefix), cite))
        body = content.blobs if content is not None and isinstance(content.blobs, list) else \
            [content] if content is not None else []
        suffix = _suffix_space(cite.suffix) if cite.suffix else ""
        lead = re.match(r"[.,;:!?]+\s*", suffix)
        if lead and body:
            # Punctuation opening the cite's suffix is the cite's own closing punctuation: it
            # moves into quotes as the locale says (affix_MovingPunctuation).
            children.append(Blob(list(body), suffix=lead.group()))
            suffix = suffix[lead.end():]
        else:
            children.extend(body)
        if suffix:
            children.append(_affix_blob(suffix, cite))
        return Blob(children)

    def _suffix_ranges(self, units: list[_Unit]) -> list[_Unit]:
        """Three or more year suffixes in a row print as a range: "2000a–e"."""
        delimiter = term_text(self.root, "citation-range-delimiter") or "\u2013"
        out: list[_Unit] = []
        run: list[_Unit] = []

        def flush() -> None:
            if len(run) >= 3:
                first, last = run[0], run[-1]
                first.piece = Blob([first.piece, Blob(delimiter), last.piece])
                out.append(first)
            else:
                out.extend(run)
            run.clear()

        for unit in units:
            suffix = unit.cite.year_suffix
            if run and unit.suffix_only and suffix is not None and run[-1].cite.year_suffix is not None \
                    and suffix == run[-1].cite.year_suffix + 1:
                run.append(unit)
                continue
            flush()
            if suffix is not None:
                run.append(unit)
            else:
                out.append(unit)
        flush()
        return out

    def _number_ranges(self, units: list[_Unit], delimiter: str) -> list[_Unit]:
        """collapse="citation-number": three or more consecutive numbers print as a range,
        "[1]–[4]", when a cite prints nothing but its number."""
        range_delimiter = term_text(self.root, "citation-range-delimiter") or "\u2013"
        out: list[_Unit] = []
        run: list[_Unit] = []

        def numeric(unit: _Unit) -> bool:
            leaves = [leaf for leaf in unit.piece.leaves() if leaf.blobs]
            return len(leaves) == 1 and leaves[0].num == unit.cite.number and unit.cite.locator is None \
                and not unit.cite.prefix and not unit.cite.suffix

        def flush() -> None:
            if len(run) >= 3:
                first, last = run[0], run[-1]
                first.piece = Blob([first.piece, last.piece], delimiter=range_delimiter)
                first.collapsed = True
                out.append(first)
            else:
                out.extend(run)
            run.clear()

        for unit in units:
            if numeric(unit) and run and unit.cite.number == run[-1].cite.number + 1:
                run.append(unit)
                continue
            flush()
            if numeric(unit):
                run.append(unit)
            else:
                out.append(unit)
        flush()
        return out


@dataclass
class _Unit:
    """A cite of a citation as printed: its piece of output and how it joins the previous one."""

    cite: Cite
    piece: Blob
    grouped: bool = False
    collapsed: bool = False
    suffix_only: bool = False
    glue: str | None = None


def _year(cite: Cite) -> int | None:
    date = cite.reference.get("issued")
    return date.begin.year if isinstance(date, DateValue) else None


def _substitute(name: Blob, text: str) -> None:
    name.blobs = text
    name.num = None


def _affix_blob(text: str, cite: Cite) -> Blob:
    return Blob(parse_markup(text, cite.terms))


def _prefix_space(prefix: str) -> str:
    """citeproc-js's checkPrefixSpaceAppend: a prefix ending in a word, punctuation, a digit
    or a bracket gets a space before the cite."""
    test = re.sub(r"<[^>]+>", "", prefix)
    test = re.sub("[\"'\u201d\u2019\u00bb\u202f\u00a0 ]+$", "", test)
    char = test[-1:]
    space = ""
    if re.search(r"[.;:&a-zA-Z\u0e01-\u0e5b\u00c0-\u017f\u0370-\u03ff\u0400-\u052f]$", test) or \
            (char and char in TERMINAL_PUNCTUATION[:-1]) or (char and re.match(r"[)\],0-9]", char)):
        space = " "
    return re.sub(r"\s+", " ", prefix + space)


def _suffix_space(suffix: str) -> str:
    if STARTS_ROMANESQUE.match(suffix) or suffix[:1] in ("[", "("):
        return " " + suffix
    return suffix


def _name_sort_text(name: Name, root: Any, tie: str = " ") -> str:
    if name.is_literal:
        return strip_markup(name["literal"])
    demote = root.get("demote-non-dropping-particle", "display-and-sort")
    ndp = name.get("non-dropping-particle") or ""
    dp = name.get("dropping-particle") or ""
    family = name.get("family") or ""
    given = name.get("given") or ""
    if demote == "never":
        head = tie.join(p for p in (ndp, family) if p)
        tail = " ".join(p for p in (dp, given) if p)
    else:
        head = family
        tail = " ".join(p for p in (given, dp, ndp) if p)
    return strip_markup(head + ("\x01" + tail if tail else ""))
