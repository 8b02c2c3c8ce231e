"""What every patched element shares: building blobs instead of concatenating strings,
the per-render state of one cite, and caches of what depends only on the style.

citeproc-py's elements build their output with ``+`` on ``String``/``MixedString``
objects and ``str.join`` in places (``Name.process``), which drops the string subclass
that carries formatting: the root of the lost name-part formatting, of
``'str' object has no attribute 'capitalize_first'`` and of ``expected str instance,
MixedString found`` (name_WesternPrimaryFontStyle, name_ParsedNonDroppingParticleWithAffixes).
:class:`Rich` replaces those methods (``format``, ``wrap``, ``quote``, ``join``,
``render_children``) so that every element returns a :class:`~.blobs.Blob`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from citeproc.source import VariableError

from zotcurate.render.citations.blobs import Blob, QuoteTerms, strip_periods, text_case
from zotcurate.render.citations.items import Reference

FORMATTING = (("font-style", "@font-style"), ("font-variant", "@font-variant"), ("font-weight", "@font-weight"),
              ("text-decoration", "@text-decoration"), ("vertical-align", "@vertical-align"))


class Choice(Blob):
    """The output of cs:choose: transparent, its children join the enclosing group's."""

    __slots__ = ()


@dataclass
class Cite:
    """One cite being rendered: the item, what the citing text adds, and the render state
    the elements read and write (positions, disambiguation, suppressed variables)."""

    reference: Reference
    key: str
    locator: str | None = None
    label: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    number: int = 0
    area: str = "bibliography"  # "citation", "bibliography", or "sort"
    position: str | None = None  # "first", "subsequent", "ibid", "ibid-with-locator"
    near_note: bool = False
    note_index: int = 0
    first_reference_note_number: int | None = None
    # disambiguation (set by the processor)
    names_min: dict[int, int] = field(default_factory=dict)  # names element index → names shown
    givens: dict[tuple[int, int], int] = field(default_factory=dict)  # (names index, name index) → level
    givens_all: int = 0  # a level for every name (givenname rule "all-names…")
    year_suffix: int | None = None
    disambiguate: bool = False
    just_looking: bool = False  # rendered for an ambiguity key, not for print
    suppress_year_suffix: bool = False
    # render state
    suppressed: set[str] = field(default_factory=set)
    recording: list[list[str]] = field(default_factory=list)
    # citeproc-js's group context: per open group, [variable tried, variable printed, term printed]
    groups: list[list[bool]] = field(default_factory=lambda: [[False, False, False]])
    names_seen: int = 0
    names_counts: dict[int, tuple[int, int]] = field(default_factory=dict)  # names index → (total, shown)
    rendered_names: dict[tuple[int, int], Any] = field(default_factory=dict)  # (names index, position) → Name
    author_substitute: dict[str, Any] | None = None  # the entry's leading names, for subsequent-author-substitute
    last_name_blobs: list[Blob] = field(default_factory=list)
    first_names: Blob | None = None
    first_names_text: str | None = None
    year_suffix_done: bool = False
    first_date: Blob | None = None
    terms: QuoteTerms = field(default_factory=QuoteTerms)
    lang: str = "en"
    item_lang: str = ""  # the item's own language field, lowercased ("" if none)
    output_lang: str = "en"  # the language of the output locale
    sort_area: str = "bibliography"  # which section's options a sort key inherits
    term_predecessor: bool = False  # something printed before in this cite (term capitalisation)
    predecessors: list[bool] = field(default_factory=list)
    capitalize_terms: bool = False
    dates_only: bool = False  # in a sort key, inside a macro with a date: only the date's key prints
    sort_options: dict[str, Any] | None = None
    author_only: bool = False
    suppress_author: bool = False
    skip_first_names: bool = False
    number_in_citation: int = 0  # the cite's place in its citation (0: first)

    @property
    def has_locator(self) -> bool:
        return self.locator is not None

    def printed_term(self) -> None:
        self.groups[-1][2] = True

    def open_group(self) -> None:
        self.groups.append([False, False, False])
        self.predecessors.append(self.term_predecessor)

    def close_group(self, output: bool) -> bool:
        """CSL group suppression as citeproc-js decides it: a group prints if a variable in it
        printed, or if it printed a term and tried no variable; a printed group counts as a
        printed variable for the group around it (group_SuppressTermInMacro)."""
        attempt, success, term = self.groups.pop()
        predecessor = self.predecessors.pop()
        keep = output and (success or (term and not attempt) or not (attempt or term))
        if not keep:
            self.term_predecessor = predecessor  # a suppressed group printed nothing
        parent = self.groups[-1]
        if keep:
            parent[1] = True
        else:
            parent[0] = attempt
        return keep

    def __contains__(self, name: str) -> bool:  # citeproc-py asks "'locator' in item"
        return name == "locator" and self.locator is not None

    def reset(self) -> None:
        self.suppressed = set()
        self.recording = []
        self.groups = [[False, False, False]]
        self.predecessors = []
        self.names_seen = 0
        self.names_counts = {}
        self.rendered_names = {}
        self.author_substitute = None
        self.first_names = None
        self.first_names_text = None
        self.year_suffix_done = False
        self.first_date = None

    def tried(self, variable: str, value: Any) -> bool:
        """Note a variable attempt (group suppression) and record it for cs:substitute."""
        flags = self.groups[-1]
        flags[0] = True
        if value is None or value == "" or value == []:
            return False
        flags[1] = True
        for record in self.recording:
            record.append(variable)
        return True


class Rich:
    """Mixin for citeproc-py's element classes: output as blobs, with the CSL formatting
    attributes as decorations (in citeproc-js's order) and affixes on the node."""

    nsmap: dict[str, str]
    get: Any  # lxml's attribute access
    iterchildren: Any

    def format(self, blob: Blob | None) -> Blob | None:
        if blob is None:
            return None
        for attribute, decoration in FORMATTING:
            value = self.get(attribute)
            if value is not None:
                if value == "normal" and attribute == "text-decoration":
                    value = "none"
                blob.decorations.append((decoration, value))
        return blob

    def quote(self, blob: Blob | None) -> Blob | None:
        if blob is not None and self.get("quotes", "false").lower() == "true":
            blob.decorations.append(("@quotes", "true"))
        return blob

    def wrap(self, blob: Blob | None) -> Blob | None:
        if blob is None:
            return None
        prefix, suffix = self.get("prefix"), self.get("suffix")
        if prefix or suffix:
            if blob.prefix or blob.suffix:  # keep the inner affixes inside
                blob = Blob([blob])
            blob.prefix = prefix or ""
            blob.suffix = suffix or ""
        display = self.get("display")
        if display:
            blob.decorations.append(("@display", display))
        return blob

    def finish(self, blob: Blob | None, cite: Cite | None = None, case: bool = True) -> Blob | None:
        """text-case, strip-periods, formatting, quotes, affixes and display of a node."""
        if blob is None or not blob.nonempty():
            return None
        if cite is not None:
            cite.term_predecessor = True
        if case:
            self.apply_case(blob, cite)
        if self.get("strip-periods", "false") == "true":
            for leaf in blob.leaves():
                if leaf.num is None:
                    leaf.blobs = strip_periods(str(leaf.blobs))
        return self.wrap(self.quote(self.format(blob)))

    # CSL: title case applies to English items only; terms and labels are not item text, so
    # they take it whatever the item's language ("(Éd.)" in APA with French items).
    title_case_any_language = False

    def apply_case(self, blob: Blob, cite: Cite | None) -> None:
        case = self.get("text-case")
        if not case:
            return
        lang = cite.lang if cite is not None else "en"
        if case == "title" and not lang.startswith("en") and not self.title_case_any_language:
            return
        first = True
        for leaf in blob.leaves():
            text = leaf.blobs
            assert isinstance(text, str)
            if not text.strip():
                continue
            if case in ("capitalize-first", "sentence") and not first:
                leaf.blobs = text_case(text, "lowercase", lang) if case == "sentence" else text
            else:
                leaf.blobs = text_case(text, case, lang)
            first = False

    def join(self, strings: Any, default_delimiter: str = "") -> Blob:
        delimiter = self.get("delimiter", default_delimiter)
        children: list[Blob] = []
        for item in strings:
            if item is None:
                continue
            if isinstance(item, Choice):
                children.extend(item.blobs if isinstance(item.blobs, list) else [item])
            elif isinstance(item, Blob):
                children.append(item)
            elif str(item):
                children.append(Blob(str(item)))
        return Blob(children, delimiter=delimiter or "")

    def render_children(self, item: Any, delimiter: str = "", **kwargs: Any) -> Blob | None:
        output = []
        for child in self.iterchildren():
            try:
                text = child.render(item, **kwargs)
            except VariableError:
                continue
            if text is not None:
                output.append(text)
        if not output:
            return None
        blob = self.join(output)
        return blob if blob.blobs else None

    def calls_variable(self) -> bool:
        cached = self.__dict__.get("_calls_variable")
        if cached is None:
            cached = self.__dict__["_calls_variable"] = bool(self._calls_variable())
        return cached

    def _calls_variable(self) -> bool:
        return any(child.calls_variable() for child in self.iterchildren())

    def xpath_search(self, expression: str) -> Any:
        """citeproc-py re-runs the same structural XPath queries (enclosing layout, options,
        macros, terms) for every item; the style does not change, so the answers are kept."""
        cache = self.__dict__.get("_xpath")
        if cache is None:
            cache = self.__dict__["_xpath"] = {}
        result = cache.get(expression)
        if result is None:
            result = cache[expression] = super().xpath_search(expression)  # type: ignore[misc]
        return result

    def get_macro(self, name: str) -> Any:
        root = self.get_root()  # type: ignore[attr-defined]
        macros = root.__dict__.get("_macros")
        if macros is None:
            macros = root.__dict__["_macros"] = {m.get("name"): m for m in root.findall("cs:macro", self.nsmap)}
        try:
            return macros[name]
        except KeyError:
            raise VariableError(f"macro {name}") from None


def leaf(text: Any, num: int | None = None) -> Blob:
    return Blob(str(text), num=num)
