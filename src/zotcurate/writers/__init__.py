"""Output writers: Document → file, one module per format, all behind one interface
(:class:`zotcurate.writers.base.Writer`).

A new format is one new module here defining ``WRITER`` (see markdown.py, the smallest) and
one line in ``_TABLE``. render, the manifest and ``zotcurate render --format`` take the list
of formats from this table, and ``--template`` files go to the writer whose
``template_suffix`` they end with (:func:`options_for`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from zotcurate.errors import ConfigError
from zotcurate.writers import docx, html, markdown, pdf
from zotcurate.writers.base import WriteOptions, Writer

# One line per format; this order is the order files are written and listed in.
_TABLE: tuple[Writer, ...] = (
    docx.WRITER,
    markdown.WRITER,
    pdf.WRITER,
    html.WRITER,
)

WRITERS: Mapping[str, Writer] = MappingProxyType({w.name: w for w in _TABLE})

# What a manifest without ``formats`` gets. A new format is opt-in, so that existing
# manifests keep producing the same files.
DEFAULT_FORMATS: tuple[str, ...] = ("docx", "md")


def format_names() -> tuple[str, ...]:
    """Every format name, in table order."""
    return tuple(WRITERS)


def writers_for(names: Sequence[str]) -> list[Writer]:
    """The writers for these format names, in table order, each once; a ConfigError names an unknown one."""
    unknown = [n for n in names if n not in WRITERS]
    if unknown or not names:
        what = f"Unknown format '{unknown[0]}'" if unknown else "No output format given"
        raise ConfigError(f"{what}; use {', '.join(format_names())}, or several with commas "
                          f"(e.g. {','.join(DEFAULT_FORMATS)}).")
    return [w for w in _TABLE if w.name in names]


def options_for(chosen: Sequence[Writer], templates: Sequence[Path]) -> dict[str, WriteOptions]:
    """Each writer's options: every template goes to the format whose ``template_suffix`` it has
    (``maison.docx`` to Word, ``maison.typ`` to PDF). A template for a format that is not being
    written is left unused, as ``--template x.docx --format md`` always was. A suffix no format
    takes, or two templates for one format, is a ConfigError."""
    takers = {w.template_suffix: w for w in _TABLE if w.template_suffix}
    by_suffix: dict[str, Path] = {}
    for path in templates:
        suffix = path.suffix.lower()
        if suffix not in takers:
            kinds = ", ".join(f"{s} ({w.name})" for s, w in takers.items())
            raise ConfigError(f"The template {path} is not a kind zotcurate uses; give a {kinds} file.")
        if suffix in by_suffix:
            raise ConfigError(f"Two {suffix} templates were given ({by_suffix[suffix]} and {path}); "
                              f"give one per format.")
        by_suffix[suffix] = path
    return {w.name: WriteOptions(template=by_suffix.get(w.template_suffix or "")) for w in chosen}


__all__ = ["DEFAULT_FORMATS", "WRITERS", "WriteOptions", "Writer", "format_names", "options_for", "writers_for"]
