

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date as _date
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from stdnum import isbn as stdnum_isbn
from stdnum import issn as stdnum_issn
from stdnum.exceptions import InvalidChecksum, ValidationError

# -- small parsers -----------------------------------------------------------------

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            (),
            ("january", "jan", "janvier", "janv"),
            ("february", "feb", "février", "fevrier", "févr", "fevr", "fév", "fev"),
            ("march", "mar", "mars"),
            ("april", "apr", "avril", "avr"),
            ("may", "mai"),
            ("june", "jun", "juin"),
            ("july", "jul", "juillet", "juil"),
            ("august", "aug", "août", "aout"),
            ("september", "sep", "sept", "septembre"),
            ("october", "oct", "octobre"),
            ("november", "nov", "novembre"),
            ("december", "dec", "décembre", "decembre", "déc"),
        ]
    )
    for name in names
}
_SEASONS = {"spring", "summer", "autumn", "fall", "winter", "printemps", "été", "ete", "automne", "hiver"}
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_ISO_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$")
_NUMERIC = re.compile(r"^(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})$")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_WORDS = re.compile(r"[^\W\d_]+\.?|\d+(?:er)?", re.UNICODE)
_MULTIPART = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) \S")  # Zotero's stored "2020-03-05 5 mars 2020"
_PUNCT = re.compile(r"[ !-/:-@\[-`{-~]+")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_ID_SEPARATORS = re.compile(r"[,;/]|\s{2,}")
_HOST = re.compile(r"[\w.:\-\[\]]+")
# The common, valid shape of a web address; anything else gets the detailed checks.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d{1,5})?(?:[/?#][^\s<>\"{}|\\^`]*)?")
_URL_BAD = re.compile(r'[\s<>"{}|\\^`]')


def _real(y: int, m: int | None = None, d: int | None = None) -> bool:
    if m is not None and not 1 <= m <= 12:
        return False
    if d is not None and (m is None or not 1 <= d <= calendar.monthrange(y, m)[1]):
        return False
    return True


@dataclass(frozen=True)
class ParsedDate:
    """The outcome of reading a date field: ``year`` is None when it does not parse."""

    year: int | None
    iso: bool
    problem: str = ""


@lru_cache(maxsize=65536)
def _parse_date_cached(text: str, today: _date) -> ParsedDate:
    # a library holds few distinct date strings ("2024-03"…): parse each once
    return parse_date(text, today=today)


def parse_date(text: str, *, today: _date | None = None) -> ParsedDate:
    """Read a Zotero date: ISO forms, numeric d/m/y, month names (en, fr), seasons and
    Zotero's "YYYY-MM-DD original" form. Impossible calendar dates do not parse."""
    value = text.strip()
    max_year = (today or _date.today()).year + 1
    if not value:
        return ParsedDate(None, False, "is empty")

    def year_ok(y: int) -> ParsedDate | None:
        if y > max_year:
            return ParsedDate(None, False, f"is in the future ({y})")
        if y < 1000:
            return ParsedDate(None, False, f"has no plausible year ({y})")
        return None

    m = _ISO.match(value) or _ISO_TIME.match(value)
    multipart = _MULTIPART.match(value)
    if multipart and not m:
        y, mo, d = (int(g) for g in multipart.groups())
        mo_, d_ = (mo or None), (d or None)
        if not _real(y, mo_, d_ if mo_ else None):
            return ParsedDate(None, False, f"'{value}' is not a real calendar date")
        return year_ok(y) or ParsedDate(y, False)
    if m:
        y = int(m.group(1))
        mo = int(m.group(2)) if m.group(2) else None
        d = int(m.group(3)) if m.group(3) else None
        if not _real(y, mo, d):
            return ParsedDate(None, False, f"'{value}' is not a real calendar date")
        return year_ok(y) or ParsedDate(y, True)
    n = _NUMERIC.match(value)
    if n:
        a, b, c = (int(g) for g in n.groups())
        if len(n.group(1)) == 4:  # 2020/03/05
            ok, y = _real(a, b, c), a
        else:  # 05/03/2020 (fr) or 03/05/2020 (us): real if either reading is
            y = c if len(n.group(3)) == 4 else 2000 + c if c < 100 else c
            ok = _real(y, b, a) or _real(y, a, b)
        if not ok:
            return ParsedDate(None, False, f"'{value}' is not a real calendar date")
        return year_ok(y) or ParsedDate(y, False)
    words = [w.rstrip(".").casefold() for w in _WORDS.findall(value)]
    years = [int(y) for y in _YEAR.findall(value)]
    if not years:
        return ParsedDate(None, False, f"'{value}' has no year")
    month = next((_MONTHS[w] for w in words if w in _MONTHS), None)
    days = [int(w.removesuffix("er")) for w in words if w.removesuffix("er").isdigit() and len(w.removesuffix("er")) <= 2]
    if month and days and not _real(years[0], month, days[0]):
        return ParsedDate(None, False, f"'{value}' is not a real calendar date")
    known = set(_MONTHS) | _SEASONS | {"er", "c", "ca", "circa", "vers", "the", "of", "de", "du", "le"}
    strange = [w for w in words if not w.isdigit() and w.removesuffix("er") and not w.removesuffix("er").isdigit()
               and w not in known]
    if strange:
        return ParsedDate(None, False, f"'{value}' is not a date Zotero can read")
    return year_ok(years[0]) or ParsedDate(years[0], False)


_DOI = re.compile(r"^10\.\d{4,9}(?:\.\d+)*/\S+$", re.IGNORECASE)


def normalise_title(text: str) -> str:
    """Zotero's duplicate key: no diacritics, ASCII punctuation as spaces, lower case."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return _PUNCT.sub(" ", text).strip().lower()


def extra_lines(extra: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in extra.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out.setdefault(key.strip().casefold(), []).append(value.strip())
    return out


@lru_cache(maxsize=65536)
def _identifier_problems(value: str, label: str) -> tuple[str, ...]:
    # journals' ISSNs and series' ISBNs repeat across a library: validate each value once
    module = stdnum_isbn if label == "ISBN" else stdnum_issn
    problems = []
    for part in (p.strip() for p in _ID_SEPARATORS.split(value) if p.strip()):
        candidates = [part]
        try:
            module.validate(part)
            continue
        except ValidationError:
            pass
        if " " in part:  # "978-2-07-036822-8 2070368228": several numbers separated by spaces
            candidates = part.split()
        for candidate in candidates:
            try:
                module.validate(candidate)
            except InvalidChecksum:
                problems.append(f"The {label} '{candidate}' has a wrong check digit; retype it from the document.")
            except ValidationError:
                problems.append(f"'{candidate}' is not an {label} (wrong length or characters).")
    return tuple(problems)


def url_problem(url: str) -> str | None:
    """Why this URL is not a usable absolute web address, or None."""
    if _PLAIN_URL.fullmatch(url) and ".." not in url.split("/", 3)[2]:
        return None
    if bad := _URL_BAD.search(url):
        if bad.group(0).isspace():
            return "contains spaces (encode them as %20)"
        return "contains characters not allowed in a URL"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError:
        return "is not a valid URL"
    del port
    if parts.scheme.lower() not in ("http", "https", "ftp"):
        return f"should start with https:// (scheme '{parts.scheme or 'none'}')"
    host = parts.hostname or ""
    if not host:
        return "has no host name"
    if not (host == "localhost" or "." in host or ":" in host) or host.startswith(".") or ".." in host:
        return f"has an invalid host name '{host}'"
    if not _HOST.fullmatch(host):
        return f"has an invalid host name '{host}'"
    return None


def _doi_of(data: dict[str, Any]) -> str | None:
    doi = data.get("DOI")
    if doi:
        return str(doi).strip()
    for line in str(data.get("extra", "")).splitlines():
        k, _, v = line.partition(":")
        if k.strip().upper() == "DOI" and v.strip():
            return v.strip()
    return None


def _title_of(data: dict[str, Any]) -> str | None:
    # Some types keep their title under a base-field alias (statute.nameOfAct, case.caseName…).
    for name in ("title", "nameOfAct", "caseName", "subject", "note"):
        if data.get(name):
            return str(data[name])
    return None


def _date_of(data: dict[str, Any]) -> str | None:
    for name in ("date", "dateEnacted", "dateDecided", "issueDate"):
        if data.get(name):
            return str(data[name])
    return None


DOI_PREFIX = re.compile(r"^(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def split_doi(value: str) -> tuple[str, str]:
    """(bare DOI, prefix that was stripped) — ``https://doi.org/10.1/x`` → ``("10.1/x", "https://doi.org/")``."""
    v = value.strip()
    m = DOI_PREFIX.match(v)
    if m:
        return v[m.end():].strip(), m.group(0)
    return v, ""
