"""The neutral rich-text model shared by rendering and the document writers.

Citation formatting (citeproc-py) produces these spans; writers (Markdown, Word) turn
them into their own markup. Neither side sees the other's library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A run of text with its formatting. ``url`` makes the run a hyperlink."""

    text: str
    italic: bool = False
    bold: bool = False
    smallcaps: bool = False
    superscript: bool = False
    subscript: bool = False
    url: str | None = None


Inline = list[Span]


def plain(spans: list[Span]) -> str:
    """The text of spans without formatting."""
    return "".join(s.text for s in spans)
