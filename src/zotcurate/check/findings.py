from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from zotcurate.check.profile import SEVERITY_RANK
from zotcurate.model import Library


@dataclass(frozen=True)
class Finding:
    item_key: str
    rule: str
    severity: str
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ItemInfo:
    key: str
    item_type: str
    title: str
    link: str
    collections: tuple[str, ...] = ()


@dataclass(frozen=True)
class CollectionSummary:
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
    if lib.kind == "group":
        return f"zotero://select/groups/{lib.remote_id}/items/{key}"
    return f"zotero://select/library/items/{key}"
