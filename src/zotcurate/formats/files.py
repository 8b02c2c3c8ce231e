"""Files in and out: which format a path holds, and the import/export of a whole library.

A format is one module of this package that defines a :class:`~zotcurate.formats.base.Format`; adding
one is that module plus its line in :data:`FORMAT_TABLE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zotcurate.errors import ConfigError, InputFileError
from zotcurate.fileio import output_error, write_text_atomic
from zotcurate.formats import bibtex, csljson, zotero_json
from zotcurate.formats.base import (
    BIBTEX_FLAVOURS,
    DecodedText,
    ExportOptions,
    ExportSelection,
    Format,
    ImportOptions,
    ParsedFiles,
    decode_text,
    read_file_bytes,
)
from zotcurate.model import Library, LibraryRef
from zotcurate.store import Store

# One line per format. Content decides (the first format whose sniff accepts the file's beginning);
# the suffix only breaks ties and names the reader for a file that no format recognises.
FORMAT_TABLE: tuple[Format, ...] = (
    zotero_json.FORMAT,
    csljson.FORMAT,
    bibtex.FORMAT,
)
FORMATS = tuple(f.name for f in FORMAT_TABLE if f.dump is not None)
_HEAD = 65536  # characters a sniff looks at


@dataclass(frozen=True)
class ImportResult:
    library: str
    items: int
    collections: int
    sources: list[str]
    warnings: list[str] = field(default_factory=list)


def format_named(name: str) -> Format:
    for fmt in FORMAT_TABLE:
        if fmt.name == name:
            return fmt
    raise ConfigError(f"Unknown export format '{name}'; choose one of {', '.join(FORMATS)}.")


def detect_format(path: Path, text: str) -> Format | None:
    """The format a file holds: its content first (a ``.txt`` holding BibTeX is BibTeX), then its suffix."""
    head = text[:_HEAD]
    by_suffix = [f for f in FORMAT_TABLE if path.suffix.lower() in f.suffixes and f.read is not None]
    for fmt in by_suffix:
        if fmt.sniff(head):
            return fmt
    for fmt in FORMAT_TABLE:
        if fmt.read is not None and fmt.sniff(head):
            return fmt
    return by_suffix[-1] if by_suffix else None


def _decoded(path: Path, options: ImportOptions) -> DecodedText:
    data = read_file_bytes(path)
    # A declared encoding is a BibTeX header (JabRef's "% Encoding: windows-1252"); other formats have none.
    return decode_text(data, path, declared=bibtex.declared_encoding(data), guess=True)


def read_path(path: Path, options: ImportOptions | None = None) -> ParsedFiles:
    """Read one path: a Zotero export folder, or a file in any format of the table."""
    options = options or ImportOptions()
    if path.is_dir():
        for folder_format in FORMAT_TABLE:
            if folder_format.read_folder is not None:
                return folder_format.read_folder(path, options)
    if not path.exists():
        raise InputFileError(f"{path} does not exist.")
    decoded = _decoded(path, options)
    fmt = detect_format(path, decoded.text)
    if fmt is None or fmt.read is None:
        labels = ", ".join(f.label for f in FORMAT_TABLE if f.read is not None)
        raise InputFileError(f"{path} holds none of the formats zotcurate reads ({labels}); nothing was imported.")
    notes = []
    if decoded.guess:
        if options.strict:
            raise InputFileError(f"{path}: {decoded.guess} (--strict: nothing was imported).")
        notes.append(f"{path}: {decoded.guess}.")
    parsed = fmt.read(path, decoded.text, options)
    parsed.warnings[:0] = notes
    return parsed


def import_files(store: Store, library: LibraryRef, paths: list[Path], *,
                 options: ImportOptions | None = None) -> ImportResult:
    """Replace the content of the file library ``library`` with the given files."""
    if library.kind != "file":
        raise ConfigError(f"Files import into a file:NAME library, not {library.name}; use --library file:NAME.")
    if not paths:
        raise ConfigError("Name at least one file or folder to import.")
    merged = ParsedFiles()
    for path in paths:
        part = read_path(Path(path), options)
        merged.items += part.items
        merged.collections += part.collections
        merged.sources += part.sources
        merged.warnings += part.warnings
    source = "; ".join(merged.sources)
    with store.transaction():
        lib = store.ensure_library(library.name, "file", library.remote_id, source=source)
        store.clear_library(lib)
        store.upsert_collections(lib, merged.collections)
        store.upsert_items(lib, merged.items)
        versions = [int(o.get("version", 0) or 0) for o in merged.items + merged.collections]
        store.set_library_version(lib, max(versions, default=0))
    return ImportResult(library.name, len(merged.items), len(merged.collections), merged.sources, merged.warnings)


def selected_items(store: Store, lib: Library, collection: str | None) -> list[dict[str, Any]]:
    """API objects to export: a collection and its sub-collections, or the whole library."""
    if collection is None:
        return [i.object for i in store.items(lib, include_children=True)]
    keys = [c.key for c in store.resolve_collections(lib, [collection])]
    tops = list(store.items(lib, collections=keys))
    children = store.children_by_parent(lib)
    out = []
    for item in tops:
        out.append(item.object)
        out += [c.object for c in children.get(item.key, [])]
    return out


def export_library(store: Store, lib: Library, fmt: str, out: Path, *, collection: str | None = None,
                   options: ExportOptions | None = None) -> int:
    """Write a library (or one collection) to ``out``; returns the number of items written.
    Zotero JSON goes to a folder (items.json, collections.json) unless ``out`` ends in .json."""
    writer, selection, options = _export(store, lib, fmt, collection, options)
    if writer.write_folder is not None and out.suffix.lower() != ".json":
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(out, exc) from exc
        return writer.write_folder(out, selection)
    assert writer.dump is not None  # _export checked it
    text, n = writer.dump(selection, options)
    write_text_atomic(out, text)
    return n


def export_text(store: Store, lib: Library, fmt: str, *, collection: str | None = None,
                options: ExportOptions | None = None) -> tuple[str, int]:
    """A library (or one collection) as one text in ``fmt`` (standard output), and the number of
    items in it. Zotero JSON is then one document: ``{"items", "collections"}``, or the items of a
    collection."""
    writer, selection, options = _export(store, lib, fmt, collection, options)
    assert writer.dump is not None  # _export checked it
    return writer.dump(selection, options)


def _export(store: Store, lib: Library, fmt: str, collection: str | None,
            options: ExportOptions | None) -> tuple[Format, ExportSelection, ExportOptions]:
    writer = format_named(fmt)
    options = options or ExportOptions()
    if options.bibtex_flavour not in BIBTEX_FLAVOURS:
        raise ConfigError(f"Unknown BibTeX flavour '{options.bibtex_flavour}'; choose {' or '.join(BIBTEX_FLAVOURS)}.")
    if writer.dump is None:
        raise ConfigError(f"zotcurate reads {writer.label} but does not write it; choose one of {', '.join(FORMATS)}.")
    selection = ExportSelection(selected_items(store, lib, collection), [c.object for c in store.collections(lib)],
                                whole_library=collection is None)
    return writer, selection, options
