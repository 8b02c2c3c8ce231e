"""The check rules: every rule zotcurate knows, and the code that tests one item against them.

This is the rule registry. A **format rule** is an entry of :data:`FORMAT_RULES` (its id and
the sentence ``profile show`` prints), its test in :func:`format_findings`, and its default
severity in ``data/default-profile.toml``. A **field rule** (``required:…``,
``conditional:…``) is written in a profile: a list of tokens, each a Zotero field or one of
the :data:`TOKENS` below (``creator``, ``tag:…``…); a new kind of token is one entry there.
``check/profile.py`` reads profiles against this registry, ``check/engine.py`` runs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date as _date
from functools import cached_property, lru_cache
from typing import Any

import langcodes

from zotcurate.check.findings import Finding
from zotcurate.fields import (
    creator_name,
    date_fields,
    extra_lines,
    isbn_problems,
    issn_problems,
    normalise_title,
    parse_date,
    read_doi,
    title_of,
    url_problem,
)
from zotcurate.model import Item

# Every format rule, with the sentence ``profile show`` prints. Field rules ("required:…",
# "conditional:…") are named by the profile itself.
FORMAT_RULES: dict[str, str] = {
    "date-format": "dates parse (ISO, year-month, year or Zotero's forms) and are real calendar dates",
    "date-not-iso": "dates are written YYYY, YYYY-MM or YYYY-MM-DD",
    "doi-format": "DOI has the 10.NNNN/suffix syntax, without a doi.org prefix",
    "isbn-checksum": "ISBN-10/13 has a valid length and check digit",
    "issn-checksum": "ISSN has a valid check digit",
    "url-syntax": "URL is an absolute http(s) address with a host name, no spaces and a valid port",
    "access-online-without-url": "an item whose Extra says bib-access: online has a URL or DOI",
    "language-code": "language is a BCP 47 code (fr, en, fr-FR), not a word",
    "creator-empty-name": "no creator has an empty name",
    "creator-institution-split": "institutions are single-field creators, not last name + first name",
    "creator-person-as-single": "persons are two-field creators, not one 'DUPONT Jean' field",
    "title-all-caps": "titles are not written in capitals",
    "whitespace": "no leading, trailing or double spaces, tabs or stray non-breaking spaces",
    "html-in-field": "no HTML tags in plain-text fields (titles allow Zotero's rich-text tags)",
    "html-entity": "no HTML entities such as &amp; or &#233;",
    "placeholder-value": "no placeholder values such as n.d., s.d., N/A",
    "gap-marker": "no '[…]' marking text that was lost or left to complete",
    "commentary-empty": "a commentary note is not empty",
    "commentary-repeats-title": "the commentary does not just repeat the title",
    "orphan-note": "child notes have an existing parent item",
    "duplicate-doi": "no two items share a DOI",
    "duplicate-isbn": "no two books share an ISBN",
    "duplicate-title": "no two items match on title, year (±1) and a creator, as Zotero judges duplicates",
}
FIELD_RULE_PREFIXES = ("required:", "conditional:")


@dataclass(frozen=True)
class Requirement:
    """A field rule: at least one of ``any_of`` must be present (when all of ``when`` are)."""

    id: str
    any_of: tuple[str, ...]
    severity: str
    when: tuple[str, ...] = ()
    origin: str = ""  # "file:line", shown by ``profile show``


_TAGS = re.compile(r"<[^>]+>")
_LETTER_WORDS = re.compile(r"[^\W\d_]+")
_COMMA_PERSON = re.compile(r"[^\W\d_][\w'’ -]*,\s*[^\W\d_][\w'’. -]*")  # "Dupont, Jean"
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
    r"[eé]cole|h[oô]pital|hospital|laboratoire|gouvernement|government|r[eé]gion|mutualit[eé]|inserm|"
    r"cnrs|inria|anap)\b",
    re.IGNORECASE,
)
# Acronyms that are also surnames (Steven Chu, Joan Oms, Martin Drees): institutions only in capitals, and in a
# two-field name only where Zotero's splitting puts them ("CHU de Bordeaux" → last "Bordeaux", first "CHU de").
_AMBIGUOUS_ACRONYMS = re.compile(r"\b(?:CHU|ARS|OMS|WHO|DREES)\b")
_PLACEHOLDERS = {
    "n.d.", "n.d", "n. d.", "s.d.", "s.d", "s. d.", "n/a", "n.a.", "n/d", "null", "none", "undefined", "nan",
    "inconnu", "inconnue", "unknown", "-", "--", "?", "??", "...", "…", "sans date", "non renseigné",
    "non renseigne", "n.c.", "nc", "tbd", "xxx", "à compléter", "a completer", "todo",
}
_TITLE_TAGS = re.compile(
    r"</?(i|b|sub|sup)>|<span class=\"nocase\">|<span style=\"font-variant:\s*small-caps;?\">|</span>", re.IGNORECASE)
# Title-like fields where Zotero (and citeproc) read its rich-text tags; BibTeX import writes {Protected}
# words of a journal, book or series title as <span class="nocase">, as Zotero's own import does.
_RICH_TEXT_FIELDS = frozenset({
    "title", "shortTitle", "caseName", "nameOfAct", "subject", "publicationTitle", "bookTitle", "proceedingsTitle",
    "encyclopediaTitle", "dictionaryTitle", "websiteTitle", "blogTitle", "forumTitle", "programTitle",
    "series", "seriesTitle", "journalAbbreviation",
})
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


# -- field rules: tokens ------------------------------------------------------------


@dataclass
class ItemContext:
    """One item as the rules see it: its data, tags, child notes and the tags that mark commentary notes."""

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


def note_text(note: Item) -> str:
    """A note's text without its HTML (what "an empty note" and "repeats the title" look at)."""
    html = str(note.data.get("note", ""))
    text = _TAGS.sub(" ", html)
    for entity, char in (("&nbsp;", " "), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"')):
        text = text.replace(entity, char)
    return " ".join(text.split())


def _has_name(creator: dict[str, Any]) -> bool:
    return not creator_name(creator).empty


# A test is a field name (the common case, tested inline) or a function of the item.
Check = Callable[[ItemContext], bool] | str


def _has_value(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and bool(str(value).strip())


# Token tests: each takes the text after the colon ("" for a whole token) and gives a test.
def _any_creator(_: str) -> Check:
    return lambda ctx: any(_has_name(c) for c in ctx.data.get("creators", ()))


def _commentary(_: str) -> Check:
    return lambda ctx: _has_value(ctx.data.get("abstractNote")) or any(note_text(n) for n in ctx.commentary_notes())


def _creator_of_type(kind: str) -> Check:
    return lambda ctx: any(c.get("creatorType") == kind and _has_name(c) for c in ctx.data.get("creators", ()))


def _note_tagged(tag: str) -> Check:
    return lambda ctx: any(n.item_type == "note" and tag in n.tags and note_text(n) for n in ctx.notes)


def _tagged(tag: str) -> Check:
    return lambda ctx: tag in ctx.tags


def _extra_line(arg: str) -> Check:
    key, _, wanted = arg.partition("=")
    key, wanted = key.strip().casefold(), wanted.strip().casefold()
    if wanted:
        return lambda ctx: any(v.casefold() == wanted for v in ctx.extra.get(key, ()))
    return lambda ctx: any(ctx.extra.get(key, ()))


@dataclass(frozen=True)
class Token:
    """A profile token that is not a Zotero field. A name ending in ':' takes an argument."""

    test: Callable[[str], Check]  # the test, given the text after the colon ("" for a whole token)
    describe: Callable[[str], str]  # how a finding names it
    field: str  # the Zotero field a finding points at


# Every token besides field names (the default profile's header says what each one means).
TOKENS: dict[str, Token] = {
    "creator": Token(_any_creator, lambda _: "a creator", "creators"),
    "commentary": Token(_commentary, lambda _: "a commentary (abstract or commentary note)", "abstractNote"),
    "creator:": Token(_creator_of_type, lambda kind: f"a creator of type {kind}", "creators"),
    "note:": Token(_note_tagged, lambda tag: f"a child note tagged '{tag}'", "note"),
    "tag:": Token(_tagged, lambda tag: f"tag '{tag}'", "tags"),
    "extra:": Token(_extra_line, lambda arg: f"Extra '{arg.replace('=', ': ')}'", "extra"),
}
PSEUDO_TOKENS = tuple(name for name in TOKENS if not name.endswith(":"))
TOKEN_PREFIXES = tuple(name for name in TOKENS if name.endswith(":"))


def split_token(token: str) -> tuple[Token, str] | None:
    """The token's kind and argument (``"tag:lu"`` → tag, ``"lu"``); None for a field name."""
    if token in TOKENS:
        return TOKENS[token], ""
    prefix, colon, arg = token.partition(":")
    kind = TOKENS.get(prefix + colon) if colon else None
    return (kind, arg) if kind else None


def compile_token(token: str) -> Check:
    """A test for one profile token: a field name as is, any other token as a function."""
    kind = split_token(token)
    return kind[0].test(kind[1]) if kind else token


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
        kind = split_token(t)
        names.append(kind[0].describe(kind[1]) if kind else t)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _field_of(token: str) -> str:
    """The Zotero field a token lives in (what the ``field`` column of a finding shows)."""
    kind = split_token(token)
    return kind[0].field if kind else token


def _passes(test: Check, ctx: ItemContext) -> bool:
    if isinstance(test, str):
        return _has_value(ctx.data.get(test))
    return test(ctx)


def requirement_findings(reqs: Sequence[CompiledRequirement], ctx: ItemContext) -> Iterable[Finding]:
    """The field rules the item fails."""
    key = ctx.item.key
    for req in reqs:
        if req.when and not all(_passes(test, ctx) for test in req.when):
            continue
        for test in req.any_of:
            if test.__class__ is str:
                value = ctx.data.get(test)
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


_CREATOR_RULES = frozenset({"creator-empty-name", "creator-institution-split", "creator-person-as-single",
                            "whitespace"})


# -- format rules -------------------------------------------------------------------


def format_findings(ctx: ItemContext, sev: dict[str, str], today: _date,
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
    for date_field in date_fields():
        raw = data.get(date_field)
        if not raw or not date_rules or date_field in placeholder_fields:
            continue
        parsed = parse_date(str(raw), today=today)
        if parsed.problem:
            if "date-format" in active:
                add(Finding(key, "date-format", sev["date-format"], date_field,
                            f"The date {parsed.problem}; write it as YYYY, YYYY-MM or YYYY-MM-DD."))
        elif not parsed.iso and "date-not-iso" in active:
            add(Finding(key, "date-not-iso", sev["date-not-iso"], date_field,
                        f"The date '{raw}' parses but is not ISO; write it as YYYY, YYYY-MM or YYYY-MM-DD."))
    access = data.get("accessDate")
    if access and "date-format" in active:
        access = str(access).strip()
        parsed = parse_date(access, today=today)
        if access != "CURRENT_TIMESTAMP" and (parsed.problem or not parsed.iso or parsed.day is None):
            add(Finding(key, "date-format", sev["date-format"], "accessDate",
                        f"The access date '{access}' is not an ISO date (YYYY-MM-DD)."))

    doi = data.get("DOI")
    if doi and "doi-format" in active:
        doi = str(doi).strip()
        reading = read_doi(doi)
        if reading.problem:
            add(Finding(key, "doi-format", sev["doi-format"], "DOI", f"'{doi}' {reading.problem}."))
        elif reading.removed:
            add(Finding(key, "doi-format", sev["doi-format"], "DOI",
                        f"Remove {reading.removed}: store the DOI as '{reading.doi}'."))

    for field_name, rule, problems_of in (("ISBN", "isbn-checksum", isbn_problems),
                                          ("ISSN", "issn-checksum", issn_problems)):
        number = data.get(field_name)
        if number and rule in active and field_name not in placeholder_fields:
            for problem in problems_of(str(number)):
                add(Finding(key, rule, sev[rule], field_name, problem))

    url = data.get("url")
    if url and "url-syntax" in active and (url_says := url_problem(str(url).strip())):
        add(Finding(key, "url-syntax", sev["url-syntax"], "url", f"'{str(url).strip()[:80]}' {url_says}."))

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
        checked = _TITLE_TAGS.sub("", value) if name in _RICH_TEXT_FIELDS else value
        if tag := _HTML_TAG.search(checked):
            add(Finding(key, "html-in-field", sev["html-in-field"], name,
                        f"{name} contains the HTML tag '{tag.group(0)[:30]}'; keep plain text."))
    if "html-entity" in active and "&" in value and (ent := _ENTITY.search(value)):
        add(Finding(key, "html-entity", sev["html-entity"], name,
                    f"{name} contains the HTML entity '{ent.group(0)}'; type the character itself."))


def _commentary_findings(ctx: ItemContext, sev: dict[str, str], active: frozenset[str],
                         add: Callable[[Finding], None]) -> None:
    key, data = ctx.item.key, ctx.data
    abstract = str(data.get("abstractNote") or "")
    own_title = title_of(data) or ""
    # normalising only collapses punctuation and spaces: a much longer abstract cannot be equal
    close_in_length = bool(abstract.strip()) and len(abstract) < 1.5 * len(own_title) + 10
    notes = ctx.commentary_notes() if ctx.notes else []
    if own_title.strip() and "commentary-repeats-title" in active and (close_in_length or notes):
        rule = "commentary-repeats-title"
        norm_title = normalise_title(own_title)
        if close_in_length and normalise_title(abstract) == norm_title:
            add(Finding(key, rule, sev[rule], "abstractNote", "The abstract repeats the title; write the commentary."))
        for note in notes:
            text = note_text(note)
            if text and normalise_title(text) == norm_title:
                add(Finding(key, rule, sev[rule], "note",
                            f"The commentary note {note.key} repeats the title; write the commentary."))
    if "commentary-empty" in active:
        rule = "commentary-empty"
        if abstract and not abstract.strip():
            add(Finding(key, rule, sev[rule], "abstractNote", "The abstract holds only spaces."))
        for note in notes:
            if not note_text(note):
                add(Finding(key, rule, sev[rule], "note", f"The commentary note {note.key} is empty."))


def orphan_note_finding(note: Item, severity: str) -> Finding:
    """A child note whose parent item does not exist (whole-library checks only)."""
    return Finding(note.key, "orphan-note", severity, "parentItem",
                   f"This child note's parent {note.parent_key} does not exist; attach it "
                   "to an item or make it a standalone note.")


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
    who = creator_name(creator)
    single = who.single
    name, last, first = (who.last, "", "") if single else ("", who.last, who.first)
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
            elif _split_institution_like(last, first):
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
    return bool(_INSTITUTION_WORDS.search(name) or _AMBIGUOUS_ACRONYMS.search(name))


@lru_cache(maxsize=65536)
def _split_institution_like(last: str, first: str) -> bool:
    """A two-field name that is an institution: a word of one, or an ambiguous acronym in capitals where a split
    puts it (the first name, or a last name of several words); a surname alone ("CHU", "Dung") is a person."""
    if _INSTITUTION_WORDS.search(f"{last} {first}"):
        return True
    return bool(_AMBIGUOUS_ACRONYMS.search(first) or (len(last.split()) > 1 and _AMBIGUOUS_ACRONYMS.search(last)))


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
