"""Duplicates as Zotero judges them: a key per item, then groups that share a DOI, an ISBN,
or a normalised title with a close year and a shared creator (the ``duplicate-*`` rules).

Judged over the whole library, reported for the checked items (``check/engine.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from zotcurate.fields import creator_name, date_of, doi_of, isbn13_of, normalise_title, parse_date, read_doi, title_of
from zotcurate.model import Item

_ISBN_SPLIT = re.compile(r"[,;\s]+")
# What each duplicate rule says the item shares with the others.
DUPLICATE_RULES = {"duplicate-doi": "the same DOI as", "duplicate-isbn": "the same ISBN as",
                   "duplicate-title": "the same title, year and creator as"}


@lru_cache(maxsize=65536)
def _normalise_name(text: str) -> str:
    # creator names repeat across a library: normalise each once
    return normalise_title(text)


# -- duplicates --------------------------------------------------------------------


@dataclass(frozen=True)
class DupKey:
    """What Zotero's duplicate detection compares, for one item."""

    key: str
    title: str
    doi: str | None
    isbn: str | None
    year: int | None
    creators: frozenset[tuple[str, str]] | None


def dup_key(item: Item) -> DupKey:
    data = item.data
    doi_text = doi_of(data)  # older types keep "DOI: …" in Extra
    doi = read_doi(doi_text).doi if doi_text else None
    isbn = isbn13_of(str(data["ISBN"])) if item.item_type == "book" and data.get("ISBN") else None
    raw_date = date_of(data)
    year = parse_date(raw_date).year if raw_date else None
    people = set()
    for c in data.get("creators", []):
        who = creator_name(c)
        if who.single:
            people.add((_normalise_name(who.last), ""))
        elif who.last:
            people.add((_normalise_name(who.last), _normalise_name(who.first)[:1]))
    return DupKey(item.key, normalise_title(title_of(data) or ""), doi.upper() if doi else None, isbn, year,
                  frozenset(people) if people else None)


def _title_match(a: DupKey, b: DupKey) -> bool:
    """Zotero's rule for two items whose normalised titles are equal."""
    if a.doi and b.doi and a.doi != b.doi:
        return False
    if a.isbn and b.isbn and a.isbn != b.isbn:
        return False
    if a.year is not None and b.year is not None and abs(a.year - b.year) > 1:
        return False
    if a.creators is None and b.creators is None:
        return True
    if a.creators is None or b.creators is None:
        return False
    return not a.creators.isdisjoint(b.creators)


def _candidate_pairs(group: Sequence[DupKey]) -> Iterator[tuple[DupKey, DupKey]]:
    """Pairs within one title group that may match. Large groups ("Éditorial", "Rapport
    d'activité") are split by year, since only years at most one apart can match."""
    if len(group) <= 32:
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                yield a, b
        return
    by_year: dict[int, list[DupKey]] = {}
    undated: list[DupKey] = []
    for k in group:
        (by_year.setdefault(k.year, []) if k.year is not None else undated).append(k)
    for year, same in by_year.items():
        for i, a in enumerate(same):
            for b in same[i + 1:]:
                yield a, b
            for b in by_year.get(year + 1, ()):
                yield a, b
    for i, a in enumerate(undated):  # no year: it may match anything
        for b in (*undated[i + 1:], *(k for k in group if k.year is not None)):
            yield a, b


def find_duplicates(keys: Iterable[DupKey]) -> dict[str, dict[str, list[str]]]:
    """rule → item key → the other keys it duplicates.

    Candidates are grouped by exact key (DOI, ISBN, normalised title) in one pass; only
    items inside a title group are compared, and those groups are tiny in practice.
    """
    by_doi: dict[str, list[str]] = {}
    by_isbn: dict[str, list[str]] = {}
    by_title: dict[str, list[DupKey]] = {}
    for k in keys:
        if k.doi:
            by_doi.setdefault(k.doi, []).append(k.key)
        if k.isbn:
            by_isbn.setdefault(k.isbn, []).append(k.key)
        if k.title:
            by_title.setdefault(k.title, []).append(k)
    out: dict[str, dict[str, list[str]]] = {rule: {} for rule in DUPLICATE_RULES}
    for rule, groups in (("duplicate-doi", by_doi), ("duplicate-isbn", by_isbn)):
        for members in groups.values():
            if len(members) > 1:
                for key in members:
                    out[rule][key] = [m for m in members if m != key]
    for group in by_title.values():
        if len(group) < 2:
            continue
        parent = {k.key: k.key for k in group}  # union-find, as Zotero builds its sets

        def find(x: str, parent: dict[str, str] = parent) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in _candidate_pairs(group):
            if _title_match(a, b):
                parent[find(a.key)] = find(b.key)
        sets: dict[str, list[str]] = {}
        for k in group:
            sets.setdefault(find(k.key), []).append(k.key)
        for members in sets.values():
            if len(members) > 1:
                for key in members:
                    out["duplicate-title"][key] = [m for m in members if m != key]
    return out


def duplicate_message(rule: str, others: Sequence[str]) -> str:
    """What a ``duplicate-*`` finding says: the other items (ten by key at most) and what to do."""
    shown = ", ".join(sorted(others)[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
    return (f"Has {DUPLICATE_RULES[rule]} {shown}: merge them in Zotero or mark one as not a "
            "duplicate (zotcurate-ignore).")
