"""What every output writer is: a name, a file suffix, the suffix of the template file it
takes (if any), an early check of its options, and a write that turns a Document into one file.

Writers are plain objects that match :class:`Writer` by shape (no base class to inherit),
as pybtex's output backends are: each module in ``zotcurate.writers`` defines one and names
it ``WRITER``; the table in ``zotcurate.writers`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from zotcurate.document import CITATION, COMMENTARY, LINK, Block, Document, Heading, ListBlock, Paragraph, Picture


@dataclass(frozen=True)
class WriteOptions:
    """What a render hands to one writer. ``template`` is that writer's own template (a Word
    reference document for docx, a Typst file for pdf): ``zotcurate.writers.options_for`` routes
    each ``--template`` file to the writer whose ``template_suffix`` it has."""

    template: Path | None = None


class Writer(Protocol):
    @property
    def name(self) -> str:
        """What ``--format`` and the manifest's ``formats`` call it, e.g. ``md``."""
        ...

    @property
    def suffix(self) -> str:
        """The file suffix, dot included, e.g. ``.md``."""
        ...

    @property
    def template_suffix(self) -> str | None:
        """The suffix of the template files this writer takes (``.docx``, ``.typ``), or None: it takes none."""
        ...

    def check(self, options: WriteOptions) -> None:
        """Raise a ConfigError now if ``options`` cannot work (e.g. a bad template), before any work."""
        ...

    def write(self, doc: Document, path: Path, options: WriteOptions) -> Path:
        """Write ``doc`` to ``path`` atomically (a failure leaves no partial file); return the path."""
        ...


@dataclass
class Entry:
    """An annotated entry as a writer lays it out: the citation, then the item's link line and
    commentary blocks (``Document.blocks`` keeps them as a flat run sharing the item key)."""

    key: str | None
    citation: Paragraph
    link: Paragraph | None = None
    commentary: list[Paragraph | ListBlock] = field(default_factory=list)

    @property
    def cover(self) -> Picture | None:
        """The entry's cover thumbnail, if it has one (on its citation paragraph)."""
        return self.citation.image


def with_entries(blocks: list[Block]) -> list[Block | Entry]:
    """``blocks`` with each citation and the link line and commentary after it (same item key)
    gathered into one :class:`Entry`, for writers that keep an entry together."""
    out: list[Block | Entry] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        i += 1
        if not (isinstance(block, Paragraph) and block.role == CITATION):
            out.append(block)
            continue
        entry = Entry(block.key, block)
        while i < len(blocks) and block.key is not None:
            nxt = blocks[i]
            if isinstance(nxt, Heading) or nxt.key != block.key:
                break
            if isinstance(nxt, Paragraph) and nxt.role == LINK and entry.link is None and not entry.commentary:
                entry.link = nxt
            elif nxt.role == COMMENTARY:
                entry.commentary.append(nxt)
            else:
                break
            i += 1
        out.append(entry)
    return out
