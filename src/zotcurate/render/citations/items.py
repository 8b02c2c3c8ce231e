"""CSL-JSON items made safe for the engine: cleaned values, one bad item reported alone.

citeproc-py's own reader (``citeproc.source.json``) knows the CSL 1.0 variables only, so
CSL 1.0.2 ones (``volume-title``, ``part-title``, ``reviewed-title``, ``event-title``…) were
dropped with a warning, and it keeps neither the season nor ``circa`` of a date. Items
here keep every CSL variable, read dates fully (seasons, circa, ranges, literal and raw
dates) and parse name particles as citeproc-js does ("van Gogh" → particle "van").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citeproc.source import VariableError

NAME_VARIABLES = frozenset({
    "author", "chair", "collection-editor", "compiler", "composer", "container-author", "contributor", "curator",
    "director", "editor", "editor-translator", "editorial-director", "executive-producer", "guest", "host",
    "illustrator", "interviewer", "narrator", "organizer", "original-author", "performer", "producer",
    "recipient", "reviewed-author", "script-writer", "series-creator", "translator"})
DATE_VARIABLES = frozenset({"accessed", "available-date", "event-date", "issued", "original-date", "submitted",
                            "container"})
NUMBER_VARIABLES = frozenset({
    "chapter-number", "citation-number", "collection-number", "edition", "first-reference-note-number", "issue",
    "locator", "number", "number-of-pages", "number-of-volumes", "page", "page-first", "part-number",
    "printing-number", "section", "supplement-number", "version", "volume"})
TEXT_VARIABLES = frozenset({
    "collection-title", "container-title", "original-title", "part-title", "reviewed-title", "title",
    "volume-title", "title-short", "container-title-short", "volume-title-short", "abstract", "annote", "archive",
    "archive_collection", "archive_location", "archive-place", "authority", "call-number", "citation-key",
    "citation-label", "dimensions", "division", "DOI", "event", "event-title", "event-place", "genre", "ISBN",
    "ISSN", "jurisdiction", "keyword", "language", "license", "medium", "note", "original-publisher",
    "original-publisher-place", "PMCID", "PMID", "publisher", "publisher-place", "references", "reviewed-genre",
    "scale", "source", "status", "URL", "year-suffix"}) | NUMBER_VARIABLES
# Zotero / CSL-JSON spellings of the short forms.
_ALIASES = {"shortTitle": "title-short", "journalAbbreviation": "container-title-short",
            "archive-location": "archive_location", "archive-collection": "archive_collection"}
_NAME_KEYS = ("family", "given", "dropping-particle", "non-dropping-particle", "suffix")
_ET_AL_LINE = re.compile(r"^\s*bib-et-al\s*:\s*true\s*$", re.IGNORECASE | re.MULTILINE)
_RAW_DATE = re.compile(r"^(-?\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_RAW_RANGE = re.compile(r"^(-?\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?\s*/\s*(-?\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
# Control characters cannot be typeset (and Word refuses them); lone surrogates (from broken
# JSON escapes) cannot be encoded at all. Line breaks and tabs inside a field are spaces.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\t\n\r]")
_SEASONS = {"spring": 1, "summer": 2, "autumn": 3, "fall": 3, "winter": 4}


class ItemError(Exception):
    """An item that cannot be formatted at all; the message completes "it …"."""


_SPELLINGS: dict[str, str] = {}  # "page_first" → "page-first": a fixed vocabulary, filled once


class Reference(dict):
    """One item's variables. Attribute and item access raise citeproc-py's VariableError
    for a missing variable (which its elements catch); "_" and "-" spellings both work."""

    def __init__(self, key: str, csl_type: str, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.__dict__["key"] = key
        self.__dict__["type"] = csl_type

    # Variables are stored under their CSL names; citeproc-py's own code spells some of them
    # with "_" (archive_location stays as CSL spells it).
    def __getitem__(self, name: str) -> Any:
        try:
            return dict.__getitem__(self, name)
        except KeyError:
            pass
        spelling = _SPELLINGS.get(name)
        if spelling is None:
            spelling = _SPELLINGS[name] = name.replace("_", "-") if name not in TEXT_VARIABLES else name
        try:
            return dict.__getitem__(self, spelling)
        except KeyError:
            raise VariableError(name) from None

    def __getattr__(self, name: str) -> Any:
        return self[name]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return dict.__getitem__(self, name)
        except KeyError:
            try:
                return self[name]
            except VariableError:
                return default

    def __repr__(self) -> str:
        return f"Reference({self.key})"


class Name(dict):
    """A personal name (family, given, particles, suffix) or a literal (institution) name."""

    @property
    def is_literal(self) -> bool:
        return "literal" in self

    def parts(self) -> tuple[str | None, str | None, str | None, str | None, str | None]:
        if "literal" in self:
            return None, self["literal"], None, None, None
        return (self.get("given"), self.get("family"), self.get("dropping-particle"),
                self.get("non-dropping-particle"), self.get("suffix"))


@dataclass(frozen=True)
class DatePart:
    year: int | None = None
    month: int | None = None
    day: int | None = None
    season: int | str | None = None

    def is_empty(self) -> bool:
        return self.year is None and self.month is None and self.day is None and self.season is None


@dataclass(frozen=True)
class DateValue:
    """A CSL date: one part, or a range (``end`` set); or a literal text."""

    begin: DatePart = field(default_factory=DatePart)
    end: DatePart | None = None
    circa: bool = False
    literal: str | None = None

    def sort_key(self) -> str:
        if self.literal is not None and self.begin.is_empty():
            return ""

        def one(part: DatePart) -> str:
            year = part.year if part.year is not None else 0
            month = part.month or 0
            if not month and isinstance(part.season, int):
                month = 12 + part.season  # seasons sort after months, as citeproc-js does
            return f"{year + 10000:05d}{month:02d}{part.day or 0:02d}"

        key = one(self.begin)
        if self.end is not None:
            key += one(self.end)
        else:
            key += "0" * 9
        return key


def clean_text(value: Any, keep_lines: bool = False) -> str:
    # Zotero trims its fields; stray outer spaces would show before delimiters. Notes and
    # abstracts keep their line breaks (citeproc-js prints them); elsewhere they are spaces.
    text = _UNPRINTABLE.sub("", str(value))
    if keep_lines:
        return text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").strip()
    return _LINE_BREAKS.sub(" ", text).strip()


def _parse_particles(name: dict[str, str]) -> None:
    """citeproc-js's CSL.parseParticles: lowercase words leading the family name become the
    non-dropping particle, trailing lowercase words of the given name the dropping one,
    and a comma in the given name starts a suffix ("John, Jr.")."""
    family = name.get("family", "")
    particles = []
    while True:
        match = re.match(r"^([^ ]+(?:-|\u02bb|\u2019| |') *)(.+)$", family)
        if not match:
            break
        head = match.group(1)
        first = re.sub(r"^[-'\u02bb\u2019\s]*(.).*$", r"\1", head, flags=re.DOTALL)
        if first.upper() == first:
            break
        particles.append(head)
        family = match.group(2)
    if particles:
        particle = "".join(particles)
        trimmed = particle.strip()
        if particle[-1:] == " " and trimmed[-1:] in ("'", "\u2019"):
            trimmed += " "
        name["family"] = family
        name["non-dropping-particle"] = trimmed
    given = name.get("given", "")
    if "suffix" not in name and given:
        match = re.search(r"(\s*,!*\s*)", given)
        if match:
            suffix = given[match.end():]
            if suffix.replace(".", "") == "et al" and "dropping-particle" not in name:
                name["dropping-particle"] = suffix
            else:
                if len(match.group(1).replace(" ", "")) == 2:
                    name["comma-suffix"] = "true"
                name["suffix"] = suffix
            given = given[:match.start()]
            name["given"] = given
    words = given.split(" ")
    dropping: list[str] = []
    while len(words) > 1 and words[-1] and words[-1][:1].lower() == words[-1][:1] \
            and words[-1][:1].upper() != words[-1][:1]:
        dropping.insert(0, words.pop())
    if dropping and "dropping-particle" not in name:
        name["given"] = " ".join(words)
        name["dropping-particle"] = " ".join(dropping)


def _clean_names(value: Any, variable: str) -> list[Name]:
    if not isinstance(value, list):
        raise ItemError(f"its {variable!r} is not a list of names")
    names = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise ItemError(f"a name in {variable!r} is not an object")
        if entry.get("literal"):
            names.append(Name(literal=clean_text(entry["literal"])))
            continue
        name = {k: clean_text(entry[k]) for k in _NAME_KEYS if entry.get(k) not in (None, "")}
        if not name:
            continue
        family = name.get("family", "")
        if len(family) > 1 and family[0] == '"' and family[-1] == '"':
            name["family"] = family[1:-1]  # quoted: as written, no particle parsing (bugreports_parseName)
        elif ("non-dropping-particle" not in name and "given" in name and "family" in name
              and entry.get("parse-names", True) not in (False, "false", 0)):
            _parse_particles(name)
        for flag in ("comma-suffix", "static-ordering"):
            if entry.get(flag) not in (None, False, "false", 0, ""):
                name[flag] = "true"
        if "family" not in name and "given" in name:
            name["given-only"] = "true"
        names.append(Name(name))
    return names


def _part(numbers: list[Any], variable: str, season: Any = None) -> DatePart:
    values: list[int] = []
    for raw in numbers[:3]:
        text = str(raw).strip()
        if text == "":
            break
        try:
            values.append(int(text))
        except ValueError:
            raise ItemError(f"its {variable!r} has a non-numeric date part") from None
    if not values and season is None:
        raise ItemError(f"its {variable!r} has an empty date")
    year = values[0] if values else None
    month = values[1] if len(values) > 1 else None
    day = values[2] if len(values) > 2 else None
    # A month 13-24 is a season, as citeproc-js reads it: 13-16 (CSL-JSON's convention) and
    # 21-24 (EDTF's) both give spring to winter (date_SeasonRange1-3, date_VariousInvalidDates);
    # any other month or day out of range is dropped with what follows it: the year alone is still right.
    if month is not None and 13 <= month <= 24 and season is None:
        season, month, day = (month - 13) % 4 + 1, None, None
    if month is not None and not 1 <= month <= 12:
        month, day = None, None
    if day is not None and not 1 <= day <= 31:
        day = None
    return DatePart(year, month, day, season)


def _season(value: Any) -> int | str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit() and 1 <= int(text) <= 4:
        return int(text)
    return _SEASONS.get(text.lower(), text)


def _clean_date(value: Any, variable: str) -> DateValue | None:
    if not isinstance(value, Mapping):
        raise ItemError(f"its {variable!r} is not a CSL date object")
    circa = value.get("circa") not in (None, False, 0, "", "0", "false")
    season = _season(value.get("season"))
    parts = value.get("date-parts")
    if parts:
        if not isinstance(parts, list) or not all(isinstance(p, list) for p in parts[:2]):
            raise ItemError(f"its {variable!r} has malformed date-parts")
        usable = [p for p in parts[:2] if p and str(p[0]).strip() != ""]
        if not usable:
            if season is not None:
                return DateValue(DatePart(season=season), circa=circa)
            literal = value.get("literal")
            return DateValue(literal=clean_text(literal), circa=circa) if literal else None
        begin = _part(usable[0], variable, season)
        end = _part(usable[1], variable) if len(usable) > 1 else None
        if end is not None and (end.is_empty() or end == begin):
            end = None
        return DateValue(begin, end, circa)
    raw = str(value.get("raw", "")).strip()
    match = _RAW_DATE.match(raw)
    if match:
        return DateValue(_part([g for g in match.groups() if g is not None], variable, season), circa=circa)
    match = _RAW_RANGE.match(raw)
    if match:
        groups = match.groups()
        begin = _part([g for g in groups[:3] if g is not None], variable)
        end = _part([g for g in groups[3:] if g is not None], variable)
        return DateValue(begin, end, circa)
    literal = value.get("literal") or raw
    if literal:
        return DateValue(literal=clean_text(literal), circa=circa)
    if season is not None:
        return DateValue(DatePart(season=season), circa=circa)
    return None


_NOTE_FIELD = re.compile(r"^([\-_a-z]+|[A-Z]+):\s*([^}]+)$")
_NOTE_FIELDS_INLINE = re.compile(r"\{:(?:[\-_a-z]+|[A-Z]+):[^}]+\}")
_MULTILINE = frozenset({"note", "abstract", "annote"})


def note_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """Zotero's "Extra" cheater syntax as citeproc-js reads it from CSL ``note``: leading
    "key: value" lines set the variable when the item has none (the first line of each key
    only), and leave the note; a "type:" line sets the type."""
    note = item.get("note")
    if not isinstance(note, str) or ":" not in note:
        return dict(item)
    out = dict(item)
    lines = note.split("\n")
    for index, line in enumerate(lines):  # inline {:key: value} forms become lines of their own
        if _NOTE_FIELDS_INLINE.search(line):
            lines[index] = _NOTE_FIELDS_INLINE.sub(lambda m: "\n" + m.group(0)[2:-1].strip() + "\n", line)
    lines = "\n".join(lines).split("\n")
    names: dict[str, list[dict[str, str]]] = {}
    for index, line in enumerate(lines):
        match = _NOTE_FIELD.match(line)
        if not line.strip():
            continue
        if not match:
            if index == 0:
                continue
            break
        key, value = match.group(1), match.group(2).strip()
        if key == "type":
            out["type"] = value
            lines[index] = ""
        elif key in DATE_VARIABLES:
            out[key] = {"raw": value}
            lines[index] = ""
        elif not out.get(key):
            if key in NAME_VARIABLES:
                parts = re.split(r"\s*\|\|\s*", value)
                names.setdefault(key, []).append({"literal": parts[0]} if len(parts) == 1 else
                                                 {"family": parts[0], "given": parts[1]})
            else:
                out[key] = value
            lines[index] = ""
    out.update(names)
    out["note"] = "\n".join(lines).strip()
    return out


def has_et_al_flag(item: Mapping[str, Any]) -> bool:
    flag = item.get("bib-et-al")
    if flag is True or str(flag).lower() == "true":
        return True
    note = item.get("note")
    return isinstance(note, str) and bool(_ET_AL_LINE.search(note))


def prepare(item: Any, key: str, et_al_threshold: tuple[int, int] | None = None) -> Reference:
    """A Reference keyed ``key``; ItemError if the item cannot be used at all."""
    if not isinstance(item, Mapping):
        raise ItemError("it is not a CSL-JSON object")
    csl_type = item.get("type")
    if not isinstance(csl_type, str) or not csl_type.strip():
        raise ItemError("it has no CSL 'type'")
    data: dict[str, Any] = {}
    source = note_fields(item)
    csl_type = source.get("type") if isinstance(source.get("type"), str) and source.get("type") else csl_type
    for name, value in source.items():
        if name in ("id", "type") or value is None or value == "" or value == []:
            continue
        variable = _ALIASES.get(name, name)
        if variable in NAME_VARIABLES:
            names = _clean_names(value, variable)
            if names:
                data[variable] = names
        elif variable in DATE_VARIABLES:
            date = _clean_date(value, variable)
            if date is not None:
                data[variable] = date
        elif isinstance(value, bool):
            continue
        elif isinstance(value, (str, int, float)):
            text = clean_text(value, keep_lines=variable in _MULTILINE)
            if text and (variable not in data or name == variable):
                data[variable] = text
        elif variable in TEXT_VARIABLES:
            raise ItemError(f"its {variable!r} is not text")
    # CSL 1.0.2 renamed "event" "event-title": a style may print either.
    if "event-title" in data and "event" not in data:
        data["event"] = data["event-title"]
    elif "event" in data and "event-title" not in data:
        data["event-title"] = data["event"]
    if "page" in data and "page-first" not in data:
        first = re.split(r"\s*(?:&|, |-|\u2013)\s*", data["page"])[0]
        if first and not first.endswith("\\"):
            data["page-first"] = first
    if et_al_threshold is not None and has_et_al_flag(item) and data.get("author"):
        # The library stores the first authors only and flags the rest. One hidden extra
        # author makes the style's own et-al rule fire; it is only added when the style is
        # sure to cut the list before it.
        et_al_min, use_first = et_al_threshold
        authors = data["author"]
        if use_first <= len(authors) and len(authors) + 1 >= et_al_min:
            data["author"] = [*authors, Name(family="\u2026")]
    return Reference(key, str(csl_type).strip(), data)
