"""Check profiles: which fields each item type needs, and how severe each rule is.

A profile is a TOML file. It extends the shipped default (``data/default-profile.toml``)
unless it says ``extends = "none"``; field rules are per Zotero item type and inherit
from a ``[types."*"]`` section; ``[[collections]]`` blocks override it per collection.
Every field, item type and creator type is validated against the bundled Zotero
schema, so a typo is a :class:`ConfigError` naming the file, the line and the closest
valid name. This module only describes rules; :mod:`zotcurate.checks` runs them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from importlib.resources import files
from pathlib import Path
from typing import Any

from zotcurate.errors import ConfigError
from zotcurate.zschema import ZoteroSchema, load_schema

SEVERITIES = ("error", "warning", "info", "off")
SEVERITY_RANK = {"off": 0, "info": 1, "warning": 2, "error": 3}
DEFAULT_PROFILE_NAME = "default-profile.toml"

# Every format rule zotcurate knows, with the sentence ``profile show`` prints.
# Field rules ("required:…", "conditional:…") are named by the profile itself.
FORMAT_RULES: dict[str, str] = {
    "date-format": "dates parse (ISO, year-month, year or Zotero's forms) and are real calendar dates",
    "date-not-iso": "dates are written YYYY, YYYY-MM or YYYY-MM-DD",
    "doi-format": "DOI has the 10.NNNN/suffix syntax, without a doi.org prefix",
    "isbn-checksum": "ISBN-10/13 has a valid length and check digit",
    "issn-checksum": "ISSN has a valid check digit",
    "url-syntax": "URL is an absolute http(s) or ftp address with a host and no spaces",
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

# Tokens that are not Zotero fields (see the default profile's header for their meaning).
PSEUDO_TOKENS = ("creator", "commentary")
TOKEN_PREFIXES = ("creator:", "note:", "tag:", "extra:")
TOP_KEYS = ("extends", "settings", "rules", "types", "collections")
SECTION_KEYS = ("error", "warning", "info", "off", "conditional")
SETTINGS_DEFAULTS: dict[str, Any] = {"commentary_note_tags": ["commentaire", "annotation"]}
SKIPPED_TYPES = ("note", "attachment", "annotation")


@dataclass(frozen=True)
class Requirement:
    """A field rule: at least one of ``any_of`` must be present (when all of ``when`` are)."""

    id: str
    any_of: tuple[str, ...]
    severity: str
    when: tuple[str, ...] = ()
    origin: str = ""  # "file:line", shown by ``profile show``


@dataclass(frozen=True)
class Layer:
    """One profile file (or one ``[[collections]]`` block) before merging."""

    source: str
    settings: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (severity, origin)
    types: dict[str, tuple[Requirement, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectionOverride:
    ref: str  # collection path ("Parent/Child") or key
    recursive: bool
    layer: Layer
    origin: str


@dataclass(frozen=True)
class Profile:
    layers: tuple[Layer, ...]
    collections: tuple[CollectionOverride, ...] = ()
    schema: ZoteroSchema = field(default_factory=load_schema, repr=False, compare=False)

    @property
    def sources(self) -> list[str]:
        return [layer.source for layer in self.layers]

    @property
    def settings(self) -> dict[str, Any]:
        merged = dict(SETTINGS_DEFAULTS)
        for layer in self.layers:
            merged.update(layer.settings)
        return merged

    def _stack(self, overrides: Sequence[int]) -> list[Layer]:
        return [*self.layers, *(self.collections[i].layer for i in overrides)]

    def rule_severity(self, rule_id: str, overrides: Sequence[int] = ()) -> str:
        severity = "off"
        for layer in self._stack(overrides):
            if rule_id in layer.rules:
                severity = layer.rules[rule_id][0]
        return severity

    def format_severities(self, overrides: Sequence[int] = ()) -> dict[str, str]:
        return {rule: self.rule_severity(rule, overrides) for rule in FORMAT_RULES}

    def requirements(self, item_type: str, overrides: Sequence[int] = (), *,
                     keep_off: bool = False) -> list[Requirement]:
        """The effective field rules for one item type, tokens resolved to its fields.

        Later layers win: default, then the user's profile, then matching collection
        blocks; within a layer ``"*"`` comes first, then the type, then ``[rules]``.
        """
        merged: dict[str, Requirement] = {}
        for layer in self._stack(overrides):
            for req in (*layer.types.get("*", ()), *layer.types.get(item_type, ())):
                if req.severity == "off" and not req.any_of and req.id in merged:
                    merged[req.id] = replace(merged[req.id], severity="off", origin=req.origin)
                elif req.any_of:
                    merged[req.id] = req
            for rule_id, (severity, origin) in layer.rules.items():
                if rule_id in merged:
                    merged[rule_id] = replace(merged[rule_id], severity=severity, origin=origin)
        out = []
        for req in merged.values():
            if req.severity == "off" and not keep_off:
                continue
            if item_type == "*":  # the inherited section itself, before any type resolves it
                out.append(req)
                continue
            any_of = tuple(t for tok in req.any_of if (t := resolve_token(self.schema, item_type, tok)))
            when = tuple(t for tok in req.when if (t := resolve_token(self.schema, item_type, tok)))
            if not any_of or len(when) != len(req.when):
                continue  # the type has none of these fields: the rule does not apply to it
            out.append(replace(req, any_of=any_of, when=when))
        return out

    def requirement_ids(self) -> set[str]:
        ids = set()
        for layer in (*self.layers, *(c.layer for c in self.collections)):
            for reqs in layer.types.values():
                ids.update(r.id for r in reqs if r.any_of)
        return ids

    def explicit_types(self) -> list[str]:
        names: set[str] = set()
        for layer in (*self.layers, *(c.layer for c in self.collections)):
            names.update(layer.types)
        return sorted(names - {"*"})


def resolve_token(schema: ZoteroSchema, item_type: str, token: str) -> str | None:
    """The token as it applies to ``item_type``: a field name mapped through base
    fields (``publisher`` → ``institution`` for reports), or None when the type lacks it."""
    if item_type not in schema.item_types:
        return token  # a type newer than the bundled schema: take the profile's word for it
    if token in PSEUDO_TOKENS or token.startswith(TOKEN_PREFIXES):
        if token.startswith("creator:") and token[8:] not in schema.creator_types(item_type):
            return None
        return token
    fields = schema.fields(item_type)
    if token in fields:
        return token
    for specific, base in schema.base_fields(item_type).items():
        if base == token:
            return specific
    return None


# -- loading -----------------------------------------------------------------------


def default_profile_text() -> str:
    return files("zotcurate").joinpath(f"data/{DEFAULT_PROFILE_NAME}").read_text(encoding="utf-8")


def load_profile(path: str | Path | None = None) -> Profile:
    """The shipped default, extended by the profile at ``path`` when given."""
    schema = load_schema()
    default_text = default_profile_text()
    default_layer, default_colls, _ = parse_profile(default_text, DEFAULT_PROFILE_NAME, schema)
    if path is None:
        profile = Profile((default_layer,), tuple(default_colls), schema)
        _check_ids(profile, _Source(default_text, DEFAULT_PROFILE_NAME))
        return profile
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"The profile {path} does not exist; check the --profile path.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The profile {path} cannot be read ({exc}); save it as UTF-8 text.") from exc
    layer, colls, extends = parse_profile(text, str(path), schema)
    if extends == "none":
        profile = Profile((layer,), tuple(colls), schema)
    else:
        profile = Profile((default_layer, layer), (*default_colls, *colls), schema)
    _check_ids(profile, _Source(text, str(path)))
    return profile


def _check_ids(profile: Profile, src: _Source) -> None:
    """Rule ids named in [rules] or `off` must exist somewhere in the merged profile."""
    known = profile.requirement_ids()
    for layer in (*profile.layers, *(c.layer for c in profile.collections)):
        named = [r.id for reqs in layer.types.values() for r in reqs if not r.any_of]
        named += [rule_id for rule_id in layer.rules if rule_id not in FORMAT_RULES]
        for rule_id in named:
            if rule_id not in known:
                short = rule_id.split(":", 1)[1]
                line = src.line_of(rule_id) or src.line_of(short)
                where = f"{src.name}:{line}" if line else src.name
                close = get_close_matches(rule_id, sorted(known), n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else "."
                raise ConfigError(f"{where}: no field rule has the id '{rule_id}'{hint}")


class _Source:
    """The profile text, to point errors at the line where a name appears."""

    def __init__(self, text: str, name: str) -> None:
        self.lines = text.splitlines()
        self.name = name

    def line_of(self, needle: str, *, after: int = 0) -> int:
        quoted = re.compile(r"""(["'])""" + re.escape(needle) + r"""\1""")
        bare = re.compile(r"(?<![\w-])" + re.escape(needle) + r"(?![\w-])")
        for pattern in (quoted, bare):
            for start in (after, 0):
                for i in range(start, len(self.lines)):
                    code = self.lines[i].split("#", 1)[0] if "#" not in needle else self.lines[i]
                    if pattern.search(code):
                        return i + 1
        return 0

    def where(self, needle: str, after: int = 0) -> str:
        line = self.line_of(needle, after=after)
        return f"{self.name}:{line}" if line else self.name

    def error(self, needle: str, problem: str, candidates: Iterable[str] = (), after: int = 0) -> ConfigError:
        close = get_close_matches(needle, list(candidates), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        return ConfigError(f"{self.where(needle, after)}: {problem}{hint}")


def parse_profile(text: str, name: str, schema: ZoteroSchema | None = None
                  ) -> tuple[Layer, list[CollectionOverride], str]:
    """Parse and validate one profile file: its layer, collection blocks and ``extends``."""
    schema = schema or load_schema()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name} is not valid TOML ({exc}); fix the line it names.") from exc
    src = _Source(text, name)
    for key in data:
        if key not in TOP_KEYS:
            raise src.error(key, f"unknown section '{key}' (allowed: {', '.join(TOP_KEYS)})", TOP_KEYS)
    extends = data.get("extends", "default")
    if extends not in ("default", "none"):
        raise src.error(str(extends), f"extends = '{extends}' is not allowed: use \"default\" or \"none\"",
                        ("default", "none"))
    layer = _parse_layer(data, src, schema, name)
    colls = data.get("collections", [])
    if not isinstance(colls, list):
        raise ConfigError(f"{src.where('collections')}: write collection overrides as [[collections]] blocks.")
    overrides = []
    last_line = 0
    for block in colls:
        ref = block.get("path") or block.get("key")
        if not isinstance(ref, str) or not ref.strip():
            raise ConfigError(f"{src.where('[[collections]]', last_line)}: a [[collections]] block needs "
                              "path = \"Parent/Child\" (or key = \"ABCD1234\").")
        for key in block:
            if key not in ("path", "key", "recursive", "rules", "types"):
                raise src.error(key, f"unknown key '{key}' in a [[collections]] block",
                                ("path", "key", "recursive", "rules", "types"), last_line)
        last_line = max(src.line_of(ref, after=last_line), last_line)
        origin = f"{name}:{last_line}" if last_line else name
        overrides.append(CollectionOverride(ref.strip().strip("/"), bool(block.get("recursive", True)),
                                            _parse_layer(block, src, schema, f"{name} [{ref}]", last_line),
                                            origin))
    return layer, overrides, str(extends)


def _parse_severity(value: Any, src: _Source, needle: str, after: int) -> str:
    if value not in SEVERITIES:
        raise src.error(str(value), f"'{value}' is not a severity for {needle} "
                        f"(use {', '.join(SEVERITIES)})", SEVERITIES, after)
    return str(value)


def _parse_layer(data: dict[str, Any], src: _Source, schema: ZoteroSchema, label: str, after: int = 0) -> Layer:
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"{src.where('settings', after)}: [settings] must be a table.")
    for key, value in settings.items():
        if key not in SETTINGS_DEFAULTS:
            raise src.error(key, f"unknown setting '{key}'", SETTINGS_DEFAULTS, after)
        if key == "commentary_note_tags" and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{src.where(key, after)}: commentary_note_tags must be a list of tag names.")
    types: dict[str, tuple[Requirement, ...]] = {}
    raw_types = data.get("types", {})
    if not isinstance(raw_types, dict):
        raise ConfigError(f"{src.where('types', after)}: write item types as [types.report] sections.")
    valid_types = [t for t in schema.item_types if t not in SKIPPED_TYPES]
    for item_type, section in raw_types.items():
        if item_type != "*" and item_type not in valid_types:
            raise src.error(item_type, f"'{item_type}' is not a Zotero item type", valid_types, after)
        if not isinstance(section, dict):
            raise ConfigError(f"{src.where(item_type, after)}: [types.{item_type}] must be a table.")
        type_line = src.line_of(f"types.{item_type}" if item_type != "*" else 'types."*"', after=after) or after
        types[item_type] = tuple(_parse_section(section, item_type, src, schema, type_line))
    rules: dict[str, tuple[str, str]] = {}
    raw_rules = data.get("rules", {})
    if not isinstance(raw_rules, dict):
        raise ConfigError(f"{src.where('rules', after)}: [rules] must be a table of rule = \"severity\".")
    for rule_id, value in raw_rules.items():
        if not (rule_id in FORMAT_RULES or rule_id.startswith(("required:", "conditional:"))):
            raise src.error(rule_id, f"unknown rule '{rule_id}'",
                            [*FORMAT_RULES, *_ids_in(types)], after)
        rules[rule_id] = (_parse_severity(value, src, rule_id, after), src.where(rule_id, after))
    return Layer(source=label, settings=dict(settings), rules=rules, types=types)


def _ids_in(types: dict[str, tuple[Requirement, ...]]) -> list[str]:
    return [r.id for reqs in types.values() for r in reqs]


def _parse_section(section: dict[str, Any], item_type: str, src: _Source, schema: ZoteroSchema,
                   after: int) -> Iterable[Requirement]:
    for key in section:
        if key not in SECTION_KEYS:
            raise src.error(key, f"unknown key '{key}' in [types.{item_type}] (allowed: "
                            f"{', '.join(SECTION_KEYS)})", SECTION_KEYS, after)
    for severity in ("error", "warning", "info", "off"):
        entries = section.get(severity, [])
        if not isinstance(entries, list):
            raise ConfigError(f"{src.where(severity, after)}: {severity} must be a list of fields or groups.")
        for entry in entries:
            if severity == "off":
                rule_id = entry if isinstance(entry, str) else None
                if rule_id is None:
                    raise ConfigError(f"{src.where('off', after)}: 'off' lists rule ids or fields as strings.")
                if not rule_id.startswith(("required:", "conditional:")):
                    rule_id = f"required:{rule_id}"  # checked against known ids in _check_ids
                yield Requirement(rule_id, (), "off", origin=src.where(entry, after))
                continue
            yield _parse_requirement(entry, severity, item_type, src, schema, after)
    for entry in section.get("conditional", []):
        if not isinstance(entry, dict) or "when" not in entry or "then" not in entry:
            raise ConfigError(f"{src.where('conditional', after)}: a conditional is "
                              "{ when = \"url\", then = \"accessDate\", severity = \"warning\" }.")
        when = _token_list(entry["when"], src, after)
        then = _token_list(entry["then"], src, after)
        for token in (*when, *then):
            _check_token(token, item_type, src, schema, after)
        severity = _parse_severity(entry.get("severity", "warning"), src, "a conditional", after)
        rule_id = "conditional:" + str(entry.get("id") or f"{'+'.join(when)}->{'|'.join(then)}")
        yield Requirement(rule_id, then, severity, when=when, origin=src.where("when", after))


def _token_list(value: Any, src: _Source, after: int) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{src.where('conditional', after)}: when/then take a field name or a list of names.")


def _parse_requirement(entry: Any, severity: str, item_type: str, src: _Source, schema: ZoteroSchema,
                       after: int) -> Requirement:
    if isinstance(entry, str):
        _check_token(entry, item_type, src, schema, after)
        return Requirement(f"required:{entry}", (entry,), severity, origin=src.where(entry, after))
    if isinstance(entry, dict) and isinstance(entry.get("any_of"), list) and entry["any_of"]:
        extra_keys = set(entry) - {"any_of", "id"}
        if extra_keys:
            key = sorted(extra_keys)[0]
            raise src.error(key, f"unknown key '{key}' in a field group", ("any_of", "id"), after)
        tokens = tuple(str(t) for t in entry["any_of"])
        for token in tokens:
            _check_token(token, item_type, src, schema, after)
        rule_id = "required:" + str(entry.get("id") or "|".join(tokens))
        return Requirement(rule_id, tokens, severity, origin=src.where(tokens[0], after))
    raise ConfigError(f"{src.where(severity, after)}: each entry of '{severity}' is a field name or "
                      "{ any_of = [\"field\", …], id = \"name\" }.")


def _check_token(token: str, item_type: str, src: _Source, schema: ZoteroSchema, after: int) -> None:
    """A field name must exist (for this type, or in Zotero at all under ``"*"``)."""
    if token in PSEUDO_TOKENS or token.startswith(("note:", "tag:", "extra:")):
        if token.startswith(("note:", "tag:", "extra:")) and not token.split(":", 1)[1].strip():
            raise ConfigError(f"{src.where(token, after)}: '{token}' needs a name after the colon.")
        return
    if token.startswith("creator:"):
        kinds = (sorted({c for t in schema.item_types for c in schema.creator_types(t)}) if item_type == "*"
                 else schema.creator_types(item_type))
        if token[8:] not in kinds:
            raise src.error(token[8:], f"'{token[8:]}' is not a creator type"
                            + ("" if item_type == "*" else f" of {item_type}"), kinds, after)
        return
    if item_type == "*":
        names = schema.all_fields | {b for t in schema.item_types for b in schema.base_fields(t).values()}
        if token not in names:
            raise src.error(token, f"'{token}' is not a Zotero field", [*sorted(names), *PSEUDO_TOKENS], after)
        return
    if resolve_token(schema, item_type, token) is None:
        raise src.error(token, f"{item_type} has no field '{token}'",
                        [*schema.fields(item_type), *schema.base_fields(item_type).values(), *PSEUDO_TOKENS],
                        after)


# -- showing -----------------------------------------------------------------------


def profile_rows(profile: Profile, item_types: Sequence[str] | None = None) -> list[dict[str, str]]:
    """The effective profile as rows (scope, rule, severity, fields, when, origin)."""
    rows: list[dict[str, str]] = []
    for rule, description in FORMAT_RULES.items():
        origin = next((layer.rules[rule][1] for layer in reversed(profile.layers) if rule in layer.rules), "")
        rows.append({"scope": "all types", "rule": rule, "severity": profile.rule_severity(rule),
                     "fields": description, "when": "", "origin": origin})
    for item_type in (item_types if item_types is not None else ["*", *profile.explicit_types()]):
        for req in profile.requirements(item_type, keep_off=True):
            rows.append({"scope": item_type, "rule": req.id, "severity": req.severity,
                         "fields": " | ".join(req.any_of), "when": " + ".join(req.when), "origin": req.origin})
    for override in profile.collections:
        layer = override.layer
        for rule_id, (severity, origin) in layer.rules.items():
            rows.append({"scope": f"collection {override.ref}", "rule": rule_id, "severity": severity,
                         "fields": "", "when": "", "origin": origin})
        for item_type, reqs in layer.types.items():
            for req in reqs:
                rows.append({"scope": f"collection {override.ref} / {item_type}", "rule": req.id,
                             "severity": req.severity, "fields": " | ".join(req.any_of),
                             "when": " + ".join(req.when), "origin": req.origin})
    return rows
