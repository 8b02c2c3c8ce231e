"""cs:names, cs:name, cs:name-part, cs:et-al, cs:substitute.

citeproc-py's ``Name.process`` joins the parts of a name with ``str.join``: the string
subclass carrying formatting is dropped (name-part font-style, small caps… silently lost:
name_WesternPrimaryFontStyle, decorations_AndTermUnaffectedByNameDecorations), and a
formatted part with an affix raises ``TypeError: expected str instance, MixedString
found`` (name_ParsedNonDroppingParticleWithAffixes); 65 repository styles lost items to
``'str' object has no attribute 'capitalize_first'`` the same way. Names here are built
part by part as blobs, ported from citeproc-js's ``CSL.NameOutput`` (name order, particles,
suffixes, initials, et-al and "and" joins), with the hooks disambiguation needs (names
shown, given-name expansion per name).
"""

from __future__ import annotations

import re
from typing import Any

from citeproc import model
from citeproc.source import VariableError

from zotcurate.render.citations.base import FORMATTING, Cite, Rich
from zotcurate.render.citations.blobs import (
    ROMANESQUE,
    STARTS_ROMANESQUE,
    Blob,
    parse_markup,
    strip_periods,
    text_case,
    typographic_spaces,
)
from zotcurate.render.citations.items import Name as NameValue
from zotcurate.render.citations.terms import term_text

_INITIAL = re.compile(
    "^([A-Z\u0e01-\u0e5b\u00c0-\u017f\u0400-\u042f\u0590-\u05d4\u05d6-\u05ff\u0600-\u06ff\u0370\u0372\u0376"
    "\u0386\u0388-\u03ab\u03e2\u03e4\u03e6\u03e8\u03ea\u03ec\u03ee\u03f4\u03f7\u03fd-\u03ff])"
    "([a-zA-Z\u0e01-\u0e5b\u00c0-\u017f\u0400-\u052f\u0600-\u06ff\u0370-\u03ff\u1f00-\u1fff]*|)(\\.)*")
_NAME_SPLIT = re.compile(r"(?:[-\s]*</*(?:span\s+class=\"no(?:case|decor)\"|i|sc|b|sub|sup)>[-\s]*|[-\s]+)")
_DEFAULTS = {"and": None, "delimiter-precedes-et-al": "contextual", "delimiter-precedes-last": "contextual",
             "et-al-min": None, "et-al-use-first": None, "et-al-subsequent-min": None,
             "et-al-subsequent-use-first": None, "et-al-use-last": "false", "initialize": "true",
             "initialize-with": None, "name-as-sort-order": None, "sort-separator": ", ", "form": "long",
             "delimiter": ", ", "initialize-with-hyphen": "true", "demote-non-dropping-particle": "display-and-sort"}
_INHERITED_AS = {"form": "name-form", "delimiter": "name-delimiter"}
CSL_NS = "http://purl.org/net/xbiblio/csl"


def _mergetag(tagstr: str, newstr: str) -> str:
    tags = re.findall(r"(?:-*<[^>]+>-*)", tagstr)
    if not tags:
        return newstr
    joined = "".join(tags)
    match = re.match(r"^(.*[^\s])*(\s+)$", newstr, re.DOTALL)
    if match:
        return (match.group(1) or "") + joined + match.group(2)
    return newstr + joined


def _tagonly(text: str) -> str:
    match = re.search(r"(?:<[^>]+>)+", text)
    return match.group(0) if match else text


def _notag(text: str) -> str:
    return re.sub(r"^(?:<[^>]+>)*", "", text)


def initialize_with(given: str, terminator: str, normalize_only: bool, hyphen: bool = True) -> str:
    """Given names as initials ("Jean-Pierre" → "J.-P."), or with initialize="false" only
    the initials already there normalised (port of CSL.Util.Names.initializeWith)."""
    if not given:
        return ""
    terminator = terminator or ""
    if given in ("Lord", "Lady") or (not STARTS_ROMANESQUE.match(_notag(given)) and "%s" not in terminator):
        return given
    if not hyphen:
        given = given.replace("-", " ")
    given = re.sub(r"\s*-\s*", "-", given)
    given = re.sub(r"\s+", " ", given)
    given = re.sub(r"-([a-z])", "\u2013\\1", given)
    for i in range(len(given) - 2, -1, -1):
        if given[i] == "." and given[i + 1] != " ":
            given = given[:i] + ". " + given[i + 1:]
    tags = _NAME_SPLIT.findall(given)
    strings = _NAME_SPLIT.split(given)
    names = [strings[0]]
    if not tags:
        match = re.search(r"[^.]+$", names[0])
        if match and len(match.group(0)) == 1 and match.group(0) != match.group(0).lower():
            names[0] += "."
    for index in range(1, len(strings)):
        names.append(tags[index - 1])
        names.append(strings[index])
    result = _normalize(names, terminator) if normalize_only else _initialize(names, terminator)
    return re.sub("\u2013([a-z])", r"-\1", result)


def _tidy(text: str) -> str:
    text = re.sub("[\u0009\u000a\u000b\u000c\u000d\u0020\ufeff\u00a0]+$", "", text)
    text = re.sub(r"\s*-\s*", "-", text)
    return re.sub("[\u0009\u000a\u000b\u000c\u000d\u0020]+", " ", text)


def _normalize(names: list[str], terminator: str) -> str:
    abbreviations = []
    for index, part in enumerate(names):
        bare = _notag(part)
        if len(bare) > 1 and bare.endswith("."):
            names[index] = re.sub(r"^(.*)\.(.*)$", r"\1\2", part)
            abbreviations.append(True)
        elif len(part) == 1 and part.upper() == part:
            abbreviations.append(True)
        else:
            abbreviations.append(False)
    for index in range(0, len(names), 2):
        if not abbreviations[index]:
            continue
        if index < len(names) - 2:
            names[index + 1] = _tagonly(names[index + 1])
            if not abbreviations[index + 2]:
                names[index + 1] = _tagonly(names[index + 1]) + " "
            if len(names[index + 2]) > 1:
                names[index + 1] = terminator.rstrip("\ufeff") + names[index + 1]
            else:
                names[index + 1] = _mergetag(names[index + 1], terminator)
        if index == len(names) - 1:
            names[index] = names[index] + terminator
    return _tidy("".join(names))


def _initialize(names: list[str], terminator: str) -> str:
    count = len(names)
    for index in range(0, count, 2):
        part = names[index]
        if not part:
            continue
        match = _INITIAL.match(part)
        groups: list[str | None] | None = list(match.groups()) if match else None
        if groups is None and not STARTS_ROMANESQUE.match(part) and len(part) > 1 and "%s" in terminator:
            other = re.match(r"(.)(.*)", part, re.DOTALL)
            groups = [other.group(1), other.group(2), None] if other else None
        if groups and groups[1] and groups[2]:
            groups[0] = (groups[0] or "") + groups[1]
            groups[1] = ""
        if groups and groups[0] and groups[0][:1] == groups[0][:1].upper():
            extra = ""
            if groups[1]:
                upper = ""
                for char in groups[1]:
                    if char == char.upper():
                        upper += char
                    else:
                        break
                if len(upper) < len(groups[1]):
                    extra = upper.lower()
            names[index] = groups[0] + extra
            if index < count - 1:
                if "%s" in terminator:
                    names[index] = terminator.replace("%s", names[index])
                elif "-" in names[index + 1]:
                    names[index + 1] = _mergetag(names[index + 1].replace("-", ""), terminator) + "-"
                else:
                    names[index + 1] = _mergetag(names[index + 1], terminator)
            elif "%s" in terminator:
                names[index] = terminator.replace("%s", names[index])
            else:
                names.append(terminator)
        elif ROMANESQUE.search(part) and (not groups or not groups[2]):
            names[index] = " " + part
    return _tidy("".join(names))


def _romanesque(name: NameValue, lang: str) -> int:
    """2 Latin-like, 1 mixed (or a ja/zh item), 0 none (CJK names print family+given)."""
    family = name.get("family", "").replace('"', "")
    level = 2 if ROMANESQUE.search(family) else 0
    if not level and name.get("given") and STARTS_ROMANESQUE.match(name.get("given", "")):
        level = 1
    if level == 2 and lang[:2] in ("ja", "zh"):
        level = 1
    return level


class Name(Rich, model.Name):
    def option(self, name: str, cite: Cite | None = None) -> Any:
        """An inheritable name option: sort key override, the cs:name attribute, then the
        cs:citation or cs:bibliography being rendered (not the XML ancestor: a macro serves
        both), then cs:style, then CSL's default (sort_TestInheritance, etal_Citation…)."""
        if cite is not None and cite.sort_options and name in cite.sort_options:
            return cite.sort_options[name]
        area = "bibliography" if cite is not None and cite.area == "bibliography" else "citation"
        if cite is not None and cite.area == "sort":
            area = cite.sort_area
        cache = self.__dict__.setdefault("_options", {})
        key = (name, area)
        if key not in cache:
            value = self.get(name)
            if value is None:
                inherited = _INHERITED_AS.get(name, name)
                root = self.get_root()
                section = root.find(f"{{{root.nsmap.get(None, CSL_NS)}}}{area}")
                for holder in (section, root):
                    if holder is not None and holder.get(inherited) is not None:
                        value = holder.get(inherited)
                        break
            cache[key] = _DEFAULTS.get(name) if value is None else value
        return cache[key]

    def render_list(self, names: list[NameValue], cite: Cite, variable: str, index: int, et_al: Et_Al | None,
                    institutions_formatted: bool) -> tuple[Blob | None, int]:
        """The rendered list (None if empty) and how many names it shows."""
        form = self.option("form", cite)
        sort = cite.area == "sort"
        subsequent = cite.area == "citation" and cite.position not in (None, "first")
        et_al_min = self.option("et-al-subsequent-min" if subsequent else "et-al-min", cite)
        use_first = self.option("et-al-subsequent-use-first" if subsequent else "et-al-use-first", cite)
        if subsequent and et_al_min is None:
            et_al_min = self.option("et-al-min", cite)
        if subsequent and use_first is None:
            use_first = self.option("et-al-use-first", cite)
        use_last = str(self.option("et-al-use-last", cite)).lower() == "true"
        shown = list(names)
        truncated = False
        try:
            minimum, first = int(et_al_min or 0), int(use_first or 0)
        except ValueError:
            minimum, first = 0, 0
        if minimum and len(names) >= minimum and first >= 0:
            count = max(first, cite.names_min.get(index, 0))
            if count < len(names):
                shown = names[:count]
                truncated = True
        if cite.area == "citation":
            total, seen = cite.names_counts.get(index, (0, 0))
            cite.names_counts[index] = (max(total, len(names)), max(seen, len(shown)))
            for position, name in enumerate(shown):
                cite.rendered_names[(index, position)] = name
        if form == "count":
            return None, len(shown)
        if not shown:
            return None, 0
        blobs: list[Blob] = []
        for position, name in enumerate(shown):
            level = cite.givens.get((index, position), cite.givens_all)
            blob = self.render_name(name, cite, position, level, sort, institutions_formatted)
            if blob is not None:
                blobs.append(blob)
        if not blobs:
            return None, 0
        cite.last_name_blobs = blobs
        delimiter = self.option("delimiter", cite)
        if truncated and use_last and first <= minimum - 2 and len(names) > len(shown) and len(shown) >= 1:
            last = self.render_name(names[-1], cite, len(names) - 1,
                                    cite.givens.get((index, len(names) - 1), cite.givens_all), sort,
                                    institutions_formatted)
            if sort:  # the last name sorts too (sort_NamesUseLast, sort_EtAlUseLast)
                return Blob([*blobs, last] if last is not None else blobs, delimiter="\x02"), len(shown)
            ellipsis = Blob("\u2026", prefix=delimiter if len(blobs) > 1 else " ", suffix=" ")
            joined = _join_names(blobs, delimiter, None)
            return Blob([joined, ellipsis, last] if last is not None else [joined]), len(shown)
        if sort:
            return Blob(blobs, delimiter="\x02"), len(shown)
        if truncated:
            term = et_al.term_blob(cite) if et_al is not None else self.default_et_al(cite)
            joined = _join_names(blobs, delimiter, None)
            if term is None:
                return joined, len(shown)
            precedes = self.option("delimiter-precedes-et-al", cite)
            single, multiple = " ", delimiter
            if precedes == "always":
                single = delimiter
            elif precedes == "never":
                multiple = " "
            elif precedes == "after-inverted-name":
                single, multiple = delimiter, " "
            if not STARTS_ROMANESQUE.match(term.text()):
                single = "" if single == " " else single
                multiple = "" if multiple == " " else multiple
            term.prefix = multiple if len(blobs) > 1 else single
            return Blob([joined, term]), len(shown)
        return _join_names(blobs, delimiter, self.and_blob(len(blobs), cite, shown)), len(shown)

    def default_et_al(self, cite: Cite) -> Blob | None:
        text = term_text(self, "et-al")
        return Blob(text) if text else None

    def and_blob(self, count: int, cite: Cite, shown: list[NameValue]) -> Blob | None:
        if count < 2:
            return None
        and_option = self.option("and", cite)
        delimiter = self.option("delimiter", cite)
        if and_option == "text":
            term = term_text(self, "and")
        elif and_option == "symbol":
            term = "&"
        else:
            return Blob(delimiter) if delimiter else None
        if STARTS_ROMANESQUE.match(term):
            prefix_single, prefix_multiple, suffix = " ", delimiter, " "
        else:
            prefix_single = prefix_multiple = suffix = ""
        precedes = self.option("delimiter-precedes-last", cite)
        if precedes == "always":
            prefix_single = delimiter
        elif precedes == "never":
            if prefix_multiple:
                prefix_multiple = " "
        elif precedes == "after-inverted-name" and not (len(shown) >= count and shown[count - 1].is_literal):
            # An institution last takes the join of cs:institution, where after-inverted-name
            # is not an option (citeproc-js's institution.and: name_DelimiterAfterInverted).
            if prefix_single:
                prefix_single = delimiter
            if prefix_multiple:
                prefix_multiple = " "
        if precedes == "after-inverted-name" and self.is_inverted(count - 2, cite) and not (
                len(shown) >= count - 1 and shown[count - 2].is_literal):
            return Blob(term, prefix=delimiter, suffix=suffix)
        return Blob(term, prefix=prefix_multiple if count > 2 else prefix_single, suffix=suffix)

    def is_inverted(self, position: int, cite: Cite | None = None) -> bool:
        order = self.option("name-as-sort-order", cite)
        return order == "all" or (order == "first" and position == 0)

    def part(self, which: str) -> Name_Part | None:
        cache = self.__dict__.setdefault("_parts", {})
        if which not in cache:
            cache[which] = next((p for p in self.iterchildren() if isinstance(p, Name_Part)
                                 and p.get("name") == which), None)
        return cache[which]

    def render_name(self, name: NameValue, cite: Cite, position: int, level: int, sort: bool,
                    institutions_formatted: bool) -> Blob | None:
        family_part, given_part = self.part("family"), self.part("given")
        if name.is_literal:
            text = name["literal"]
            if sort:
                return Blob(_sort_text(text))
            if family_part is not None and institutions_formatted:
                text = family_part.cased(text, cite)
            if cite.terms.smart:
                text = typographic_spaces(text)
            blob = Blob(parse_markup(text, cite.terms))
            if family_part is not None and institutions_formatted:
                family_part.decorate(blob, cite, affixes=False, case=False)
            return blob
        given = name.get("given")
        family = name.get("family")
        if family is None and given is not None:
            family, given = given, None  # a mononym (name_OnlyGivenname: "Banksy")
        form = self.option("form", cite)
        initialize = str(self.option("initialize", cite)).lower() != "false"
        terminator = self.option("initialize-with", cite)
        default_level = 0 if form == "short" else (1 if terminator is not None else 2)
        use_level = max(level, default_level)
        hyphen = str(self.option("initialize-with-hyphen", cite)).lower() != "false"
        if given and use_level == 1:
            if terminator is not None:
                given = initialize_with(given, terminator, not initialize, hyphen)
        elif use_level == 0:
            given = None
        if sort:
            return self.sort_blob(name, given, family, cite)

        def piece(text: str | None, part: Name_Part | None) -> Blob | None:
            if not text:
                return None
            if part is not None:
                text = part.cased(text, cite)
            if cite.terms.smart:
                text = typographic_spaces(text)
            parsed = parse_markup(text, cite.terms)  # rich text and apostrophes in names too
            blob = Blob(parsed)
            if part is not None:
                part.decorate(blob, cite, affixes=False, case=False)
            return blob

        given_blob = piece(given, given_part)
        family_blob = piece(family, family_part)
        ndp = piece(name.get("non-dropping-particle"), family_part)
        dp = piece(name.get("dropping-particle"), given_part) if given_blob is not None else None
        suffix_text = name.get("suffix") if given_blob is not None else None
        suffix = None
        if suffix_text:
            if terminator is not None:
                suffix_text = initialize_with(suffix_text, terminator, True)
            trailing = ""
            if suffix_text.endswith("."):
                suffix_text, trailing = suffix_text[:-1], "."
            suffix = Blob(suffix_text, suffix=trailing)
        sort_separator = self.option("sort-separator", cite) or ""
        suffix_separator = ", " if name.get("comma-suffix") else " "
        romanesque = _romanesque(name, cite.item_lang)
        hyphenated = bool(ndp is not None and ndp.text()[-1:] in ("\u2019", "'", "-", " "))
        # citeproc-js ties particles to the family name with a no-break space in French,
        # Russian and Czech output ("de\u00a0La Fontaine").
        space = "\u00a0" if cite.terms.smart and cite.output_lang in ("fr", "ru", "cs") else " "
        demote = self.get_root().get("demote-non-dropping-particle", "display-and-sort")

        def join(parts: list[Blob | None], delimiter: str) -> Blob | None:
            kept = [p for p in parts if p is not None]
            if not kept:
                return None
            if len(kept) == 1:
                return kept[0]
            return Blob(kept, delimiter=delimiter)

        def affix(blob: Blob | None, part: Name_Part | None) -> Blob | None:
            if blob is None or part is None:
                return blob
            prefix, suffix_ = part.get("prefix"), part.get("suffix")
            if prefix or suffix_:
                blob = Blob([blob], prefix=prefix or "", suffix=suffix_ or "")
            return blob

        first: Blob | None
        second: Blob | None
        inverted = form != "short" and self.is_inverted(position, cite)
        if romanesque == 0 and not inverted:
            # CJK names print family then given, no space (name_AsianGlyphs); inverted, the
            # style's sort-separator still applies.
            return join([ndp, family_blob, given_blob], "")
        if romanesque == 1 or name.get("static-ordering"):
            return join([join([ndp, family_blob], space), given_blob], " ")
        if inverted:
            if demote in ("display-and-sort", "always"):
                second = join([given_blob, dp], " ")
                second = join([second, ndp], " ")
                second = affix(second, given_part)
                return join([join([affix(family_blob, family_part), second], sort_separator), suffix],
                            sort_separator)
            first = join([ndp, family_blob], "" if hyphenated else space)
            first = affix(first, family_part)
            second = affix(join([given_blob, dp], " "), given_part)
            return join([join([first, second], sort_separator), suffix], sort_separator)
        if dp is not None and family_blob is not None and ndp is None:
            particle = dp.text()
            if particle[-1:] in ("'", "\u02bc", "\u2019", "-") and particle[:-1] != "de":
                family_blob = join([dp, family_blob], "")
                dp = None
        second = join([dp, join([ndp, family_blob], "")], space) if hyphenated else join([dp, ndp, family_blob], space)
        second = join([second, suffix], suffix_separator)
        second = affix(second, family_part)
        given_blob = affix(given_blob, given_part)
        return join([given_blob, second], " ")

    def sort_blob(self, name: NameValue, given: str | None, family: str | None, cite: Cite) -> Blob:
        """A name as a sort key: family first, particles placed as the style's
        demote-non-dropping-particle says (and tied with a no-break space in French output,
        as citeproc-js sorts "de La Fontaine" after "De l’autre")."""
        demote = self.get_root().get("demote-non-dropping-particle", "display-and-sort")
        ndp = (name.get("non-dropping-particle") or "").replace("'", "").replace("\u2019", "")
        dp = (name.get("dropping-particle") or "").replace("'", "").replace("\u2019", "")
        tie = "\u00a0" if cite.terms.smart and cite.output_lang in ("fr", "ru", "cs") else " "
        if demote == "never":
            head = tie.join(p for p in (ndp, family or "") if p)
            tail = " ".join(p for p in (dp, given or "") if p)
        else:
            head = family or ""
            tail = " ".join(p for p in (given or "", dp, ndp) if p)
        text = head + ("\x01" + tail if tail else "")
        if name.get("suffix"):
            text += " " + name["suffix"]
        return Blob(_sort_text(text))


def _sort_text(text: str) -> str:
    from zotcurate.render.citations.blobs import strip_markup

    return strip_markup(text)


def _join_names(blobs: list[Blob], delimiter: str, final: Blob | None) -> Blob:
    """citeproc-js's NameOutput._join: delimiters go into the names' suffixes, the "and"
    (if any) is its own blob before the last name."""
    blobs = [b for b in blobs if b is not None]
    if len(blobs) == 1:
        return Blob([blobs[0]])
    wrapped = [Blob([b]) for b in blobs]
    if len(wrapped) == 2:
        if final is None:
            wrapped[0].suffix += delimiter
            return Blob(wrapped)
        return Blob([wrapped[0], final, wrapped[1]])
    last = wrapped.pop()
    for blob in wrapped[: len(wrapped) - (1 if final is not None else 0)]:
        blob.suffix += delimiter
    parts = [*wrapped, *([final] if final is not None else []), last]
    return Blob(parts)


class Name_Part(Rich, model.Name_Part):
    def cased(self, text: str, cite: Cite) -> str:
        case = self.get("text-case")
        if case and not (case == "title" and not cite.lang.startswith("en")):
            text = text_case(text, case, cite.lang)
        if self.get("strip-periods", "false") == "true":
            text = strip_periods(text)
        return text

    def decorate(self, blob: Blob, cite: Cite, affixes: bool = True, case: bool = True) -> Blob:
        if case and isinstance(blob.blobs, str):
            blob.blobs = self.cased(blob.blobs, cite)
        for attribute, decoration in FORMATTING:
            value = self.get(attribute)
            if value is not None:
                blob.decorations.append((decoration, value))
        if affixes:
            blob.prefix = self.get("prefix", "")
            blob.suffix = self.get("suffix", "")
        return blob


class Et_Al(Rich, model.Et_Al):
    def term_blob(self, cite: Cite) -> Blob | None:
        text = term_text(self, self.get("term", "et-al"))
        if not text:
            return None
        blob = Blob(text)
        self.format(blob)
        prefix, suffix = self.get("prefix"), self.get("suffix")
        if prefix or suffix:
            blob = Blob([blob], prefix=prefix or "", suffix=suffix or "")
        return Blob([blob])


class Names(Rich, model.Names):
    def _calls_variable(self) -> bool:
        return True

    def children_of(self, context: Any) -> tuple[Any, Et_Al | None, Any]:
        source = context if context is not None else self
        cache = source.__dict__.setdefault("_names_children", None)
        if cache is None:
            name = next((c for c in source.iterchildren() if isinstance(c, Name)), None)
            if name is None:
                name = next((c for c in source.iterchildren() if c.tag.endswith("}name")), None)
            et_al = next((c for c in source.iterchildren() if isinstance(c, Et_Al)), None)
            label = next((c for c in source.iterchildren() if c.tag.endswith("}label")), None)
            cache = source.__dict__["_names_children"] = (name, et_al, label)
        return cache

    def delimiter_between(self) -> str:
        value = self.get("delimiter")
        if value is not None:
            return value
        for ancestor in self.iterancestors():
            tag = ancestor.tag.rsplit("}", 1)[-1]
            if tag in ("citation", "bibliography", "style"):
                found = ancestor.get("names-delimiter")
                if found is not None:
                    return found
        return ""

    def render(self, item: Cite, context: Any = None, sort_options: Any = None, names_context: Any = None,
               **kwargs: Any) -> Blob | None:
        cite = item
        if cite.dates_only:
            return None
        if cite.skip_first_names and cite.names_seen == 0 and names_context is None:
            cite.names_seen += 1
            raise VariableError("names")
        index = cite.names_seen
        cite.names_seen += 1
        leading = cite.area == "bibliography" and not cite.term_predecessor and cite.author_substitute is None
        name, et_al, label = self.children_of(names_context)
        if name is None:
            raise VariableError("names")
        root = self.get_root()
        style_object = root.__dict__.get("style_object")
        institutions_formatted = getattr(style_object, "institution_formatting", True)
        variables = self.get("variable", "").split()
        reference = cite.reference
        lists: list[tuple[str, list[NameValue]]] = []
        for variable in variables:
            values = None if variable in cite.suppressed else reference.get(variable)
            if cite.tried(variable, values) and values:
                lists.append((variable, values))
        if len(lists) == 2 and {v for v, _ in lists} == {"editor", "translator"} and lists[0][1] == lists[1][1] \
                and term_text(self, "editortranslator"):
            lists = [("editortranslator", lists[0][1])]
        outputs: list[Blob] = []
        total = 0
        for variable, values in lists:
            blob, count = name.render_list(values, cite, variable, index, et_al, institutions_formatted)
            total += count
            if blob is None:
                continue
            if leading and cite.author_substitute is None:
                cite.author_substitute = {"ids": [_identity(n) for n in values[:len(cite.last_name_blobs)]],
                                          "list": blob, "names": list(cite.last_name_blobs)}
            # cs:name's formatting and affixes belong to the list of names, not to its label.
            name.format(blob)
            name_prefix, name_suffix = name.get("prefix"), name.get("suffix")
            if name_prefix or name_suffix:
                blob = Blob([blob], prefix=name_prefix or "", suffix=name_suffix or "")
            if label is not None and cite.area != "sort" and name.option("form", cite) != "count":
                label_blob = _label(label, variable, len(values), cite)
                if label_blob is not None:
                    children = list(label.getparent().iterchildren())
                    before = children.index(label) < children.index(name) if name in children else False
                    blob = Blob([label_blob, blob] if before else [blob, label_blob])
            outputs.append(blob)
        if name.option("form", cite) == "count":
            if not total:
                if lists:
                    raise VariableError("names")
                return self.substitute_or_none(cite, context, sort_options)
            return self.finish(Blob(str(total) if cite.area != "sort" else str(total).zfill(8), num=total), cite)
        if not outputs:
            result = self.substitute_or_none(cite, context, sort_options)
            if leading and result is not None and cite.author_substitute is None:
                cite.author_substitute = {"ids": [result.text()], "list": result, "names": [result]}
            return result
        blob = outputs[0] if len(outputs) == 1 else Blob(outputs, delimiter=self.delimiter_between())
        result = self.finish(blob, cite)
        if result is not None and cite.first_names is None and cite.area != "sort":
            cite.first_names = result
            cite.first_names_text = result.text()
        return result

    def substitute_or_none(self, cite: Cite, context: Any, sort_options: Any) -> Blob | None:
        substitute = next((c for c in self.iterchildren() if isinstance(c, Substitute)), None)
        if substitute is None:
            return None
        blob = substitute.render(cite, context=context, sort_options=sort_options)
        if blob is None:
            return None
        result = self.finish(blob, cite)
        if result is not None and cite.first_names is None and cite.area != "sort":
            cite.first_names = result
            cite.first_names_text = result.text()
        return result


def _identity(name: NameValue) -> str:
    if name.is_literal:
        return name["literal"]
    return "|".join(name.get(k) or "" for k in ("family", "given", "non-dropping-particle", "dropping-particle",
                                                 "suffix"))


def _label(label: Any, variable: str, count: int, cite: Cite) -> Blob | None:
    """The label of a name list (its term; title case whatever the item's language)."""
    option = label.get("plural", "contextual")
    plural = option == "always" or (option == "contextual" and count > 1)
    form = label.get("form", "long")
    text = term_text(label, variable, None if form == "long" else form, plural)
    if not text:
        return None
    return label.finish(Blob(text), cite)


class Substitute(Rich, model.Substitute):
    def candidates(self, element: Any, cite: Cite) -> Any:
        """The rendering elements to try in turn: a cs:choose counts as its matching branch's
        elements, one by one (citeproc-js; chicago-author-date's editors inside a choose)."""
        for child in element.iterchildren():
            if child.tag.endswith("}choose"):  # by tag: the element classes live in elements.py
                for branch in child.iterchildren():
                    if branch.tag.endswith(("}if", "}else-if")) and not branch.matches(cite, None):
                        continue
                    if branch.tag.endswith(("}if", "}else-if", "}else")):
                        yield from self.candidates(branch, cite)
                        break
            elif isinstance(child, Rich):
                yield child

    def render(self, item: Cite, context: Any = None, sort_options: Any = None, **kwargs: Any) -> Blob | None:
        """The first element that renders; every variable it rendered is suppressed in the
        rest of the entry. citeproc-py only suppressed a child that names a variable itself,
        so a substituted macro (APA, Chicago: <text macro="title"/>) printed the title twice.
        A cs:names without cs:name here takes the enclosing cs:names' name, et-al and label."""
        parent = self.getparent()
        for child in self.candidates(self, item):
            record: list[str] = []
            item.recording.append(record)
            try:
                if isinstance(child, Names) and next((c for c in child.iterchildren() if isinstance(c, Name)),
                                                     None) is None:
                    text = child.render(item, context=context, sort_options=sort_options, names_context=parent)
                else:
                    text = child.render(item, context=context, sort_options=sort_options)
            except VariableError:
                continue
            finally:
                item.recording.pop()
            if text is not None and text.nonempty():
                item.suppressed.update(record)
                for outer in item.recording:
                    outer.extend(record)
                return text
        return None
