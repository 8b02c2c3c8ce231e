

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from zotcurate.errors import ConfigError

_LIBRARY_RE = re.compile(r"^(?:(group|user):(\d+)|local(?::(group|user):(\d+))?|file:([\w.\- ]+))$")


@dataclass(frozen=True)
class LibraryRef:
    """A library's name, e.g. ``group:12345``, ``user:1``, ``local`` or ``file:example``.

    ``kind`` is ``group``/``user`` (Web API), ``local`` (Zotero 7's local API, read-only)
    or ``file`` (imported from files). For ``local``, ``remote_type``/``remote_id`` name
    the library inside the desktop client (the user's own library by default).
    """

    kind: str
    remote_type: str  # "group" or "user" ("user" also for local/file)
    remote_id: str  # numeric ID, or the file library's name
    name: str

    @classmethod
    def parse(cls, text: str) -> LibraryRef:
        value = text.strip()
        m = _LIBRARY_RE.match(value)
        if not m:
            raise ConfigError(
                f"'{text}' is not a library name: use group:ID, user:ID, local or file:NAME "
                "(the group ID is the number in the group's zotero.org address)."
            )
        if m.group(1):
            return cls(kind=m.group(1), remote_type=m.group(1), remote_id=m.group(2), name=value)
        if m.group(5):
            return cls(kind="file", remote_type="user", remote_id=m.group(5), name=value)
        if m.group(3):
            return cls(kind="local", remote_type=m.group(3), remote_id=m.group(4), name=value)
        return cls(kind="local", remote_type="user", remote_id="0", name="local")

    @property
    def is_web(self) -> bool:
        return self.kind in ("group", "user")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Library:
    id: int
    name: str
    kind: str
    remote_id: str
    title: str | None
    version: int
    synced_at: str | None
    source: str | None


@dataclass(frozen=True)
class Collection:
    key: str
    version: int
    name: str
    parent_key: str | None
    path: str  # "Parent/Child", names joined by "/"
    object: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Item:
    """One stored item. ``data`` is Zotero's ``data`` JSON, untouched."""

    key: str
    version: int
    item_type: str
    parent_key: str | None
    trashed: bool
    object: dict[str, Any] = field(repr=False, compare=False)

    @property
    def data(self) -> dict[str, Any]:
        return self.object.get("data", {})

    @property
    def tags(self) -> list[str]:
        return [t.get("tag", "") for t in self.data.get("tags", [])]

    @property
    def collections(self) -> list[str]:
        return list(self.data.get("collections", []))
