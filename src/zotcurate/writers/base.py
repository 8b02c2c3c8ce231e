"""What every output writer is: a name, a file suffix, an early check of its options, and a
write that turns a Document into one file.

Writers are plain objects that match :class:`Writer` by shape (no base class to inherit),
as pybtex's output backends are: each module in ``zotcurate.writers`` defines one and names
it ``WRITER``; the table in ``zotcurate.writers`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from zotcurate.document import Document


@dataclass(frozen=True)
class WriteOptions:
    """Everything a render hands to the writers; each writer uses what concerns it."""

    template: Path | None = None  # a Word reference document (.docx): styles and page setup


class Writer(Protocol):
    @property
    def name(self) -> str:
        """What ``--format`` and the manifest's ``formats`` call it, e.g. ``md``."""
        ...

    @property
    def suffix(self) -> str:
        """The file suffix, dot included, e.g. ``.md``."""
        ...

    def check(self, options: WriteOptions) -> None:
        """Raise a ConfigError now if ``options`` cannot work (e.g. a bad template), before any work."""
        ...

    def write(self, doc: Document, path: Path, options: WriteOptions) -> Path:
        """Write ``doc`` to ``path`` atomically (a failure leaves no partial file); return the path."""
        ...
