"""The patch layer: zotcurate's subclass of each citeproc-py CSL element.

Each class keeps citeproc-py's element model (lxml elements with its attribute handling,
term and locale lookup) and replaces what departs from CSL 1.0.2 or citeproc-js, the
reference the CSL test-suite encodes. Every override names the defect it fixes and, where
one exists, a test-suite fixture that fails without it. The lookup ``ELEMENT_CLASSES`` is
registered for zotcurate's parser only: citeproc-py used directly is unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from citeproc import model
from citeproc.source import VariableError

from zotcurate.render.citations.base import Choice, Cite, Rich
from zotcurate.render.citations.blobs import Blob
from zotcurate.render.citations.dates import Date, Date_Part
from zotcurate.render.citations.items import NUMBER_VARIABLES
from zotcurate.render.citations.names import Et_Al, Name, Name_Part, Names, Substitute
from zotcurate.render.citations.numbers import format_number_variable, is_numeric, locale_ampersand, page_range
from zotcurate.render.citations.terms import term_text, year_suffix_blob

# --- terms ----------------------------------------------------------------------------------


class Locale(Rich, model.Locale):
    def get_option(self, name: str) -> Any:
        """An in-style cs:locale with <style-options/> that does not set an option must let
        the locale files' value through; citeproc-py returned the default instead
        (locale_EmptyStyleOpt, locale_EmptyPlusOverrideStyleOpt)."""
        cache = self.__dict__.setdefault("_options", {})
        if name not in cache:
            options = self.find("cs:style-options", self.nsmap)
            cache[name] = None if options is None else options.get(name)
        value = cache[name]
        if value is None:
            raise IndexError(name)
        return value

    def get_term(self, name: str, form: str | None = None, zero_padded: bool = False) -> Any:
        cache = self.__dict__.setdefault("_terms", {})
        key = (name, form, zero_padded)
        if key not in cache:
            try:
                cache[key] = super().get_term(name, form, zero_padded)
            except IndexError:
                cache[key] = None
        if cache[key] is None:
            raise IndexError(name)
        return cache[key]


class Style(Rich, model.Style):
    def get_option(self, name: str) -> Any:
        return self.get(name, self._default_options.get(name))


def language_of(cite: Cite) -> str:
    return cite.lang


# --- rendering elements ---------------------------------------------------------------------


class Macro(Rich, model.Macro):
    def has_date(self) -> bool:
        cached = self.__dict__.get("_has_date")
        if cached is None:
            cached = self.__dict__["_has_date"] = bool(self.findall(".//cs:date", self.nsmap))
        return cached

    def render(self, item: Any, context: Any = None, sort_options: Any = None, **kwargs: Any) -> Blob | None:
        if item.area != "sort" or not self.has_date():
            return self.render_children(item, context=context, sort_options=sort_options)
        # In a sort key, a macro with a date gives the date's key and nothing else (citeproc-js
        # "macro-with-date": "[sans date]" sorts as no date, iso690-author-date-fr).
        outer, item.dates_only = item.dates_only, True
        try:
            return self.render_children(item, context=context, sort_options=sort_options)
        finally:
            item.dates_only = outer


class Layout(Rich, model.Layout):
    def render_entry(self, cite: Cite) -> Blob | None:
        """The children of the layout for one cite (affixes and delimiter are the caller's)."""
        return self.render_children(cite, context=self)


class Text(Rich, model.Text):
    def _calls_variable(self) -> bool:
        if "variable" in self.attrib:
            return self.get("variable") != "year-suffix"
        if "macro" in self.attrib:
            try:
                return self.get_macro(self.get("macro")).calls_variable()
            except VariableError:
                return False
        return False

    def render(self, item: Cite, context: Any = None, sort_options: Any = None, **kwargs: Any) -> Blob | None:
        if context is None:
            context = self
        if item.dates_only and "macro" not in self.attrib:
            return None
        if "variable" in self.attrib:
            value = self.value_of(item)
            if value is None:
                return None
            blob = value if isinstance(value, Blob) else self.make_leaf(value, item)
        elif "macro" in self.attrib:
            # citeproc-py dropped the sort options here, so a macro-called name list ignored
            # the sort key's names-min (sort_NameVariable…). A called macro is suppressed like
            # a group: "in " alone when its container title is empty (group_SuppressTermInMacro).
            item.open_group()
            try:
                blob = self.get_macro(self.get("macro")).render(item, context=context, sort_options=sort_options)
            finally:
                keep = item.close_group(blob is not None and blob.nonempty())
            if blob is None or not keep:
                return None
            # citeproc-js nests the macro's own group inside the cs:text's (affixes outside):
            # punctuation merges see both levels ("<i>Livre</i>. pp.", not ".pp.").
            blob = Blob([blob])
        elif "term" in self.attrib:
            text = term_text(self, self.get("term"), self.get("form"), self.get("plural", "false") == "true")
            if not text:
                return None
            item.printed_term()
            if not item.term_predecessor and item.capitalize_terms:
                # A term that opens a note or an entry is capitalised: "Ibid." (citeproc-js;
                # position_IbidWithLocator, magic_CapitalizeFirstOccurringTerm).
                from zotcurate.render.citations.blobs import text_case

                text = text_case(text, "capitalize-first", item.lang)
            blob = self.make_leaf(text, item)
        elif "value" in self.attrib:
            item.printed_term()
            blob = self.make_leaf(self.get("value"), item)
        else:
            return None
        return self.finish(blob, item, case=False)

    def make_leaf(self, text: str, cite: Cite) -> Blob:
        text = str(text)
        if not text:
            return Blob("")
        case = self.get("text-case")
        item_text = "variable" in self.attrib
        if case and not (case == "title" and item_text and not cite.lang.startswith("en")):
            from zotcurate.render.citations.blobs import text_case

            text = text_case(text, case, cite.lang)
        if self.get("strip-periods", "false") == "true":
            from zotcurate.render.citations.blobs import strip_periods

            text = strip_periods(text)
        return markup_leaf(text, cite)

    def finish(self, blob: Blob | None, cite: Cite | None = None, case: bool = True) -> Blob | None:
        if blob is None or not blob.nonempty():
            return None
        if "macro" in self.attrib:
            return super().finish(blob, cite, case=True)
        if cite is not None:
            cite.term_predecessor = True
        return self.wrap(self.quote(self.format(blob)))

    def value_of(self, cite: Cite) -> Any:
        variable = self.get("variable")
        if variable in cite.suppressed:
            # Printed already by cs:substitute: an empty variable here, so a group or macro
            # around it is suppressed too (elsevier-harvard's "[WWW Document]" after a title).
            cite.tried(variable, None)
            return None
        form = self.get("form")
        if variable == "citation-number":
            cite.tried(variable, cite.number)
            return Blob(str(cite.number), num=cite.number)
        if variable == "year-suffix":
            return year_suffix_blob(cite)
        if variable == "locator":
            value = cite.locator
            if cite.tried(variable, value) and value is not None:
                return locator_text(self, cite, value)
            return None
        if variable == "first-reference-note-number":
            note = cite.first_reference_note_number if cite.position not in (None, "first") else None
            if cite.tried(variable, note) and note is not None:
                return Blob(str(note), num=note)
            return None
        reference = cite.reference
        if form == "short":
            short = {"title": "title-short", "container-title": "container-title-short"}.get(
                variable, variable + "-short")
            if short in reference:
                variable = short
        value = reference.get(variable)
        if not cite.tried(variable, value):
            return None
        if variable in ("page", "page-first"):
            return page_text(self, str(value), variable)
        if variable in NUMBER_VARIABLES and isinstance(value, str) and "-" in value and is_numeric(value):
            return Blob(format_number_variable(value, "numeric", self, variable))
        return value


def markup_leaf(text: str, cite: Cite) -> Blob:
    from zotcurate.render.citations.blobs import parse_markup, typographic_spaces

    if cite.terms.smart:
        text = typographic_spaces(text)
    parsed = parse_markup(text, cite.terms)
    if isinstance(parsed, str):
        return Blob(parsed)
    return Blob(parsed)


def page_text(element: Any, value: str, variable: str) -> Blob:
    root = element.get_root()
    if variable == "page-first":
        first = re.split(r"\s*(?:&|,|-|\u2013)\s*", value)[0]
        return Blob(first.replace("\\", ""))
    delimiter = term_text(element, "page-range-delimiter") or "\u2013"
    if "&" in value:
        value = re.sub(r"\s*&\s*", f" {locale_ampersand(element)} ", value)
    return Blob(page_range(value, root.get("page-range-format"), delimiter))


def locator_text(element: Any, cite: Cite, value: str) -> Blob:
    label = cite.label or "page"
    if label == "page":
        return page_text(element, value, "page")
    return Blob(format_number_variable(value, "numeric", element, "locator").replace("\\", ""))


class Number(Rich, model.Number):
    def _calls_variable(self) -> bool:
        return True

    def render(self, item: Cite, context: Any = None, **kwargs: Any) -> Blob | None:
        variable = self.get("variable")
        if item.dates_only:
            return None
        if variable in item.suppressed:
            item.tried(variable, None)
            return None
        if variable == "locator":
            value: Any = item.locator
        elif variable == "citation-number":
            value = item.number
        elif variable == "first-reference-note-number":
            value = item.first_reference_note_number if item.position not in (None, "first") else None
        else:
            value = item.reference.get(variable)
        if not item.tried(variable, value) or value is None:
            return None
        text = str(value)
        if item.area == "sort" and text.isdigit():
            return Blob(text.zfill(8))  # numbers compare as numbers in sort keys
        if variable == "page" or (variable == "locator" and (item.label or "page") == "page"):
            blob = page_text(self, text, "page")
        elif is_numeric(text):
            formatted = format_number_variable(text, self.get("form", "numeric"), self, variable)
            blob = Blob(formatted, num=int(text) if text.isdigit() else None)
        else:
            blob = Blob(text.replace("\\-", "-"))
        return self.finish(blob, item)


class Label(Rich, model.Label):
    title_case_any_language = True

    def _calls_variable(self) -> bool:
        return self.get("variable") == "locator"

    def render(self, item: Cite, context: Any = None, **kwargs: Any) -> Blob | None:
        variable = self.get("variable")
        if variable == "locator":
            if item.locator is None:
                return None
            name = item.label or "page"
            value: Any = item.locator
        else:
            value = item.reference.get(variable)
            if value is None or variable in item.suppressed:
                return None
            name = variable
        plural = self.plural_for(variable, str(value))
        form = self.get("form", "long")
        text = term_text(self, name, None if form == "long" else form, plural)
        if not text:
            return None
        return self.finish(Blob(text), item)

    def plural_for(self, variable: str, value: str) -> bool:
        option = self.get("plural", "contextual")
        if option == "always":
            return True
        if option == "never":
            return False
        return is_plural(variable, value)


_JOINERS = re.compile(r"\s*(?:(?<!\\)[-\u2013]|,|&|;)\s*|\s+(?:and|et|und|y|e)\s+")


def is_plural(variable: str, value: str) -> bool:
    """Several numbers ("1, 3", "12-14", "S213–S235", "213 and 235", "i–ix"), or a count
    above one; "3\\-B" and "Michaelson-Morely" are one thing
    (number_PlainHyphenOrEnDashAlwaysPlural, label_PluralPagesWithAlphaPrefix)."""
    if variable.startswith("number-of"):
        match = re.match(r"\s*(\d+)", value)
        return match is not None and int(match.group(1)) > 1
    tokens = [t for t in _JOINERS.split(value) if t.strip()]
    numbers = [t for t in tokens if re.search(r"\d", t) or re.fullmatch(r"[ivxlcdm]+|[IVXLCDM]+", t.strip())]
    return len(numbers) >= 2


class Group(Rich, model.Group):
    def _calls_variable(self) -> bool:
        return True

    def render(self, item: Cite, context: Any = None, **kwargs: Any) -> Blob | None:
        """CSL: a group is suppressed when it calls at least one variable and every variable
        it calls is empty. citeproc-py decided from which children *could* call a variable,
        so a group whose macro printed only a term came out alone ("in ")
        (group_SuppressTermInMacro); here the variables actually tried are counted."""
        item.open_group()
        output = []
        try:
            for child in self.iterchildren():
                try:
                    text = child.render(item, context=context, **kwargs)
                except VariableError:
                    continue
                if text is not None:
                    output.append(text)
        finally:
            keep = item.close_group(any(o.nonempty() for o in output))
        if not keep:
            raise VariableError("group")
        blob = self.join(output)
        if not blob.nonempty():
            raise VariableError("group")
        return self.finish(blob, item)


class Choose(Rich, model.Choose):
    def _calls_variable(self) -> bool:
        return any(child.calls_variable() for child in self.iterchildren())

    def render(self, item: Any, context: Any = None, delimiter: str = "", **kwargs: Any) -> Blob | None:
        for child in self.iterchildren():
            if isinstance(child, If) and not child.matches(item, context):
                continue
            if not isinstance(child, (If, Else)):
                continue
            blob = child.render_children(item, context=context, **kwargs)
            if blob is None:
                return None
            return Choice(blob.blobs)
        return None


class If(Rich, model.If):
    def matches(self, item: Cite, context: Any) -> bool:
        tests = self.__dict__.get("_tests")
        if tests is None:
            tests = self.__dict__["_tests"] = [(name, self.get(name).split()) for name in
                                               ("type", "variable", "is-numeric", "is-uncertain-date", "locator",
                                                "position", "disambiguate") if name in self.attrib]
        results: list[bool] = []
        for name, values in tests:
            if name == "type":
                # One test whatever the match: an item has one type, so type="thesis manuscript"
                # means either (citeproc-js; american-sociological-association's theses).
                results.append(item.reference.type in values)
            else:
                results.extend(self.test(name, value, item) for value in values)
        match = self.get("match", "all")
        if match == "any":
            return any(results)
        if match == "none":
            return not any(results)
        return all(results)

    def test(self, name: str, value: str, cite: Cite) -> bool:
        reference = cite.reference
        if name == "type":
            return reference.type == value
        if name == "variable":
            return has_variable(cite, value)
        if name == "is-numeric":
            if value == "locator":
                return cite.locator is not None and is_numeric(cite.locator)
            found = reference.get(value)
            return found is not None and is_numeric(str(found))
        if name == "is-uncertain-date":
            date = reference.get(value)
            return bool(getattr(date, "circa", False))
        if name == "locator":
            label = cite.label or "page"
            return cite.locator is not None and (label == value or (value == "sub-verbo" and label == "sub verbo"))
        if name == "position":
            return position_matches(cite, value)
        if name == "disambiguate":
            return cite.disambiguate == (value == "true")
        return False


class Else_If(If):
    pass


class Else(Rich, model.Else):
    pass


def has_variable(cite: Cite, variable: str) -> bool:
    if variable == "locator":
        return cite.locator is not None
    if variable == "citation-number":
        return True
    if variable == "year-suffix":
        return cite.year_suffix is not None
    if variable == "first-reference-note-number":
        return cite.first_reference_note_number is not None and cite.position not in (None, "first")
    # A variable cs:substitute already printed is not printed again, but conditions still see
    # it (APA's publisher after a substituted editor).
    return variable in cite.reference


def position_matches(cite: Cite, value: str) -> bool:
    """CSL positions; in the bibliography every position test is false. "ibid" is also
    "subsequent", and "ibid-with-locator" also "ibid" (position_IfIbidIsTrueThenSubsequentIsTrue)."""
    position = cite.position
    if cite.area != "citation" or position is None:
        return False
    if value == "first":
        return position == "first"
    if value == "subsequent":
        return position != "first"
    if value == "ibid":
        return position in ("ibid", "ibid-with-locator")
    if value == "ibid-with-locator":
        return position == "ibid-with-locator"
    if value == "near-note":
        return position != "first" and cite.near_note
    return False


# --- the lookup ----------------------------------------------------------------------------


class _Element(Rich, model.Term):
    """cs:info children and other elements without a citeproc-py class. Not a direct
    subclass of CitationStylesElement: citeproc-py's own parser registers those by name."""


class Citation(Rich, model.Citation):
    pass


class Bibliography(Rich, model.Bibliography):
    pass


class Sort(Rich, model.Sort):
    pass


class Key(Rich, model.Key):
    pass


class Term(Rich, model.Term):
    pass


ELEMENT_CLASSES: dict[str, type] = {
    "*": _Element, "style": Style, "locale": Locale, "citation": Citation, "bibliography": Bibliography,
    "term": Term, "sort": Sort, "key": Key, "macro": Macro, "layout": Layout, "text": Text, "date": Date,
    "date-part": Date_Part, "number": Number, "names": Names, "name": Name, "name-part": Name_Part,
    "et-al": Et_Al, "substitute": Substitute, "label": Label, "group": Group, "choose": Choose, "if": If,
    "else-if": Else_If, "else": Else,
}
