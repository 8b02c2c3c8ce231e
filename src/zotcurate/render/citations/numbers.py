"""Numbers in CSL: is-numeric, number forms, page ranges.

* is-numeric (CSL 1.0.2): numbers with optional letter affixes ("D2", "2b"), possibly
  several separated by a comma, hyphen or ampersand ("2, 3", "91-92", "2 & 4"); citeproc-py
  accepted a single number only, so "n° 208-209" lost its "n°".
* page-range-format: citeproc-py's minimal and chicago forms were off ("1536–538" for
  minimal, "100–4" for chicago) and it ignored letters and escaped hyphens
  (page_Minimal, page_Chicago, page_Expand); this is a port of citeproc-js's
  ``CSL.Util.PageRangeMangler``.
"""

from __future__ import annotations

import re
from typing import Any

from citeproc import model

from zotcurate.render.citations.terms import term_text

_NUMBER = r"[A-Za-z]*\d+[A-Za-z]*"
IS_NUMERIC = re.compile(rf"^{_NUMBER}(?:\s*(?:[,&\-\u2013]|\s|and)\s*{_NUMBER})*$")
_TOKENS = re.compile(r"(\s*&\s*|,\s*|\s*\\?[-\u2013]\s*|\s+and\s+)")


def is_numeric(value: str) -> bool:
    return bool(IS_NUMERIC.match(value.strip()))


def romanize(number: int) -> str:
    numerals = (("m", 1000), ("cm", 900), ("d", 500), ("cd", 400), ("c", 100), ("xc", 90), ("l", 50), ("xl", 40),
                ("x", 10), ("ix", 9), ("v", 5), ("iv", 4), ("i", 1))
    out = []
    for letters, value in numerals:
        count, number = divmod(number, value)
        out.append(letters * count)
    return "".join(out)


def _ordinal_terms(locale: Any) -> dict[str, list[tuple[str | None, str | None, str]]]:
    cache = locale.__dict__.get("_ordinals")
    if cache is None:
        cache = {}
        terms = locale.find("cs:terms", locale.nsmap)
        for term in [] if terms is None else terms.iterchildren():
            name = term.get("name") or ""
            if name == "ordinal" or (name.startswith("ordinal-") and name[8:].isdigit()):
                cache.setdefault(name, []).append((term.get("gender-form"), term.get("match"), term.text or ""))
        locale.__dict__["_ordinals"] = cache
    return cache


def ordinal(number: int, element: Any, gender: str | None = None) -> str:
    """CSL 1.0.2 ordinals, locale by locale: "ordinal-NN" (last two digits, or the whole
    number), "ordinal-0N" (last digit), then "ordinal", with the noun's gender ("1ʳᵉ éd.").
    citeproc-py looked the terms up across locales and printed "3rd éd." in French."""
    root = element.get_root()
    root = root.style if isinstance(root, model.Locale) else root
    for locale in root.locales:
        terms = _ordinal_terms(locale)
        if not terms:
            continue
        candidates: list[tuple[str, str | None]] = []
        if number >= 10:
            candidates.append((f"ordinal-{number % 100:02d}", "last-two-digits"))
        candidates.append((f"ordinal-{number % 10:02d}", "last-digit"))
        candidates.append(("ordinal", None))
        for name, default_match in candidates:
            entries = terms.get(name, [])
            preferred = [e for e in entries if gender and e[0] == gender] + [e for e in entries if e[0] is None]
            for _, match, text in preferred:
                if name != "ordinal":
                    digits = int(name[8:])
                    match = match or default_match
                    if (match == "whole-number" and number != digits) or (
                            match == "last-two-digits" and number % 100 != digits) or (
                            match == "last-digit" and number % 10 != digits):
                        continue
                return f"{number}{text}"
    return str(number)


def noun_gender(element: Any, variable: str) -> str | None:
    """The gender of the term a number counts ("edition" is feminine in French)."""
    root = element.get_root()
    root = root.style if isinstance(root, model.Locale) else root
    for locale in root.locales:
        terms = locale.find("cs:terms", locale.nsmap)
        if terms is None:
            continue
        for term in terms.iterchildren():
            if term.get("name") == variable and term.get("gender") and term.get("form") in (None, "long"):
                return term.get("gender")
    return None


def long_ordinal(number: int, element: Any) -> str:
    if 1 <= number <= 10:
        text = term_text(element, f"long-ordinal-{number:02d}")
        if text:
            return text
    return ordinal(number, element)


def _format_one(token: str, form: str, element: Any, gender: str | None = None) -> str:
    if not token.isdigit():
        return token
    number = int(token)
    if form == "ordinal":
        return ordinal(number, element, gender)
    if form == "long-ordinal":
        return long_ordinal(number, element)
    if form == "roman":
        return romanize(number)
    return str(number)


def range_delimiter(element: Any, variable: str) -> str:
    """citeproc-js joins the ranges of every number variable with the locale's
    page-range-delimiter (year-range-delimiter for collection-number)."""
    term = "year-range-delimiter" if variable == "collection-number" else "page-range-delimiter"
    return term_text(element, term) or "\u2013"


def locale_ampersand(element: Any) -> str:
    """The "&" of number lists: the locale's symbol form of "and" when it defines one
    (label_PluralWithLocalizedAmpersand); a symbol form equal to the long one is a fallback."""
    symbol = term_text(element, "and", "symbol")
    return symbol if symbol and symbol != term_text(element, "and") else "&"


def format_number_variable(value: str, form: str, element: Any, variable: str) -> str:
    """A numeric value in a number form, each number formatted and joiners normalised:
    ranges take the range delimiter, lists ", ", ampersands " & " (as citeproc-js prints them)."""
    parts = _TOKENS.split(value.strip())
    gender = noun_gender(element, variable) if form in ("ordinal", "long-ordinal") else None
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(_format_one(part.strip(), form, element, gender))
        else:
            joiner = part.strip()
            if joiner == "&":
                out.append(f" {locale_ampersand(element)} ")
            elif joiner == ",":
                out.append(", ")
            elif joiner == "and":
                out.append(" and ")
            elif joiner.startswith("\\"):
                out.append("-")
            else:
                out.append(range_delimiter(element, variable))
    return "".join(out)


# --- page ranges (CSL.Util.PageRangeMangler) -------------------------------------------------

_RANGE = re.compile(r"([0-9]*[a-zA-Z]+0*)?([0-9]+[a-z]*)\s*(?:\u2013|-)\s*([0-9]*[a-zA-Z]+0*)?([0-9]+[a-z]*)")
_ROMAN_RANGE = re.compile(r"\b([ivxlcdm]+|[IVXLCDM]+)\s*-\s*([ivxlcdm]+|[IVXLCDM]+)\b")
_RANGE_IN_LIST = r"(?:[0-9]*[a-zA-Z]+0*)?[0-9]+[a-z]*\s+-\s+(?:[0-9]*[a-zA-Z]+0*)?[0-9]+[a-z]*"


def _listify(text: str, delimiter: str) -> list[Any]:
    own = "" if delimiter == "-" else re.escape(delimiter)
    text = re.sub(rf"([^\\])[-{own}\u2013]", r"\1 - ", text)
    text = re.sub(r"\s+-\s+", " - ", text)
    ranges = re.findall(f"({_RANGE_IN_LIST})", text)
    rest = re.split(_RANGE_IN_LIST, text)
    out: list[Any] = [rest[0]]
    for index in range(1, len(rest)):
        out.append(re.sub(r"\s*-\s*", "-", ranges[index - 1]))
        out.append(rest[index])
    return out


def _expand(text: str, delimiter: str, keep_short: bool = False) -> list[Any]:
    parts = _listify(text, delimiter)
    for pos in range(1, len(parts), 2):
        match = _RANGE.match(parts[pos])
        if match:
            m = list(match.groups())
            digits = [int(re.match(r"\d+", m[i]).group()) for i in (1, 3)]  # type: ignore[union-attr]
            if (m[0] or "") != (m[2] or ""):
                # Letters before one number only, or different ones ("N110-5", "n11564-1568"):
                # citeproc-js leaves the range as written, hyphen included (page_Expand, page_Minimal).
                parts[pos] = parts[pos].replace("-", "\\-")
                continue
            if keep_short and digits[0] > digits[1]:
                pass  # no page-range-format: "110-5" stays short (page_NoOption)
            elif not m[2] or m[0] == m[2]:
                if len(m[3]) < len(m[1]):
                    m[3] = m[1][: len(m[1]) - len(m[3])] + m[3]
                if int(re.match(r"\d+", m[1]).group()) < int(re.match(r"\d+", m[3]).group()):  # type: ignore[union-attr]
                    m[2] = delimiter + (m[0] or "")
                    parts[pos] = [m[0] or "", m[1], m[2], m[3]]
        if isinstance(parts[pos], str):
            parts[pos] = parts[pos].replace("-", delimiter)
    return parts


def _stringify(parts: list[Any], delimiter: str) -> str:
    text = "".join("".join(p) if isinstance(p, list) else p for p in parts)
    return re.sub(r"([^\\])-", lambda m: m.group(1) + delimiter, text)


def _minimize_internal(begin: str, end: str, minchars: int) -> str:
    if len(begin) != len(end):
        return end
    keep = list(end)
    for b, e in zip(begin, end, strict=True):
        if b == e and len(keep) > minchars:
            keep.pop(0)
        else:
            break
    return "".join(keep)


def page_range(text: str, range_format: str | None, delimiter: str) -> str:
    """A page value with its ranges formatted (expanded, minimal, minimal-two, chicago…)
    and joined with the locale's page-range-delimiter; escaped hyphens stay hyphens."""
    # Roman numerals on both sides take the delimiter too (page_Chicago16: "xxv–xxviii").
    text = _ROMAN_RANGE.sub(lambda m: m.group(1) + delimiter + m.group(2), text)
    if not re.search(r"\d", text) or not re.search(r"\d\s*(?:\\?-|\u2013)\s*\w", text):
        return text.replace("\\-", "-")
    parts = _expand(text, delimiter, keep_short=range_format is None)
    if range_format in ("minimal", "minimal-two"):
        minchars = 2 if range_format == "minimal-two" else 0
        for pos in range(1, len(parts), 2):
            if isinstance(parts[pos], list):
                parts[pos][3] = _minimize_internal(parts[pos][1], parts[pos][3], minchars)
                if parts[pos][2][1:] == parts[pos][0]:
                    parts[pos][2] = delimiter
    elif range_format in ("chicago", "chicago-15", "chicago-16"):
        for pos in range(1, len(parts), 2):
            if not isinstance(parts[pos], list):
                continue
            m = parts[pos]
            begin = int(re.match(r"\d+", m[1]).group())  # type: ignore[union-attr]
            end = int(re.match(r"\d+", m[3]).group())  # type: ignore[union-attr]
            if range_format == "chicago-16":
                if begin > 100 and begin % 100:
                    for power in range(2, len(str(end))):
                        divisor = 10 ** power
                        if begin // divisor == end // divisor:
                            m[3] = str(end % divisor)
                            break
            elif begin > 100 and begin % 100 and begin // 100 == end // 100:
                m[3] = str(end % 100)
            elif begin >= 10000:
                m[3] = str(end % 1000)
            if m[2][1:] == m[0]:
                m[2] = delimiter
    return _stringify(parts, delimiter).replace("\\", "")
