from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zotcurate.errors import ConfigError, InputFileError
from zotcurate.fileio import output_error, write_text_atomic
from zotcurate.formats.base import ParsedFiles
from zotcurate.formats.zotero_json import check_zotero_objects, is_zotero_item_list, load_json
from zotcurate.model import Library, LibraryRef
from zotcurate.store import Store

FORMATS = ("zotero-json", "csl-json", "bibtex")


@dataclass(frozen=True)
class ImportResult:
    library: str
    items: int
    collections: int
    sources: list[str]


def read_path(path: Path) -> ParsedFiles:
    """Read one path: a Zotero export folder, a Zotero JSON file, CSL-JSON or BibTeX."""
    parsed = ParsedFiles(sources=[str(path)])
    if path.is_dir():
        items_file, colls_file = path / "items.json", path / "collections.json"
        if not items_file.exists():
            raise InputFileError(f"{path} has no items.json: point at a Zotero export folder or at a file.")
        parsed.items = check_zotero_objects(items_file, load_json(items_file), "items")
        if colls_file.exists():
            parsed.collections = check_zotero_objects(colls_file, load_json(colls_file), "collections")
        return parsed
    if not path.exists():
        raise InputFileError(f"{path} does not exist.")
    suffix = path.suffix.lower()
    if suffix in (".bib", ".bibtex"):
        from zotcurate.formats.bibtex import read_bibtex  # noqa: PLC0415 - only BibTeX imports need bibtexparser

        return read_bibtex(path)
    value = load_json(path)
    if isinstance(value, dict) and "items" in value:
        parsed.items = check_zotero_objects(path, value["items"], "items")
        parsed.collections = check_zotero_objects(path, value.get("collections", []), "collections")
        return parsed
    if is_zotero_item_list(value):
        parsed.items = check_zotero_objects(path, value, "items")
        return parsed
    if isinstance(value, list):
        from zotcurate.formats.csljson import csl_to_zotero_objects  # noqa: PLC0415

        parsed.items = csl_to_zotero_objects(path, value)
        return parsed
    raise InputFileError(
        f"{path} is neither a Zotero API export, CSL-JSON nor BibTeX; nothing was imported."
    )


def import_files(store: Store, library: LibraryRef, paths: list[Path]) -> ImportResult:
    """Replace the content of the file library ``library`` with the given files."""
    if library.kind != "file":
        raise ConfigError(f"Files import into a file:NAME library, not {library.name}; use --library file:NAME.")
    if not paths:
        raise ConfigError("Name at least one file or folder to import.")
    merged = ParsedFiles()
    for path in paths:
        part = read_path(Path(path))
        merged.items += part.items
        merged.collections += part.collections
        merged.sources += part.sources
    source = "; ".join(merged.sources)
    with store.transaction():
        lib = store.ensure_library(library.name, "file", library.remote_id, source=source)
        store.clear_library(lib)
        store.upsert_collections(lib, merged.collections)
        store.upsert_items(lib, merged.items)
        versions = [int(o.get("version", 0) or 0) for o in merged.items + merged.collections]
        store.set_library_version(lib, max(versions, default=0))
    return ImportResult(library.name, len(merged.items), len(merged.collections), merged.sources)


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


def export_library(store: Store, lib: Library, fmt: str, out: Path, *, collection: str | None = None) -> int:
    """Write a library (or one collection) to ``out``; returns the number of items written.
    Zotero JSON goes to a folder (items.json, collections.json) unless ``out`` ends in .json."""
    if fmt == "zotero-json" and out.suffix.lower() != ".json":
        _check_format(fmt)
        objects = selected_items(store, lib, collection)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(out, exc) from exc
        write_text_atomic(out / "items.json", json.dumps(objects, ensure_ascii=False, indent=1) + "\n")
        colls = [c.object for c in store.collections(lib)]
        write_text_atomic(out / "collections.json", json.dumps(colls, ensure_ascii=False, indent=1) + "\n")
        return len(objects)
    text, n = export_text(store, lib, fmt, collection=collection)
    write_text_atomic(out, text)
    return n


def export_text(store: Store, lib: Library, fmt: str, *, collection: str | None = None) -> tuple[str, int]:
    """A library (or one collection) as one text in ``fmt``, and the number of items in it.
    Zotero JSON is then one document: ``{"items", "collections"}``, or the items of a collection."""
    _check_format(fmt)
    objects = selected_items(store, lib, collection)
    if fmt == "zotero-json":
        payload: Any = objects
        if collection is None:
            payload = {"items": objects, "collections": [c.object for c in store.collections(lib)]}
        return json.dumps(payload, ensure_ascii=False, indent=1) + "\n", len(objects)
    tops = [o for o in objects
            if not o["data"].get("parentItem") and o["data"]["itemType"] not in ("note", "attachment", "annotation")]
    if fmt == "csl-json":
        from zotcurate.formats.csljson import zotero_to_csl  # noqa: PLC0415

        return json.dumps([zotero_to_csl(o["data"]) for o in tops], ensure_ascii=False, indent=1) + "\n", len(tops)
    from zotcurate.formats.bibtex import write_bibtex  # noqa: PLC0415

    return write_bibtex([o["data"] for o in tops]), len(tops)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")
