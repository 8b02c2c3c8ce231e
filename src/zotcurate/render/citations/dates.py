"""cs:date and cs:date-part.

Fixes over citeproc-py: seasons are printed (date_OtherWithDate, date_SeasonRange1-3);
ranges use the range-delimiter of the largest differing part and print shared parts once
(date_RangeDelimiter); localized dates take the style's date-part attributes without
changing the locale (citeproc-py wrote them into the locale element, so one date's
formatting leaked into the next); an implicit year-suffix follows the first year rendered
when the style does not print the variable itself; sort keys come from the date value,
not its text (sort_ConditionalMacroDates).
"""

from __future__ import annotations

from typing import Any

from citeproc import model
from citeproc.source import VariableError

from zotcurate.render.citations.base import Cite, Rich
from zotcurate.render.citations.blobs import Blob
from zotcurate.render.citations.items import DatePart, DateValue
from zotcurate.render.citations.terms import term_text, year_suffix_blob

_ORDER = {"year": 3, "month": 2, "day": 1}


class Date(Rich, model.Date):
    def _calls_variable(self) -> bool:
        return True

    def render(self, item: Cite, context: Any = None, **kwargs: Any) -> Blob | None:
        variable = self.get("variable")
        if variable in item.suppressed or (item.just_looking and variable == "accessed"):
            # citeproc-js leaves the accessed date out of ambiguity keys: two cites that differ
            # only by it are ambiguous (date_YearSuffixWithNoDate).
            item.tried(variable, None)
            return None
        value = item.reference.get(variable)
        if not item.tried(variable, value) or not isinstance(value, DateValue):
            return None
        parts = self.part_elements()
        if item.area == "sort":
            return Blob(sort_key(value, [name for name, _ in parts]))
        blob: Blob | None
        if value.literal is not None and value.begin.is_empty():
            blob = Blob(value.literal)
        else:
            blob = self.render_value(value, parts, item)
            if blob is None:
                return None
        if variable == "issued" and item.first_date is None:
            item.first_date = blob
        delimiter = self.delimiter_for()
        if delimiter and isinstance(blob.blobs, list):
            blob.delimiter = delimiter
        return self.finish(blob, item, case=False)

    def delimiter_for(self) -> str:
        if self.get("form") is not None:
            localized = self.get_date(self.get("form"))
            return (localized.get("delimiter") if localized is not None else None) or ""
        return self.get("delimiter") or ""

    def part_elements(self) -> list[tuple[str, dict[str, str]]]:
        """(name, attributes) of the parts to print, in order: the style's own date-parts, or
        the locale's localized date with the style's date-part attributes laid over it."""
        cached = self.__dict__.get("_parts")
        if cached is not None:
            return cached
        form = self.get("form")
        own = {p.get("name"): dict(p.attrib) for p in self.iterchildren() if p.tag.endswith("date-part")}
        if form is None:
            parts = [(p.get("name"), dict(p.attrib)) for p in self.iterchildren() if p.tag.endswith("date-part")]
        else:
            localized = self.get_date(form)
            parts = []
            if localized is not None:
                for part in localized.iterchildren():
                    if not part.tag.endswith("date-part"):
                        continue
                    attrs = dict(part.attrib)
                    attrs.update({k: v for k, v in own.get(part.get("name"), {}).items() if k != "name"})
                    parts.append((part.get("name"), attrs))
            shown = (self.get("date-parts") or "year-month-day").split("-")
            if shown == ["month", "day"]:
                for index in range(1, len(parts)):
                    if parts[index][0] == "year":
                        parts[index - 1][1]["suffix"] = ""
                        break
            parts = [p for p in parts if p[0] in shown]
        self.__dict__["_parts"] = parts
        return parts

    def render_value(self, value: DateValue, parts: list[tuple[str, dict[str, str]]], cite: Cite) -> Blob | None:
        begin, end = value.begin, value.end
        if end is not None and end.year == 0 and end.month is None and end.day is None:
            # An open range ("1987–"): the end year is 0 (date_TextFormYeardateYearRangeOpen).
            children = [b for b in (self.render_part(n, a, begin, cite) for n, a in parts) if b is not None]
            if not children:
                return None
            delimiter = next((a.get("range-delimiter") for n, a in parts if n == "year" and a.get("range-delimiter")),
                             "\u2013")
            return Blob([*children, Blob(delimiter)])
        if end is None or end.is_empty():
            children = [b for b in (self.render_part(n, a, begin, cite) for n, a in parts) if b is not None]
            return Blob(children) if children else None
        differing = [name for name in ("year", "month", "day") if _get(begin, name) != _get(end, name)]
        if not differing:
            return self.render_value(DateValue(begin), parts, cite)
        largest = differing[0]
        span = [i for i, (name, _) in enumerate(parts) if _ORDER.get(name, 0) <= _ORDER[largest]]
        if not span:
            return self.render_value(DateValue(begin), parts, cite)
        first, last = span[0], span[-1]
        range_delimiter = next((a.get("range-delimiter") for n, a in parts if n == largest
                                and a.get("range-delimiter")), None) or "\u2013"
        before = [self.render_part(n, a, begin, cite) for n, a in parts[:first]]
        start = [self.render_part(n, a, begin, cite) for n, a in parts[first:last + 1]]
        finish = [self.render_part(n, a, end, cite) for n, a in parts[first:last + 1]]
        after = [self.render_part(n, a, begin, cite) for n, a in parts[last + 1:]]
        start_blobs = [b for b in start if b is not None]
        finish_blobs = [b for b in finish if b is not None]
        if start_blobs and start_blobs[-1].suffix:
            start_blobs[-1].suffix = start_blobs[-1].suffix.rstrip()
        # The date's delimiter also joins the parts on each side of the range (date_RangeDelimiter).
        inner = self.delimiter_for()
        if start_blobs and finish_blobs:
            middle = Blob([Blob(start_blobs, delimiter=inner), Blob(finish_blobs, delimiter=inner)],
                          delimiter=range_delimiter)
        else:
            middle = Blob(start_blobs or finish_blobs, delimiter=inner)
        children = [b for b in [*before, middle, *after] if b is not None and b.blobs]
        return Blob(children) if children else None

    def render_part(self, name: str, attrs: dict[str, str], part: DatePart, cite: Cite) -> Blob | None:
        element = self.part_element(name)
        text = element.text_for(attrs, part, cite) if element is not None else None
        if element is None or text is None:
            return None
        blob = Blob(text)
        if name == "year" and cite.year_suffix is not None and not cite.year_suffix_done \
                and cite.area != "sort" and self.get("variable") == "issued" and not _style_prints_year_suffix(self):
            suffix = year_suffix_blob(cite)
            if suffix is not None:
                blob = Blob([blob, suffix])
        return element.finish_part(blob, attrs, cite)

    def part_element(self, name: str) -> Date_Part | None:
        cache = self.__dict__.setdefault("_part_elements", {})
        if name not in cache:
            found = None
            for part in self.iterchildren():
                if isinstance(part, Date_Part) and part.get("name") == name:
                    found = part
            if found is None and self.get("form") is not None:
                localized = self.get_date(self.get("form"))
                if localized is not None:
                    for part in localized.iterchildren():
                        if isinstance(part, Date_Part) and part.get("name") == name:
                            found = part
            cache[name] = found
        return cache[name]

    def get_date(self, form: str) -> Any:
        cache = self.get_root().__dict__.setdefault("_dates", {})
        if form not in cache:
            found = None
            for locale in self.get_root().locales:
                candidates = locale.findall(f"cs:date[@form='{form}']", self.nsmap)
                if candidates:
                    found = candidates[0]
                    break
            cache[form] = found
        return cache[form]


def _style_prints_year_suffix(element: Any) -> bool:
    root = element.get_root()
    cached = root.__dict__.get("_prints_year_suffix")
    if cached is None:
        cached = root.__dict__["_prints_year_suffix"] = bool(
            root.xpath("//cs:text[@variable='year-suffix']", namespaces=element.nsmap))
    return cached


def _get(part: DatePart, name: str) -> Any:
    if name == "month":
        return part.month if part.month is not None else part.season
    return getattr(part, name)


def sort_key(value: DateValue, shown: list[str]) -> str:
    if value.literal is not None and value.begin.is_empty():
        return value.literal

    def one(part: DatePart) -> str:
        year = f"{(part.year or 0) + 10000:05d}" if "year" in shown else "00000"
        month = part.month or (12 + part.season if isinstance(part.season, int) else 0)
        month_text = f"{month:02d}" if "month" in shown or not shown else "00"
        day_text = f"{part.day or 0:02d}" if "day" in shown or not shown else "00"
        return year + month_text + day_text

    key = one(value.begin)
    return key + (one(value.end) if value.end is not None else "")


class Date_Part(Rich, model.Date_Part):
    def text_for(self, attrs: dict[str, str], part: DatePart, cite: Cite) -> str | None:
        name = attrs.get("name") or self.get("name")
        form = attrs.get("form")
        if name == "day":
            if part.day is None or part.month is None:
                return None
            form = form or "numeric"
            if form == "ordinal":
                limit = self.get_locale_option("limit-day-ordinals-to-day-1")
                if str(limit).lower() == "true" and part.day > 1:
                    form = "numeric"
            if form == "numeric-leading-zeros":
                return f"{part.day:02d}"
            if form == "ordinal":
                from zotcurate.render.citations.numbers import noun_gender, ordinal

                return ordinal(part.day, self, noun_gender(self, f"month-{part.month:02d}"))
            return str(part.day)
        if name == "month":
            form = form or "long"
            if part.month is None:
                if part.season is None or form not in ("long", "short"):
                    return None
                if isinstance(part.season, str):
                    return part.season
                return self.term(f"season-{part.season:02d}", None) or None
            if form == "numeric":
                return str(part.month)
            if form == "numeric-leading-zeros":
                return f"{part.month:02d}"
            return self.term(f"month-{part.month:02d}", "short" if form == "short" else None) or None
        if name == "year":
            if part.year is None:
                return None
            form = form or "long"
            if form == "short":
                return str(part.year)[-2:]
            text = str(abs(part.year))
            if part.year < 0:
                text += self.term("bc", None)
            elif part.year < 1000:
                text += self.term("ad", None)
            return text
        return None

    def term(self, name: str, form: str | None) -> str:
        return term_text(self, name, form)

    def finish_part(self, blob: Blob, attrs: dict[str, str], cite: Cite) -> Blob | None:
        # The localized part's own element carries the locale's attributes; the style's
        # overrides are applied from ``attrs`` without writing them into the locale.
        case = attrs.get("text-case")
        if case:
            from zotcurate.render.citations.blobs import text_case

            for leaf in blob.leaves():
                if leaf.num is None and not (case == "title" and not cite.lang.startswith("en")):
                    leaf.blobs = text_case(str(leaf.blobs), case, cite.lang)
        if attrs.get("strip-periods") == "true":
            from zotcurate.render.citations.blobs import strip_periods

            for leaf in blob.leaves():
                if leaf.num is None:
                    leaf.blobs = strip_periods(str(leaf.blobs))
        from zotcurate.render.citations.base import FORMATTING

        for attribute, decoration in FORMATTING:
            value = attrs.get(attribute)
            if value is not None:
                blob.decorations.append((decoration, value))
        prefix, suffix = attrs.get("prefix"), attrs.get("suffix")
        if prefix or suffix:
            if blob.prefix or blob.suffix:
                blob = Blob([blob])
            blob.prefix, blob.suffix = prefix or "", suffix or ""
        return blob


__all__ = ["Date", "Date_Part", "VariableError", "sort_key"]
