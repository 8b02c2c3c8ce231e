"""CSL disambiguation: add names, add given names, year suffixes, ``disambiguate="true"``.

citeproc-py 0.11 does none of it: two works by the same author in the same year printed
"(Smith 1999; Smith 1999)" where citeproc-js prints "(Smith 1999a; Smith 1999b)"
(disambiguate_* fixtures, 52 of them failing). The method follows CSL 1.0.2 and the order
citeproc-js applies it in (``CSL.Disambiguation``): cites that render alike are grouped;
names are added and given names expanded one step at a time, keeping a step only when it
separates cites; what still clashes gets year suffixes in bibliography order, then the
style's ``disambiguate="true"`` branch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from zotcurate.render.citations.base import Cite
from zotcurate.render.citations.items import Name

Key = Callable[[Cite], str]


def _groups(cites: list[Cite], key: Key) -> list[list[Cite]]:
    by_key: dict[str, list[Cite]] = defaultdict(list)
    for cite in cites:
        by_key[key(cite)].append(cite)
    return list(by_key.values())


def _names_of(cite: Cite) -> str:
    """Every name of the item (all name variables), to tell whether names can separate cites."""
    return repr(sorted((variable, [dict(n) for n in value]) for variable, value in cite.reference.items()
                       if isinstance(value, list) and value and isinstance(value[0], Name)))


def _person(given: str) -> str:
    """A given name as identity: "J. J." and "J.J." are one person
    (disambiguate_DifferentSpacingInInitials)."""
    return "".join(given.replace(".", " ").split())


def _initials(given: str) -> str:
    return "".join(part[:1] for part in given.replace("-", " ").replace(".", " ").split())


def disambiguate_given_names(cites: list[Cite], rule: str) -> None:
    """givenname-disambiguation-rule all-names, all-names-with-initials, primary-name,
    primary-name-with-initials: different people whose names print alike get initials,
    or full given names when the initials are alike too, wherever their names appear."""
    if rule == "by-cite":
        return
    max_level = 1 if rule.endswith("with-initials") else 2
    primary = rule.startswith("primary")
    people: dict[str, dict[str, str]] = defaultdict(dict)  # family → person → initials
    slots: list[tuple[Cite, tuple[int, int], Name]] = []
    for cite in cites:
        for (index, position), name in cite.rendered_names.items():
            if name.is_literal or (primary and position > 0):
                continue
            family = " ".join(p for p in (name.get("non-dropping-particle"), name.get("family")) if p)
            given = name.get("given") or ""
            people[family][_person(given)] = _initials(given)
            slots.append((cite, (index, position), name))
    for cite, slot, name in slots:
        family = " ".join(p for p in (name.get("non-dropping-particle"), name.get("family")) if p)
        givens = people[family]
        if len(givens) < 2:
            continue
        given = _person(name.get("given") or "")
        others = [g for g in givens if g != given]
        level = 1 if all(givens[g] != givens[given] for g in others) else 2
        if level > max_level:
            continue  # initials alike and full names not allowed: expanding cannot help (disambiguate_ToInitialOnly)
        cite.givens[slot] = max(cite.givens.get(slot, 0), level)


class Disambiguator:
    """Runs the CSL disambiguation methods the style's cs:citation asks for over one set of
    cites (one per registered item, in bibliography order)."""

    def __init__(self, options: dict[str, Any], key: Key, has_condition: bool) -> None:
        self.add_names = options.get("disambiguate-add-names") == "true"
        self.add_givenname = options.get("disambiguate-add-givenname") == "true"
        self.rule = options.get("givenname-disambiguation-rule") or "by-cite"
        self.add_year_suffix = options.get("disambiguate-add-year-suffix") == "true"
        self.has_condition = has_condition
        self._key = key
        self._keys: dict[tuple[int, str], str] = {}

    def key(self, cite: Cite) -> str:
        """The ambiguity key, remembered per cite and settings (steps re-ask it often)."""
        settings = repr((sorted(cite.names_min.items()), sorted(cite.givens.items()), cite.disambiguate))
        found = self._keys.get((id(cite), settings))
        if found is None:
            found = self._keys[(id(cite), settings)] = self._key(cite)
        return found

    def run(self, cites: list[Cite]) -> None:
        order = {id(c): n for n, c in enumerate(cites)}
        if self.add_givenname and self.rule != "by-cite":
            for cite in cites:
                self.key(cite)  # records the names each cite prints
            disambiguate_given_names(cites, self.rule)
        clashing = [g for g in _groups(cites, self.key) if len(g) > 1]
        if self.add_names or (self.add_givenname and self.rule == "by-cite"):
            remaining = []
            for group in clashing:
                remaining.extend(self.expand_names(group))
            clashing = remaining
        if self.add_year_suffix:
            for group in clashing:
                for number, cite in enumerate(sorted(group, key=lambda c: order[id(c)]), 1):
                    cite.year_suffix = number
            clashing = [g for g in clashing if not any(c.year_suffix for c in g)]
        if self.has_condition:
            for group in clashing:
                for cite in group:
                    cite.disambiguate = True

    def steps(self, group: list[Cite]) -> list[tuple[str, int, int]]:
        """The expansions to try, in citeproc-js's order: for each name shown, its given name
        (two levels), then one more name; name list after name list."""
        counts: dict[int, tuple[int, int]] = {}
        for cite in group:
            for index, (total, shown) in cite.names_counts.items():
                old = counts.get(index, (0, shown))
                counts[index] = (max(old[0], total), min(old[1], shown))
        steps: list[tuple[str, int, int]] = []
        by_cite = self.add_givenname and self.rule == "by-cite"
        for index in sorted(counts):
            total, shown = counts[index]
            for position in range(total):
                if position >= shown:
                    if not self.add_names:
                        break
                    steps.append(("names", index, position + 1))
                if by_cite:
                    steps.append(("given", index, position))
                    steps.append(("given2", index, position))
        return steps

    def expand_names(self, group: list[Cite]) -> list[list[Cite]]:
        """Add names and given names to a clashing group; return the groups still clashing.
        A step is kept only for cites it helped separate; cites that stay alike fall back to
        what helped (so year suffixes, not long name lists, tell them apart)."""
        for cite in group:
            self.key(cite)
        if len({_names_of(c) for c in group}) == 1:
            return [group]  # the same names everywhere: adding names or given names cannot help
        steps = self.steps(group)
        best = {id(c): (dict(c.names_min), dict(c.givens)) for c in group}
        # Each clashing set goes on with the steps after the one that split it, on its own: a
        # step that helps one set is not kept for another (disambiguate_YearSuffixAtTwoLevels).
        queue: list[tuple[list[Cite], int]] = [(group, 0)]
        while queue:
            live, start = queue.pop(0)
            for number in range(start, len(steps)):
                kind, index, value = steps[number]
                for cite in live:
                    if kind == "names":
                        cite.names_min[index] = max(cite.names_min.get(index, 0), value)
                    else:
                        slot = (index, value)
                        cite.givens[slot] = max(cite.givens.get(slot, 0), 1 if kind == "given" else 2)
                if kind == "names" and self.add_givenname and self.rule != "by-cite":
                    # Names added are subject to the document-wide given-name rule too
                    # (disambiguate_AllNamesBaseNameCountOnFailureIfYearSuffixAvailable).
                    for cite in live:
                        self._key(cite)  # records the names it now prints
                    disambiguate_given_names(live, self.rule)
                parts = _groups(live, self.key)
                if len(parts) == 1:
                    if kind != "names":
                        # A given name that separates nothing is not kept (disambiguate_SetsOfNames);
                        # added names are, later names may need them.
                        for cite in live:
                            cite.givens = dict(best[id(cite)][1])
                    continue
                for cite in live:
                    best[id(cite)] = (dict(cite.names_min), dict(cite.givens))
                queue.extend((part, number + 1) for part in parts if len(part) > 1)
                break
        for cite in group:
            names_min, givens = best[id(cite)]
            cite.names_min, cite.givens = dict(names_min), dict(givens)
        unresolved = [g for g in _groups(group, self.key) if len(g) > 1]
        return unresolved
