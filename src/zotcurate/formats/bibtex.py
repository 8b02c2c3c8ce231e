"""BibTeX and biblatex in both directions.

Reading (:func:`read`): the file is parsed in one pass (:mod:`zotcurate.formats.bibtex_syntax`),
``crossref`` and ``xdata`` are resolved as biber does, LaTeX becomes Unicode and Zotero's rich text
(:mod:`zotcurate.formats.latex`), and each entry becomes a Zotero item the way Zotero's BibTeX import
and Better BibTeX map them (``@techreport`` → report with ``institution``, ``@online`` → webpage,
``urldate`` → accessDate, ``pages`` ``--`` → ``-``, ``keywords`` → tags …). Names are split with
bibtexparser's implementation of BibTeX's rules, or read in biblatex's extended format
(``family=Boronat, given=Philippe``). A field Zotero has no place for is kept in Extra as
``tex.FIELD: value`` (as Better BibTeX does) and written back on export.

Writing (:func:`write_bibtex`): one entry per item, ``bibtex`` (the classic entry types and fields)
or ``biblatex`` flavour, Better BibTeX's default citation keys, and what import reads back.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from bibtexparser.customization import splitname

from zotcurate.errors import InputFileError
from zotcurate.fields import (
    creator_name,
    date_of,
    date_range,
    month_number,
    parse_date,
    parse_extra,
    read_doi,
    title_of,
)
from zotcurate.formats.base import (
    ExportOptions,
    ExportSelection,
    Format,
    ImportOptions,
    ParsedFiles,
    Warnings,
    decode_text,
    read_file_bytes,
    top_level_items,
)
from zotcurate.formats.bibtex_syntax import RawEntry, parse_bibtex
from zotcurate.formats.csljson import key_for
from zotcurate.formats.latex import escape, escape_rich, latex_to_text
from zotcurate.zschema import ZoteroSchema, load_schema

# BibTeX/biblatex entry type → Zotero item type.
ENTRY_TYPES = {
    "article": "journalArticle", "book": "book", "mvbook": "book", "booklet": "book", "manual": "book",
    "proceedings": "book", "mvproceedings": "book", "collection": "book", "mvcollection": "book",
    "periodical": "book", "inbook": "bookSection", "incollection": "bookSection", "bookinbook": "bookSection",
    "suppbook": "bookSection", "suppcollection": "bookSection", "inproceedings": "conferencePaper",
    "conference": "conferencePaper", "techreport": "report", "report": "report", "phdthesis": "thesis",
    "mastersthesis": "thesis", "thesis": "thesis", "online": "webpage", "www": "webpage", "electronic": "webpage",
    "webpage": "webpage", "misc": "document", "unpublished": "manuscript", "patent": "patent", "dataset": "dataset",
    "software": "computerProgram", "video": "videoRecording", "movie": "film", "audio": "audioRecording",
    "music": "audioRecording", "legislation": "statute", "jurisdiction": "case", "legal": "statute",
    "standard": "standard", "inreference": "encyclopediaArticle", "reference": "book", "mvreference": "book",
    "letter": "letter", "artwork": "artwork", "image": "artwork", "map": "map", "review": "journalArticle",
    "suppperiodical": "journalArticle", "presentation": "presentation", "preprint": "preprint",
}

# Zotero item type → entry type. biblatex follows Better BibLaTeX; bibtex keeps to the classic types.
BIBLATEX_TYPES = {
    "artwork": "artwork", "audioRecording": "audio", "bill": "legislation", "blogPost": "online", "book": "book",
    "bookSection": "incollection", "case": "jurisdiction", "computerProgram": "software",
    "conferencePaper": "inproceedings", "dataset": "dataset", "dictionaryEntry": "inreference", "document": "misc",
    "email": "letter", "encyclopediaArticle": "inreference", "film": "movie", "forumPost": "online",
    "hearing": "jurisdiction", "instantMessage": "misc", "interview": "misc", "journalArticle": "article",
    "letter": "letter", "magazineArticle": "article", "manuscript": "unpublished", "map": "misc",
    "newspaperArticle": "article", "patent": "patent", "podcast": "audio", "preprint": "online",
    "presentation": "unpublished", "radioBroadcast": "audio", "report": "report", "standard": "standard",
    "statute": "legislation", "thesis": "thesis", "tvBroadcast": "video", "videoRecording": "video",
    "webpage": "online",
}
BIBTEX_TYPES = {
    "book": "book", "bookSection": "incollection", "conferencePaper": "inproceedings", "journalArticle": "article",
    "magazineArticle": "article", "newspaperArticle": "article", "manuscript": "unpublished", "report": "techreport",
    "thesis": "phdthesis",
}
# Back-compatible name: the classic BibTeX table, with web pages as before.
EXPORT_TYPES = BIBTEX_TYPES

_MONTH_MACROS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

# Words Better BibTeX's shorttitle skips (its English list), plus the French ones of our libraries.
_SKIP_WORDS = {
    "a", "ab", "aboard", "about", "above", "across", "after", "against", "al", "along", "amid", "among", "an",
    "and", "anti", "around", "as", "at", "before", "behind", "below", "beneath", "beside", "besides", "between",
    "beyond", "but", "by", "d", "da", "das", "de", "del", "dell", "dello", "dei", "degli", "della", "dem", "den",
    "der", "des", "despite", "die", "do", "down", "du", "during", "ein", "eine", "einem", "einen", "einer",
    "eines", "el", "en", "et", "except", "for", "from", "gli", "i", "il", "in", "inside", "into", "is", "l",
    "la", "las", "le", "les", "like", "lo", "los", "near", "nor", "of", "off", "on", "onto", "or", "over",
    "past", "per", "plus", "round", "save", "since", "so", "some", "sur", "than", "the", "through", "to",
    "toward", "towards", "un", "una", "unas", "une", "uno", "unos", "under", "underneath", "unlike", "until",
    "up", "upon", "versus", "via", "von", "while", "with", "within", "without", "yet", "zu", "zum", "aux", "au",
    "à", "dans", "par", "pour", "avec", "ou",
}

# BibLaTeX/babel language names ↔ the ISO codes Zotero libraries use in ``language``.
_LANGIDS = {
    "french": "fr", "francais": "fr", "english": "en", "american": "en-US", "british": "en-GB", "german": "de",
    "ngerman": "de", "spanish": "es", "italian": "it", "portuguese": "pt", "dutch": "nl", "catalan": "ca",
}
_LANG_NAMES = {"fr": "french", "en": "english", "en-US": "american", "en-GB": "british", "de": "ngerman",
               "es": "spanish", "it": "italian", "pt": "portuguese", "nl": "dutch", "ca": "catalan"}

# biblatex editor types ↔ Zotero creator types (the ones that differ in name).
_EDITOR_TYPES = {"collaborator": "contributor", "redactor": "seriesEditor", "compiler": "editor",
                 "organizer": "organizer", "director": "director", "producer": "producer"}
_EDITOR_TYPES_OUT = {"contributor": "collaborator", "seriesEditor": "redactor"}
# Name fields → Zotero creator type (None: the item type's primary creator).
_NAME_FIELDS: dict[str, str | None] = {
    "author": None, "editor": "editor", "translator": "translator", "bookauthor": "bookAuthor",
    "commentator": "commenter", "director": "director", "scriptwriter": "scriptwriter", "producer": "producer",
    "holder": "contributor", "annotator": "contributor", "introduction": "contributor", "foreword": "contributor",
    "afterword": "contributor", "editora": "contributor", "editorb": "contributor", "editorc": "contributor",
}
_RICH_FIELDS = ("title", "shorttitle", "booktitle", "journal", "journaltitle", "series", "maintitle", "eventtitle")
# Fields read into Zotero fields (through the type's base fields) without more ado.
_SIMPLE_IN = {
    "volume": "volume", "issue": "issue", "edition": "edition", "isbn": "ISBN", "issn": "ISSN",
    "abstract": "abstractNote", "shorttitle": "shortTitle", "type": "type", "shortjournal": "journalAbbreviation",
    "eventtitle": "conferenceName", "volumes": "numberOfVolumes", "version": "versionNumber", "urldate": "accessDate",
    "rights": "rights", "copyright": "rights",
}
# Fields that are read through (structure, not data).
_CONSUMED = {"crossref", "xdata", "xref", "ids", "entryset", "entrysubtype", "options", "editortype", "editoratype",
             "editorbtype", "editorctype", "subtitle", "titleaddon", "booksubtitle", "journalsubtitle", "date",
             "year", "month", "day", "note", "keywords", "keyword", "howpublished", "langid", "language", "doi",
             "url", "pages", "pagetotal", "number", "institution", "school", "publisher", "organization", "address",
             "location", "series", "title", "booktitle", "journal", "journaltitle", "origdate", "eventdate",
             "venue", *_NAME_FIELDS, *_SIMPLE_IN}
# Fields a crossref child never takes from its parent (biber's defaults).
_NOT_INHERITED = {"crossref", "xref", "xdata", "ids", "entryset", "entrysubtype", "execute", "label", "options",
                  "presort", "related", "relatedoptions", "relatedstring", "relatedtype", "shorthand",
                  "shorthandintro", "sortkey", "title", "subtitle", "titleaddon", "shorttitle"}
_BOOKISH = {"book", "mvbook", "collection", "mvcollection", "proceedings", "mvproceedings", "reference",
            "mvreference", "periodical"}
_EXTENDED_NAME = re.compile(r"^\s*(?:family|given|prefix|suffix|useprefix|juniorcomma)(?:-i)?\s*=", re.IGNORECASE)
_NAME_PART = re.compile(r"\s*([\w-]+)\s*=\s*")
_ENCODING_HEADER = re.compile(rb"^%\s*Encoding\s*:\s*([A-Za-z0-9_.:-]+)", re.MULTILINE)
_BIBTEX_START = re.compile(r"^[ \t]*@[A-Za-z]+[ \t]*[{(]", re.MULTILINE)
_CITATION_KEY_LINE = re.compile(r"^citation key$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------

def declared_encoding(data: bytes) -> str | None:
    """The encoding a ``% Encoding: …`` header declares (JabRef writes one), within the first 4 KB."""
    m = _ENCODING_HEADER.search(data[:4096])
    return m[1].decode("ascii") if m else None


def sniff(head: str) -> bool:
    """BibTeX whatever the file is called: a line starting with ``@type{`` (Zotero's own test), not JSON."""
    return not head.lstrip().startswith(("[", "{")) and bool(_BIBTEX_START.search(head))


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def read_bibtex(path: Path, *, strict: bool = False) -> ParsedFiles:
    """Read a .bib file (BibTeX, biblatex, Better BibTeX and JabRef exports) as Zotero API objects."""
    data = read_file_bytes(path)
    decoded = decode_text(data, path, declared=declared_encoding(data), guess=True)
    warnings = Warnings(path, strict)
    if decoded.guess:
        warnings.add(decoded.guess, "check the imported text")
    return read_text(path, decoded.text, warnings)


def read(path: Path, text: str, options: ImportOptions) -> ParsedFiles:
    return read_text(path, text, Warnings(path, options.strict))


def read_text(path: Path, text: str, warnings: Warnings) -> ParsedFiles:
    entries = parse_bibtex(text, warnings.add)
    if not entries:
        # Importing replaces the library: an empty result from a non-BibTeX file would wipe it.
        raise InputFileError(f"{path} has no BibTeX entries (such as @article{{key, …}}); nothing was imported.")
    schema = load_schema()
    entries = _resolve(entries, warnings)
    parsed = ParsedFiles(sources=[str(path)])
    seen: dict[str, RawEntry] = {}
    keys_in_file = {e.key.lower() for e in entries if e.key}
    for entry in entries:
        where = f"{path}: line {entry.line} (@{entry.type}{{{entry.key}}})"
        try:
            data = entry_to_zotero(entry, schema=schema, where=where, warnings=warnings)
        except _UnreadableName as exc:
            warnings.add(f"line {entry.line}: the name '{exc.name}' in '{entry.head}' cannot be read ({exc.reason})",
                         "the entry was skipped")
            continue
        if not entry.key:
            # JabRef's "@article{,": the key Better BibTeX would make, unique in the file; it is kept as the
            # citation key, so that an export and a new import give the same item.
            base, n = citation_key(data), 0
            name = base
            while name.lower() in keys_in_file:
                name, n = base + _suffix(n), n + 1
            keys_in_file.add(name.lower())
            data["key"] = key_for(name)
            if "citationKey" in schema.fields(data["itemType"]):
                data["citationKey"] = name
            seen[name.lower()] = entry
        elif entry.key.lower() in seen:
            first = seen[entry.key.lower()]
            warnings.add(f"line {entry.line}: the citation key '{entry.key}' is used twice "
                         f"(first at line {first.line})", "this second entry was skipped")
            continue
        else:
            seen[entry.key.lower()] = entry
        parsed.items.append({"key": data["key"], "version": 0, "data": data})
    parsed.warnings = list(warnings.messages)
    return parsed


def _resolve(entries: list[RawEntry], warnings: Warnings) -> list[RawEntry]:
    """Fill ``xdata`` and ``crossref`` fields in; drop the entries that are not references (@xdata, @set)."""
    by_key = {e.key.lower(): e for e in entries if e.key}
    done: set[int] = set()

    def resolve(entry: RawEntry, trail: tuple[int, ...]) -> None:
        if id(entry) in done or id(entry) in trail:
            return
        trail = (*trail, id(entry))
        for ref in (r.strip() for r in entry.fields.get("xdata", "").split(",") if r.strip()):
            source = by_key.get(ref.lower())
            if source is None:
                warnings.add(f"line {entry.line}: xdata '{ref}' of '{entry.head}' names no entry of the file",
                             "the entry was imported without its fields")
                continue
            resolve(source, trail)
            for name, value in source.fields.items():
                if name not in ("xdata", "ids"):
                    entry.fields.setdefault(name, value)
        parent_key = entry.fields.get("crossref", "").strip()
        if parent_key:
            parent = by_key.get(parent_key.lower())
            if parent is None:
                warnings.add(f"line {entry.line}: crossref '{parent_key}' of '{entry.head}' names no entry of the file",
                             "the entry was imported without the fields it would inherit")
            else:
                resolve(parent, trail)
                _inherit(entry, parent)
        done.add(id(entry))

    for entry in entries:
        resolve(entry, ())
    out = []
    for entry in entries:
        if entry.type == "xdata":
            continue  # field containers for other entries, not references
        if entry.type == "set":
            warnings.add(f"line {entry.line}: '{entry.head}' is a biblatex entry set, not a reference",
                         "it was not imported (its members are)")
            continue
        out.append(entry)
    return out


def _inherit(child: RawEntry, parent: RawEntry) -> None:
    """biber's inheritance: every field the child lacks, and the parent's title as the child's book or
    journal title."""
    if parent.fields.get("title"):
        if parent.type in _BOOKISH and parent.type != "periodical":
            child.fields.setdefault("booktitle", parent.fields["title"])
            if parent.fields.get("subtitle"):
                child.fields.setdefault("booksubtitle", parent.fields["subtitle"])
        elif parent.type == "periodical":
            child.fields.setdefault("journaltitle", parent.fields["title"])
    for name, value in parent.fields.items():
        if name not in _NOT_INHERITED:
            child.fields.setdefault(name, value)


def _clean(value: str) -> str:
    return latex_to_text(value)


def _clean_title(value: str) -> str:
    return latex_to_text(value, rich=True)


def _clean_verbatim(value: str) -> str:
    # url and doi are verbatim in biblatex: only undo the escapes Better BibTeX may write, and the
    # protective braces Web of Science puts around a DOI.
    value = value.strip()
    while len(value) > 1 and value[0] == "{" and value[-1] == "}" and _balanced_group(value):
        value = value[1:-1].strip()
    m = re.fullmatch(r"\\url\s*\{(.*)\}", value, re.DOTALL)
    if m:
        value = m[1]
    return re.sub(r"\\([&%$#_{}~])", r"\1", value).strip()


def _split_top(value: str, separators: str) -> list[str]:
    """Split at ``separators`` outside braces ("a, {b, c}" → ["a", "{b, c}"])."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(value):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        elif ch in separators and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _split_names(value: str) -> list[str]:
    names, depth, start = [], 0, 0
    for m in re.finditer(r"[{}]|\s+and\s+", value):
        tok = m.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif depth == 0:
            names.append(value[start:m.start()])
            start = m.end()
    names.append(value[start:])
    return [n.strip() for n in names if n.strip()]


def _balanced_group(raw: str) -> bool:
    depth = 0
    for i, ch in enumerate(raw):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0 and i < len(raw) - 1:
            return False
    return depth == 0


def _unbrace(value: str) -> str:
    value = value.strip()
    if len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    if len(value) > 1 and value[0] == "{" and value[-1] == "}" and _balanced_group(value):
        return value[1:-1]
    return value


def _extended_name(raw: str) -> dict[str, str]:
    """biblatex's extended name format: ``family=Boronat, given=Philippe, given-i={{Ph}}``."""
    parts: dict[str, str] = {}
    for piece in _split_top(raw, ","):
        m = _NAME_PART.match(piece)
        if m:
            parts[m[1].lower()] = _unbrace(piece[m.end():])
    return parts


class _UnreadableName(Exception):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name, self.reason = name, reason


def _creators(value: str, creator_type: str, where: str) -> list[dict[str, str]]:
    out = []
    for raw in _split_names(value):
        if raw == "others":
            continue  # BibTeX's "and others" (et al.) is not a person
        if _EXTENDED_NAME.match(raw):
            parts = _extended_name(raw)
            family = " ".join(p for p in (parts.get("prefix"), parts.get("family")) if p)
            given = parts.get("given", "")
            if parts.get("suffix"):
                given = f"{given}, {parts['suffix']}" if given else parts["suffix"]
            if family and not given:
                out.append({"creatorType": creator_type, "name": _clean(family)})
            else:
                out.append({"creatorType": creator_type, "firstName": _clean(given), "lastName": _clean(family)})
            continue
        if raw.startswith("{") and raw.endswith("}") and _balanced_group(raw):
            out.append({"creatorType": creator_type, "name": _clean(raw[1:-1])})
            continue
        try:
            parts_ = splitname(raw, strict_mode=False)
        except Exception as exc:  # bibtexparser raises InvalidName (a ValueError) on odd names
            raise _UnreadableName(raw, str(exc)) from exc
        last = " ".join(parts_.get("von", []) + parts_.get("last", []))
        first = " ".join(parts_.get("first", []))
        if parts_.get("jr"):
            first = f"{first}, {' '.join(parts_['jr'])}" if first else " ".join(parts_["jr"])
        if not first and last:
            out.append({"creatorType": creator_type, "name": _clean(last)})
        else:
            out.append({"creatorType": creator_type, "firstName": _clean(first), "lastName": _clean(last)})
    return out


def _set(data: dict[str, Any], valid: set[str], base_map: dict[str, str], field: str, value: str) -> bool:
    """Set a (base) field when the item type has it and it is still empty."""
    target = field if field in valid else base_map.get(field)
    if target and target in valid and not data.get(target) and value:
        data[target] = value
        return True
    return False


def _month_number(value: str) -> int | None:
    # BibTeX month macros (jan …), English or French names, numbers; "Janu" by its first three letters.
    return month_number(value) or month_number(value.strip()[:3])


_RANGE_DASH = re.compile(r"\s*(?:--+|–|—|/)\s*")


def _bibtex_date(f: dict[str, str]) -> str:
    """``date``, else ``year`` + ``month`` + ``day``; ranges (``year = {2019--2020}``, ``month = {mar--may}``)
    as ``2019/2020``, ``2020-03/2020-05``."""
    if f.get("date"):
        return _clean(f["date"])
    if not f.get("year"):
        return ""
    year = _clean(f["year"])
    years = _RANGE_DASH.split(year)
    if len(years) == 2 and all(re.fullmatch(r"\d{4}", y) for y in years):
        return f"{years[0]}/{years[1]}"
    month_text = _clean(f.get("month", ""))
    months = [_month_number(m) for m in _RANGE_DASH.split(month_text)] if month_text else []
    if len(months) == 2 and all(months) and re.fullmatch(r"\d{4}", year):
        return f"{year}-{months[0]:02d}/{year}-{months[1]:02d}"
    month = months[0] if len(months) == 1 else None
    if not month:
        return year if not month_text else f"{month_text} {year}"
    date = f"{year}-{month:02d}"
    day = _clean(f.get("day", ""))
    return date + f"-{int(day):02d}" if day.isdigit() else date


def _item_type(entry: RawEntry, schema: ZoteroSchema) -> str:
    subtype = entry.fields.get("entrysubtype", "").strip()
    if subtype in schema.item_types:  # the Zotero type zotcurate's export names when the entry type is coarser
        return subtype
    if entry.type == "article" and subtype in ("magazine", "newspaper"):
        return f"{subtype}Article"
    return ENTRY_TYPES.get(entry.type, "document")


def entry_to_zotero(entry: RawEntry, *, schema: ZoteroSchema | None = None, where: str = "",
                    warnings: Warnings | None = None) -> dict[str, Any]:
    """One parsed entry (raw LaTeX values) as Zotero item ``data``."""
    schema = schema or load_schema()
    etype = entry.type
    item_type = _item_type(entry, schema)
    f = dict(entry.fields)
    if etype in ("phdthesis", "mastersthesis") and "type" not in f:
        f["type"] = "PhD thesis" if etype == "phdthesis" else "Master's thesis"
    valid = set(schema.fields(item_type))
    base_map: dict[str, str] = {}
    for fld, base in schema.base_fields(item_type).items():
        base_map.setdefault(base, fld)
    data: dict[str, Any] = {"key": key_for(entry.key), "version": 0, "itemType": item_type}
    extra: list[str] = []
    tex: list[str] = []

    def put(fld: str, value: str) -> None:
        """A field, or an Extra line when the item type has no place for it."""
        if value and not _set(data, valid, base_map, fld, value):
            tex.append(f"tex.{fld}: {value}")

    title = _joined(f.get("title"), f.get("subtitle"), f.get("titleaddon"))
    if title:
        _set(data, valid, base_map, "title", title)
    container = (_joined(f.get("journaltitle") or f.get("journal"), f.get("journalsubtitle"))
                 or _joined(f.get("booktitle"), f.get("booksubtitle")))
    if container:
        _set(data, valid, base_map, "publicationTitle", container)
    if f.get("journal") and f.get("journaltitle") and f["journal"] != f["journaltitle"]:
        _set(data, valid, base_map, "journalAbbreviation", _clean(f["journal"]))
    data["creators"] = _entry_creators(f, item_type, schema, where)
    for bib_field in ("institution", "school", "publisher", "organization"):
        if f.get(bib_field):
            if etype in ("online", "www", "electronic") and bib_field == "organization":
                _set(data, valid, base_map, "publicationTitle", _clean(f[bib_field]))
            elif not _set(data, valid, base_map, "publisher", _clean(f[bib_field])):
                tex.append(f"tex.{bib_field}: {_clean(f[bib_field])}")
    if f.get("address") or f.get("location"):
        _set(data, valid, base_map, "place", _clean(f.get("location") or f["address"]))
    date = _bibtex_date(f)
    if date:
        _set(data, valid, base_map, "date", date)
    for bib_field, csl in (("origdate", "original-date"), ("eventdate", "event-date"), ("venue", "event-place")):
        if f.get(bib_field):
            extra.append(f"{csl}: {_clean(f[bib_field])}")
    if f.get("pages"):
        pages = re.sub(r"\s*(--|–|—)\s*", "-", _clean(f["pages"]))
        if not _set(data, valid, base_map, "pages", pages):
            tex.append(f"tex.pages: {pages}")
    if f.get("pagetotal"):
        total = _clean(f["pagetotal"])
        if not _set(data, valid, base_map, "numPages", total):
            # Types without a page-count field keep it as a CSL line, as the example library does.
            if item_type == "report" and not data.get("pages"):
                data["pages"] = total
            else:
                extra.append(f"number-of-pages: {total}")
    if f.get("number"):
        number = _clean(f["number"])
        if item_type in ("journalArticle", "magazineArticle", "newspaperArticle") and not f.get("issue"):
            _set(data, valid, base_map, "issue", number)
        elif not (_set(data, valid, base_map, "number", number) or _set(data, valid, base_map, "seriesNumber", number)
                  or _set(data, valid, base_map, "issue", number)):
            tex.append(f"tex.number: {number}")
    for bib_field, zfield in _SIMPLE_IN.items():
        if f.get(bib_field):
            value = _clean_title(f[bib_field]) if bib_field in _RICH_FIELDS else _clean(f[bib_field])
            if not _set(data, valid, base_map, zfield, value) and zfield not in data:
                tex.append(f"tex.{bib_field}: {value}")
    if f.get("series"):
        series = _clean_title(f["series"])
        if not (_set(data, valid, base_map, "series", series) or _set(data, valid, base_map, "seriesTitle", series)):
            tex.append(f"tex.series: {series}")
    language = _clean(f.get("langid") or f.get("language") or "")
    if language:
        _set(data, valid, base_map, "language", _LANGIDS.get(language.lower(), language))
    if f.get("doi"):
        value = _clean_verbatim(f["doi"])
        # Stored bare when the value holds a DOI: Web of Science writes DOI = {{10.1/x}}, others doi:10.1/x.
        value = read_doi(value).doi or value
        if not _set(data, valid, base_map, "DOI", value):
            extra.append(f"DOI: {value}")  # older types keep the DOI in Extra, as Zotero does
    if f.get("url"):
        _set(data, valid, base_map, "url", _clean_verbatim(f["url"]))
    howpublished = _clean_verbatim(f.get("howpublished", "")) if re.match(
        r"\s*(\\url\s*\{)?\s*https?://", f.get("howpublished", "")) else ""
    if howpublished:
        _set(data, valid, base_map, "url", howpublished)
    elif f.get("howpublished") and not _set(data, valid, base_map, "publisher", _clean(f["howpublished"])):
        tex.append(f"tex.howpublished: {_clean(f['howpublished'])}")
    if f.get("holder") and item_type == "patent":
        put("assignee", "; ".join(_clean(_unbrace(n)) for n in _split_names(f["holder"])))
    for name, value in f.items():
        if name not in _CONSUMED and value.strip():
            tex.append(f"tex.{name}: {_clean(value)}")
    if f.get("note"):
        extra.insert(0, _clean(f["note"]))
    extra += tex
    if extra:
        data["extra"] = "\n".join(extra)
    if "citationKey" in valid and entry.key:
        data["citationKey"] = entry.key
    keywords = f.get("keywords") or f.get("keyword") or ""
    data["tags"] = [{"tag": t} for t in (_clean(_unbrace(k)) for k in _split_top(keywords, ",;")) if t]
    data["collections"] = []
    data["relations"] = {}
    return data


def _joined(main: str | None, *more: str | None) -> str:
    """A title with its subtitle (``title: subtitle``), as Zotero's import joins them."""
    if not main:
        return ""
    text = _clean_title(main)
    for part in more:
        if part:
            sub = _clean_title(part)
            text = f"{text}{'' if re.search(r'[-–—:!?.;]$', text) else ':'} {sub}"
    return text


def _entry_creators(f: dict[str, str], item_type: str, schema: ZoteroSchema, where: str) -> list[dict[str, str]]:
    valid = set(schema.creator_types(item_type))
    primary = _primary(schema, item_type)
    out: list[dict[str, str]] = []
    for bib_field, ctype in _NAME_FIELDS.items():
        if not f.get(bib_field):
            continue
        kind = ctype or primary
        role = f.get(f"{bib_field}type", "").strip()
        if bib_field.startswith("editor") and role:
            kind = _EDITOR_TYPES.get(role, role)
        if bib_field == "holder" and item_type == "patent":
            continue  # the assignee, a field of the patent
        if kind not in valid:
            kind = "contributor" if "contributor" in valid else primary
        out += _creators(f[bib_field], kind, where)
    return out


def _primary(schema: ZoteroSchema, item_type: str) -> str:
    if item_type not in schema.item_types:
        return "author"
    return schema.primary_creator_type(item_type) or "author"


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def citation_key(data: dict[str, Any]) -> str:
    """Better BibTeX's default key ``auth.lower + shorttitle(3,3) + year``, folded to ASCII: the first
    creator's last name (an institution's first word), three title words that are not skip words,
    capitalised, and the year (``morlethaidaraEspaceNumeriqueSante2019``)."""
    creators = data.get("creators") or []
    auth = ""
    if creators:
        who = creator_name(creators[0])
        auth = (who.last.split() or [""])[0] if who.single else who.last
    auth = re.sub(r"[^a-z0-9]", "", _ascii(auth).lower())
    title = _plain(title_of(data) or "")
    words = [w for w in re.split(r"[^\w]+", _ascii(title)) if w and w.lower() not in _SKIP_WORDS]
    short = "".join(w[:1].upper() + w[1:] for w in words[:3])
    date = date_of(data)
    year = parse_date(_range_start(date)).year if date else None
    return auth + short + (str(year) if year is not None else "") or "item"


def _name(creator: dict[str, Any]) -> str:
    """``Last, First``, ``Last, Jr., First`` (the suffix Zotero keeps after a comma in the first name)
    or ``{Institution}``."""
    who = creator_name(creator)
    if who.single:
        return "{" + escape(who.last) + "}" if who.last else ""
    last, first = escape(who.last), escape(who.first)
    if " and " in f" {last} " or "," in last:
        last = "{" + last + "}"
    first, _, suffix = first.partition(", ")
    if " and " in f" {first} ":
        first = "{" + first + "}"
    if suffix:
        return f"{last}, {suffix}, {first}"
    return f"{last}, {first}" if first else last


def _range_start(date: str) -> str:
    r = date_range(date)
    return r[0] if r else date


def _iso(parts: tuple[int, ...]) -> str:
    return f"{parts[0]:04d}" + "".join(f"-{p:02d}" for p in parts[1:])


def _date_fields(date: str, biblatex: bool) -> dict[str, str]:
    rng = date_range(date)
    if rng:
        start, end = (parse_date(d).parts for d in rng)
        if biblatex:
            return {"date": f"{_iso(start)}/{_iso(end)}"}
        if start[0] != end[0] or len(start) < 2 or len(end) < 2:
            return {"year": f"{start[0]}--{end[0]}"}
        return {"year": str(start[0]), "month": f'{_MONTH_MACROS[start[1] - 1]} # "--" # {_MONTH_MACROS[end[1] - 1]}'}
    parsed = parse_date(date)
    parts = parsed.parts
    if not parts:
        return {"year": escape(date)}
    if biblatex:
        if parsed.season or (parsed.problem and not parsed.iso):
            return {"year": escape(date)}  # biblatex dates are ISO 8601: keep what the ISO form cannot say
        return {"date": _iso(parts)}
    out = {"year": str(parts[0])}
    if len(parts) > 1:
        out["month"] = _MONTH_MACROS[parts[1] - 1]
    if len(parts) > 2:
        out["day"] = str(parts[2])
    return out


def _verbatim(value: str) -> str:
    """A URL or DOI as written (biblatex reads them verbatim), but never with braces BibTeX would see as
    unbalanced: those are percent-encoded, which means the same in an address."""
    depth = 0
    for ch in value:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    return value if depth == 0 else value.replace("{", "%7B").replace("}", "%7D")


def _extra_out(extra: str) -> tuple[dict[str, str], str, list[str]]:
    """Extra's lines that become fields (``tex.FIELD: value``, CSL lines BibTeX has a field for), the
    citation key a ``Citation Key:`` line pins, and the rest (the note)."""
    fields: dict[str, str] = {}
    key = ""
    note: list[str] = []
    csl_fields = {"number-of-pages": "pagetotal", "original-date": "origdate", "event-date": "eventdate",
                  "event-place": "venue", "doi": "doi"}
    for line in parse_extra(extra):
        lowered = line.key.lower()
        if line.key and line.value and lowered.startswith("tex."):
            fields.setdefault(line.key[4:].lower(), line.value)
        elif line.key and line.value and lowered in csl_fields:
            fields.setdefault(csl_fields[lowered], line.value)
        elif line.key and line.value and _CITATION_KEY_LINE.match(line.key):
            key = key or line.value
        else:
            note.append(line.text)
    while note and not note[-1].strip():
        note.pop()
    return fields, key, note


# Fields each flavour writes from Extra's tex./CSL lines (bibtex keeps to what BibTeX styles know).
_BIBLATEX_ONLY = {"origdate", "eventdate", "venue", "pagetotal", "shortjournal", "eventtitle", "volumes", "version",
                  "langid", "journaltitle", "location", "date", "urldate", "editora", "editorb", "editorc",
                  "editoratype", "editorbtype", "editorctype", "bookauthor", "commentator", "entrysubtype", "holder"}


def data_to_fields(data: dict[str, Any], *, schema: ZoteroSchema | None = None,
                   flavour: str = "bibtex") -> tuple[str, dict[str, str]]:
    """The entry type and ``field → LaTeX value`` for one Zotero item (``month`` is a bare macro)."""
    schema = schema or load_schema()
    biblatex = flavour == "biblatex"
    item_type = data.get("itemType", "document")
    etype = (BIBLATEX_TYPES if biblatex else BIBTEX_TYPES).get(item_type, "misc")
    if item_type == "bookSection" and any(c.get("creatorType") == "bookAuthor" for c in data.get("creators") or []):
        etype = "inbook"
    try:
        base_of = schema.base_fields(item_type)
    except KeyError:
        base_of = {}

    def get(base: str) -> str:
        """A field by its base name (``publisher`` finds ``institution`` in a report)."""
        if data.get(base):
            return str(data[base])
        for fld, b in base_of.items():
            if b == base and data.get(fld):
                return str(data[fld])
        return ""

    fields: dict[str, str] = {}
    if item_type in ("magazineArticle", "newspaperArticle") and biblatex:
        fields["entrysubtype"] = item_type[: -len("Article")]
    elif ENTRY_TYPES.get(etype, "document") != item_type and item_type in schema.item_types:
        # The entry type is coarser than the item type (a web page is @misc in BibTeX): name it, so that
        # the import gives the same type back; styles ignore the field.
        fields["entrysubtype"] = item_type
    fields.update(_creator_fields(data, item_type, schema, biblatex))
    title = get("title")
    if title:
        fields["title"] = escape_rich(title)
    container = get("publicationTitle")
    if container:
        if etype == "article":
            key = "journaltitle" if biblatex else "journal"
        elif etype == "online":
            key = "organization" if biblatex else "howpublished"
        else:
            key = "booktitle"
        fields[key] = escape_rich(container)
    publisher = get("publisher")
    if publisher:
        key = {"techreport": "institution", "report": "institution", "phdthesis": "school",
               "thesis": "institution" if biblatex else "school"}.get(etype, "publisher")
        if etype == "online" and key == "publisher":
            key = "publisher" if biblatex else "organization"
        fields.setdefault(key, escape(publisher))
    if data.get("place"):
        fields["location" if biblatex else "address"] = escape(data["place"])
    date = date_of(data)
    if date:
        fields.update(_date_fields(date, biblatex))
    simple_out = [("volume", "volume"), ("edition", "edition"), ("ISBN", "isbn"), ("ISSN", "issn"),
                  ("shortTitle", "shorttitle"), ("abstractNote", "abstract"), ("rights", "copyright")]
    if biblatex:
        simple_out += [("journalAbbreviation", "shortjournal"), ("conferenceName", "eventtitle"),
                       ("numberOfVolumes", "volumes"), ("versionNumber", "version"), ("rights", "rights")]
        simple_out.remove(("rights", "copyright"))
    for zfield, bib in simple_out:
        if data.get(zfield):
            value = str(data[zfield])
            fields[bib] = escape_rich(value) if zfield == "shortTitle" else escape(value)
    if data.get("assignee") and biblatex:
        fields["holder"] = "{" + escape(str(data["assignee"])) + "}"
    if data.get("language"):
        value = str(data["language"])
        fields["langid" if biblatex else "language"] = escape(_LANG_NAMES.get(value, value))
    issue, number = data.get("issue"), get("number") or data.get("seriesNumber")
    if biblatex and issue and number:
        fields["number"], fields["issue"] = escape(str(number)), escape(str(issue))
    elif issue or number:
        fields["number"] = escape(str(issue or number))
    series = data.get("series") or data.get("seriesTitle")
    if series:
        fields["series"] = escape_rich(series)
    if get("type") and etype in ("techreport", "report", "phdthesis", "thesis", "misc", "online", "unpublished",
                                 "patent", "letter", "software", "dataset"):
        fields["type"] = escape(get("type"))
    if data.get("pages"):
        fields["pages"] = escape(re.sub(r"\s*[-–—]+\s*", "--", str(data["pages"])))
    if data.get("numPages"):
        fields["pagetotal"] = escape(str(data["numPages"]))
    if data.get("DOI"):
        fields["doi"] = _verbatim(str(data["DOI"]))
    if data.get("url"):
        url = _verbatim(str(data["url"]))
        if etype == "misc" and not biblatex and "howpublished" not in fields:
            fields["howpublished"] = r"\url{" + url + "}"
        fields["url"] = url
    if data.get("accessDate"):
        fields["urldate"] = escape(str(data["accessDate"]))
    extra_fields, _, note = _extra_out(str(data.get("extra") or ""))
    for name, value in extra_fields.items():
        if name not in fields and (biblatex or name not in _BIBLATEX_ONLY or name == "pagetotal"):
            fields[name] = data["DOI"] if name == "doi" and data.get("DOI") else escape(value)
    if note:
        fields["note"] = escape("\n".join(note))
    tags = [t["tag"] for t in data.get("tags") or [] if t.get("tag")]
    if tags:
        # A tag holding a comma or semicolon is braced, so that it stays one tag.
        fields["keywords"] = ", ".join("{" + escape(t) + "}" if re.search(r"[,;]", t) else escape(t) for t in tags)
    return etype, fields


def _creator_fields(data: dict[str, Any], item_type: str, schema: ZoteroSchema, biblatex: bool) -> dict[str, str]:
    """Creators by role: the primary creator is ``author``; biblatex has ``bookauthor``, ``commentator``,
    ``editora``/``editorb``/``editorc`` with their ``…type``; bibtex ``author``, ``editor``, ``translator``."""
    primary = _primary(schema, item_type)
    groups: dict[str, list[str]] = {}
    for c in data.get("creators") or []:
        ctype = c.get("creatorType", "author")
        if ctype == primary or ctype == "author":
            bib = "author"
        elif ctype == "editor" or (ctype == "seriesEditor" and not biblatex):
            bib = "editor"
        elif ctype == "translator":
            bib = "translator"
        elif ctype == "bookAuthor" and biblatex:
            bib = "bookauthor"
        elif ctype == "commenter" and biblatex:
            bib = "commentator"
        elif biblatex:
            bib = "role:" + ctype
        else:
            continue  # classic BibTeX has no field for this role (biblatex has: --bibtex-flavour biblatex)
        groups.setdefault(bib, []).append(_name(c))
    fields: dict[str, str] = {}
    slots = iter(("editora", "editorb", "editorc"))
    for bib, names in groups.items():
        if bib.startswith("role:"):
            slot = next(slots, None)
            if slot is None:
                continue  # biblatex has three slots for other roles
            role = bib[len("role:"):]
            fields[slot] = " and ".join(names)
            fields[f"{slot}type"] = _EDITOR_TYPES_OUT.get(role, role)
        else:
            fields[bib] = " and ".join(names)
    return fields


def write_bibtex(items: list[dict[str, Any]], *, flavour: str = "bibtex") -> str:
    """Zotero item ``data`` dicts as BibTeX text, one entry per item, with unique citation keys."""
    schema = load_schema()
    used: set[str] = set()
    chunks = []
    for data in items:
        _, pinned, _ = _extra_out(str(data.get("extra") or ""))
        base = str(data.get("citationKey") or pinned or citation_key(data))
        base = re.sub(r"[\s,{}()\"#%'=\\]", "", base) or "item"
        key, n = base, 0
        while key.lower() in used:
            # Better BibTeX disambiguates with a, b, c …
            key = base + _suffix(n)
            n += 1
        used.add(key.lower())
        etype, fields = data_to_fields(data, schema=schema, flavour=flavour)
        lines = [f"@{etype}{{{key},"]
        for name, value in fields.items():
            lines.append(f"  {name} = {value}," if name == "month" else f"  {name} = {{{value}}},")
        if fields:
            lines[-1] = lines[-1].rstrip(",")  # "@misc{key,\n}" stays: an entry without fields, valid BibTeX
        lines.append("}")
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + ("\n" if chunks else "")


def _suffix(n: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = letters[r] + out
    return out


def dump(selection: ExportSelection, options: ExportOptions) -> tuple[str, int]:
    tops = top_level_items(selection.objects)
    return write_bibtex([o["data"] for o in tops], flavour=options.bibtex_flavour), len(tops)


FORMAT = Format("bibtex", "BibTeX / biblatex", (".bib", ".bibtex", ".biblatex"), sniff, read, None, dump)
