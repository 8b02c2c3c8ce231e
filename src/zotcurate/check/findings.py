"""What a check finds, and the report that gathers it: plain types every check module shares.

A :class:`Finding` is one rule failed by one item; a :class:`CheckReport` is a whole run
(findings, the checked items, completeness per collection), read by ``check/report.py``,
``zotcurate audit`` and the write-back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from zotcurate.model import Library

SEVERITIES = ("error", "warning", "info", "off")
SEVERITY_RANK = {"off": 0, "info": 1, "warning": 2, "error": 3}


@dataclass(frozen=True)
class Finding:
    """One rule that one item fails."""

    item_key: str
    rule: str
    severity: str
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_tuple(self) -> tuple[str, str, str, str | None, str]:
        return (self.item_key, self.rule, self.severity, self.field, self.message)


@dataclass(slots=True)
class ItemInfo:
    """A checked item as reports name it."""

    key: str
    item_type: str
    title: str
    link: str
    collections: tuple[str, ...] = ()


@dataclass(frozen=True)
class CollectionSummary:
    """How complete one collection is (the last row: every checked item)."""

    key: str
    path: str
    items: int
    complete: int  # items with no error
    errors: int
    warnings: int

    @property
    def share(self) -> float:
        return self.complete / self.items if self.items else 1.0


@dataclass
class CheckReport:
    """One check run over a library or some of its collections."""

    library: str
    checked: int
    findings: list[Finding]
    items: dict[str, ItemInfo]
    summary: list[CollectionSummary]
    checked_keys: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity] = out.get(f.severity, 0) + 1
        return out

    def keys_with(self, severity: str = "error") -> set[str]:
        return {f.item_key for f in self.findings if f.severity == severity}

    def fails(self, fail_on: str) -> bool:
        """True when a finding is at or above ``fail_on`` (error, warning or never)."""
        if fail_on == "never":
            return False
        floor = SEVERITY_RANK[fail_on]
        return any(SEVERITY_RANK[f.severity] >= floor for f in self.findings)

    def by_item(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.item_key, []).append(f)
        return out


def zotero_link(lib: Library, key: str) -> str:
    """The address that opens the item in the Zotero app."""
    if lib.kind == "group":
        return f"zotero://select/groups/{lib.remote_id}/items/{key}"
    return f"zotero://select/library/items/{key}"
