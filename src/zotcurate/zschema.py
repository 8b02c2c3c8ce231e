"""The bundled Zotero schema (item types, fields, creator types, CSL mappings, labels).

A copy of Zotero's ``schema.json`` ships in ``zotcurate/data/``; this module is the only
reader of it. Load it once with :func:`load_schema` and pass the object around.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any


@dataclass(frozen=True)
class ZoteroSchema:
    raw: dict[str, Any]

    @property
    def version(self) -> int:
        return int(self.raw["version"])

    @property
    def item_types(self) -> list[str]:
        return [t["itemType"] for t in self.raw["itemTypes"]]

    def _type(self, item_type: str) -> dict[str, Any]:
        for t in self.raw["itemTypes"]:
            if t["itemType"] == item_type:
                return t
        raise KeyError(item_type)

    def fields(self, item_type: str) -> list[str]:
        """Valid fields of an item type, in Zotero's UI order."""
        return [f["field"] for f in self._type(item_type)["fields"]]

    def base_fields(self, item_type: str) -> dict[str, str]:
        """Type-specific field -> base field (e.g. bookSection.bookTitle -> publicationTitle)."""
        return {f["field"]: f["baseField"] for f in self._type(item_type)["fields"] if "baseField" in f}

    def creator_types(self, item_type: str) -> list[str]:
        return [c["creatorType"] for c in self._type(item_type).get("creatorTypes", [])]

    def primary_creator_type(self, item_type: str) -> str | None:
        """The type's main creator type (author for most), or None for an unknown type."""
        try:
            creator_types = self._type(item_type).get("creatorTypes", [])
        except KeyError:
            return None
        return next((c["creatorType"] for c in creator_types if c.get("primary")), None)

    @property
    def all_fields(self) -> set[str]:
        return {f["field"] for t in self.raw["itemTypes"] for f in t["fields"]}

    @property
    def date_fields(self) -> set[str]:
        return set(self.raw["meta"]["fields"])

    @property
    def csl_types(self) -> dict[str, list[str]]:
        """CSL type -> Zotero item types."""
        return self.raw["csl"]["types"]

    @property
    def csl_text_fields(self) -> dict[str, list[str]]:
        """CSL variable -> Zotero (base) fields."""
        return self.raw["csl"]["fields"]["text"]

    @property
    def csl_date_fields(self) -> dict[str, str]:
        return self.raw["csl"]["fields"]["date"]

    @property
    def csl_names(self) -> dict[str, str]:
        """Zotero creator type -> CSL name variable."""
        return self.raw["csl"]["names"]

    def label(self, kind: str, name: str, locale: str = "fr-FR") -> str:
        """A UI label: kind is 'itemTypes', 'fields' or 'creatorTypes'."""
        return self.raw["locales"].get(locale, {}).get(kind, {}).get(name, name)


@cache
def load_schema() -> ZoteroSchema:
    text = files("zotcurate").joinpath("data/zotero-schema.json").read_text(encoding="utf-8")
    return ZoteroSchema(json.loads(text))
