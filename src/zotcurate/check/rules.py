from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date as _date
from functools import cached_property, lru_cache
from typing import Any

import langcodes

from zotcurate.check.findings import Finding
from zotcurate.check.profile import Requirement
from zotcurate.fields import (
    _DOI,
    _ISO,
    _ISO_TIME,
    _identifier_problems,
    _parse_date_cached,
    _real,
    extra_lines,
    normalise_title,
    split_doi,
    url_problem,
)
from zotcurate.model import Item

_TAGS = re.compile(r"<[^>]+>")
_LETTER_WORDS = re.compile(r"[^\W\d_]+")
_COMMA_PERSON = re.compile(r"[^\W\d_][\w'’ -]*,\s*[^\W\d_][\w'’. -]*")  # "Dupont, Jean"
_ISBN_SPLIT = re.compile(r"[,;\s]+")
# One search tells whether a value needs the detailed whitespace rule at all.
_CAPS_PAIR = re.compile(r"[A-ZÀ-ÖØ-ÞĀ-ŽΑ-ΩА-Я]{2}")
_LOWER = re.compile(r"[a-zß-öø-ÿ]")
_SUSPECT = re.compile(r"^\s|\s$|  |[\t\n\r\u00a0\u202f\u2007\u2009<&]")  # any text rule may apply
_WS_SUSPECT = re.compile(r"^\s|\s$|  |[\t\n\r\u00a0\u202f\u2007\u2009]")


@lru_cache(maxsize=4096)
def _language_ok(tag: str) -> bool:
    return bool(langcodes.tag_is_valid(tag))


_INSTITUTION_WORDS = re.compile(
    r"\b(minist[eè]re|ministry|agence|agency|autorit[eé]|authority|institut|institute|observatoire|observatory|"
    r"direction|f[eé]d[eé]ration|federation|association|universit[eé]|university|centre|center|conseil|council|"
    r"d[eé]l[eé]gation|caisse|soci[eé]t[eé]|society|collectif|union|assurance|ordre|comit[eé]|committee|"
    r"commission|fondation|foundation|r[eé]seau|network|organisation|organization|d[eé]partement|department|"
    r"[eé]cole|h[oô]pital|hospital|laboratoire|gouvernement|government|r[eé]gion|mutualit[eé]|inserm|drees|"
    r"cnrs|inria|oms|who|anap|ars|chu)\b",
    re.IGNORECASE,
)
_PLACEHOLDERS = {
    "n.d.", "n.d", "n. d.", "s.d.", "s.d", "s. d.", "n/a", "n.a.", "n/d", "null", "none", "undefined", "nan",
    "inconnu", "inconnue", "unknown", "-", "--", "?", "??", "...", "…", "sans date", "non renseigné",
    "non renseigne", "n.c.", "nc", "tbd", "xxx", "à compléter", "a completer", "todo",
}
_TITLE_TAGS = re.compile(r"</?(i|b|sub|sup)>|<span class=\"nocase\">|<span style=\"font-variant:\s*small-caps;?\">|</span>",
                         re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]{1,30});")
_ODD_SPACE = re.compile(r"[\u00a0\u202f\u2007\u2009]")
# Structural or machine-made fields that text rules do not read.
_SKIP_TEXT = {
    "key", "version", "itemType", "parentItem", "collections", "relations", "tags", "creators", "dateAdded",
    "dateModified", "extra", "deleted", "inPublications", "note", "contentType", "linkMode", "charset",
    "filename", "md5", "mtime", "path", "url", "accessDate",
}
_MULTILINE = {"abstractNote"}


# -- the rules on one item ---------------------------------------------------------


@dataclass
class _Ctx:
    item: Item
    data: dict[str, Any]
    tags: set[str]
    notes: list[Item]
    commentary_tags: set[str]

    @cached_property
    def extra(self) -> dict[str, list[str]]:
        # parsed only when a rule reads Extra (most items satisfy their rules before that)
        return extra_lines(str(self.data.get("extra", "")))

    def commentary_notes(self) -> list[Item]:
        return [n for n in self.notes if n.item_type == "note" and self.commentary_tags & set(n.tags)]


def _note_text(note: Item) -> str:
    html = str(note.data.get("note", ""))
    text = _TAGS.sub(" ", html)
    for entity, char in (("&nbsp;", " "), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"')):
        text = text.replace(entity, char)
    return " ".join(text.split())


def _has_name(creator: dict[str, Any]) -> bool:
    return bool(str(creator.get("name") or "").strip() or str(creator.get("lastName") or "").strip())


# A test is a field name (the common case, tested inline) or a function of the item.
Check = Callable[[_Ctx], bool] | str


def _has_value(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and bool(str(value).strip())


def compile_token(token: str) -> Check:
    """A test for one profile token (see the default profile's header for their meaning)."""
    if token == "creator":
        return lambda ctx: any(_has_name(c) for c in ctx.data.get("creators", ()))
    if token.startswith("creator:"):
        kind = token[8:]
        return lambda ctx: any(c.get("creatorType") == kind and _has_name(c) for c in ctx.data.get("creators", ()))
    if token == "commentary":
        return lambda ctx: _has_value(ctx.data.get("abstractNote")) or any(
            _note_text(n) for n in ctx.commentary_notes())
    if token.startswith("note:"):
        tag = token[5:]
        return lambda ctx: any(n.item_type == "note" and tag in n.tags and _note_text(n) for n in ctx.notes)
    if token.startswith("tag:"):
        tag = token[4:]
        return lambda ctx: tag in ctx.tags
    if token.startswith("extra:"):
        key, _, wanted = token[6:].partition("=")
        key, wanted = key.strip().casefold(), wanted.strip().casefold()
        if wanted:
            return lambda ctx: any(v.casefold() == wanted for v in ctx.extra.get(key, ()))
        return lambda ctx: any(ctx.extra.get(key, ()))
    return token


@dataclass(frozen=True)
class CompiledRequirement:
    rule: str
    severity: str
    any_of: tuple[Check, ...]
    when: tuple[Check, ...]
    field: str
    message: str


def compile_requirements(reqs: Sequence[Requirement]) -> list[CompiledRequirement]:
    out = []
    for req in reqs:
        if req.when:
            message = f"Has {_describe(req.when)} but no {_describe(req.any_of)}."
        else:
            message = f"Missing {_describe(req.any_of)}."
        out.append(CompiledRequirement(req.id, req.severity, tuple(compile_token(t) for t in req.any_of),
                                       tuple(compile_token(t) for t in req.when), _field_of(req.any_of[0]),
                                       message))
    return out


def _describe(tokens: Sequence[str]) -> str:
    names = []
    for t in tokens:
        if t.startswith("extra:"):
            names.append(f"Extra '{t[6:].replace('=', ': ')}'")
        elif t.startswith("tag:"):
            names.append(f"tag '{t[4:]}'")
        elif t.startswith("note:"):
            names.append(f"a child note tagged '{t[5:]}'")
        elif t.startswith("creator:"):
            names.append(f"a creator of type {t[8:]}")
        elif t == "commentary":
            names.append("a commentary (abstract or commentary note)")
        elif t == "creator":
            names.append("a creator")
        else:
            names.append(t)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _field_of(token: str) -> str:
    """The Zotero field a token lives in (what the ``field`` column of a finding shows)."""
    if token == "creator" or token.startswith("creator:"):
        return "creators"
    if token == "commentary":
        return "abstractNote"
    for prefix, name in (("note:", "note"), ("tag:", "tags"), ("extra:", "extra")):
        if token.startswith(prefix):
            return name
    return token


def _passes(test: Check, ctx: _Ctx) -> bool:
    if isinstance(test, str):
        return _has_value(ctx.data.get(test))
    return test(ctx)


def _requirement_findings(reqs: Sequence[CompiledRequirement], ctx: _Ctx) -> Iterable[Finding]:
    key = ctx.item.key
    for req in reqs:
        if req.when and not all(_passes(test, ctx) for test in req.when):
            continue
        for test in req.any_of:
            if test.__class__ is str:
                value = ctx.data.get(test)  # type: ignore[call-overload]
                if value and (value.__class__ is not str or not value.isspace()):
                    break
            elif test(ctx):  # type: ignore[operator]
                break
        else:
            yield Finding(key, req.rule, req.severity, req.field, req.message)


def _whitespace_problem(value: str, multiline: bool) -> str | None:
    if not _WS_SUSPECT.search(value):
        return None
    if value != value.strip():
        return "starts or ends with a space"
    if "  " in value:
        return "has a double space"
    if not multiline and ("\t" in value or "\n" in value or "\r" in value):
        return "has a tab or line break"
    for m in _ODD_SPACE.finditer(value):
        before = value[m.start() - 1] if m.start() else ""
        after = value[m.end()] if m.end() < len(value) else ""
        # French typography: before : ; ? ! » and after «; digit groups (10 000)
        if after in ":;?!»%€" or before == "«" or (before.isdigit() and after.isdigit()):
            continue
        return "has a non-breaking space outside French punctuation"
    return None


_DATE_FIELDS = ("date", "dateEnacted", "dateDecided", "issueDate", "filingDate")
_CREATOR_RULES = frozenset({"creator-empty-name", "creator-institution-split", "creator-person-as-single",
                            "whitespace"})


def _format_findings(ctx: _Ctx, sev: dict[str, str], today: _date,
                     active: frozenset[str] | None = None) -> list[Finding]:
    """Format rules on one item. A plain loop appending to a list: this runs once per
    item of the library, so it avoids generators and closures on the common path."""
    key, data = ctx.item.key, ctx.data
    if active is None:
        active = frozenset(rule for rule, level in sev.items() if level != "off")
    out: list[Finding] = []
    add = out.append

    placeholder_fields: set[str] = set()
    texts = [(name, value) for name, value in data.items()
             if isinstance(value, str) and value and name not in _SKIP_TEXT]
    # Most items are clean: one search over all their text says whether to look closer.
    suspect = _SUSPECT.search("|".join([v for _, v in texts])) is not None or any(
        v[0].isspace() or v[-1].isspace() for _, v in texts)
    check_placeholder, check_gap = "placeholder-value" in active, "gap-marker" in active
    for name, value in texts:
        if check_placeholder and len(value) < 24 and value.strip().casefold() in _PLACEHOLDERS:
            placeholder_fields.add(name)
            add(Finding(key, "placeholder-value", sev["placeholder-value"], name,
                        f"'{value.strip()}' is a placeholder: leave {name} empty or fill in the real value."))
            continue
        if check_gap and ("[…]" in value or "[...]" in value):
            add(Finding(key, "gap-marker", sev["gap-marker"], name,
                        f"{name} has text missing ('[…]'); complete it from the document."))
        if suspect and _SUSPECT.search(value):
            _text_findings(key, name, value, sev, active, add)

    date_rules = "date-format" in active or "date-not-iso" in active
    for date_field in _DATE_FIELDS:
        value = data.get(date_field)
        if not value or not date_rules or date_field in placeholder_fields:
            continue
        parsed = _parse_date_cached(str(value), today)
        if parsed.year is None:
            if "date-format" in active:
                add(Finding(key, "date-format", sev["date-format"], date_field,
                            f"The date {parsed.problem}; write it as YYYY, YYYY-MM or YYYY-MM-DD."))
        elif not parsed.iso and "date-not-iso" in active:
            add(Finding(key, "date-not-iso", sev["date-not-iso"], date_field,
                        f"The date '{value}' parses but is not ISO; write it as YYYY, YYYY-MM or YYYY-MM-DD."))
    access = data.get("accessDate")
    if access and "date-format" in active:
        access = str(access).strip()
        m = _ISO_TIME.match(access) or _ISO.match(access)
        groups = [int(g) for g in (m.groups()[:3] if m else ()) if g]
        if access != "CURRENT_TIMESTAMP" and (not m or len(groups) < 3 or not _real(*groups[:3])):
            add(Finding(key, "date-format", sev["date-format"], "accessDate",
                        f"The access date '{access}' is not an ISO date (YYYY-MM-DD)."))

    doi = data.get("DOI")
    if doi and "doi-format" in active:
        doi = str(doi).strip()
        bare, prefix = split_doi(doi)
        if not _DOI.match(bare):
            add(Finding(key, "doi-format", sev["doi-format"], "DOI", f"'{doi}' is not a DOI (10.NNNN/suffix)."))
        elif prefix:
            add(Finding(key, "doi-format", sev["doi-format"], "DOI",
                        f"Remove the prefix '{prefix}': store the DOI as '{bare}'."))

    for field_name, rule in (("ISBN", "isbn-checksum"), ("ISSN", "issn-checksum")):
        value = data.get(field_name)
        if value and rule in active and field_name not in placeholder_fields:
            for problem in _identifier_problems(str(value).strip(), field_name):
                add(Finding(key, rule, sev[rule], field_name, problem))

    url = data.get("url")
    if url and "url-syntax" in active and (problem := url_problem(str(url).strip())):
        add(Finding(key, "url-syntax", sev["url-syntax"], "url", f"'{str(url).strip()[:80]}' {problem}."))

    extra = data.get("extra")
    if extra and "access-online-without-url" in active and "bib-access" in str(extra).casefold() \
            and not str(data.get("url") or "").strip() and not str(data.get("DOI") or "").strip() \
            and any(v.casefold() == "online" for v in ctx.extra.get("bib-access", ())) and not ctx.extra.get("doi"):
        add(Finding(key, "access-online-without-url", sev["access-online-without-url"], "url",
                    "Extra says bib-access: online, but the item has no URL or DOI, so it would be printed "
                    "\"Disponible sur demande\"; add the URL, or change the line to bib-access: on-request."))

    language = data.get("language")
    if language and "language-code" in active and "language" not in placeholder_fields:
        language = str(language).strip()
        if language and not _language_ok(language):
            add(Finding(key, "language-code", sev["language-code"], "language",
                        f"'{language}' is not a language code; use one such as fr, en or fr-FR."))

    creators = data.get("creators")
    if creators and not active.isdisjoint(_CREATOR_RULES):
        def on(rule: str) -> bool:
            return rule in active

        def finding(rule: str, field_name: str | None, message: str) -> Finding:
            return Finding(key, rule, sev[rule], field_name, message)

        for i, creator in enumerate(creators, start=1):
            out.extend(_creator_findings(creator, i, on, finding))

    title = data.get("title")
    if title and "title-all-caps" in active and looks_all_caps(_TITLE_TAGS.sub("", title) if "<" in title else title):
        add(Finding(key, "title-all-caps", sev["title-all-caps"], "title",
                    "The title is in capitals; write it in sentence case."))

    if "commentary-repeats-title" in active or "commentary-empty" in active:
        _commentary_findings(ctx, sev, active, add)
    return out


def _text_findings(key: str, name: str, value: str, sev: dict[str, str], active: frozenset[str],
                   add: Callable[[Finding], None]) -> None:
    if "whitespace" in active and (problem := _whitespace_problem(value, name in _MULTILINE)):
        add(Finding(key, "whitespace", sev["whitespace"], name, f"{name} {problem}."))
    if "html-in-field" in active and "<" in value:
        checked = _TITLE_TAGS.sub("", value) if name in ("title", "shortTitle") else value
        if tag := _HTML_TAG.search(checked):
            add(Finding(key, "html-in-field", sev["html-in-field"], name,
                        f"{name} contains the HTML tag '{tag.group(0)[:30]}'; keep plain text."))
    if "html-entity" in active and "&" in value and (ent := _ENTITY.search(value)):
        add(Finding(key, "html-entity", sev["html-entity"], name,
                    f"{name} contains the HTML entity '{ent.group(0)}'; type the character itself."))


def _commentary_findings(ctx: _Ctx, sev: dict[str, str], active: frozenset[str],
                         add: Callable[[Finding], None]) -> None:
    key, data = ctx.item.key, ctx.data
    abstract = str(data.get("abstractNote") or "")
    own_title = str(data.get("title") or data.get("nameOfAct") or data.get("caseName") or "")
    # normalising only collapses punctuation and spaces: a much longer abstract cannot be equal
    close_in_length = bool(abstract.strip()) and len(abstract) < 1.5 * len(own_title) + 10
    notes = ctx.commentary_notes() if ctx.notes else []
    if own_title.strip() and "commentary-repeats-title" in active and (close_in_length or notes):
        rule = "commentary-repeats-title"
        norm_title = normalise_title(own_title)
        if close_in_length and normalise_title(abstract) == norm_title:
            add(Finding(key, rule, sev[rule], "abstractNote", "The abstract repeats the title; write the commentary."))
        for note in notes:
            text = _note_text(note)
            if text and normalise_title(text) == norm_title:
                add(Finding(key, rule, sev[rule], "note",
                            f"The commentary note {note.key} repeats the title; write the commentary."))
    if "commentary-empty" in active:
        rule = "commentary-empty"
        if abstract and not abstract.strip():
            add(Finding(key, rule, sev[rule], "abstractNote", "The abstract holds only spaces."))
        for note in notes:
            if not _note_text(note):
                add(Finding(key, rule, sev[rule], "note", f"The commentary note {note.key} is empty."))


def looks_all_caps(text: str) -> bool:
    """Capitals over a real title: ≥ 2 words, ≥ 8 letters, ≥ 80 % of words in capitals
    (so acronyms inside a sentence-case title pass)."""
    if not _CAPS_PAIR.search(text):
        return False  # not even two capitals in a row: the usual sentence-case title
    if len(_LOWER.findall(text)) > len(text) // 4:
        return False  # plenty of lower-case letters: the usual case, decided without splitting
    words = [w for w in _LETTER_WORDS.findall(text) if len(w) > 1]
    if len(words) < 2 or sum(map(len, words)) < 8:
        return False
    return sum(1 for w in words if w.isupper()) >= 0.8 * len(words)


def _creator_findings(creator: dict[str, Any], index: int, on: Callable[[str], bool],
                      finding: Callable[[str, str | None, str], Finding]) -> Iterable[Finding]:
    single = "name" in creator
    name = str(creator.get("name") or "")
    last = str(creator.get("lastName") or "")
    first = str(creator.get("firstName") or "")
    label = f"Creator {index}"
    if single:
        if not name.strip():
            if on("creator-empty-name"):
                yield finding("creator-empty-name", "creators", f"{label} has an empty name.")
            return
        if on("creator-person-as-single") and not _institution_like(name) and _looks_like_person(name):
            yield finding("creator-person-as-single", "creators", f"{label} '{name}' looks like a person typed "
                          "into one field; switch it to two fields (last name, first name).")
    else:
        if not last.strip():
            if on("creator-empty-name"):
                what = f"'{first}' has no last name" if first.strip() else "has an empty name"
                yield finding("creator-empty-name", "creators", f"{label} {what}.")
            return
        if on("creator-institution-split"):
            if not first.strip():
                yield finding("creator-institution-split", "creators", f"{label} '{last}' has no first name: if it "
                              "is an institution, switch it to a single field.")
            elif _institution_like(f"{last} {first}"):
                yield finding("creator-institution-split", "creators", f"{label} '{last}, {first}' looks like an "
                              "institution split into two fields; switch it to a single field.")
    parts = (("name", name), ("lastName", last), ("firstName", first))
    # one search for the usual clean creator; the detailed check only when something is off
    if on("whitespace") and (_WS_SUSPECT.search("|".join(p for _, p in parts))
                             or any(p[:1].isspace() or p[-1:].isspace() for _, p in parts)):
        for part_name, part in parts:
            if part and (problem := _whitespace_problem(part, False)):
                yield finding("whitespace", "creators", f"{label} {part_name} {problem}.")


@lru_cache(maxsize=65536)
def _institution_like(name: str) -> bool:
    # names repeat across a library: search each once
    return bool(_INSTITUTION_WORDS.search(name))


def _looks_like_person(name: str) -> bool:
    if _COMMA_PERSON.fullmatch(name):
        return True
    tokens = name.split()
    if len(tokens) != 2:
        return False
    a, b = tokens

    def upper_surname(t: str) -> bool:
        letters = [c for c in t if c.isalpha()]
        return len(letters) >= 2 and all(c.isupper() for c in letters)

    def given(t: str) -> bool:
        return t[:1].isupper() and any(c.islower() for c in t) and t.replace("-", "").replace("'", "").isalpha()

    return (upper_surname(a) and given(b)) or (given(a) and upper_surname(b))
