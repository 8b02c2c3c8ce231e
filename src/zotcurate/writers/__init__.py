"""Output writers: Document → file, one module per format, all behind one interface
(:class:`zotcurate.writers.base.Writer`).

A new format is one new module here defining ``WRITER`` (see markdown.py, the smallest) and
one line in ``_TABLE``. render, the manifest and ``zotcurate render --format`` take the list
of formats from this table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from zotcurate.errors import ConfigError
from zotcurate.writers import docx, markdown
from zotcurate.writers.base import WriteOptions, Writer

# One line per format; this order is the order files are written and listed in.
_TABLE: tuple[Writer, ...] = (
    docx.WRITER,
    markdown.WRITER,
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


__all__ = ["DEFAULT_FORMATS", "WRITERS", "WriteOptions", "Writer", "format_names", "writers_for"]
