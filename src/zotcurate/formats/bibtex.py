"""BibTeX in both directions, behind bibtexparser (1.4 API: pyzotero pins bibtexparser < 2).

Reading maps entry types and fields to Zotero types and fields the way Zotero's BibTeX import
and Better BibTeX exports expect (``@techreport`` → report with ``institution``, ``@online`` →
webpage, ``@incollection`` → bookSection, ``urldate`` → accessDate, ``pages`` ``--`` → ``-``,
``keywords`` → tags …). LaTeX becomes Unicode through bibtexparser's ``convert_to_unicode``;
``{Protected Words}`` in titles become ``<span class="nocase">…</span>``, as Zotero stores them.
Writing produces BibTeX with Better-BibTeX-like citation keys (``authorTitleYear``, unique).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import bibtexparser
from bibtexparser.bparser import BibTexParser
from bibtexparser.customization import convert_to_unicode, splitname

from zotcurate.errors import InputFileError
from zotcurate.fields import creator_name, date_of, extra_lines, month_number, parse_date, read_doi, title_of
from zotcurate.formats.base import ParsedFiles, read_text_file
from zotcurate.formats.csljson import key_for
from zotcurate.zschema import ZoteroSchema, load_schema

# BibTeX/BibLaTeX entry type → Zotero item type.
ENTRY_TYPES = {
    "article": "journalArticle", "book": "book", "mvbook": "book", "booklet": "book", "manual": "book",
    "proceedings": "book", "collection": "book", "mvcollection": "book", "periodical": "book",
    "inbook": "bookSection", "incollection": "bookSection", "bookinbook": "bookSection",
    "suppbook": "bookSection", "inproceedings": "conferencePaper", "conference": "conferencePaper",
    "techreport": "report", "report": "report", "phdthesis": "thesis", "mastersthesis": "thesis",
    "thesis": "thesis", "online": "webpage", "www": "webpage", "electronic": "webpage", "webpage": "webpage",
    "misc": "document", "unpublished": "manuscript", "patent": "patent", "dataset": "dataset",
    "software": "computerProgram", "video": "videoRecording", "movie": "film", "audio": "audioRecording",
    "legislation": "statute", "jurisdiction": "case", "standard": "standard", "inreference": "encyclopediaArticle",
    "reference": "book", "letter": "letter", "artwork": "artwork", "image": "artwork", "map": "map",
}

# Zotero item type → BibTeX entry type for export (BibLaTeX names where plain BibTeX has none).
EXPORT_TYPES = {
    "journalArticle": "article", "magazineArticle": "article", "newspaperArticle": "article",
    "book": "book", "bookSection": "incollection", "conferencePaper": "inproceedings", "report": "techreport",
    "thesis": "phdthesis", "webpage": "online", "blogPost": "online", "forumPost": "online",
    "manuscript": "unpublished", "patent": "patent", "dataset": "dataset", "computerProgram": "software",
    "encyclopediaArticle": "inreference", "dictionaryEntry": "inreference",
}

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
                   "^": r"\textasciicircum{}"}

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

_NOCASE_OPEN, _NOCASE_CLOSE = "\x01", "\x02"

# BibLaTeX/babel language names ↔ the ISO codes Zotero libraries use in ``language``.
_LANGIDS = {
    "french": "fr", "francais": "fr", "english": "en", "american": "en-US", "british": "en-GB", "german": "de",
    "ngerman": "de", "spanish": "es", "italian": "it", "portuguese": "pt", "dutch": "nl", "catalan": "ca",
}
_LANG_NAMES = {"fr": "french", "en": "english", "en-US": "american", "en-GB": "british", "de": "ngerman",
               "es": "spanish", "it": "italian", "pt": "portuguese", "nl": "dutch", "ca": "catalan"}
_TITLE_FIELDS = ("title", "booktitle", "journal", "journaltitle", "shorttitle", "series")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _line_of(text: str, fragment: str) -> int:
    pos = text.find(fragment.strip()[:200])
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


def _mark_protected(value: str) -> str:
    """Replace top-level ``{…}`` groups that protect words (not LaTeX accents or command
    arguments) by no-case markers, so they survive the brace-stripping Unicode conversion."""
    out: list[str] = []
    depth = 0
    top_is_marker = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            m = re.match(r"\\([a-zA-Z]+|.)", value[i:])
            assert m is not None
            out.append(m.group(0))
            i += len(m.group(0))
            continue
        if ch == "{":
            if depth == 0:
                top_is_marker = not _is_command_arg(value, i)
                out.append(_NOCASE_OPEN if top_is_marker else ch)
            else:
                out.append(ch)
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            out.append(_NOCASE_CLOSE if depth == 0 and top_is_marker else ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _is_command_arg(value: str, i: int) -> bool:
    """True when the brace at ``i`` is an accent group like ``{\\'e}`` or a command's argument."""
    if re.match(r"\{\\(?:[^a-zA-Z]|[a-zA-Z]{1,2}\b)", value[i:]):
        return True  # {\'e}, {\"u}, {\c c}, {\ss}: one accented letter
    return bool(re.search(r"\\[a-zA-Z]+\s*$|\\[^a-zA-Z\s]$", value[:i]))


_ACCENT_ARG = re.compile(r"\\([`'^\"~=.uvHcdbkr])\s*\{\s*(\\?[A-Za-z])\s*\}")
_ACCENT_BARE = re.compile(r"(?<!\{)\\([`'^\"~=.])([A-Za-z])")


def _brace_accent(m: re.Match[str]) -> str:
    letter = {"\\i": "i", "\\j": "j"}.get(m[2], m[2])  # \^{\i} is a plain î
    return "{\\" + m[1] + (" " if m[1].isalpha() else "") + letter + "}"


def _to_unicode(value: str) -> str:
    # convert_to_unicode mangles several unbraced accents in a row (sant\'e : cr\'eation), so every
    # accent is first put in the braced form {\'e} that it converts reliably.
    value = _ACCENT_ARG.sub(_brace_accent, value)
    value = _ACCENT_BARE.sub(r"{\\\1\2}", value)
    return convert_to_unicode({"v": value})["v"]


# Formatting commands and the rich-text markup Zotero stores for them in titles.
_MARKUP = {
    "textit": ("<i>", "</i>"), "emph": ("<i>", "</i>"), "mkbibemph": ("<i>", "</i>"),
    "mkbibitalic": ("<i>", "</i>"), "textbf": ("<b>", "</b>"), "mkbibbold": ("<b>", "</b>"),
    "textsc": ('<span style="font-variant:small-caps;">', "</span>"),
    "textsuperscript": ("<sup>", "</sup>"), "textsubscript": ("<sub>", "</sub>"),
    "url": ("", ""), "textrm": ("", ""), "textup": ("", ""), "textnormal": ("", ""), "mbox": ("", ""),
}


def _unwrap_commands(value: str, markup: bool) -> str:
    """``\\textit{x}`` → ``<i>x</i>`` (titles) or ``x`` (other fields); the braces go with the command."""
    out, i = [], 0
    for m in re.finditer(r"\\(" + "|".join(_MARKUP) + r")\s*\{", value):
        if m.start() < i:
            continue
        depth, j = 1, m.end()
        while j < len(value) and depth:
            depth += {"{": 1, "}": -1}.get(value[j], 0)
            j += 1
        if depth:
            continue  # unbalanced: leave it to the Unicode conversion
        inner = _unwrap_commands(value[m.end(): j - 1], markup)
        open_tag, close_tag = _MARKUP[m[1]] if markup else ("", "")
        out.append(value[i: m.start()] + open_tag + inner + close_tag)
        i = j
    out.append(value[i:])
    return "".join(out)


def _clean(value: str, markup: bool = False) -> str:
    """LaTeX → Unicode, protective braces dropped, whitespace collapsed."""
    # A bare ~ is LaTeX's no-break space; \textasciitilde{} (converted below) is a real tilde.
    value = re.sub(r"(?<!\\)~", "\u00a0", value)
    # Escaped braces are text: keep them apart from the grouping braces that are dropped.
    value = value.replace("\\{", "\x05").replace("\\}", "\x06")
    text = _to_unicode(_unwrap_commands(value, markup)).replace("{", "").replace("}", "")
    text = re.sub(r"\\([&%$#_])", r"\1", text).replace("\x05", "{").replace("\x06", "}")
    return re.sub(r"[ \t\r\n]+", " ", text).strip(" \t\r\n")


def _clean_title(value: str) -> str:
    marked = _mark_protected(_unwrap_commands(value, markup=True))
    text = _clean(marked, markup=True)
    text = text.replace(_NOCASE_OPEN, '<span class="nocase">').replace(_NOCASE_CLOSE, "</span>")
    return text


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


def _creators(value: str, creator_type: str, where: str) -> list[dict[str, str]]:
    out = []
    for raw in _split_names(value):
        if raw == "others":
            continue  # BibTeX's "and others" (et al.) is not a person
        if raw.startswith("{") and raw.endswith("}") and _balanced_group(raw):
            out.append({"creatorType": creator_type, "name": _clean(raw[1:-1])})
            continue
        try:
            parts = splitname(raw, strict_mode=False)
        except Exception as exc:  # bibtexparser raises InvalidName (a ValueError) on odd names
            raise InputFileError(f"{where}: the name '{raw}' cannot be read ({exc}); fix it and import again.") from exc
        last = " ".join(parts.get("von", []) + parts.get("last", []))
        first = " ".join(parts.get("first", []))
        if parts.get("jr"):
            first = f"{first}, {' '.join(parts['jr'])}" if first else " ".join(parts["jr"])
        if not first and last:
            out.append({"creatorType": creator_type, "name": _clean(last)})
        else:
            out.append({"creatorType": creator_type, "firstName": _clean(first), "lastName": _clean(last)})
    return out


def _balanced_group(raw: str) -> bool:
    depth = 0
    for i, ch in enumerate(raw):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0 and i < len(raw) - 1:
            return False
    return depth == 0


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


def entry_to_zotero(entry: dict[str, str], *, schema: ZoteroSchema | None = None, where: str = "") -> dict[str, Any]:
    """One parsed BibTeX entry (raw LaTeX values) as Zotero item ``data``."""
    schema = schema or load_schema()
    etype = entry.get("ENTRYTYPE", "misc").lower()
    item_type = ENTRY_TYPES.get(etype, "document")
    if etype in ("phdthesis", "mastersthesis") and "type" not in entry:
        entry = {**entry, "type": "PhD thesis" if etype == "phdthesis" else "Master's thesis"}
    valid = set(schema.fields(item_type))
    base_map = {}
    for field, base in schema.base_fields(item_type).items():
        base_map.setdefault(base, field)
    data: dict[str, Any] = {"key": key_for(entry["ID"]), "version": 0, "itemType": item_type}
    f = {k.lower(): v for k, v in entry.items() if k not in ("ENTRYTYPE", "ID")}
    extra: list[str] = []

    if "title" in f:
        _set(data, valid, base_map, "title", _clean_title(f["title"]))
    container = f.get("journaltitle") or f.get("journal") or f.get("booktitle")
    if container:
        _set(data, valid, base_map, "publicationTitle", _clean_title(container))
    creators = []
    for bib_field, ctype in (("author", None), ("editor", "editor"), ("translator", "translator"),
                             ("bookauthor", "bookAuthor")):
        if f.get(bib_field):
            kind = ctype or _primary(schema, item_type)
            if kind not in schema.creator_types(item_type):
                kind = "contributor" if "contributor" in schema.creator_types(item_type) else _primary(schema, item_type)
            creators += _creators(f[bib_field], kind, where)
    data["creators"] = creators
    for bib_field in ("institution", "school", "publisher", "organization"):
        if f.get(bib_field):
            if etype == "online" and bib_field == "organization":
                _set(data, valid, base_map, "publicationTitle", _clean(f[bib_field]))
            else:
                _set(data, valid, base_map, "publisher", _clean(f[bib_field]))
    if f.get("address") or f.get("location"):
        _set(data, valid, base_map, "place", _clean(f.get("location") or f["address"]))
    if f.get("date"):
        data_date = _clean(f["date"])
    elif f.get("year"):
        data_date = _clean(f["year"])
        month = _month_number(_clean(f.get("month", ""))) if f.get("month") else None
        if month:
            data_date += f"-{month:02d}"
            if f.get("day", "").strip().isdigit():
                data_date += f"-{int(f['day']):02d}"
    else:
        data_date = ""
    if data_date:
        _set(data, valid, base_map, "date", data_date)
    if f.get("pages"):
        pages = re.sub(r"\s*(--|–|—)\s*", "-", _clean(f["pages"]))
        _set(data, valid, base_map, "pages", pages)
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
        if item_type in ("journalArticle", "magazineArticle", "newspaperArticle"):
            _set(data, valid, base_map, "issue", number)
        elif not _set(data, valid, base_map, "number", number):
            _set(data, valid, base_map, "seriesNumber", number) or _set(data, valid, base_map, "issue", number)
    simple = {
        "volume": "volume", "issue": "issue", "edition": "edition", "isbn": "ISBN", "issn": "ISSN",
        "abstract": "abstractNote", "shorttitle": "shortTitle", "type": "type", "series": "series",
        "langid": "language", "language": "language", "doi": "DOI", "url": "url", "urldate": "accessDate",
    }
    for bib_field, zfield in simple.items():
        if not f.get(bib_field):
            continue
        value = _clean(f[bib_field]) if bib_field not in ("url", "doi") else _clean_verbatim(f[bib_field])
        if zfield == "DOI":
            # Stored bare when the value holds a DOI: Web of Science writes DOI = {{10.1/x}}, others doi:10.1/x.
            value = read_doi(value).doi or value
        if zfield == "language":
            value = _LANGIDS.get(value.lower(), value)
        if zfield == "series":
            _set(data, valid, base_map, "series", value) or _set(data, valid, base_map, "seriesTitle", value)
        else:
            _set(data, valid, base_map, zfield, value)
    howpublished = re.sub(r"^\\url\{(.*)\}$", r"\1", f.get("howpublished", "").strip())
    if howpublished.startswith(("http://", "https://")):
        _set(data, valid, base_map, "url", _clean_verbatim(howpublished))
    elif howpublished:
        _set(data, valid, base_map, "publisher", _clean(howpublished))
    if f.get("note"):
        extra.insert(0, _clean(f["note"]))
    if extra:
        data["extra"] = "\n".join(extra)
    if "citationKey" in valid:
        data["citationKey"] = entry["ID"]
    keywords = _clean(f.get("keywords", ""))
    data["tags"] = [{"tag": k} for k in (s.strip() for s in re.split(r"[,;]", keywords)) if k]
    data["collections"] = []
    data["relations"] = {}
    return data


def _clean_verbatim(value: str) -> str:
    # url and doi are verbatim in BibLaTeX; only undo escaped specials Better BibTeX may write.
    return re.sub(r"\\([&%$#_{}])", r"\1", value).strip()


def _primary(schema: ZoteroSchema, item_type: str) -> str:
    return schema.primary_creator_type(item_type) or "author"


def read_bibtex(path: Path) -> ParsedFiles:
    """Read a .bib file (BibTeX, BibLaTeX, Better BibTeX exports) as Zotero API objects."""
    text = read_text_file(path)
    parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False, interpolate_strings=True)
    try:
        db = bibtexparser.loads(text, parser=parser)
    except Exception as exc:  # pyparsing's ParseException and friends
        line = getattr(exc, "lineno", None) or 1
        raise InputFileError(f"{path}: BibTeX syntax error at line {line} ({exc}); nothing was imported.") from exc
    # bibtexparser 1.x keeps an entry it cannot parse as an "implicit comment": that is an error here.
    for comment in db.comments:
        if comment.lstrip().startswith("@") and not comment.lstrip().lower().startswith("@comment"):
            line = _line_of(text, comment)
            first = comment.strip().splitlines()[0][:60]
            raise InputFileError(
                f"{path}: line {line}: the entry '{first}' is not valid BibTeX (unbalanced braces or a missing "
                "comma or '='?); fix it and import again (nothing was imported)."
            )
    if not db.entries:
        # Importing replaces the library: an empty result from a non-BibTeX file would wipe it.
        raise InputFileError(f"{path} has no BibTeX entries (such as @article{{key, …}}); nothing was imported.")
    schema = load_schema()
    parsed = ParsedFiles(sources=[str(path)])
    seen: dict[str, str] = {}
    for entry in db.entries:
        where = f"{path}: line {_line_of(text, '{' + entry['ID'] + ',')} (@{entry['ENTRYTYPE']}{{{entry['ID']}}})"
        data = entry_to_zotero(entry, schema=schema, where=where)
        if data["key"] in seen:
            raise InputFileError(
                f"{where}: the citation key '{entry['ID']}' is used twice; make keys unique (nothing was imported)."
            )
        seen[data["key"]] = entry["ID"]
        parsed.items.append({"key": data["key"], "version": 0, "data": data})
    return parsed


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def citation_key(data: dict[str, Any]) -> str:
    """Better BibTeX's default key ``[auth:lower][shorttitle3_3][year]``, folded to ASCII."""
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
    year = parse_date(date).year if date else None
    return auth + short + (str(year) if year is not None else "") or "item"


def _escape(text: str) -> str:
    text = text.replace("\\", r"\textbackslash{}")
    out = []
    depth = 0
    for ch in text:
        if ch in _LATEX_SPECIALS:
            out.append(_LATEX_SPECIALS[ch])
        elif ch == "{":
            depth += 1
            out.append(ch)
        elif ch == "}":
            if depth:
                depth -= 1
                out.append(ch)
            else:
                out.append(r"\}")
        else:
            out.append(ch)
    result = "".join(out)
    # Unbalanced opening braces would swallow the rest of the file.
    return result + "}" * depth if depth else result


# Zotero's rich-text tags in titles → LaTeX, as Better BibTeX writes them.
_TAGS_OUT = {"i": r"\emph{", "em": r"\emph{", "b": r"\textbf{", "strong": r"\textbf{",
             "sup": r"\textsuperscript{", "sub": r"\textsubscript{", "nocase": "{", "sc": r"\textsc{"}


def _escape_title(text: str) -> str:
    out: list[str] = []
    stack: list[bool] = []  # per open tag: whether it produced a closing brace
    for part in re.split(r"(<[^>]+>)", text):
        m = re.match(r"<(/?)(\w+)([^>]*)>$", part)
        if not m:
            out.append(_escape(part))
            continue
        closing, tag, attrs = m[1], m[2].lower(), m[3]
        if tag == "span":
            tag = "nocase" if "nocase" in attrs else ("sc" if "small-caps" in attrs else "span")
        if closing:
            if stack and stack.pop():
                out.append("}")
        elif tag in _TAGS_OUT:
            out.append(_TAGS_OUT[tag])
            stack.append(True)
        else:
            stack.append(False)  # unknown markup is dropped, its text kept
    out.extend("}" for opened in stack if opened)
    return "".join(out)


def _name(creator: dict[str, Any]) -> str:
    who = creator_name(creator)
    if who.single:
        return "{" + _escape(who.last) + "}" if who.last else ""
    last, first = _escape(who.last), _escape(who.first)
    if " and " in f" {last} " or "," in last:
        last = "{" + last + "}"
    return f"{last}, {first}" if first else last


def data_to_fields(data: dict[str, Any], *, schema: ZoteroSchema | None = None) -> tuple[str, dict[str, str]]:
    """The entry type and ``field → LaTeX value`` for one Zotero item (``month`` is a bare macro)."""
    schema = schema or load_schema()
    item_type = data.get("itemType", "document")
    etype = EXPORT_TYPES.get(item_type, "misc")
    try:
        base_of = schema.base_fields(item_type)
    except KeyError:
        base_of = {}

    def get(base: str) -> str:
        """A field by its base name (``publisher`` finds ``institution`` in a report)."""
        if data.get(base):
            return str(data[base])
        for field, b in base_of.items():
            if b == base and data.get(field):
                return str(data[field])
        return ""

    fields: dict[str, str] = {}
    primary = _primary(schema, item_type) if item_type in schema.item_types else "author"
    groups: dict[str, list[str]] = {}
    for c in data.get("creators") or []:
        ctype = c.get("creatorType", "author")
        bib = "author" if ctype in (primary, "author") else {"editor": "editor", "seriesEditor": "editor",
                                                             "translator": "translator", "bookAuthor": "bookauthor"}.get(ctype)
        if bib:
            groups.setdefault(bib, []).append(_name(c))
    for bib, names in groups.items():
        fields[bib] = " and ".join(names)
    title = get("title")
    if title:
        fields["title"] = _escape_title(title)
    container = get("publicationTitle")
    if container:
        key = {"article": "journal", "online": "organization"}.get(etype, "booktitle")
        fields[key] = _escape_title(container)
    publisher = get("publisher")
    if publisher:
        fields[{"techreport": "institution", "phdthesis": "school"}.get(etype, "publisher")] = _escape(publisher)
    if data.get("place"):
        fields["address"] = _escape(data["place"])
    date = date_of(data)
    if date:
        parts = parse_date(date).parts
        if parts:
            fields["year"] = str(parts[0])
            if len(parts) > 1:
                fields["month"] = _MONTH_NAMES[parts[1] - 1]
            if len(parts) > 2:
                fields["day"] = str(parts[2])
        else:
            fields["year"] = _escape(date)
    for zfield, bib in (("volume", "volume"), ("edition", "edition"), ("ISBN", "isbn"), ("ISSN", "issn"),
                        ("shortTitle", "shorttitle"), ("language", "langid"), ("abstractNote", "abstract")):
        if data.get(zfield):
            value = str(data[zfield])
            fields[bib] = _escape(_LANG_NAMES.get(value, value) if zfield == "language" else value)
    number = data.get("issue") or get("number") or data.get("seriesNumber")
    if number:
        fields["number"] = _escape(str(number))
    series = data.get("series") or data.get("seriesTitle")
    if series:
        fields["series"] = _escape_title(series)
    if get("type") and etype in ("techreport", "phdthesis", "misc"):
        fields["type"] = _escape(get("type"))
    if data.get("pages"):
        fields["pages"] = _escape(re.sub(r"\s*[-–—]+\s*", "--", str(data["pages"])))
    pagetotal = data.get("numPages") or next(
        (v for v in extra_lines(str(data.get("extra") or "")).get("number-of-pages", ()) if v), "")
    if pagetotal:
        fields["pagetotal"] = _escape(str(pagetotal))
    if data.get("DOI"):
        fields["doi"] = data["DOI"]
    if data.get("url"):
        fields["url"] = data["url"]
    if data.get("accessDate"):
        fields["urldate"] = str(data["accessDate"])[:10]
    tags = [t["tag"] for t in data.get("tags") or [] if t.get("tag")]
    if tags:
        fields["keywords"] = _escape(", ".join(tags))
    return etype, fields


def write_bibtex(items: list[dict[str, Any]]) -> str:
    """Zotero item ``data`` dicts as BibTeX text, one entry per item, with unique citation keys."""
    schema = load_schema()
    used: set[str] = set()
    chunks = []
    for data in items:
        base = str(data.get("citationKey") or citation_key(data))
        key, n = base, 0
        while key in used:
            # Better BibTeX disambiguates with a, b, c …
            key = base + _suffix(n)
            n += 1
        used.add(key)
        etype, fields = data_to_fields(data, schema=schema)
        lines = [f"@{etype}{{{key},"]
        for name, value in fields.items():
            lines.append(f"  {name} = {value}," if name == "month" else f"  {name} = {{{value}}},")
        lines[-1] = lines[-1].rstrip(",")
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
