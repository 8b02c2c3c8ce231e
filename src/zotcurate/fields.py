"""One meaning per Zotero field: how zotcurate reads and judges the values a documentalist types.

Every layer asks this module, so ``check``, ``links``, the importers (CSL-JSON, BibTeX) and
``render`` give a value the same verdict and read the same thing out of it:

- **DOI** — :func:`read_doi`: a DOI is ``10.`` + a registrant code of 4 to 9 digits, which may
  have dot-separated sub-parts (``10.1000.10``, as the DOI Handbook allows), ``/`` and a suffix without
  spaces. A resolver address (``https://doi.org/``, ``http://dx.doi.org/``), a ``doi:`` prefix,
  BibTeX braces and a trailing ``.``/``,``/``;`` are read through, and reported as things to
  remove. :func:`doi_of` finds the DOI text of an item (its field, else a ``DOI:`` line in Extra),
  :func:`doi_url` turns a bare DOI into a resolver address.
- **URL** — :func:`url_problem`: an absolute ``http``/``https`` address with a real host name,
  no spaces, a port from 1 to 65535. Only those can be audited by ``links`` or followed by a
  reader of the bibliography, so ``check`` asks the same (``ftp://`` is refused by both).
- **ISBN, ISSN** — :func:`isbn_problems`, :func:`issn_problems` (check digits by python-stdnum),
  :func:`isbn13_of` (the first valid ISBN of the field, as a compact ISBN-13, for duplicates).
- **Dates** — :func:`parse_date`, the one date reader: ISO forms, ``d/m/y``, month names in
  English and French, seasons and Zotero's ``"2020-03-05 5 mars 2020"`` form. It returns a
  :class:`ParsedDate` with the real parts it read (an impossible day or month is not read) and a
  ``problem`` sentence when ``check`` should complain. :data:`FRENCH_MONTHS`,
  :func:`month_number`: the one month table; :func:`date_range` splits ``2019/2020``.
- **Extra** — :func:`parse_extra` reads ``key: value`` lines (and citeproc-js's
  ``{:key: value}``) once for everyone; :func:`extra_lines` is the by-key view.
- **Title and date of an item** — :func:`title_of`, :func:`date_of` follow the schema's base
  fields (``caseName``, ``nameOfAct``, ``subject`` are the title of their types; ``dateDecided``,
  ``dateEnacted``, ``issueDate`` the date); :func:`date_fields` lists every date field.
- **Creators** — :func:`creator_name` tells a one-field name (an institution) from a two-field
  one; :func:`normalise_title` is Zotero's comparison key for titles and names.

Results are plain values (dataclasses are frozen), and every function depends on its arguments only (``parse_date``
also on today's date, for its "in the future" problem, unless ``today`` is given). The readings
that repeat across a library (dates, DOIs, ISBNs) are cached.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from stdnum import isbn as stdnum_isbn
from stdnum import issn as stdnum_issn
from stdnum.exceptions import InvalidChecksum, ValidationError

from zotcurate.zschema import load_schema

# -- dates ---------------------------------------------------------------------------------

FRENCH_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                 "octobre", "novembre", "décembre")
# Month names Zotero reads: English plus the fr-FR UI locale, full and abbreviated, with and
# without accents (abbreviations may end with a dot; month_number drops it).
_MONTH_WORDS = (
    ("january", "jan", "janv"),
    ("february", "feb", "févr", "fevrier", "fevr", "fév", "fev"),
    ("march", "mar"),
    ("april", "apr", "avr"),
    ("may",),
    ("june", "jun"),
    ("july", "jul", "juil"),
    ("august", "aug", "aout"),
    ("september", "sep", "sept"),
    ("october", "oct"),
    ("november", "nov"),
    ("december", "dec", "déc", "decembre"),
)
_MONTHS = {word: i for i, words in enumerate(_MONTH_WORDS, start=1) for word in (*words, FRENCH_MONTHS[i - 1])}
_SEASONS = frozenset({"spring", "summer", "autumn", "fall", "winter", "printemps", "été", "ete", "automne", "hiver"})
# Words a date may hold besides its parts ("1er", "circa 1990", "5 of March").
_DATE_FILLERS = frozenset({"er", "c", "ca", "circa", "vers", "the", "of", "de", "du", "le"})
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_ISO_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$")
_NUMERIC = re.compile(r"^(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})$")
_MULTIPART = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\S.*)$")  # Zotero's stored "2020-03-05 5 mars 2020"
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_DATE_TOKENS = re.compile(r"[^\W\d_]+\.?|\d+(?:er|e|st|nd|rd|th)?", re.UNICODE)
_ORDINAL = re.compile(r"^(\d{1,2})(?:er|e|st|nd|rd|th)?$")
_SEASON_TRIM = re.compile(r"^[\s,.;:/-]+|[\s,.;:/-]+$")


def month_number(word: str) -> int | None:
    """1–12 for a month name or abbreviation in English or French (``mars``, ``Sept.``), or a number."""
    w = word.strip().rstrip(".").casefold()
    if w.isdigit():
        return int(w) if 1 <= int(w) <= 12 else None
    return _MONTHS.get(w)


def _real(y: int, m: int | None = None, d: int | None = None) -> bool:
    if m is not None and not 1 <= m <= 12:
        return False
    return d is None or (m is not None and 1 <= d <= calendar.monthrange(y, m)[1])


@dataclass(frozen=True)
class ParsedDate:
    """What a date field says. ``year``/``month``/``day`` are the real parts read (None when
    absent or impossible); ``season`` is the leftover text of a date without a month
    ("printemps"); ``iso`` tells ``YYYY[-MM[-DD]]`` (optionally with a time); ``problem`` is why
    ``check`` rejects the value, "" when it is a good date."""

    year: int | None = None
    month: int | None = None
    day: int | None = None
    season: str = ""
    iso: bool = False
    problem: str = ""

    @property
    def parts(self) -> tuple[int, ...]:
        """``(year, month, day)`` as far as they are known: ``(2020,)``, ``(2020, 3)`` …; () without a year."""
        if self.year is None:
            return ()
        if self.month is None:
            return (self.year,)
        return (self.year, self.month) if self.day is None else (self.year, self.month, self.day)

    @property
    def ok(self) -> bool:
        return self.year is not None and not self.problem


def parse_date(text: str, *, today: date | None = None) -> ParsedDate:
    """Read a Zotero date. A year later than next year (from ``today``) is read but is a problem;
    so are an impossible calendar date, words that are not part of a date, and no year at all."""
    return _parse_date(text, (today or date.today()).year + 1)


@lru_cache(maxsize=65536)
def _parse_date(text: str, max_year: int) -> ParsedDate:
    # a library holds few distinct date strings ("2024-03"…): read each once
    value = text.strip()
    if not value:
        return ParsedDate(problem="is empty")
    parsed = _read_date(value)
    if parsed.problem or parsed.year is None:
        return parsed
    if parsed.year > max_year:
        return _with_problem(parsed, f"is in the future ({parsed.year})")
    if parsed.year < 1000:
        return _with_problem(parsed, f"has no plausible year ({parsed.year})")
    return parsed


def _with_problem(parsed: ParsedDate, problem: str) -> ParsedDate:
    return ParsedDate(parsed.year, parsed.month, parsed.day, parsed.season, parsed.iso, problem)


def _real_parts(value: str, y: int, m: int | None, d: int | None, iso: bool, season: str = "") -> ParsedDate:
    """The parts that exist on a calendar, and a problem when some do not."""
    if _real(y, m, d):
        return ParsedDate(y, m, d, season, iso)
    month = m if m is not None and 1 <= m <= 12 else None
    return ParsedDate(y, month, None, season if month is None else "", iso,
                      f"'{value}' is not a real calendar date")


def _read_date(value: str) -> ParsedDate:
    if m := _ISO.match(value) or _ISO_TIME.match(value):
        return _real_parts(value, int(m[1]), int(m[2]) if m[2] else None, int(m[3]) if m[3] else None, iso=True)
    if m := _MULTIPART.match(value):
        # Zotero's "SQL date + what the user typed"; 00 stands for an unknown month or day.
        y, mo, d = int(m[1]), int(m[2]) or None, int(m[3]) or None
        season = _read_date(m[4]).season if mo is None else ""
        return _real_parts(value, y, mo, d if mo else None, iso=False, season=season)
    if n := _NUMERIC.match(value):
        a, b, c = (int(g) for g in n.groups())
        if len(n[1]) == 4:  # 2020/03/05, 2020-3-5
            return _real_parts(value, a, b, c, iso=False)
        y = c if len(n[3]) == 4 else 2000 + c if c < 100 else c
        # 05/03/2020 is read day first (fr-FR, as Zotero in a French UI); 03/15/2020 only fits month first.
        if not _real(y, b, a) and _real(y, a, b):
            return ParsedDate(y, a, b)
        return _real_parts(value, y, b, a, iso=False)
    years = list(_YEAR.finditer(value))
    if not years:
        return ParsedDate(problem=f"'{value}' has no year")
    first = years[0]
    y = int(first[1])
    rest = value[:first.start()] + " " + value[first.end():]
    tokens = [(t, t.rstrip(".").casefold()) for t in _DATE_TOKENS.findall(rest)]
    month = next((_MONTHS[w] for _, w in tokens if w in _MONTHS), None)
    day = None
    if month is not None:  # the day is the first number of one or two digits ("5", "1er", "5th")
        day = next((int(o[1]) for t, _ in tokens if (o := _ORDINAL.match(t))), None)
    strange = [w for _, w in tokens if not w[:1].isdigit() and w not in _MONTHS and w not in _SEASONS
               and w not in _DATE_FILLERS]
    season = "" if month else _SEASON_TRIM.sub("", rest)
    parsed = _real_parts(value, y, month, day, iso=False, season=season)
    if strange and not parsed.problem:
        return _with_problem(parsed, f"'{value}' is not a date Zotero can read")
    return parsed


# A date range as people type it: "2019/2020" (ISO 8601), "2019 - 2020", "2019–2020", "mars--mai 2020" is not one.
_RANGE = re.compile(r"^\s*(\S.*?)\s*(?:/|\s[-–—]\s|–|—|--)\s*(\S.*?)\s*$")
_YEAR_RANGE = re.compile(r"^\s*(\d{4})-(\d{4})\s*$")


def date_range(text: str) -> tuple[str, str] | None:
    """The two ends of a date range (``2020-03/2020-05``, ``2019 - 2020``, ``2019-2020``), each a date
    with a year, or None for a single date (``05/03/2020`` is one: "05" has no year)."""
    m = _YEAR_RANGE.match(text) or _RANGE.match(text)
    if not m or _ISO.match(text.strip()):
        return None
    if parse_date(m[1]).year is None or parse_date(m[2]).year is None:
        return None
    return m[1], m[2]


@cache
def _fields_with_base(base: str) -> tuple[str, ...]:
    schema = load_schema()
    mapped = {f for t in schema.item_types for f, b in schema.base_fields(t).items() if b == base}
    return (base, *sorted(mapped))


@cache
def date_fields() -> tuple[str, ...]:
    """Every date field of the schema: ``date``, the fields mapped to it, and ``filingDate``."""
    return tuple(dict.fromkeys((*_fields_with_base("date"), *sorted(load_schema().date_fields))))


def title_of(data: Mapping[str, Any]) -> str | None:
    """The item's title: ``title`` or the field its type keeps it in (``caseName``, ``nameOfAct``, ``subject``)."""
    for name in _fields_with_base("title"):
        if value := data.get(name):
            return str(value)
    return None


def date_of(data: Mapping[str, Any]) -> str | None:
    """The item's date: ``date`` or its type's own (``dateDecided``, ``dateEnacted``, ``issueDate``)."""
    for name in _fields_with_base("date"):
        if value := data.get(name):
            return str(value)
    return None


# -- DOI -----------------------------------------------------------------------------------

DOI_RESOLVER = "https://doi.org/"
_DOI = re.compile(r"^10\.\d{4,9}(?:\.\d+)*/\S+$")
_DOI_PREFIX = re.compile(r"^(?:(?:https?://)?(?:dx\.|www\.)?doi\.org/|doi(?::\s*|\s+))", re.IGNORECASE)
_DOI_TRAILING = re.compile(r"[.,;]+$")
DOI_PROBLEM = "is not a DOI (a DOI looks like 10.1234/abc)"


@dataclass(frozen=True)
class DoiReading:
    """What a DOI field holds: ``doi`` is the bare DOI (None when the text holds none);
    ``removed`` says what had to be read through to find it ("the prefix 'doi:'"), "" if nothing."""

    doi: str | None
    removed: str = ""

    @property
    def problem(self) -> str | None:
        return None if self.doi else DOI_PROBLEM


@lru_cache(maxsize=65536)
def read_doi(text: str) -> DoiReading:
    """Read a DOI field: ``10.1234/abc``, ``doi:10.1234/abc``, ``https://doi.org/10.1234/abc``,
    ``{10.1234/abc}`` (BibTeX), with a stray ``.`` at the end …"""
    value = text.strip()
    removed: list[str] = []
    while len(value) > 1 and value[0] == "{" and value[-1] == "}":
        value = value[1:-1].strip()
        removed.append("the braces")
    if m := _DOI_PREFIX.match(value):
        value = value[m.end():].strip()
        removed.append(f"the prefix '{m[0].strip()}'")
    if m := _DOI_TRAILING.search(value):
        value = value[:m.start()]
        removed.append(f"the trailing '{m[0]}'")
    if not _DOI.match(value):
        return DoiReading(None)
    return DoiReading(value, " and ".join(dict.fromkeys(removed)))


def doi_url(doi: str, resolver: str = DOI_RESOLVER) -> str:
    """The address of a bare DOI at a resolver (characters a URL cannot carry are %-encoded)."""
    return resolver + quote(doi, safe="/:;()._-<>[]")


def doi_of(data: Mapping[str, Any]) -> str | None:
    """The DOI text of an item as typed: its DOI field, else a ``DOI:`` line in Extra (older types)."""
    if value := str(data.get("DOI") or "").strip():
        return value
    extra = str(data.get("extra") or "")
    if "doi" not in extra.casefold():  # the usual case, decided without reading the lines
        return None
    return next((v for v in extra_lines(extra).get("doi", ()) if v), None)


# -- URL -----------------------------------------------------------------------------------

_HOST = re.compile(r"[\w.:\-\[\]]+")
# The common, valid shape of a web address; anything else gets the detailed checks.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[/?#][^\s<>\"{}|\\^`]*)?")
_URL_BAD = re.compile(r'[\s<>"{}|\\^`]')


def url_problem(url: str) -> str | None:
    """Why ``url`` is not an address a reader (or ``links``) can follow, or None.

    Asked of a URL field by ``check`` (url-syntax), ``links`` (verdict ``invalid``, also for
    redirect targets) and ``render`` (an access link is only made to a good address)."""
    if _PLAIN_URL.fullmatch(url) and ".." not in url.split("/", 3)[2]:
        return None
    if bad := _URL_BAD.search(url):
        if bad.group(0).isspace():
            return "contains spaces (encode them as %20)"
        return "contains characters not allowed in a URL"
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed [IPv6] host
        return "is not a valid URL"
    try:
        port = parts.port  # raises on a port that is not a number or above 65535
    except ValueError:
        port = 0
    if parts.scheme.lower() not in ("http", "https"):
        return f"should start with https:// (scheme '{parts.scheme or 'none'}')"
    host = parts.hostname or ""
    if not host:
        return "has no host name"
    if not (host == "localhost" or "." in host or ":" in host) or host.startswith(".") or ".." in host:
        return f"has an invalid host name '{host}'"
    if not _HOST.fullmatch(host):
        return f"has an invalid host name '{host}'"
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    return None


# -- ISBN, ISSN ----------------------------------------------------------------------------

_ID_SEPARATORS = re.compile(r"[,;/]|\s{2,}")


def _identifier_parts(value: str, module: Any) -> list[str]:
    """The numbers of an ISBN or ISSN field: "978-… ; 2-07-…" or "978-… 2070368228" (several
    numbers separated by spaces) hold two; "978 2 07 036822 8" (one number with spaces) one."""
    out: list[str] = []
    for part in (p.strip() for p in _ID_SEPARATORS.split(value) if p.strip()):
        if " " in part and not module.is_valid(part):
            out += part.split()
        else:
            out.append(part)
    return out


@lru_cache(maxsize=65536)
def _identifier_problems(value: str, label: str) -> tuple[str, ...]:
    # journals' ISSNs and series' ISBNs repeat across a library: validate each value once
    module = stdnum_isbn if label == "ISBN" else stdnum_issn
    problems = []
    for candidate in _identifier_parts(value, module):
        try:
            module.validate(candidate)
        except InvalidChecksum:
            problems.append(f"The {label} '{candidate}' has a wrong check digit; retype it from the document.")
        except ValidationError:
            problems.append(f"'{candidate}' is not an {label} (wrong length or characters).")
    return tuple(problems)


def isbn_problems(value: str) -> tuple[str, ...]:
    """One sentence per number of an ISBN field that is not a valid ISBN-10 or ISBN-13."""
    return _identifier_problems(value.strip(), "ISBN")


def issn_problems(value: str) -> tuple[str, ...]:
    """One sentence per number of an ISSN field that is not a valid ISSN."""
    return _identifier_problems(value.strip(), "ISSN")


def isbn13_of(value: str) -> str | None:
    """The first valid ISBN of an ISBN field as a compact ISBN-13 (ISBN-10 and -13 of a book compare equal)."""
    for candidate in _identifier_parts(value, stdnum_isbn):
        try:
            return str(stdnum_isbn.compact(stdnum_isbn.to_isbn13(stdnum_isbn.validate(candidate))))
        except ValidationError:
            continue
    return None


# -- Extra ---------------------------------------------------------------------------------

# "Key Name: value" (Zotero) or "{:csl-key: value}" (citeproc-js's older "cheater syntax").
_EXTRA_FIELD = re.compile(r"^(?:\{:([\w .-]+):\s*(.*)\}|([^\s:{][^:]*?)\s*:\s*(.*))$")


@dataclass(frozen=True)
class ExtraLine:
    """One line of Extra: ``key`` and ``value`` trimmed (key "" for a line that is not ``key: value``)."""

    text: str
    key: str = ""
    value: str = ""


def parse_extra(extra: str) -> list[ExtraLine]:
    """The lines of an Extra field (or a CSL note), each read as ``key: value`` when it is one."""
    out = []
    for line in extra.split("\n"):
        m = _EXTRA_FIELD.match(line.strip())
        if m is None:
            out.append(ExtraLine(line))
        elif m[1] is not None:
            out.append(ExtraLine(line, m[1].strip(), m[2].strip()))
        else:
            out.append(ExtraLine(line, m[3].strip(), m[4].strip()))
    return out


def extra_lines(extra: str) -> dict[str, list[str]]:
    """Extra's ``key: value`` lines by key (case-folded), values in order."""
    out: dict[str, list[str]] = {}
    for line in parse_extra(extra):
        if line.key:
            out.setdefault(line.key.casefold(), []).append(line.value)
    return out


# -- creators and titles -------------------------------------------------------------------

_PUNCT = re.compile(r"[ !-/:-@\[-`{-~]+")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


@dataclass(frozen=True)
class CreatorName:
    """A Zotero creator's name as typed: ``single`` for a one-field name (``name``, an
    institution), whose text is in ``last``; else ``last`` and ``first`` names."""

    single: bool
    last: str
    first: str = ""

    @property
    def empty(self) -> bool:
        """No name at all (a two-field creator needs a last name)."""
        return not self.last.strip()


def creator_name(creator: Mapping[str, Any]) -> CreatorName:
    """Read a creator of the Zotero API (``name``, or ``lastName`` + ``firstName``; ``fieldMode`` 1
    is the one-field form of Zotero's database)."""
    if "name" in creator:
        return CreatorName(True, str(creator.get("name") or ""))
    last, first = str(creator.get("lastName") or ""), str(creator.get("firstName") or "")
    if creator.get("fieldMode") == 1 and not first:
        return CreatorName(True, last)
    return CreatorName(False, last, first)


def normalise_title(text: str) -> str:
    """Zotero's duplicate key for titles and names: no diacritics, ASCII punctuation as spaces, lower case."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return _PUNCT.sub(" ", text).strip().lower()
