"""CSL-JSON in both directions: Zotero item ``data`` → CSL-JSON item, and CSL-JSON files → Zotero objects.

The Zotero → CSL direction follows Zotero's own ``Zotero.Utilities.Item.itemToCSLJSON``
(zotero/utilities ``utilities_item.js``), its ``extraToCSL`` pre-processing of the Extra
field, and the "cheater syntax" that citeproc-js then applies to the resulting ``note``
(``key: value`` lines in Extra become CSL variables). The mappings come from the bundled
schema (:mod:`zotcurate.zschema`), exactly the tables Zotero builds its mappings from.
Where this module deliberately differs from Zotero, a comment says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from zotcurate.errors import InputFileError
from zotcurate.fields import creator_name, date_range, parse_date, parse_extra, read_doi
from zotcurate.formats.base import ExportOptions, ExportSelection, Format, ImportOptions, ParsedFiles, top_level_items
from zotcurate.formats.zotero_json import load_json  # the one JSON reader that names line and column
from zotcurate.zschema import ZoteroSchema, load_schema

KEY_ALPHABET = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
_KEY_RE = re.compile(r"^[23456789ABCDEFGHIJKLMNPQRSTUVWXYZ]{8}$")

# CSL variables that citeproc-js accepts from Extra/note lines, as listed in Zotero's extraToCSL().
_EXTRA_CSL_VARS = {
    "abstract", "accessed", "annote", "archive", "archive-place", "author", "authority", "call-number",
    "chapter-number", "citation-key", "citation-label", "citation-number", "collection-editor",
    "collection-number", "collection-title", "composer", "container", "container-author", "container-title",
    "container-title-short", "dimensions", "director", "edition", "editor", "editorial-director", "event",
    "event-date", "event-place", "first-reference-note-number", "genre", "illustrator", "interviewer", "issue",
    "issued", "jurisdiction", "keyword", "language", "locator", "medium", "note", "number", "number-of-pages",
    "number-of-volumes", "original-author", "original-date", "original-publisher", "original-publisher-place",
    "original-title", "page", "page-first", "publisher", "publisher-place", "recipient", "references",
    "reviewed-author", "reviewed-title", "scale", "section", "source", "status", "submitted", "title",
    "title-short", "translator", "type", "version", "volume", "year-suffix",
    # CSL 1.0.2 variables Zotero has no field for; citeproc-js reads them from the note as well.
    "archive_collection", "available-date", "division", "event-title", "license", "part", "part-title", "printing",
    "reviewed-genre", "supplement", "volume-title", "volume-title-short", "collection-title-short",
}
_EXTRA_UPPER_VARS = {"doi", "isbn", "issn", "pmcid", "pmid", "url"}

# citeproc-js's CSL.DATE_VARIABLES and CSL.NAME_VARIABLES (the ones a note line may set).
_DATE_VARS = {"accessed", "available-date", "event-date", "issued", "original-date", "submitted"}
_NAME_VARS = {
    "author", "chair", "collection-editor", "compiler", "composer", "container-author", "contributor", "curator",
    "director", "editor", "editorial-director", "executive-producer", "guest", "host", "illustrator",
    "interviewer", "narrator", "organizer", "original-author", "performer", "producer", "recipient",
    "reviewed-author", "script-writer", "series-creator", "translator",
}

_BCE = re.compile(r"^\s*(?:-(\d{1,4})(?:-(\d{2})(?:-(\d{2}))?)?|(\d{1,4})\s*(?:BC|BCE|B\.C\.|av\. J\.-C\.))\s*$",
                  re.IGNORECASE)

_PARTICLE_GIVEN = re.compile(r"^([^ ]+(?:\u02bb |\u2019 | |' ) *)(.+)$")
_PARTICLE_FAMILY = re.compile(r"^([^ ]+(?:-|\u02bb|\u2019| |') *)(.+)$")


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

def csl_date(value: str) -> dict[str, Any]:
    """A Zotero date string as a CSL date: ``{"date-parts": [[Y, M, D]]}`` (plus ``season`` for leftover
    text when there is no month, as Zotero does), or ``{"literal": value}`` when no year is found.
    The parts are those :func:`zotcurate.fields.parse_date` reads, so an impossible day is not printed."""
    if (ends := date_range(value)) is not None:
        start, end = (csl_date(e) for e in ends)
        if "date-parts" in start and "date-parts" in end:
            return {"date-parts": start["date-parts"] + end["date-parts"]}
    if m := _BCE.match(value):
        # A year before the common era, stored as ISO 8601's "-0044" (or typed "44 BC"): CSL's negative year.
        return {"date-parts": [[-int(m[1] or m[4]), *(int(p) for p in (m[2], m[3]) if p)]]}
    parsed = parse_date(value)
    if parsed.year is None:
        # Zotero passes a date without a year literally.
        return {"literal": value}
    out: dict[str, Any] = {"date-parts": [list(parsed.parts)]}
    if parsed.season and parsed.month is None:
        out["season"] = parsed.season
    return out


# --------------------------------------------------------------------------------------------
# Names (port of citeproc-js's particle parsing, as used by itemToCSLJSON)
# --------------------------------------------------------------------------------------------

def _split_particles(value: str, given: bool) -> tuple[str, list[str]]:
    orig = value
    name = value[::-1] if given else value
    rex = _PARTICLE_GIVEN if given else _PARTICLE_FAMILY
    particles: list[str] = []
    m = rex.match(name)
    while m:
        m1 = m[1][::-1] if given else m[1]
        first = re.sub(r"^[-'\u02bb\u2019\s]*(.).*$", r"\1", m1, flags=re.DOTALL)
        if first.upper() == first:
            break
        if given:
            particles.append(orig[-len(m1):])
            orig = orig[: -len(m1)]
        else:
            particles.append(orig[: len(m1)])
            orig = orig[len(m1):]
        name = m[2]
        m = rex.match(name)
    if given:
        name = name[::-1]
        particles.reverse()
        for i in range(1, len(particles)):
            if particles[i][:1] == " ":
                particles[i - 1] += " "
        particles = [p[1:] if p[:1] == " " else p for p in particles]
        return orig[: len(name)], particles
    return orig[len(orig) - len(name):], particles


def _parse_particles(name: dict[str, Any]) -> None:
    family, plist = _split_particles(name["family"], given=False)
    name["family"] = family
    joined = "".join(plist)
    last = joined[-1:]
    ndp = joined.strip()
    if last == " " and ndp[-1:] in ("'", "\u2019"):
        ndp += " "
    if ndp:
        name["non-dropping-particle"] = ndp
    # Suffix after a comma in the given name ("John, Jr.").
    if not name.get("suffix") and name.get("given"):
        m = re.search(r"(\s*,!*\s*)", name["given"])
        if m:
            idx = m.start(1)
            suffix = name["given"][idx + len(m[1]):]
            comma = re.sub(r"\s*", "", m[1])
            if suffix.replace(".", "") == "et al" and not name.get("dropping-particle"):
                name["dropping-particle"] = suffix
                name["comma-dropping-particle"] = ","
            else:
                if len(comma) == 2:
                    name["comma-suffix"] = True
                name["suffix"] = suffix
            name["given"] = name["given"][:idx]
    given, glist = _split_particles(name["given"], given=True)
    name["given"] = given
    dp = "".join(glist).strip()
    if dp:
        name["dropping-particle"] = dp


def creator_to_csl(creator: dict[str, Any]) -> dict[str, Any] | None:
    """One Zotero creator as a CSL name object (``family``/``given`` or ``literal``)."""
    who = creator_name(creator)
    if who.single:
        return {"literal": who.last} if who.last else None
    if not (who.last or who.first):
        return None
    name: dict[str, Any] = {"family": who.last, "given": who.first}
    if name["family"] and name["given"]:
        fam = name["family"]
        if len(fam) > 1 and fam[0] == '"' and fam[-1] == '"':
            name["family"] = fam[1:-1]
        else:
            _parse_particles(name)
    return name


# --------------------------------------------------------------------------------------------
# Extra
# --------------------------------------------------------------------------------------------

def _zotero_field_to_csl(schema: ZoteroSchema) -> dict[str, str]:
    """Zotero field → CSL variable (Zotero's CSL_FIELD_MAPPINGS_REVERSE: first mapping wins)."""
    out: dict[str, str] = {}
    for var, fields in schema.csl_text_fields.items():
        for f in fields:
            out.setdefault(f, var)
    for var, f in schema.csl_date_fields.items():
        out.setdefault(f, var)
    return out


# Zotero's extraToCSL converts keys of letters, spaces and hyphens only ("Original Date", "DOI").
_ZOTERO_EXTRA_KEY = re.compile(r"[A-Za-z \-]+")


def extra_to_csl(extra: str, schema: ZoteroSchema | None = None) -> str:
    """Zotero's ``extraToCSL``: normalise ``Key Name: value`` lines to CSL variable names."""
    schema = schema or load_schema()
    reverse = _zotero_field_to_csl(schema)
    out = []
    for line in parse_extra(extra):
        if not (line.key and line.value and _ZOTERO_EXTRA_KEY.fullmatch(line.key)) or line.text.startswith("{:"):
            out.append(line.text)
            continue
        original = line.key
        key = original.lower().replace(" ", "-")
        if key in _EXTRA_CSL_VARS:
            pass
        elif key in _EXTRA_UPPER_VARS:
            key = key.upper()
        elif key == "archive-location":
            key = "archive_location"
        else:
            zfield = re.sub(r" ([A-Z])", r"\1", original, count=1)
            if len(zfield) > 1 and zfield[1] == zfield[1].lower():
                zfield = zfield[0].lower() + zfield[1:]
            key = reverse.get(zfield, original)
        out.append(key + line.text[line.text.index(":"):])
    return "\n".join(out)


def _apply_note_fields(item: dict[str, Any], schema: ZoteroSchema) -> None:
    """citeproc-js's note-field hack: CSL ``key: value`` lines in ``note`` (from Extra) set variables.

    Follows citeproc-js: ``type`` sets the type, date variables override the item's dates, text and
    name variables only fill empty ones, and a consumed line leaves the note. Lines whose key is not
    a CSL variable (e.g. ``bib-role: …``) stay in the note. Difference: citeproc-js stops at the
    first line that is not ``key: value``; like Zotero's own ``extractExtraFields`` we read every line.
    """
    note = item.get("note")
    if not isinstance(note, str) or not note:
        return
    text_vars = set(schema.csl_text_fields) | _EXTRA_CSL_VARS | {v.upper() for v in _EXTRA_UPPER_VARS}
    text_vars |= {"archive_location"}
    keep: list[str] = []
    names: dict[str, list[dict[str, str]]] = {}
    for extra_line in parse_extra(note):
        line, key, val = extra_line.text, extra_line.key, extra_line.value
        if not key or not val:
            keep.append(line)
            continue
        if key == "type":
            if val in schema.csl_types:
                item["type"] = val
                continue
            keep.append(line)
        elif key in _DATE_VARS:
            item[key] = csl_date(val)
        elif key in _NAME_VARS:
            if key in item:
                keep.append(line)
                continue
            parts = re.split(r"\s*\|\|\s*", val)
            if len(parts) == 2:
                names.setdefault(key, []).append({"family": parts[0], "given": parts[1]})
            else:
                names.setdefault(key, []).append({"literal": val})
        elif key in text_vars and key != "note":
            if not item.get(key):
                item[key] = val
            else:
                keep.append(line)
        else:
            keep.append(line)
    item.update(names)
    rest = "\n".join(keep).strip()
    if rest:
        item["note"] = rest
    else:
        item.pop("note", None)


# --------------------------------------------------------------------------------------------
# Zotero → CSL
# --------------------------------------------------------------------------------------------

def _csl_type_for(item_type: str, schema: ZoteroSchema) -> str:
    for csl_type, zotero_types in schema.csl_types.items():
        if item_type in zotero_types:
            return csl_type
    # Zotero throws on an unknown type; an export should not stop for one item.
    return "document"


def zotero_to_csl(data: dict[str, Any], *, schema: ZoteroSchema | None = None) -> dict[str, Any]:
    """Map a Zotero item's ``data`` to a CSL-JSON item, the way Zotero's ``itemToCSLJSON`` does."""
    schema = schema or load_schema()
    item_type = data.get("itemType", "document")
    try:
        base_of = schema.base_fields(item_type)
    except KeyError:
        base_of = {}
    field_for_base = {base: field for field, base in base_of.items()}
    csl: dict[str, Any] = {"id": data.get("key", ""), "type": _csl_type_for(item_type, schema)}

    for variable, fields in schema.csl_text_fields.items():
        if variable == "shortTitle":  # Zotero reads both, writes only title-short
            continue
        for field in fields:
            # "version" in API data is the object's sync version, not a field: Zotero's
            # versionNumber→version fallback (zotero#670) is deliberately not copied.
            if field in data and field not in ("version", "key"):
                value = data[field]
            elif field in field_for_base:
                value = data.get(field_for_base[field])
            else:
                value = None
            if not value or not isinstance(value, str):
                continue
            # Zotero keeps only the first ISBN of the field; all of them are kept here (a book's ISBN-10 and
            # -13, or the print and electronic numbers), as the field holds them.
            if field == "extra":
                value = extra_to_csl(value, schema)
            if value[:1] == '"' and value.find('"', 1) == len(value) - 1:
                value = value[1:-1]
            csl[variable] = value
            break

    if item_type not in ("attachment", "note"):
        primary = schema.primary_creator_type(item_type)
        for creator in data.get("creators") or []:
            ctype = creator.get("creatorType", "author")
            var = schema.csl_names.get(ctype) or ("author" if ctype == primary else None)
            if not var:
                continue
            name = creator_to_csl(creator)
            if name is None:
                continue  # Zotero would emit an undefined entry; an empty creator is dropped instead
            csl.setdefault(var, []).append(name)

    for variable, field in schema.csl_date_fields.items():
        value = data.get(field) or data.get(field_for_base.get(field, ""), "")
        if not value or not isinstance(value, str):
            continue
        # Zotero converts accessDate from UTC to local time first; the UTC date is kept here so
        # the output does not depend on the machine's time zone.
        csl[variable] = csl_date(value)

    _apply_note_fields(csl, schema)
    return csl


# --------------------------------------------------------------------------------------------
# CSL → Zotero (import)
# --------------------------------------------------------------------------------------------

def key_for(csl_id: Any) -> str:
    """The Zotero key for a CSL id: the id itself when it is already a key, else 8 characters
    from Zotero's key alphabet derived from the id (the same id always gives the same key)."""
    text = str(csl_id)
    if _KEY_RE.match(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "".join(KEY_ALPHABET[b % len(KEY_ALPHABET)] for b in digest[:8])


def _zotero_type_for(csl: dict[str, Any], schema: ZoteroSchema) -> str:
    ctype = csl.get("type")
    # Zotero's special cases, so fields that only the alternative type has are not lost.
    if ctype == "bill" and (csl.get("publisher") or csl.get("number-of-volumes")):
        return "hearing"
    if ctype == "broadcast" and any(csl.get(k) for k in ("archive", "archive_location", "container-title",
                                                         "event-place", "publisher", "publisher-place", "source")):
        return "tvBroadcast"
    if ctype == "book" and csl.get("version"):
        return "computerProgram"
    if ctype == "song" and csl.get("number"):
        return "podcast"
    if ctype == "motion_picture" and any(csl.get(k) for k in ("collection-title", "publisher-place", "event-place",
                                                              "volume", "number-of-volumes", "ISBN")):
        return "videoRecording"
    types = schema.csl_types.get(ctype or "")
    return types[0] if types else "document"


def _csl_date_to_zotero(value: Any, variable: str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return ""
    if value.get("literal") or value.get("raw"):
        return str(value.get("literal") or value.get("raw"))
    parts = value.get("date-parts")
    if not (isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]):
        return ""
    if len(parts) == 2 and isinstance(parts[1], list) and parts[1]:
        start, end = (_csl_date_to_zotero({"date-parts": [p]}, variable) for p in parts)
        if start and end and start != end:
            return f"{start}/{end}"  # a range, as ISO 8601 writes it (csl_date reads it back)
    nums = []
    for p in parts[0][:3]:
        try:
            nums.append(int(p))
        except (TypeError, ValueError):
            break
    if not nums or not nums[0]:
        return ""
    if nums[0] < 0:  # ISO 8601's years before the common era ("-0044-03-15"), which csl_date reads back
        return f"-{-nums[0]:04d}" + "".join(f"-{n:02d}" for n in nums[1:] if n)
    # Zotero stores a bare SQL-like date for every date field ("2020-03-15", "2020-03", "2020").
    date = f"{nums[0]:04d}" + "".join(f"-{n:02d}" for n in nums[1:] if n)
    if value.get("season") and len(nums) == 1:
        date = f"{value['season']} {date}"
    return date


def csl_item_to_zotero(csl: dict[str, Any], *, schema: ZoteroSchema | None = None) -> dict[str, Any]:
    """One CSL-JSON item as Zotero item ``data`` (Zotero's ``itemFromCSLJSON``)."""
    schema = schema or load_schema()
    item_type = _zotero_type_for(csl, schema)
    valid = set(schema.fields(item_type))
    field_for_base = {base: f for f, base in schema.base_fields(item_type).items()}
    data: dict[str, Any] = {"key": key_for(csl.get("id")), "version": 0, "itemType": item_type}
    unmapped: list[str] = []
    for variable, fields in schema.csl_text_fields.items():
        if variable not in csl or variable == "note" or csl[variable] in (None, ""):
            continue
        value = csl[variable] if isinstance(csl[variable], str) else str(csl[variable])
        if variable == "DOI":
            # Stored bare when the value holds a DOI ("https://doi.org/10.1/x" → "10.1/x"), as check asks.
            value = read_doi(value).doi or value
        for field in fields:
            target = field_for_base.get(field, field)
            if target in valid and target not in data:
                data[target] = value
                break
        else:
            if variable != "shortTitle":
                unmapped.append(f"{variable}: {value}")
    # The CSL note becomes Extra. Variables the item type has no field for (a report's
    # number-of-pages) are kept there as CSL lines, which zotero_to_csl reads back; Zotero drops them.
    extra_lines = []
    if isinstance(csl.get("note"), str) and csl["note"]:
        extra_lines.append(csl["note"])
    extra_lines += unmapped
    if (csl.get("id") is not None and not _KEY_RE.match(str(csl["id"])) and "citationKey" not in data
            and "citationKey" in valid):
        data["citationKey"] = str(csl["id"])
    primary = schema.primary_creator_type(item_type) or "author"
    valid_creators = set(schema.creator_types(item_type))
    roles: dict[str, list[str]] = {}
    for ctype, var in schema.csl_names.items():
        roles.setdefault(var, []).append(ctype)
    creators = []
    handled = {"id", "type", "note", "keyword", *schema.csl_text_fields}
    for var, ctypes in roles.items():
        names = csl.get(var)
        if not isinstance(names, list):
            continue
        handled.add(var)
        zotero_type = next((c for c in ctypes if c in valid_creators), None)
        if var == "author":
            zotero_type = primary  # CSL's author is the type's primary creator (a film's director …)
        for name in names:
            if not isinstance(name, dict):
                continue
            family = " ".join(x for x in (name.get("non-dropping-particle"), name.get("family")) if x)
            given = " ".join(x for x in (name.get("given"), name.get("dropping-particle")) if x)
            if name.get("suffix"):
                given = f"{given}, {name['suffix']}" if given else name["suffix"]
            if zotero_type is None:
                # A role the item type has no creator type for: a CSL line in Extra, as Zotero writes it.
                if family or given:
                    extra_lines.append(f"{var}: {family} || {given}")
                elif name.get("literal"):
                    extra_lines.append(f"{var}: {name['literal']}")
            elif family or given:
                creators.append({"creatorType": zotero_type, "firstName": given, "lastName": family})
            elif name.get("literal"):
                creators.append({"creatorType": zotero_type, "name": str(name["literal"])})
    data["creators"] = creators
    for variable, field in schema.csl_date_fields.items():
        if variable not in csl:
            continue
        handled.add(variable)
        target = field_for_base.get(field, field)
        value = _csl_date_to_zotero(csl[variable], variable)
        if value and target in valid:
            data[target] = value
        elif value:
            extra_lines.append(f"{variable}: {value}")
    if isinstance(csl.get("citation-key"), str) and csl["citation-key"] and "citationKey" in valid:
        data["citationKey"] = csl["citation-key"]
        handled.add("citation-key")
    # Every other variable (container-title-short for a report, event-date, volume-title, custom ones)
    # is kept in Extra in Zotero's CSL syntax, so that nothing the file says is lost.
    for variable, value in csl.items():
        if variable in handled or variable.startswith("_") or value in (None, "", [], {}):
            continue
        if isinstance(value, dict) and ("date-parts" in value or "literal" in value or "raw" in value):
            text = _csl_date_to_zotero(value, variable)
        elif isinstance(value, list) and all(isinstance(n, dict) for n in value):
            for name in value:
                family = " ".join(x for x in (name.get("non-dropping-particle"), name.get("family")) if x)
                line = f"{family} || {name.get('given', '')}" if family else str(name.get("literal", ""))
                if line:
                    extra_lines.append(f"{variable}: {line}")
            continue
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if text:
            extra_lines.append(f"{variable}: {' '.join(text.split())}")
    if extra_lines:
        data["extra"] = "\n".join(extra_lines)
    keywords = csl.get("keyword")
    words = re.split(r"\s*[,;]\s*", keywords) if isinstance(keywords, str) else []
    data["tags"] = [{"tag": k.strip()} for k in words if k.strip()]
    data["collections"] = []
    data["relations"] = {}
    return data


def csl_to_zotero_objects(path: Path, items: list[Any]) -> list[dict[str, Any]]:
    """A CSL-JSON array read from ``path`` as Zotero API objects ``{key, version, data}``."""
    schema = load_schema()
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(items, start=1):
        if not isinstance(entry, dict):
            raise InputFileError(f"{path}: entry {i} is not a JSON object; fix it and import again "
                                 "(nothing was imported).")
        if not isinstance(entry.get("type"), str) or not entry["type"]:
            raise InputFileError(f"{path}: entry {i} has no CSL 'type'; add one (e.g. \"report\") and import again "
                                 "(nothing was imported).")
        if entry.get("id") is None:
            raise InputFileError(f"{path}: entry {i} has no 'id'; give every entry an id and import again "
                                 "(nothing was imported).")
        for var in schema.csl_names.values():
            if var in entry and not isinstance(entry[var], list):
                raise InputFileError(f"{path}: entry {i} ('{entry['id']}'): '{var}' should be a list of names; "
                                     "nothing was imported.")
        for var in schema.csl_date_fields:
            if var in entry and not isinstance(entry[var], (dict, str)):
                raise InputFileError(f"{path}: entry {i} ('{entry['id']}'): '{var}' should be a CSL date object; "
                                     "nothing was imported.")
        data = csl_item_to_zotero(entry, schema=schema)
        if data["key"] in seen:
            raise InputFileError(
                f"{path}: entries {seen[data['key']]} and {i} have the same id '{entry['id']}'; make ids unique "
                "(nothing was imported)."
            )
        seen[data["key"]] = i
        out.append({"key": data["key"], "version": 0, "data": data})
    return out


# --------------------------------------------------------------------------------------------
# The format
# --------------------------------------------------------------------------------------------

def sniff(head: str) -> bool:
    """JSON that is not Zotero's own (the table asks Zotero JSON first): a list, or one CSL item."""
    return head.lstrip()[:1] in ("[", "{")


def read(path: Path, text: str, options: ImportOptions) -> ParsedFiles:
    value = load_json(path, text)
    if isinstance(value, dict) and isinstance(value.get("items"), list):
        value = value["items"]  # {"items": [...]}, as some tools wrap CSL-JSON
    elif isinstance(value, dict) and "type" in value:
        value = [value]  # one CSL item
    if not isinstance(value, list):
        raise InputFileError(f"{path} holds a JSON object that is no CSL item (no 'type'); nothing was imported.")
    return ParsedFiles(items=csl_to_zotero_objects(path, value), sources=[str(path)])


def dump(selection: ExportSelection, options: ExportOptions) -> tuple[str, int]:
    tops = top_level_items(selection.objects)
    return json.dumps([zotero_to_csl(o["data"]) for o in tops], ensure_ascii=False, indent=1) + "\n", len(tops)


FORMAT = Format("csl-json", "CSL-JSON", (".json",), sniff, read, None, dump)
